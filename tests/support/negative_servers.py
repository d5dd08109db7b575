"""Real servers that accept the create-only preconditions and then ignore them.

They are the negative controls of ``check_create_only``: a check that passes on
them is a check that cannot fail. Both are real wire-protocol servers started on
127.0.0.1 and stopped on exit, like those in ``servers.py``:

* s3rver 3.7.1 (npm), installed by ``scripts/test-all`` with
  ``npm ci --prefix tests/support/node``: it answers 200 to a ``PutObject``
  and a ``CompleteMultipartUpload`` carrying ``If-None-Match: *`` on a taken key.
  It checks signatures against its one built-in key pair, ``S3RVER``/``S3RVER``
  (any other key id: 403 ``InvalidAccessKeyId``), and takes path-style URLs,
  botocore's default for an IP endpoint.
* gcp-storage-emulator (PyPI, the dev extra): it answers 200 to an upload with
  ``ifGenerationMatch=0`` on a taken name, on every upload type.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .s3 import use_test_credentials
from .servers import RealServer, _binary, _http_status, _process, _wait_until, free_port

__all__ = [
    "S3RVER_BIN",
    "gcp_emulator",
    "gcp_storage_emulator",
    "s3rver",
    "s3rver_server",
    "use_s3rver_credentials",
]

_HOST = "127.0.0.1"
# Where `npm ci --prefix tests/support/node` puts it (package-lock.json pins 3.7.1).
S3RVER_BIN = Path(__file__).parent / "node" / "node_modules" / ".bin" / "s3rver"


def use_s3rver_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test credentials of ``use_test_credentials``, with s3rver's built-in keys."""
    use_test_credentials(monkeypatch)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "S3RVER")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "S3RVER")


@contextlib.contextmanager
def s3rver_server(bucket: str = "eden-test") -> Iterator[RealServer]:
    """s3rver on a free port, with ``bucket`` (a folder made before it starts)."""
    if not S3RVER_BIN.exists():
        raise RuntimeError(
            f"{S3RVER_BIN} not found; install it with: npm ci --prefix tests/support/node"
        )
    with tempfile.TemporaryDirectory(prefix="eden-s3rver-") as tmp:
        data = Path(tmp, "data")
        # s3rver serves every folder under its directory as a bucket.
        (data / bucket).mkdir(parents=True)
        log = Path(tmp, "s3rver.log")
        port = free_port()
        endpoint = f"http://{_HOST}:{port}"
        argv = [str(S3RVER_BIN), "-d", str(data), "-a", _HOST, "-p", str(port), "--silent"]
        with _process(argv, log) as proc:
            _wait_until(
                lambda: _http_status("HEAD", f"{endpoint}/{bucket}") == 200, proc, log, "s3rver"
            )
            yield RealServer("s3rver", endpoint, bucket, log)


@contextlib.contextmanager
def gcp_storage_emulator(bucket: str = "eden-test") -> Iterator[RealServer]:
    """gcp-storage-emulator, in memory, with ``bucket`` made at start."""
    with tempfile.TemporaryDirectory(prefix="eden-gcpemu-") as tmp:
        log = Path(tmp, "gcp-storage-emulator.log")
        port = free_port()
        endpoint = f"http://{_HOST}:{port}"
        argv = [
            _binary("gcp-storage-emulator"), "start",
            "--host", _HOST, "--port", str(port),
            "--in-memory", "--default-bucket", bucket,
        ]  # fmt: skip
        with _process(argv, log) as proc:
            _wait_until(
                lambda: _http_status("GET", f"{endpoint}/storage/v1/b/{bucket}") == 200,
                proc,
                log,
                "gcp-storage-emulator",
            )
            yield RealServer("gcp-storage-emulator", endpoint, bucket, log)


@pytest.fixture(scope="session")
def s3rver() -> Iterator[RealServer]:
    """s3rver 3.7.1 on 127.0.0.1, with one bucket (import it into a conftest)."""
    with s3rver_server() as server:
        yield server


@pytest.fixture(scope="session")
def gcp_emulator() -> Iterator[RealServer]:
    """gcp-storage-emulator on 127.0.0.1, in memory, with one bucket."""
    with gcp_storage_emulator() as server:
        yield server
