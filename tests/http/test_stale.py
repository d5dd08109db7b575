"""Pooled connections that went stale while idle (issue 16, finding 5): retired
after ``idle_timeout``, so a connection a middlebox dropped silently does not
cost a read timeout; resent once on a fresh connection when a reused one is
reset or closed before any byte of the answer; never resent after a read
timeout, nor on a fresh connection."""

from __future__ import annotations

import asyncio
import socket
import struct
import time

import pytest

from eden_storage_async._http.client import ConnectionClosed, HttpClient, ReadTimeout

from .helpers import LENGTH, RawServer, _get, _whole, both_loops, client


def _client(idle_timeout: float, read_timeout: float = 5.0) -> HttpClient:
    return HttpClient(
        limit=4,
        connect_timeout=2.0,
        read_timeout=read_timeout,
        ssl_context=None,
        user_agent="t",
        idle_timeout=idle_timeout,
    )


def _blackhole_after(idle_s: float) -> tuple[list[int], RawServer]:
    """A server whose connections go dark (no answer, no FIN, no reset) once
    idle ``idle_s``, as a NAT or firewall that forgot them does."""
    dark: list[int] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            try:
                async with asyncio.timeout(idle_s):
                    await server.answer(reader)
            except TimeoutError:
                dark.append(n)
                await asyncio.sleep(60)  # the box dropped it: nothing comes back
                return
            writer.write(LENGTH)
            await writer.drain()

    server = RawServer(script)
    return dark, server


@both_loops
async def test_a_connection_idle_past_the_bound_is_retired_not_waited_on() -> None:
    dark, server = _blackhole_after(0.3)
    http = _client(idle_timeout=0.15)
    try:
        async with server:
            assert await _whole(await _get(http, server.port)) == b"ok"
            await asyncio.sleep(0.6)  # the first connection has gone dark by now
            started = time.monotonic()
            assert await _whole(await _get(http, server.port)) == b"ok"
            assert time.monotonic() - started < 2.5  # not the 5 s read timeout
            assert dark == [1]
            assert server.connections == 2
    finally:
        await http.aclose()


@both_loops
async def test_a_connection_idle_within_the_bound_is_reused() -> None:
    _, server = _blackhole_after(30)
    http = _client(idle_timeout=5)
    try:
        async with server:
            for _ in range(3):
                assert await _whole(await _get(http, server.port)) == b"ok"
                await asyncio.sleep(0.05)
            assert server.connections == 1
    finally:
        await http.aclose()


@pytest.mark.parametrize("how", ["close", "reset"])
@both_loops
async def test_a_reused_connection_closed_unanswered_is_resent_once(how: str) -> None:
    """The server ends a kept-alive connection just as the next request
    arrives (its idle timer fired): that request goes again, on a new one."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.answer(reader)
        writer.write(LENGTH)
        await writer.drain()
        if n == 1:
            await server.answer(reader)  # the second request, never answered
            if how == "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        await reader.read()

    async with RawServer(script) as server, client() as http:
        assert await _whole(await _get(http, server.port)) == b"ok"
        assert await _whole(await _get(http, server.port, b"body")) == b"ok"
    assert server.connections == 2
    assert len(server.heads) == 3  # the second request twice, once per connection


@both_loops
async def test_a_read_timeout_on_a_reused_connection_is_not_resent() -> None:
    """Silence after the request may be a slow server still at work: raised."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.answer(reader)
        writer.write(LENGTH)
        await writer.drain()
        await server.answer(reader)
        await asyncio.sleep(30)

    async with RawServer(script) as server, client(read_timeout=0.3) as http:
        assert await _whole(await _get(http, server.port)) == b"ok"
        with pytest.raises(ReadTimeout):
            await _get(http, server.port)
    assert server.connections == 1
    assert len(server.heads) == 2


@both_loops
async def test_a_fresh_connection_closed_unanswered_is_not_resent() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.answer(reader)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    async with RawServer(script) as server, client() as http:
        with pytest.raises(ConnectionClosed):
            await _get(http, server.port, b"body")
    assert server.connections == 1
    assert len(server.heads) == 1
