"""Deposit and fetch through the reference server, on every backend of the
contract ``backend`` fixture, with a real HTTP client over loopback."""

from __future__ import annotations

import asyncio
import os

import aiohttp
from blockbuster import BlockBuster

from eden_storage_async import mint_opaque_id

from .helpers import AUTH, RecordingBackend, deposit


async def test_deposit_then_fetch_round_trip(
    server: tuple[str, aiohttp.ClientSession], recorded: RecordingBackend
) -> None:
    url, session = server
    payload = bytes(range(256)) * 400 + os.urandom(1000)
    opaque_id = await deposit(session, url, payload)
    assert recorded.stored == [opaque_id]
    # It really is in the backend, under the id the server announced.
    assert await recorded.inner.load(opaque_id) == payload
    uri = f"eden://artifacts/{opaque_id}"
    async with session.get(url, params={"uri": uri}, headers=AUTH) as response:
        assert response.status == 200
        assert response.content_type == "application/octet-stream"
        assert await response.read() == payload


async def test_serving_never_blocks_the_event_loop(
    server: tuple[str, aiohttp.ClientSession],
) -> None:
    url, session = server
    # Warm up first: a backend may build its client on first use, once.
    await deposit(session, url, b"warm-up")
    blockbuster = BlockBuster()
    blockbuster.activate()
    try:
        opaque_id = await deposit(session, url, b"checked")
        params = {"uri": f"eden://artifacts/{opaque_id}"}
        async with session.get(url, params=params, headers=AUTH) as response:
            assert await response.read() == b"checked"
        async with session.post(url, data=b"x") as response:
            assert response.status == 401
    finally:
        blockbuster.deactivate()


async def test_empty_body_is_an_empty_artifact(
    server: tuple[str, aiohttp.ClientSession], recorded: RecordingBackend
) -> None:
    url, session = server
    opaque_id = await deposit(session, url, b"")
    assert await recorded.inner.load(opaque_id) == b""


async def test_fetch_of_an_absent_artifact_is_404(
    server: tuple[str, aiohttp.ClientSession],
) -> None:
    url, session = server
    uri = f"eden://artifacts/{mint_opaque_id()}"
    async with session.get(url, params={"uri": uri}, headers=AUTH) as response:
        assert response.status == 404
        assert (await response.json()) == {"error": "artifact not found"}


async def test_a_burst_of_concurrent_deposits(
    server: tuple[str, aiohttp.ClientSession],
) -> None:
    url, session = server
    payloads = [os.urandom(512) + str(i).encode() for i in range(50)]
    ids = await asyncio.gather(*(deposit(session, url, p) for p in payloads))
    assert len(set(ids)) == 50

    async def fetch(opaque_id: str) -> bytes:
        params = {"uri": f"eden://artifacts/{opaque_id}"}
        async with session.get(url, params=params, headers=AUTH) as response:
            assert response.status == 200
            return await response.read()

    assert await asyncio.gather(*(fetch(i) for i in ids)) == payloads


async def test_head_is_not_served(server: tuple[str, aiohttp.ClientSession]) -> None:
    url, session = server
    async with session.head(url, params={"uri": "eden://artifacts/" + "a" * 32}) as response:
        assert response.status == 405
