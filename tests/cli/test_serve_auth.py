"""``eden-blob serve``'s wire settings: the principals file, admin principals, a pinned
experiment, the body timeout and legacy rows; each bad one exits 2 before the
backend is built."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from .helpers import cli, one_error_line
from .test_serve import http, running_server, stop

WORKER_A = "wkr_" + "0123456789abcdefghjkmnpqrs"
WORKER_B = "wkr_" + "tvwxyz0123456789abcdefghjk"


def principals_file(tmp_path: Path, mode: int = 0o600) -> Path:
    path = tmp_path / "principals"
    path.write_text(f"admin:adm-secret-1\n{WORKER_A}:a-secret-2\n{WORKER_B}:b-secret-3\n")
    os.chmod(path, mode)
    return path


def test_serve_with_principals_enforces_the_acl(tmp_path: Path) -> None:
    blobs = tmp_path / "blobs"
    flags: list[str | Path] = [
        "--principals-file", principals_file(tmp_path), "--artifact-blob-dir", blobs
    ]  # fmt: skip
    with running_server(*flags, host="0.0.0.0") as (proc, base):
        port = base.rsplit(":", 1)[1]
        url = f"http://127.0.0.1:{port}/v0/experiments/e1/artifacts"
        assert http("POST", url, b"x")[0] == 401
        status, body = http("POST", url, b"a's bytes", token=f"{WORKER_A}:a-secret-2")
        assert status == 201, body
        document = json.loads(body)
        assert document["size_bytes"] == 9
        fetch = f"{url}?uri={document['artifacts_uri']}"
        assert http("GET", fetch, token=f"{WORKER_A}:a-secret-2") == (200, b"a's bytes")
        assert http("GET", fetch, token="admin:adm-secret-1") == (200, b"a's bytes")
        status, body = http("GET", fetch, token=f"{WORKER_B}:b-secret-3")
        assert status == 403
        assert json.loads(body)["type"] == "eden://error/forbidden"
        code, stderr = stop(proc, signal.SIGTERM)
    assert code == 0, stderr
    for secret in ("adm-secret-1", "a-secret-2", "b-secret-3"):
        assert secret not in stderr


def test_an_admin_principal_may_fetch_what_others_deposited(tmp_path: Path) -> None:
    flags: list[str | Path] = [
        "--principals-file", principals_file(tmp_path), "--admin-principal", WORKER_B
    ]  # fmt: skip
    with running_server(*flags) as (proc, base):
        url = f"{base}/v0/experiments/e1/artifacts"
        _, body = http("POST", url, b"a's", token=f"{WORKER_A}:a-secret-2")
        fetch = f"{url}?uri={json.loads(body)['artifacts_uri']}"
        assert http("GET", fetch, token=f"{WORKER_B}:b-secret-3") == (200, b"a's")
        stop(proc, signal.SIGTERM)


def test_a_pinned_experiment_refuses_another(tmp_path: Path) -> None:
    with running_server("--experiment-id", "e1") as (proc, base):
        assert http("POST", f"{base}/v0/experiments/e1/artifacts", b"x")[0] == 201
        status, body = http("POST", f"{base}/v0/experiments/e2/artifacts", b"x")
        assert status == 400
        assert json.loads(body)["type"] == "eden://error/experiment-id-mismatch"
        stop(proc, signal.SIGTERM)


def test_legacy_rows_are_served_from_artifacts_dir(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy"
    (legacy / "run").mkdir(parents=True)
    (legacy / "run" / "model.bin").write_bytes(b"old row")
    with running_server("--artifacts-dir", legacy) as (proc, base):
        url = f"{base}/_reference/experiments/e1/artifacts/run/model.bin"
        assert http("GET", url) == (200, b"old row")
        stop(proc, signal.SIGTERM)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--principals-file", "{group_readable}"], "principals"),
        (["--principals-file", "{absent}"], "principals"),
        (["--admin-principal", WORKER_A], "--admin-principal"),
        (["--experiment-id", "../e"], "--experiment-id"),
        (["--body-timeout", "0"], "--body-timeout"),
        (["--body-timeout", "nan"], "--body-timeout"),
        (["--artifacts-dir", "{absent}"], "--artifacts-dir"),
    ],
)
def test_a_bad_setting_exits_2_before_anything_is_stored(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    paths = {
        "{group_readable}": str(principals_file(tmp_path, 0o640)),
        "{absent}": str(tmp_path / "absent"),
    }
    blobs = tmp_path / "blobs"
    argv = [paths.get(flag, flag) for flag in flags]
    result = cli("serve", "--port", "0", "--artifact-blob-dir", blobs, *argv)
    assert result.returncode == 2, result.stderr
    assert result.stdout == b""
    line = one_error_line(result)
    assert message in line, line
    assert "adm-secret-1" not in line
    # Refused before the backend was built: the create-only check stored nothing.
    assert not blobs.exists() or not any(blobs.iterdir())
