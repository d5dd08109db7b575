"""``S3Backend`` against real S3 servers (SeaweedFS and moto on 127.0.0.1).

What the contract suite cannot show: a missing bucket, the key layout as a
plain client sees it, a connection pool that really opens ``max_concurrency``
connections, and the lost-reply path of a re-sent PutObject, produced by a
loopback proxy that swallows one reply after the server has committed the write.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from eden_storage_async import (
    AlreadyExists,
    BucketNotFound,
    NotFound,
    S3Backend,
    mint_opaque_id,
)

from .s3_support import (
    LoopbackProxy,
    fresh_prefix,
    raw_client,
    s3_backend_on,
    use_test_credentials,
)
from .servers import RealServer

pytestmark = pytest.mark.real_server


@pytest.fixture(params=["seaweedfs", "moto"])
def server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> RealServer:
    """Each real S3 server in turn, with dummy credentials in the default chain."""
    use_test_credentials(monkeypatch)
    found: RealServer = request.getfixturevalue(request.param)
    return found


async def test_missing_bucket_is_bucket_not_found_not_absent(server: RealServer) -> None:
    async with s3_backend_on(server, bucket="eden-no-such-bucket") as backend:
        with pytest.raises(BucketNotFound) as loading:
            await backend.load(mint_opaque_id())
        with pytest.raises(BucketNotFound) as storing:
            await backend.store(mint_opaque_id(), b"data")
    assert not isinstance(loading.value, NotFound)
    assert not isinstance(storing.value, FileExistsError)
    assert "eden-no-such-bucket" in str(loading.value)


@pytest.mark.parametrize(
    ("prefix", "expected"), [("{p}", "{p}/{id}"), ("{p}/nested/", "{p}/nested/{id}"), ("", "{id}")]
)
async def test_objects_are_stored_at_prefix_slash_id(
    server: RealServer, prefix: str, expected: str
) -> None:
    unique = fresh_prefix()
    opaque_id = mint_opaque_id()
    async with s3_backend_on(server, prefix=prefix.format(p=unique)) as backend:
        await backend.store(opaque_id, b"layout")
    key = expected.format(p=unique, id=opaque_id)
    async with raw_client(server) as client:
        listed = await client.list_objects_v2(Bucket=server.bucket, Prefix=key)
        obj = await client.get_object(Bucket=server.bucket, Key=key)
        async with obj["Body"] as stream:
            assert await stream.read() == b"layout"
    assert [entry["Key"] for entry in listed["Contents"]] == [key]


async def test_many_tasks_share_one_pool_of_max_concurrency_connections(
    seaweedfs: RealServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_test_credentials(monkeypatch)
    payloads = {mint_opaque_id(): os.urandom(4096) for _ in range(200)}
    async with LoopbackProxy(seaweedfs.endpoint_url) as proxy:
        async with S3Backend(
            bucket=seaweedfs.bucket,
            prefix=fresh_prefix(),
            endpoint_url=proxy.endpoint_url,
            max_concurrency=64,
        ) as backend:
            async with asyncio.timeout(120):
                await asyncio.gather(*(backend.store(i, p) for i, p in payloads.items()))
                loaded = await asyncio.gather(*(backend.load(i) for i in payloads))
        assert loaded == list(payloads.values())
        # botocore's default pool is 10; well past it shows the pool was sized,
        # and never past 64 shows the bound holds.
        assert 10 < proxy.peak <= 64, proxy.peak


async def test_max_concurrency_bounds_the_connections(
    seaweedfs: RealServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_test_credentials(monkeypatch)
    async with (
        LoopbackProxy(seaweedfs.endpoint_url) as proxy,
        S3Backend(
            bucket=seaweedfs.bucket,
            prefix=fresh_prefix(),
            endpoint_url=proxy.endpoint_url,
            max_concurrency=4,
        ) as backend,
    ):
        await asyncio.gather(*(backend.store(mint_opaque_id(), b"x" * 4096) for _ in range(40)))
    assert 1 <= proxy.peak <= 4, proxy.peak


async def test_a_lost_reply_to_our_own_write_is_success(server: RealServer) -> None:
    opaque_id = mint_opaque_id()
    async with LoopbackProxy(server.endpoint_url) as proxy:
        async with S3Backend(
            bucket=server.bucket, prefix=fresh_prefix(), endpoint_url=proxy.endpoint_url
        ) as backend:
            proxy.lose_next_put_reply()
            # The server commits the first PUT, its reply is lost, botocore
            # re-sends, and the re-send answers 412 about our own object.
            await backend.store(opaque_id, b"ours")
            assert await backend.load(opaque_id) == b"ours"
        assert proxy.replies_lost == 1


async def test_a_lost_reply_to_a_refused_write_is_already_exists(server: RealServer) -> None:
    opaque_id = mint_opaque_id()
    prefix = fresh_prefix()
    async with raw_client(server) as client:
        await client.put_object(Bucket=server.bucket, Key=f"{prefix}/{opaque_id}", Body=b"theirs")
    async with LoopbackProxy(server.endpoint_url) as proxy:
        async with S3Backend(
            bucket=server.bucket, prefix=prefix, endpoint_url=proxy.endpoint_url
        ) as backend:
            proxy.lose_next_put_reply()
            with pytest.raises(AlreadyExists):
                await backend.store(opaque_id, b"ours")
            assert await backend.load(opaque_id) == b"theirs"
        assert proxy.replies_lost == 1


async def test_puts_go_without_expect_100_continue(server: RealServer) -> None:
    async with (
        LoopbackProxy(server.endpoint_url) as proxy,
        S3Backend(
            bucket=server.bucket, prefix=fresh_prefix(), endpoint_url=proxy.endpoint_url
        ) as backend,
    ):
        await backend.store(mint_opaque_id(), b"x" * 4096)
    (put,) = [head for head in proxy.request_heads if head.startswith(b"PUT ")]
    assert b"if-none-match: *" in put.lower()
    assert b"expect:" not in put.lower()


@pytest.mark.parametrize(("size", "tick_step"), [(4096, 1), (1024 * 1024, 2)], ids=["4k", "1m"])
async def test_a_store_cancelled_on_the_wire_leaves_nothing_or_everything(
    server: RealServer, size: int, tick_step: int
) -> None:
    """The contract's cancel case, with the client already built, so every cancel
    point lands on the wire (the contract's land in first-use client creation)."""
    payload = os.urandom(size)
    async with s3_backend_on(server) as backend:
        await backend.store(mint_opaque_id(), b"warm")
        outcomes: list[str] = []
        for ticks in range(0, 40, tick_step):
            opaque_id = mint_opaque_id()
            task = asyncio.create_task(backend.store(opaque_id, payload))
            for _ in range(ticks):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.2)  # let the server finish whatever it received
            try:
                loaded = await backend.load(opaque_id)
            except NotFound:
                assert not (task.done() and not task.cancelled()), "a store that returned is absent"
                outcomes.append("nothing")
            else:
                assert len(loaded) == size, f"cancelled after {ticks} ticks: {len(loaded)} bytes"
                assert loaded == payload
                outcomes.append("everything")
    assert "nothing" in outcomes, "no cancel point reached the wire before the write"


# What each server does with a PUT whose client vanishes after sending the
# headers but before a single body byte. SeaweedFS 4.48 publishes an EMPTY
# object under the key, with the request's metadata; moto publishes nothing.
# S3Backend narrows the window (no "Expect: 100-continue" wait between headers
# and body) and never reports such an object as its own write (length check).
_PUBLISHES_EMPTY_OBJECT = {"seaweedfs": True, "moto": False}


async def test_a_put_whose_body_never_arrives(server: RealServer) -> None:
    key = f"{fresh_prefix()}/{mint_opaque_id()}"
    parts = urlsplit(server.endpoint_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(
        f"PUT /{server.bucket}/{key} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Content-Length: 4096\r\nIf-None-Match: *\r\nx-amz-meta-eden-write-nonce: n\r\n"
        "Expect: 100-continue\r\n\r\n".encode()
    )
    await writer.drain()
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim.startswith(b"HTTP/1.1 100")
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(1.0)  # let the server act on the dropped request
    async with raw_client(server) as client:
        listed = await client.list_objects_v2(Bucket=server.bucket, Prefix=key)
        found = [(entry["Key"], entry["Size"]) for entry in listed.get("Contents", [])]
        published = bool(found)
        if published:
            assert found == [(key, 0)]
            head = await client.head_object(Bucket=server.bucket, Key=key)
            assert head["Metadata"] == {"eden-write-nonce": "n"}
    assert published == _PUBLISHES_EMPTY_OBJECT[server.name]


# --- store_stream's multipart upload on the real servers ----------------------
# SeaweedFS 4.48 and moto 5.2.5 both enforce If-None-Match: * on
# CompleteMultipartUpload (412 on a taken key; checked by hand with 10 racers
# on one key too: exactly 1 winner on each), so these need no emulator caveat.

_MIB = 1024 * 1024


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
