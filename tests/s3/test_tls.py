"""TLS on both S3 request paths (issue 16), on ``TlsS3`` (``tls_server.py``) with a
private CA made by trustme: a certificate that does not verify fails at once
with ``TlsError`` naming the host and ``ssl``'s reason, after one connection
attempt; the right CA through ``AWS_CA_BUNDLE`` works.

Before: the lean path turned ``_http``'s ``TlsFailed`` into botocore's
``SSLError`` and the backend mapped that to ``ServiceUnavailable`` ("TLS with
...: SSLError"), as if the service were down; the SDK path did the same.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import pytest
import trustme

from eden_storage_async import S3Backend, TlsError

from .lean_helpers import _BUCKET
from .tls_server import TlsS3

_ID = "0123456789abcdef0123456789abcdef"
RequestPath = Literal["lean", "sdk"]
PATHS = pytest.mark.parametrize("path", ["lean", "sdk"])


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def _server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


def _trust(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))


@contextlib.asynccontextmanager
async def _backend(server: TlsS3, path: RequestPath) -> AsyncIterator[S3Backend]:
    # The backend's default retry: a TLS failure must not use it.
    async with S3Backend(
        bucket=_BUCKET, endpoint_url=server.endpoint_url, request_path=path
    ) as backend:
        yield backend


@PATHS
@pytest.mark.usefixtures("creds")
async def test_the_right_ca_through_aws_ca_bundle_works(
    path: RequestPath, ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _trust(ca, tmp_path, monkeypatch)
    async with (
        TlsS3(_server_context(ca, "127.0.0.1", "localhost")) as server,
        _backend(server, path) as backend,
    ):
        await backend.store(_ID, b"over tls")
        assert await backend.load(_ID) == b"over tls"
        with pytest.raises(FileExistsError):
            await backend.store(_ID, b"again")
    assert server.handshakes >= 1


@PATHS
@pytest.mark.usefixtures("creds")
async def test_a_certificate_from_another_ca_fails_at_once(
    path: RequestPath, ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _trust(trustme.CA(), tmp_path, monkeypatch)  # not the server's CA
    async with (
        TlsS3(_server_context(ca, "127.0.0.1", "localhost")) as server,
        _backend(server, path) as backend,
    ):
        with pytest.raises(TlsError) as caught:
            await backend.store(_ID, b"x")
        with pytest.raises(TlsError):
            await backend.load(_ID)
        port = server.port
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message
    assert "did not verify" in message
    assert "unable to get local issuer certificate" in message
    # One attempt per call: never retried.
    assert server.connections == 2
    assert server.handshakes == 0


@PATHS
@pytest.mark.usefixtures("creds")
async def test_a_certificate_for_another_host_name_fails_at_once(
    path: RequestPath, ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _trust(ca, tmp_path, monkeypatch)
    async with (
        TlsS3(_server_context(ca, "other.example")) as server,
        _backend(server, path) as backend,
    ):
        with pytest.raises(TlsError) as caught:
            await backend.stat(_ID)
        port = server.port
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message
    # ssl says "IP address mismatch" for an address, "Hostname mismatch" for a name.
    assert "did not verify" in message
    assert "mismatch, certificate is not valid for '127.0.0.1'" in message
    assert server.connections == 1
