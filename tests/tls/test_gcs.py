"""``GcsBackend`` over TLS against fake-gcs-server (``-scheme https``) and a private CA.

Every case runs on both upload paths: the lean single-request upload (a
multipart POST on ``_http``) and the resumable upload (on the aiohttp
session), each proved taken by counting its calls. The CA reaches both
through ``ca_bundle``. A wrong CA and a wrong host name fail every call at
once with ``TlsError``: a TCP proxy counts one connection, never a retry.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from eden_storage_async import AlreadyExists, GcsBackend, NotFound, TlsError, mint_opaque_id
from eden_storage_async._gcs.lean import LeanUpload
from eden_storage_async._gcs.resumable import Resumable

from ..support.gcs import fresh_prefix
from ..support.servers import RealServer
from ..support.tls import ConnectionCounter, TlsFiles
from .conftest import start

pytestmark = [pytest.mark.asyncio, pytest.mark.real_server]

_RESUMABLE_THRESHOLD = 256 * 1024
_PIECE = 256 * 1024
# Per path: the backend's settings, and a payload that takes that path.
PATHS: dict[str, tuple[dict[str, Any], int]] = {
    "lean": ({}, 64 * 1024),
    "resumable": ({"resumable_threshold": _RESUMABLE_THRESHOLD}, _RESUMABLE_THRESHOLD + 4096),
}


@pytest.fixture(scope="module")
def gcs(tls_files: TlsFiles) -> Iterator[RealServer]:
    yield from start("fake-gcs", tls_files)


@pytest.fixture(scope="module")
def gcs_wrong_host(localhost_only: TlsFiles) -> Iterator[RealServer]:
    yield from start("fake-gcs", localhost_only)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each upload path was taken, and the query of each aiohttp POST."""
    counted: Counter[str] = Counter()
    lean_post, initiate, session_post = (
        LeanUpload.post,
        Resumable.initiate,
        aiohttp.ClientSession.post,
    )

    async def counting_lean(self: LeanUpload, *args: Any, **kwargs: Any) -> bytes:
        counted["lean"] += 1
        return await lean_post(self, *args, **kwargs)

    async def counting_initiate(self: Resumable, *args: Any, **kwargs: Any) -> str:
        counted["resumable"] += 1
        return await initiate(self, *args, **kwargs)

    def recording_post(self: aiohttp.ClientSession, url: str, **kwargs: Any) -> Any:
        params = kwargs.get("params") or {}
        if params.get("uploadType") == "resumable":
            counted[f"resumable ifGenerationMatch={params.get('ifGenerationMatch')}"] += 1
        return session_post(self, url, **kwargs)

    monkeypatch.setattr(LeanUpload, "post", counting_lean)
    monkeypatch.setattr(Resumable, "initiate", counting_initiate)
    monkeypatch.setattr(aiohttp.ClientSession, "post", recording_post)
    return counted


@contextlib.asynccontextmanager
async def backend_on(
    endpoint_url: str, bucket: str, ca: TlsFiles, path: str
) -> AsyncIterator[GcsBackend]:
    settings, _ = PATHS[path]
    backend = GcsBackend(
        bucket=bucket,
        endpoint_url=endpoint_url,
        prefix=fresh_prefix(),
        ca_bundle=ca.ca,
        **settings,
    )
    backend._stream_piece = _PIECE
    async with backend:
        yield backend


def expected_calls(path: str, uploads: int = 1) -> Counter[str]:
    if path == "lean":
        return Counter({"lean": uploads})
    return Counter({"resumable": uploads, "resumable ifGenerationMatch=0": uploads})


@pytest.mark.parametrize("path", sorted(PATHS))
async def test_round_trip_over_tls(
    gcs: RealServer, tls_files: TlsFiles, calls: Counter[str], path: str
) -> None:
    data = os.urandom(PATHS[path][1])
    opaque_id = mint_opaque_id()
    async with backend_on(gcs.endpoint_url, gcs.bucket, tls_files, path) as backend:
        await backend.store(opaque_id, data, content_type="application/x-eden")
        assert calls == expected_calls(path)
        assert await backend.load(opaque_id) == data
        info = await backend.stat(opaque_id)
        assert (info.size, info.content_type) == (len(data), "application/x-eden")
        assert await backend.load_range(opaque_id, 10, 20) == data[10:20]
        async with backend.load_stream(opaque_id) as chunks:
            assert b"".join([chunk async for chunk in chunks]) == data


@pytest.mark.parametrize("path", sorted(PATHS))
async def test_reuse_is_already_exists_over_tls(
    gcs: RealServer, tls_files: TlsFiles, calls: Counter[str], path: str
) -> None:
    # The first store takes the path under test; the second is a small one,
    # which fake-gcs-server v1.54.0 refuses: it ignores ifGenerationMatch=0
    # on resumable uploads (tests/gcs/test_emulator_gaps.py), so on that path
    # what is checked is that the precondition was sent (the counted query).
    data = os.urandom(PATHS[path][1])
    opaque_id = mint_opaque_id()
    async with backend_on(gcs.endpoint_url, gcs.bucket, tls_files, path) as backend:
        await backend.store(opaque_id, data)
        with pytest.raises(AlreadyExists):
            await backend.store(opaque_id, b"another writer")
        assert await backend.load(opaque_id) == data
    assert calls == expected_calls(path) + Counter({"lean": 1})


@pytest.mark.parametrize("path", sorted(PATHS))
async def test_absent_is_not_found_over_tls(
    gcs: RealServer, tls_files: TlsFiles, path: str
) -> None:
    opaque_id = mint_opaque_id()
    async with backend_on(gcs.endpoint_url, gcs.bucket, tls_files, path) as backend:
        with pytest.raises(NotFound):
            await backend.load(opaque_id)
        with pytest.raises(NotFound):
            await backend.stat(opaque_id)
        with pytest.raises(NotFound):
            await backend.load_range(opaque_id, 0, 5)


@pytest.mark.parametrize("path", sorted(PATHS))
async def test_stream_over_tls(
    gcs: RealServer, tls_files: TlsFiles, calls: Counter[str], path: str
) -> None:
    # Three pieces on the resumable path; one request on the lean one.
    pieces = [os.urandom(100 * 1024) for _ in range(3 if path == "lean" else 7)]
    opaque_id = mint_opaque_id()
    async with backend_on(gcs.endpoint_url, gcs.bucket, tls_files, path) as backend:
        await backend.store_stream(opaque_id, pieces)
        assert calls == expected_calls(path)
        assert await backend.load(opaque_id) == b"".join(pieces)


# --- a certificate that does not verify: TlsError at once, on every call path -----


async def _store_lean(backend: GcsBackend) -> None:
    await backend.store(mint_opaque_id(), b"small")


async def _store_resumable(backend: GcsBackend) -> None:
    await backend.store(mint_opaque_id(), os.urandom(_RESUMABLE_THRESHOLD + 1))


async def _store_stream(backend: GcsBackend) -> None:
    await backend.store_stream(mint_opaque_id(), [os.urandom(_RESUMABLE_THRESHOLD)] * 2)


async def _load(backend: GcsBackend) -> None:
    await backend.load(mint_opaque_id())


async def _stat(backend: GcsBackend) -> None:
    await backend.stat(mint_opaque_id())


async def _range(backend: GcsBackend) -> None:
    await backend.load_range(mint_opaque_id(), 0, 5)


async def _load_stream(backend: GcsBackend) -> None:
    async with backend.load_stream(mint_opaque_id()):
        pass


CALLS = {
    "lean store": _store_lean,
    "resumable store": _store_resumable,
    "resumable stream": _store_stream,
    "load": _load,
    "stat": _stat,
    "range": _range,
    "load_stream": _load_stream,
}


@pytest.mark.parametrize("trust", ["wrong CA", "wrong host name"])
@pytest.mark.parametrize("call", sorted(CALLS))
async def test_a_certificate_that_does_not_verify_is_tls_error_at_once(
    request: pytest.FixtureRequest,
    tls_files: TlsFiles,
    other_ca: TlsFiles,
    localhost_only: TlsFiles,
    calls: Counter[str],
    trust: str,
    call: str,
) -> None:
    if trust == "wrong CA":
        # A certificate for 127.0.0.1, from a CA the backend does not trust.
        server: RealServer = request.getfixturevalue("gcs")
        ca, reason = other_ca, "unable to get local issuer certificate"
    else:
        # A trusted CA, but a certificate for "localhost" reached at 127.0.0.1.
        server = request.getfixturevalue("gcs_wrong_host")
        ca, reason = localhost_only, "IP address mismatch"
    port = int(server.endpoint_url.rsplit(":", 1)[1])
    async with (
        ConnectionCounter(port) as counter,
        backend_on(
            counter.endpoint_url, server.bucket, ca, "resumable" if "resumable" in call else "lean"
        ) as backend,
    ):
        with pytest.raises(TlsError) as caught:
            await CALLS[call](backend)
    # One handshake, and no second attempt: the default retry would make 5.
    assert counter.connections == 1
    message = str(caught.value)
    assert "did not verify" in message
    assert reason in message
    assert str(ca.ca) in message
    assert "not retried" in message
    assert calls["lean"] == (1 if call == "lean store" else 0)


@pytest.mark.parametrize("path", sorted(PATHS))
async def test_ssl_cert_file_at_first_use_reaches_both_paths(
    gcs: RealServer, tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    # aiohttp reads SSL_CERT_FILE once, when it is imported (long before
    # this test); the backend's own context reads it at first use, for both
    # paths alike.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca))
    settings, size = PATHS[path]
    data = os.urandom(size)
    opaque_id = mint_opaque_id()
    async with GcsBackend(
        bucket=gcs.bucket, endpoint_url=gcs.endpoint_url, prefix=fresh_prefix(), **settings
    ) as backend:
        await backend.store(opaque_id, data)
        assert await backend.load(opaque_id) == data
