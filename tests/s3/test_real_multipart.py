"""``S3Backend.store_stream``'s multipart upload on the real servers: invisible
until complete, create-only at CompleteMultipartUpload, and aborted when the stream
breaks off, leaving no upload behind."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from eden_storage_async import AlreadyExists, NotFound, mint_opaque_id

from ..support.s3 import raw_client, s3_backend_on
from ..support.servers import RealServer
from .helpers import _MIB

pytestmark = pytest.mark.real_server


# SeaweedFS 4.48 and moto 5.2.5 both enforce If-None-Match: * on
# CompleteMultipartUpload (412 on a taken key; checked by hand with 10 racers
# on one key too: exactly 1 winner on each), so these need no emulator caveat.


async def _uploads_under(client: Any, server: RealServer, prefix: str) -> list[Any]:
    """The multipart uploads in progress under ``prefix``: ListMultipartUploads."""
    listed = await client.list_multipart_uploads(Bucket=server.bucket, Prefix=prefix)
    uploads: list[Any] = listed.get("Uploads") or []
    return uploads


async def test_a_stream_above_the_threshold_is_one_multipart_upload_until_complete(
    server: RealServer,
) -> None:
    halfway = asyncio.Event()
    resume = asyncio.Event()
    payload = os.urandom(12 * _MIB)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), _MIB):
            if start == 10 * _MIB:
                halfway.set()
                await resume.wait()
            yield payload[start : start + _MIB]

    opaque_id = mint_opaque_id()
    async with s3_backend_on(server) as backend, raw_client(server) as client:
        storing = asyncio.create_task(backend.store_stream(opaque_id, chunks()))
        await halfway.wait()
        # Parts are on the server, yet nothing is visible under the key.
        assert len(await _uploads_under(client, server, backend.prefix)) == 1
        with pytest.raises(NotFound):
            await backend.load(opaque_id)
        resume.set()
        await storing
        assert await backend.load(opaque_id) == payload
        assert await _uploads_under(client, server, backend.prefix) == []


async def test_a_large_stream_onto_a_taken_id_is_already_exists_and_leaves_no_upload(
    server: RealServer,
) -> None:
    opaque_id = mint_opaque_id()
    async with s3_backend_on(server) as backend, raw_client(server) as client:
        await backend.store(opaque_id, b"first")
        with pytest.raises(AlreadyExists):
            await backend.store_stream(opaque_id, iter([os.urandom(_MIB)] * 10))
        assert await backend.load(opaque_id) == b"first"
        assert await _uploads_under(client, server, backend.prefix) == []


@pytest.mark.parametrize("how", ["the source raises", "cancelled"])
async def test_a_broken_off_stream_aborts_its_multipart_upload(
    server: RealServer, how: str
) -> None:
    halfway = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        for n in range(12):
            if n == 10:
                halfway.set()
                if how == "the source raises":
                    raise RuntimeError("the source broke")
                await asyncio.Event().wait()  # until cancelled
            yield os.urandom(_MIB)

    opaque_id = mint_opaque_id()
    async with s3_backend_on(server) as backend, raw_client(server) as client:
        storing = asyncio.create_task(backend.store_stream(opaque_id, chunks()))
        await halfway.wait()
        if how == "cancelled":
            await asyncio.sleep(0.05)
            storing.cancel()
        with pytest.raises((RuntimeError, asyncio.CancelledError)):
            await storing
        assert await _uploads_under(client, server, backend.prefix) == []
        with pytest.raises(NotFound):
            await backend.load(opaque_id)
