"""``eden-blob serve`` checks create-only before it listens; ``eden-blob check`` alone.

On s3rver and gcp-storage-emulator (real servers that ignore the precondition)
serve refuses to start: exit 2 and one line naming the failure. With
``--skip-create-only-check`` it starts, with a warning. On SeaweedFS and on
files it starts. A check that cannot run at all (a missing bucket) stops the
start with exit 1, as any storage failure does.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

from ..support.servers import RealServer
from .helpers import clean_env, cli, one_error_line
from .test_serve import http, running_server, stop

_S3RVER_KEYS = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}
_ANY_KEYS = {"AWS_ACCESS_KEY_ID": "eden-test-key", "AWS_SECRET_ACCESS_KEY": "eden-test-secret"}


def _s3_env(keys: dict[str, str]) -> dict[str, str]:
    return clean_env(
        **keys,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE="/nonexistent/eden-test-aws-config",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent/eden-test-aws-credentials",
    )


def _s3_flags(server: RealServer, bucket: str | None = None) -> list[str]:
    return [
        "--blob-backend", "s3",
        "--blob-s3-bucket", bucket or server.bucket,
        "--blob-s3-endpoint-url", server.endpoint_url,
        "--blob-s3-prefix", "cli-check",
    ]  # fmt: skip


def _gcs_flags(server: RealServer) -> list[str]:
    return [
        "--blob-backend", "gcs",
        "--blob-gcs-bucket", server.bucket,
        "--blob-gcs-endpoint-url", server.endpoint_url,
    ]  # fmt: skip


def test_serve_on_s3rver_refuses_to_start(s3rver: RealServer) -> None:
    result = cli("serve", "--port", "0", *_s3_flags(s3rver), env=_s3_env(_S3RVER_KEYS))
    assert result.returncode == 2
    assert result.stdout == b""  # never announced, never listened
    line = one_error_line(result)
    assert line.startswith("eden-blob serve: refusing to start (--skip-create-only-check"), line
    assert "does not enforce create-only on 2 of 2 upload path(s)" in line
    assert "put-object: answered success (2xx)" in line
    assert "multipart: answered success (2xx)" in line
    assert "S3RVER" not in line.replace("s3rver", "")  # no key in the message


def test_serve_on_gcp_storage_emulator_refuses_to_start(gcp_emulator: RealServer) -> None:
    result = cli("serve", "--port", "0", *_gcs_flags(gcp_emulator))
    assert result.returncode == 2
    line = one_error_line(result)
    assert "does not enforce create-only on 3 of 3 upload path(s)" in line
    for path in ("multipart", "resumable", "resumable-stream"):
        assert f"{path}: answered success (2xx)" in line


def test_the_flag_starts_serve_on_s3rver_with_a_warning(s3rver: RealServer) -> None:
    flags = [*_s3_flags(s3rver), "--skip-create-only-check"]
    with running_server(*flags, env=_s3_env(_S3RVER_KEYS)) as (proc, base):
        status, body = http("POST", f"{base}/v0/experiments/e1/artifacts", b"unchecked")
        assert status == 201, body
        code, stderr = stop(proc, signal.SIGTERM)
    assert code == 0, stderr
    assert "WARNING: --skip-create-only-check: create-only is NOT checked" in stderr
    assert "overwrites an artifact without an error" in stderr


def test_serve_on_seaweedfs_checks_and_starts(seaweedfs: RealServer) -> None:
    with running_server(*_s3_flags(seaweedfs), env=_s3_env(_ANY_KEYS)) as (proc, base):
        status, body = http("POST", f"{base}/v0/experiments/e1/artifacts", b"checked")
        assert status == 201, body
        code, stderr = stop(proc, signal.SIGTERM)
    assert code == 0, stderr
    assert "WARNING" not in stderr


def test_serve_on_files_checks_and_starts(tmp_path: Path) -> None:
    blobs = tmp_path / "blobs"
    with running_server("--artifact-blob-dir", blobs) as (proc, _):
        code, stderr = stop(proc, signal.SIGTERM)
    assert code == 0, stderr
    # The check ran before the announcement: its canaries are there.
    assert sorted(p.name for p in blobs.iterdir()) == [
        ".eden-create-only-check.store",
        ".eden-create-only-check.store-stream",
    ]


def test_a_check_that_cannot_run_stops_the_start_with_exit_1(seaweedfs: RealServer) -> None:
    flags = _s3_flags(seaweedfs, bucket="eden-no-such-bucket")
    result = cli("serve", "--port", "0", *flags, env=_s3_env(_ANY_KEYS))
    assert result.returncode == 1
    assert result.stdout == b""
    line = one_error_line(result)
    assert "the create-only check could not run: BucketNotFound" in line, line


def test_check_prints_each_path_on_files(tmp_path: Path) -> None:
    result = cli("check", "--artifact-blob-dir", tmp_path / "blobs")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert sorted(report["paths"]) == ["store", "store-stream"]
    assert all("refused" in answer for answer in report["paths"].values())


def test_check_on_s3rver_exits_2(s3rver: RealServer) -> None:
    result = cli("check", *_s3_flags(s3rver), env=_s3_env(_S3RVER_KEYS))
    assert result.returncode == 2
    assert result.stdout == b""
    assert one_error_line(result).startswith("eden-blob check: S3Backend(")
