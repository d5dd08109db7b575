"""Response and request bodies through the HTTP client against scripted raw
servers: malformed framing, a stalled body, flow control of large uploads and
downloads, a body in many pieces, a body cut short."""

from __future__ import annotations

import asyncio
import time

import pytest

from eden_storage_async._http.client import BodyError, ReadTimeout
from eden_storage_async._http.connection import Connection
from eden_storage_async._http.pool import Pool
from eden_storage_async._s3.lean.wire import transport_error

from .helpers import LENGTH, RawServer, _get, _whole, both_loops, client, keep_alive, serving


@both_loops
async def test_malformed_framing_from_a_server_is_a_body_error() -> None:
    bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    async with serving(keep_alive(bad)) as server, client() as http:
        response = await _get(http, server.port)
        with pytest.raises(BodyError) as caught:
            await response.read()
    assert type(transport_error(caught.value, "u")).__name__ == "ResponseStreamingError"


@both_loops
async def test_a_stalled_body_times_out_and_frees_its_slot() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.answer(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        await writer.drain()
        if n == 1:
            await asyncio.sleep(30)
        writer.write(b"defghij")
        await reader.read()

    async with RawServer(script) as server, client(limit=1, read_timeout=0.3) as http:
        response = await _get(http, server.port)
        started = time.monotonic()
        with pytest.raises(ReadTimeout) as caught:
            await response.read()
        assert time.monotonic() - started < 3
        assert type(transport_error(caught.value, "u")).__name__ == "ReadTimeoutError"
        # The one slot is free again, on a new connection.
        assert await _whole(await _get(http, server.port)) == b"abcdefghij"
    assert server.connections == 2


@both_loops
async def test_a_large_upload_is_flow_controlled_and_never_blocks_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    size = 24 * 1024 * 1024
    conns: list[Connection] = []
    connect = Pool._connect

    async def recording(pool: Pool, deadline: float) -> Connection:
        conns.append(await connect(pool, deadline))
        return conns[-1]

    monkeypatch.setattr(Pool, "_connect", recording)
    body = bytes(range(256)) * (size // 256)
    got = bytearray()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        server.heads.append(head)
        while len(got) < size:
            got.extend(await reader.read(64 * 1024))
            await asyncio.sleep(0)  # a slow reader: the client's writes must pause
        writer.write(LENGTH)
        await reader.read()

    gaps: list[float] = []
    buffered = [0]

    async def ticker() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.005)
            now = time.monotonic()
            gaps.append(now - last)
            last = now
            for conn in conns:
                buffered.append(conn.transport.get_write_buffer_size())

    async with RawServer(script) as server, client() as http:
        tick = asyncio.ensure_future(ticker())
        try:
            assert await _whole(await _get(http, server.port, body)) == b"ok"
        finally:
            tick.cancel()
    assert bytes(got) == body
    assert max(gaps) < 0.5, max(gaps)
    # Written as the server takes it: the unsent part never holds the whole body.
    assert max(buffered) < 4 * 1024 * 1024, max(buffered)


@both_loops
async def test_a_large_download_read_slowly_keeps_the_buffer_bounded() -> None:
    size = 48 * 1024 * 1024
    piece = b"z" * (1024 * 1024)

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.answer(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for _ in range(size // len(piece)):
            writer.write(piece)
            await writer.drain()
        await reader.read()

    peak = total = 0
    async with RawServer(script) as server, client() as http:
        response = await _get(http, server.port)
        conn = response._conn
        assert conn is not None
        while chunk := await response.read(256 * 1024):
            total += len(chunk)
            peak = max(peak, conn.queued)
            await asyncio.sleep(0.001)  # a slow consumer
        response.release()
    assert total == size
    # Paused above 1 MiB; one more socket read may land before the pause bites.
    assert peak < 4 * 1024 * 1024, peak


@both_loops
async def test_a_body_arriving_in_many_pieces_is_read_whole_and_exact() -> None:
    """A Content-Length body read whole goes straight from the socket into one
    buffer; bytes past its end are noticed, and then the connection is not
    reused."""
    body = bytes(range(256)) * 1024  # 256 KiB, in 64 writes of 4 KiB

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.answer(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
        for start in range(0, len(body), 4096):
            await asyncio.sleep(0.001)
            piece = body[start : start + 4096]
            writer.write(piece + (b"extra" if start + 4096 >= len(body) and n == 1 else b""))
            await writer.drain()
        await reader.read()

    async with RawServer(script) as server, client() as http:
        assert await _whole(await _get(http, server.port)) == body  # "extra" trails it
        assert await _whole(await _get(http, server.port)) == body  # so a new connection
    assert server.connections == 2


@both_loops
async def test_a_body_cut_short_while_read_whole_is_a_body_error() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.answer(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"x" * 5000)
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()

    async with RawServer(script) as server, client() as http:
        response = await _get(http, server.port)
        with pytest.raises(BodyError):
            await response.read()
