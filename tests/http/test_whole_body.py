"""A Content-Length body read whole goes into one buffer of its length, handed
out as ``bytes`` without a copy (issue 16, finding 1: socket-sized pieces
joined at the end doubled the peak and left the allocator holding pieces).
Pinned with tracemalloc's peak, not RSS: deterministic, whatever the allocator."""

from __future__ import annotations

import asyncio
import tracemalloc

import pytest

from eden_storage_async._http import body as _body

from .helpers import RawServer, _get, _whole, both_loops, client

_SIZE = 32 * 1024 * 1024


def _serving(body: bytes, head_extra: bytes = b"") -> RawServer:
    view = memoryview(body)

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:  # until the client hangs up
            await server.answer(reader)
            writer.write(
                b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n" % (head_extra, len(body))
            )
            # In slices with drain: the server's own send buffer stays small.
            for start in range(0, len(body), 256 * 1024):
                writer.write(view[start : start + 256 * 1024])
                await writer.drain()

    server = RawServer(script)
    return server


@both_loops
async def test_a_32_mib_body_read_whole_peaks_at_about_its_own_size() -> None:
    body = bytes(range(256)) * (_SIZE // 256)
    async with _serving(body) as server, client() as http:
        response = await _get(http, server.port)
        await asyncio.sleep(0.05)  # let the first pieces arrive through the parser
        tracemalloc.start()
        try:
            got = await _whole(response)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert type(got) is bytes
        assert got == body
        del got
    # Pieces joined at the end would peak at twice the body.
    assert peak <= 1.1 * _SIZE, peak / _SIZE


@both_loops
async def test_a_body_read_in_part_then_whole_is_exact() -> None:
    body = bytes(range(251)) * 4001  # not a multiple of any buffer size
    async with _serving(body) as server, client() as http:
        response = await _get(http, server.port)
        first = await response.read(1000)
        rest = await response.read()
        assert first + rest == body
        assert await response.read() == b""
        assert response.at_eof()
        response.release()
        # Read whole and cleanly: the connection was kept.
        assert await _whole(await _get(http, server.port)) == body
    assert server.connections == 1


@both_loops
async def test_without_ctypes_the_body_is_filled_then_copied_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where ``PyBytes_FromStringAndSize`` is not reachable (not CPython), a
    bytearray is filled and handed out as ``bytes``: exact all the same."""
    monkeypatch.setattr(_body, "_new", None)
    body = bytes(range(256)) * 8192
    async with _serving(body) as server, client() as http:
        got = await _whole(await _get(http, server.port))
    assert type(got) is bytes
    assert got == body
