"""``eden-blob serve`` through a real subprocess: the announced port, serving from
the configured backend, stopping on signals, the bearer token, and start-up errors."""

from __future__ import annotations

import contextlib
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

from .helpers import clean_env, cli, one_error_line

_STARTUP_TIMEOUT_S = 30.0


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


BOUNDARY = "eden-cli-test-boundary"


def file_part_head() -> bytes:
    """The multipart framing before a file part's bytes, as eden's client writes it."""
    return (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="artifact"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


FILE_PART_TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()
FORM_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def http(
    method: str, url: str, body: bytes | None = None, token: str | None = None
) -> tuple[int, bytes]:
    """One request as eden's client makes it: a POST's ``body`` goes as the one file
    part, and the experiment header names the path's experiment."""
    experiment = url.split("/experiments/", 1)[1].split("/", 1)[0]
    if method == "POST" and body is not None:
        body = file_part_head() + body + FILE_PART_TAIL
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("X-Eden-Experiment-Id", experiment)
    if method == "POST":
        request.add_header("Content-Type", FORM_TYPE)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def request_head(length: int) -> bytes:
    """A raw deposit's request head, for a body of ``length`` bytes."""
    return (
        "POST /v0/experiments/e1/artifacts HTTP/1.1\r\nHost: x\r\n"
        f"X-Eden-Experiment-Id: e1\r\nContent-Type: {FORM_TYPE}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def stop(proc: subprocess.Popen[bytes], sig: signal.Signals) -> tuple[int, str]:
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=30)
    return proc.returncode, stderr.decode()


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
            head = file_part_head()
            conn.sendall(
                request_head(len(head) + len(b"first-last") + len(FILE_PART_TAIL)) + head + b"first"
            )
            time.sleep(0.3)  # let the handler start reading the body
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)  # the server is shutting down now, the upload half done
            conn.sendall(b"-last" + FILE_PART_TAIL)
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
            head = file_part_head()
            conn.sendall(request_head(len(head) + 10 + len(FILE_PART_TAIL)) + head + b"half")
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
    # Nothing but the create-only check's canaries, which serve stores before it listens.
    assert all(
        name.startswith(".eden-create-only-check.") for name in os.listdir(tmp_path / "blobs")
    )


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
