"""Attributes on the wire: sent in the request that creates the object, on every
upload path, recorded by a loopback proxy in front of fake-gcs-server, then read
back from the emulator with ``stat``.

"Sent in the creating request" is what makes them atomic with the object: no
request after the upload (no PATCH, no metadata update) ever touches it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import aiohttp
import pytest

from eden_storage_async import ArtifactInfo, GcsBackend, mint_opaque_id

from ..support.gcs import Recorded, RecordingProxy, crc32c_of, gcs_backend_on
from ..support.servers import RealServer
from .helpers import WIRE_THRESHOLD

pytestmark = [pytest.mark.asyncio, pytest.mark.real_server]

CONTENT_TYPE = 'application/vnd.eden+json; charset="utf-8"'
METADATA = {"job": "run-7", "note": 'a "quoted" \\ value', "zz-last": "z"}
_MIB = 1024 * 1024


@contextlib.asynccontextmanager
async def _backend_for(
    path: str, proxy: RecordingProxy, server: RealServer
) -> AsyncIterator[GcsBackend]:
    if path == "multipart-session":
        async with (
            aiohttp.ClientSession() as session,
            gcs_backend_on(proxy.endpoint_url, server.bucket, session=session) as backend,
        ):
            yield backend
        return
    threshold = 4 * _MIB if path == "multipart-large" else WIRE_THRESHOLD
    async with gcs_backend_on(
        proxy.endpoint_url, server.bucket, resumable_threshold=threshold
    ) as backend:
        backend._stream_piece = WIRE_THRESHOLD
        yield backend


async def _store(path: str, backend: GcsBackend, opaque_id: str) -> bytes:
    sizes = {"multipart-large": 2 * _MIB, "resumable": WIRE_THRESHOLD + 1}
    payload = os.urandom(sizes.get(path, 3 * WIRE_THRESHOLD + 5 if "stream" in path else 100))
    if path == "stream-resumable":
        chunks = [payload[i : i + 50_000] for i in range(0, len(payload), 50_000)]
        await backend.store_stream(opaque_id, chunks, content_type=CONTENT_TYPE, metadata=METADATA)
    else:
        await backend.store(opaque_id, payload, content_type=CONTENT_TYPE, metadata=METADATA)
    return payload


def _check_resource(resource: dict[str, object]) -> None:
    assert resource["contentType"] == CONTENT_TYPE
    custom = resource["metadata"]
    assert isinstance(custom, dict)
    assert {k: v for k, v in custom.items() if k in METADATA} == METADATA
    assert "eden-store-nonce" in custom


def _only_the_upload(requests: list[Recorded]) -> None:
    """Every request was part of the upload: its POST, and PUTs to its session."""
    for request in requests:
        assert request.path.startswith("/upload/storage/v1/b/"), request
        assert request.method in ("POST", "PUT"), request


@pytest.mark.parametrize(
    "path",
    ["multipart-lean", "multipart-session", "multipart-large", "resumable", "stream-resumable"],
)
async def test_attributes_are_sent_in_the_creating_request_and_read_back(
    proxy: RecordingProxy, fake_gcs: RealServer, path: str
) -> None:
    opaque_id = mint_opaque_id()
    async with _backend_for(path, proxy, fake_gcs) as backend:
        payload = await _store(path, backend, opaque_id)
        _only_the_upload(proxy.requests)
        [upload] = proxy.uploads()
        _check_resource(upload.resource())
        puts = [r for r in proxy.requests if r.method == "PUT"]
        if path.startswith("multipart"):
            assert upload.query["uploadType"] == "multipart"
            # The media part names it too: v1.54.0 stores that part's type.
            assert f"Content-Type: {CONTENT_TYPE}\r\n\r\n".encode() in upload.head
            lean = "(lean)" in upload.headers.get("User-Agent", "")
            assert lean == (path == "multipart-lean")
            assert not puts
        else:
            assert upload.query["uploadType"] == "resumable"
            assert upload.headers["X-Upload-Content-Type"] == CONTENT_TYPE
            # Every PUT names it: v1.54.0 stores the final PUT's Content-Type.
            assert [p.headers["Content-Type"] for p in puts] == [CONTENT_TYPE] * len(puts)
            assert len(puts) == (4 if path == "stream-resumable" else 1)
        info = await backend.stat(opaque_id)
        assert await backend.load(opaque_id) == payload
    assert info == ArtifactInfo(len(payload), crc32c_of(payload), CONTENT_TYPE, METADATA)


async def test_a_store_without_attributes_sends_the_default_content_type(
    backend: GcsBackend, proxy: RecordingProxy
) -> None:
    opaque_id = mint_opaque_id()
    await backend.store(opaque_id, b"no attributes")
    [upload] = proxy.uploads()
    assert upload.resource()["contentType"] == "application/octet-stream"
    info = await backend.stat(opaque_id)
    assert (info.content_type, dict(info.metadata)) == ("application/octet-stream", {})
