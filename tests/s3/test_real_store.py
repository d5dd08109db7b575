"""``S3Backend`` storing on the real S3 servers (SeaweedFS and moto on 127.0.0.1,
each in turn: the ``server`` fixture): a missing bucket, the key layout as a plain
client sees it, the lost-reply path of a re-sent PutObject, produced by a loopback
proxy that swallows one reply after the server has committed the write, a retry
after a read timeout that meets our own write, no ``Expect: 100-continue``, and
cancels that land on the wire."""

from __future__ import annotations

import asyncio
import contextlib
import os

import pytest

from eden_storage_async import AlreadyExists, BucketNotFound, NotFound, S3Backend, mint_opaque_id
from eden_storage_async._core.retry import Backoff

from ..support.s3 import LoopbackProxy, fresh_prefix, raw_client, s3_backend_on
from ..support.servers import RealServer

pytestmark = pytest.mark.real_server


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


async def test_a_store_retried_after_a_read_timeout_whose_first_put_landed_is_success(
    server: RealServer,
) -> None:
    """Our own retry loop, not aiohttp's resend: the server commits the first PUT
    and stalls past the read timeout; the retry answers 412 about our own write,
    and the nonce, size and CRC32C say so."""
    opaque_id = mint_opaque_id()
    payload = os.urandom(4096)
    async with LoopbackProxy(server.endpoint_url) as proxy:
        async with S3Backend(
            bucket=server.bucket,
            prefix=fresh_prefix(),
            endpoint_url=proxy.endpoint_url,
            read_timeout=1.0,
            retry=Backoff(attempts=3, base_s=0.0, cap_s=0.0),
        ) as backend:
            await backend._get_client()
            proxy.delay_next_put_reply(3.0)
            await backend.store(opaque_id, payload)
            assert await backend.load(opaque_id) == payload
        puts = [head for head in proxy.request_heads if head.startswith(b"PUT ")]
        assert proxy.replies_delayed == 1
        assert len(puts) == 2, "one timed-out PUT, one retry that met our own object"


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
