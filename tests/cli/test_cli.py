"""``eden-blob`` through a real subprocess: exit codes, stdout bytes, stderr lines, signals."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from eden_storage_async import mint_opaque_id, validate_opaque_id
from eden_storage_async._cli.main import main

_STARTUP_TIMEOUT_S = 30.0


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any EDEN_*, AWS_* or GOOGLE_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EDEN_", "AWS_", "GOOGLE_"))}
    env.update(extra)
    return env


def cli(
    *args: str | Path, stdin: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "eden_storage_async._cli.main", *map(str, args)],
        input=stdin,
        capture_output=True,
        env=clean_env() if env is None else env,
        timeout=60,
    )


def one_error_line(result: subprocess.CompletedProcess[bytes]) -> str:
    """The single stderr line of a failed run; fails the test on anything else."""
    text = result.stderr.decode()
    assert "Traceback" not in text, text
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("eden-blob"), text
    return lines[0]


@contextlib.contextmanager
def running_server(
    *args: str | Path, env: dict[str, str] | None = None, host: str = "127.0.0.1"
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``eden-blob serve`` on a free port; yields the process and the URL it announced."""
    argv = [sys.executable, "-m", "eden_storage_async._cli.main", "serve", "--port", "0"]
    proc = subprocess.Popen(
        [*argv, "--host", host, *map(str, args)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env() if env is None else env,
    )
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=_STARTUP_TIMEOUT_S):
                raise AssertionError("no LISTENING line in time")
        line = proc.stdout.readline().decode()
        pattern = rf"EDEN_BLOB_LISTENING (http://{re.escape(host)}:[1-9][0-9]*)\n"
        match = re.fullmatch(pattern, line)
        assert match is not None, line
        yield proc, match[1]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def http(
    method: str, url: str, body: bytes | None = None, token: str | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def stop(proc: subprocess.Popen[bytes], sig: signal.Signals) -> tuple[int, str]:
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=30)
    return proc.returncode, stderr.decode()


# --- put and get ----------------------------------------------------------------------


def test_put_then_get_round_trip(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 64 + b"\r\n\x00tail"
    source = tmp_path / "in.bin"
    source.write_bytes(payload)
    blobs = tmp_path / "blobs"
    put = cli("put", source, "--artifact-blob-dir", blobs)
    assert put.returncode == 0, put.stderr
    assert put.stderr == b""
    opaque_id = put.stdout.decode().removesuffix("\n")
    assert validate_opaque_id(opaque_id) == opaque_id
    assert (blobs / opaque_id).read_bytes() == payload
    got = cli("get", opaque_id, "--artifact-blob-dir", blobs)
    assert got.returncode == 0, got.stderr
    assert got.stdout == payload  # raw bytes: no newline added, nothing translated


@pytest.mark.parametrize("stdin_args", [["-"], []], ids=["dash", "default"])
def test_put_reads_stdin(tmp_path: Path, stdin_args: list[str]) -> None:
    payload = os.urandom(4096)
    put = cli("put", *stdin_args, "--artifact-blob-dir", tmp_path, stdin=payload)
    assert put.returncode == 0, put.stderr
    opaque_id = put.stdout.decode().strip()
    assert (tmp_path / opaque_id).read_bytes() == payload


def test_get_to_a_file_replaces_it_atomically(tmp_path: Path) -> None:
    blobs = tmp_path / "blobs"
    opaque_id = cli("put", "--artifact-blob-dir", blobs, stdin=b"new").stdout.decode().strip()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "artifact.bin"
    target.write_bytes(b"old content that is longer")
    # A second name for the old file: a rename leaves it alone, while writing
    # into the file in place (what a reader could catch half done) changes it.
    old_link = tmp_path / "old-link"
    os.link(target, old_link)
    got = cli("get", opaque_id, "-o", target, "--artifact-blob-dir", blobs)
    assert got.returncode == 0, got.stderr
    assert got.stdout == b""
    assert target.read_bytes() == b"new"
    assert old_link.read_bytes() == b"old content that is longer"
    assert os.listdir(out_dir) == ["artifact.bin"], "no temp file may be left behind"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_get_to_an_unwritable_place_exits_1_and_leaves_nothing(tmp_path: Path) -> None:
    blobs = tmp_path / "blobs"
    opaque_id = cli("put", "--artifact-blob-dir", blobs, stdin=b"x").stdout.decode().strip()
    got = cli("get", opaque_id, "-o", tmp_path / "missing" / "f", "--artifact-blob-dir", blobs)
    assert got.returncode == 1
    assert "cannot write" in one_error_line(got)
    (tmp_path / "a-dir").mkdir()
    got = cli("get", opaque_id, "-o", tmp_path / "a-dir", "--artifact-blob-dir", blobs)
    assert got.returncode == 1
    assert "cannot write" in one_error_line(got)
    assert os.listdir(tmp_path / "a-dir") == []
    assert sorted(os.listdir(tmp_path)) == ["a-dir", "blobs"]


def test_get_to_a_reader_that_goes_away_exits_1(tmp_path: Path) -> None:
    payload = os.urandom(4 * 1024 * 1024)  # far more than a pipe holds
    put = cli("put", "--artifact-blob-dir", tmp_path, stdin=payload)
    opaque_id = put.stdout.decode().strip()
    proc = subprocess.Popen(
        [sys.executable, "-m", "eden_storage_async._cli.main", "get", opaque_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(EDEN_ARTIFACT_BLOB_DIR=str(tmp_path)),
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    assert proc.stdout.read(10) == payload[:10]
    proc.stdout.close()  # the writer is mid-artifact: the rest cannot be delivered
    stderr = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 1, "a truncated artifact must not exit 0"
    line = one_error_line(subprocess.CompletedProcess([], 1, b"", stderr))
    assert "cannot write to stdout" in line


def test_flags_come_from_the_environment(tmp_path: Path) -> None:
    env = clean_env(EDEN_ARTIFACT_BLOB_DIR=str(tmp_path))
    put = cli("put", "-", stdin=b"via env", env=env)
    assert put.returncode == 0, put.stderr
    opaque_id = put.stdout.decode().strip()
    assert cli("get", opaque_id, env=env).stdout == b"via env"


def test_get_of_an_absent_id_exits_1(tmp_path: Path) -> None:
    opaque_id = mint_opaque_id()
    got = cli("get", opaque_id, "--artifact-blob-dir", tmp_path)
    assert got.returncode == 1
    assert got.stdout == b""
    line = one_error_line(got)
    assert line.startswith("eden-blob get: ")
    assert opaque_id in line
    assert "not found" in line


def test_another_storage_error_exits_1(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"")
    put = cli("put", "--artifact-blob-dir", not_a_dir, stdin=b"x")
    assert put.returncode == 1
    assert "BackendError" in one_error_line(put)


def test_an_unreadable_input_exits_1(tmp_path: Path) -> None:
    put = cli("put", tmp_path / "absent", "--artifact-blob-dir", tmp_path / "blobs")
    assert put.returncode == 1
    assert "cannot read" in one_error_line(put)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "required"),
        (["frobnicate"], "invalid choice"),
        (["get"], "required"),
        (["get", "not-an-id", "--artifact-blob-dir", "{tmp}"], "32 lowercase hex"),
        (["put", "--blob-backend", "azure"], "--blob-backend must be one of file, s3, gcs"),
        (["put", "--blob-backend", "s3"], "--blob-s3-bucket is required with --blob-backend s3"),
        (["get", "a" * 32, "--blob-backend", "gcs"], "--blob-gcs-bucket is required"),
        (["put", "--blob-s3-bucket", "b"], "--blob-s3-bucket requires --blob-backend s3"),
        (["put", "--blob-backend", "s3", "--blob-s3-bucket", "b", "--artifact-blob-dir", "{tmp}"],
         "--artifact-blob-dir requires --blob-backend file"),
        (["put", "--artifact-blob-dir", "{tmp}", "--artifacts-dir", "{tmp}"], "must differ"),
        (["put"], "needs a durable backend"),
        (["get", "a" * 32], "needs a durable backend"),
        (["serve", "--token", "abc"], "unrecognized arguments: --token"),
        (["serve", "--port", "70000"], "not a TCP port"),
        (["serve", "--max-artifact-bytes", "-1"], "must not be negative"),
        (["put", "--no-such-flag"], "unrecognized arguments"),
    ],
)  # fmt: skip
def test_usage_and_config_errors_exit_2_with_one_line(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    result = cli(*(a.replace("{tmp}", str(tmp_path)) for a in args), stdin=b"data")
    assert result.returncode == 2, result.stderr
    assert result.stdout == b""
    assert expected in one_error_line(result)
    assert os.listdir(tmp_path) == [], "a refused command must not touch storage"


def test_unrecognized_values_are_not_echoed() -> None:
    result = cli("serve", "--token", "pasted-secret-789", "stray-value")
    assert result.returncode == 2
    line = one_error_line(result)
    assert "unrecognized arguments: --token" in line
    assert "pasted-secret-789" not in line
    assert "stray-value" not in line


def test_an_env_var_in_a_config_error_is_named(tmp_path: Path) -> None:
    env = clean_env(EDEN_BLOB_S3_BUCKET="inherited", EDEN_ARTIFACT_BLOB_DIR=str(tmp_path))
    result = cli("put", stdin=b"x", env=env)
    assert result.returncode == 2
    line = one_error_line(result)
    assert "--blob-s3-bucket requires --blob-backend s3" in line
    assert "EDEN_BLOB_S3_BUCKET" in line
    assert "inherited" not in line


def test_help_exits_0() -> None:
    result = cli("serve", "--help")
    assert result.returncode == 0
    for flag in ("--blob-backend", "--blob-s3-bucket", "--token-file", "EDEN_BLOB_GCS_BUCKET"):
        assert flag in result.stdout.decode()


def test_the_cli_runs_on_uvloop_without_installing_a_policy() -> None:
    # uvloop comes with the dev extra (through bench); the library must not
    # import it, and the CLI must use it as a loop factory, not as a policy.
    code = (
        "import asyncio, sys\n"
        "import eden_storage_async\n"
        "assert 'uvloop' not in sys.modules\n"
        "from eden_storage_async._cli import _run\n"
        "async def loop_module():\n"
        "    return type(asyncio.get_running_loop()).__module__\n"
        "print(_run(loop_module()))\n"
        "print(type(asyncio.get_event_loop_policy()).__module__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["uvloop", "asyncio.unix_events"]


def test_the_console_script_is_main() -> None:
    (entry,) = importlib.metadata.entry_points(group="console_scripts", name="eden-blob")
    assert entry.load() is main


# --- serve ----------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_announces_its_port_serves_and_stops_on_a_signal(
    tmp_path: Path, sig: signal.Signals
) -> None:
    blobs = tmp_path / "blobs"
    with running_server("--artifact-blob-dir", blobs) as (proc, base):
        url = f"{base}/v0/experiments/e1/artifacts"
        status, body = http("POST", url, b"served bytes")
        assert status == 201, body
        uri = json.loads(body)["artifacts_uri"]
        status, body = http("GET", f"{url}?uri={uri}")
        assert (status, body) == (200, b"served bytes")
        code, stderr = stop(proc, sig)
    assert code == 0, stderr
    assert "Traceback" not in stderr
    # The backend it served was the one on disk, and it outlives the server.
    assert (blobs / uri.removeprefix("eden://artifacts/")).read_bytes() == b"served bytes"


def test_sigterm_lets_a_deposit_under_way_finish(tmp_path: Path) -> None:
    blobs = tmp_path / "blobs"
    with running_server("--artifact-blob-dir", blobs) as (proc, base):
        host, port = base.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=30) as conn:
            conn.sendall(
                b"POST /v0/experiments/e1/artifacts HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: 10\r\n\r\nfirst"
            )
            time.sleep(0.3)  # let the handler start reading the body
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)  # the server is shutting down now, the upload half done
            conn.sendall(b"-last")
            response = conn.makefile("rb").read()
        code, stderr = proc.wait(timeout=30), proc.stderr.read().decode() if proc.stderr else ""
    assert response.startswith(b"HTTP/1.1 201"), response
    opaque_id = json.loads(response.split(b"\r\n\r\n", 1)[1])["artifacts_uri"].split("/")[-1]
    assert (blobs / opaque_id).read_bytes() == b"first-last"
    assert code == 0, stderr


def test_a_second_signal_stops_without_waiting_for_the_upload(tmp_path: Path) -> None:
    with running_server("--artifact-blob-dir", tmp_path / "blobs") as (proc, base):
        host, port = base.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=30) as conn:
            conn.sendall(
                b"POST /v0/experiments/e1/artifacts HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: 10\r\n\r\nhalf"
            )
            time.sleep(0.3)
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
            elapsed = time.monotonic() - started
            assert not conn.makefile("rb").read().startswith(b"HTTP/1.1 201")
    # Far below the 30 s drain the first signal alone would allow.
    assert elapsed < 10, elapsed
    assert code == 0
    assert os.listdir(tmp_path / "blobs") == []


def test_serve_in_memory_warns_non_durable() -> None:
    with running_server() as (proc, _):
        code, stderr = stop(proc, signal.SIGTERM)
    assert code == 0
    assert "NON-DURABLE" in stderr


def test_serve_with_a_token_file_requires_the_token(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token-123\n")
    with running_server("--token-file", token_file) as (proc, base):
        url = f"{base}/v0/experiments/e1/artifacts"
        assert http("POST", url, b"x")[0] == 401
        assert http("POST", url, b"x", token="wrong")[0] == 401
        assert http("POST", url, b"x", token="file-token-123")[0] == 201
        code, stderr = stop(proc, signal.SIGTERM)
    assert code == 0
    assert "file-token-123" not in stderr


def test_serve_beyond_loopback_refuses_to_start_without_a_token() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "eden_storage_async._cli.main", "serve", "--host", "0.0.0.0"],
        capture_output=True,
        env=clean_env(),
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == b""
    line = one_error_line(result)
    assert "without a bearer token" in line
    assert "--token-file" in line


def test_serve_beyond_loopback_starts_with_a_token_from_the_environment() -> None:
    env = clean_env(EDEN_BLOB_TOKEN="env-token-456")
    with running_server(env=env, host="0.0.0.0") as (proc, base):
        port = base.rsplit(":", 1)[1]
        url = f"http://127.0.0.1:{port}/v0/experiments/e1/artifacts"
        assert http("POST", url, b"x")[0] == 401
        assert http("POST", url, b"x", token="env-token-456")[0] == 201
        code, stderr = stop(proc, signal.SIGTERM)
    assert code == 0
    assert "env-token-456" not in stderr


@pytest.mark.parametrize("content", ["", "  \n"])
def test_serve_refuses_an_empty_token_file(tmp_path: Path, content: str) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(content)
    result = cli("serve", "--token-file", token_file)
    assert result.returncode == 2
    assert "is empty" in one_error_line(result)


def test_serve_refuses_an_unreadable_token_file(tmp_path: Path) -> None:
    result = cli("serve", "--token-file", tmp_path / "absent")
    assert result.returncode == 2
    assert "cannot read --token-file" in one_error_line(result)


def test_serve_on_a_taken_port_exits_1(tmp_path: Path) -> None:
    with running_server() as (proc, base):
        port = base.rsplit(":", 1)[1]
        result = cli("serve", "--port", port, "--artifact-blob-dir", tmp_path / "blobs")
        stop(proc, signal.SIGTERM)
    assert result.returncode == 1
    assert "address already in use" in one_error_line(result).lower()
