"""``S3Backend`` over TLS against SeaweedFS (``-s3.cert.file``) and moto (``-c``/``-k``).

Every case runs on both request paths (``lean``, on ``_http``, and ``sdk``,
all through aiobotocore), with the private CA given the way botocore takes
one: ``AWS_CA_BUNDLE`` (it ignores ``SSL_CERT_FILE``). A wrong CA and a wrong
host name fail at once with ``TlsError``: a TCP proxy counts one connection,
never a retry.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator

import pytest

from eden_storage_async import AlreadyExists, NotFound, S3Backend, TlsError, mint_opaque_id

from ..support.s3 import fresh_prefix, raw_client, use_test_credentials
from ..support.servers import RealServer
from ..support.tls import ConnectionCounter, TlsFiles
from .conftest import start

pytestmark = [pytest.mark.asyncio, pytest.mark.real_server]

PATHS = ["lean", "sdk"]
_MIB = 1024 * 1024


@pytest.fixture(scope="module", params=["seaweedfs", "moto"])
def s3_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture(scope="module")
def s3(s3_kind: str, tls_files: TlsFiles) -> Iterator[RealServer]:
    yield from start(s3_kind, tls_files)


@pytest.fixture(scope="module")
def s3_wrong_host(s3_kind: str, localhost_only: TlsFiles) -> Iterator[RealServer]:
    yield from start(s3_kind, localhost_only)


@contextlib.asynccontextmanager
async def backend_on(
    monkeypatch: pytest.MonkeyPatch, endpoint_url: str, bucket: str, ca: TlsFiles, path: str
) -> AsyncIterator[S3Backend]:
    use_test_credentials(monkeypatch)
    monkeypatch.setenv("AWS_CA_BUNDLE", str(ca.ca))
    async with S3Backend(
        bucket=bucket,
        endpoint_url=endpoint_url,
        prefix=fresh_prefix(),
        request_path=path,  # type: ignore[arg-type]
        multipart_threshold=_MIB,
        part_size=5 * _MIB,
    ) as backend:
        yield backend


@pytest.mark.parametrize("path", PATHS)
async def test_round_trip_over_tls(
    s3: RealServer, tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    data = os.urandom(64 * 1024)
    opaque_id = mint_opaque_id()
    async with backend_on(monkeypatch, s3.endpoint_url, s3.bucket, tls_files, path) as backend:
        await backend.store(opaque_id, data, content_type="application/x-eden")
        assert await backend.load(opaque_id) == data
        info = await backend.stat(opaque_id)
        assert (info.size, info.content_type) == (len(data), "application/x-eden")
        assert await backend.load_range(opaque_id, 10, 20) == data[10:20]
        async with backend.load_stream(opaque_id) as chunks:
            assert b"".join([chunk async for chunk in chunks]) == data


@pytest.mark.parametrize("path", PATHS)
async def test_reuse_is_already_exists_over_tls(
    s3: RealServer, tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    opaque_id = mint_opaque_id()
    async with backend_on(monkeypatch, s3.endpoint_url, s3.bucket, tls_files, path) as backend:
        await backend.store(opaque_id, b"first")
        with pytest.raises(AlreadyExists):
            await backend.store(opaque_id, b"second")
        assert await backend.load(opaque_id) == b"first"


@pytest.mark.parametrize("path", PATHS)
async def test_absent_is_not_found_over_tls(
    s3: RealServer, tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    opaque_id = mint_opaque_id()
    async with backend_on(monkeypatch, s3.endpoint_url, s3.bucket, tls_files, path) as backend:
        with pytest.raises(NotFound):
            await backend.load(opaque_id)
        with pytest.raises(NotFound):
            await backend.stat(opaque_id)


@pytest.mark.parametrize("path", PATHS)
async def test_multipart_stream_over_tls(
    s3: RealServer, tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    # Above multipart_threshold: two parts of a multipart upload (5 MiB, then
    # the rest), completed with If-None-Match: *, then refused on reuse.
    pieces = [os.urandom(_MIB) for _ in range(5)] + [os.urandom(256 * 1024)]
    opaque_id = mint_opaque_id()
    async with backend_on(monkeypatch, s3.endpoint_url, s3.bucket, tls_files, path) as backend:
        await backend.store_stream(opaque_id, iter(pieces))
        assert await backend.load(opaque_id) == b"".join(pieces)
        with pytest.raises(AlreadyExists):
            await backend.store_stream(opaque_id, iter(pieces))
        key = f"{backend.prefix}/{opaque_id}"
    async with raw_client(s3) as client:
        head = await client.head_object(Bucket=s3.bucket, Key=key)
    # A multipart object's ETag ends in "-<number of parts>".
    assert head["ETag"].strip('"').endswith("-2")


async def _store(backend: S3Backend) -> None:
    await backend.store(mint_opaque_id(), b"data")


async def _load(backend: S3Backend) -> None:
    await backend.load(mint_opaque_id())


async def _stat(backend: S3Backend) -> None:
    await backend.stat(mint_opaque_id())


async def _multipart_stream(backend: S3Backend) -> None:
    await backend.store_stream(mint_opaque_id(), iter([os.urandom(_MIB)] * 2))


CALLS = {"store": _store, "load": _load, "stat": _stat, "multipart stream": _multipart_stream}


@pytest.mark.parametrize("trust", ["wrong CA", "wrong host name"])
@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("path", PATHS)
async def test_a_certificate_that_does_not_verify_is_tls_error_at_once(
    request: pytest.FixtureRequest,
    s3_kind: str,
    other_ca: TlsFiles,
    localhost_only: TlsFiles,
    monkeypatch: pytest.MonkeyPatch,
    trust: str,
    call: str,
    path: str,
) -> None:
    if trust == "wrong CA":
        # A certificate for 127.0.0.1, from a CA the backend does not trust.
        server: RealServer = request.getfixturevalue("s3")
        ca = other_ca
    else:
        # A trusted CA, but a certificate for "localhost" reached at 127.0.0.1.
        server = request.getfixturevalue("s3_wrong_host")
        ca = localhost_only
    port = int(server.endpoint_url.rsplit(":", 1)[1])
    async with (
        ConnectionCounter(port) as counter,
        backend_on(monkeypatch, counter.endpoint_url, server.bucket, ca, path) as backend,
    ):
        with pytest.raises(TlsError) as caught:
            await CALLS[call](backend)
    # One handshake, and no second attempt: the default retry would make several.
    assert counter.connections == 1
    assert "127.0.0.1" in str(caught.value)
