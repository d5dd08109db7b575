"""An answer that arrives while a large request body is still going out (issue
16, finding 3): a server that refuses a PUT before reading its body, then
closes or stops reading. The client must return that answer, not report a
transport error (which the S3 and GCS retry loops would answer by sending the
whole body again), stop sending, and not reuse the connection."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from .helpers import LENGTH, RawServer, _get, _whole, both_loops, client

_SIZE = 24 * 1024 * 1024
_BODY = bytes(range(256)) * (_SIZE // 256)
_DENIED = (
    b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
    b"<Message>Access Denied</Message></Error>"
)


def _answer(status: bytes, body: bytes = _DENIED) -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n%s" % (
        status,
        len(body),
        body,
    )


async def _ends_in_reset(writer: asyncio.StreamWriter) -> None:
    """Close as a server does with the body unread: the kernel sends a reset."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


@pytest.mark.parametrize("how", ["close", "reset"])
@both_loops
async def test_a_403_at_once_then_a_close_is_returned_not_resent(how: str) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        server.heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(_answer(b"403 Forbidden"))
        await writer.drain()
        if how == "reset":
            await _ends_in_reset(writer)
        # else: the handler returns, and RawServer closes with the body unread

    async with RawServer(script) as server, client() as http:
        async with asyncio.timeout(20):
            response = await _get(http, server.port, _BODY)
            assert response.status == 403
            assert await _whole(response) == _DENIED
    assert server.connections == 1  # not sent again
    assert len(server.heads) == 1


@both_loops
async def test_a_413_then_no_more_reading_stops_the_upload() -> None:
    """The server answers and stops reading but keeps the connection open: the
    client stops sending at once (no read timeout), and drops the connection."""
    got = [0]

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if n == 1:
            server.heads.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(_answer(b"413 Payload Too Large", b"too large"))
            await writer.drain()
            await asyncio.sleep(30)  # open, never reading again
            return
        got[0] = len(await server.answer(reader))
        writer.write(LENGTH)
        await reader.read()

    async with RawServer(script) as server, client(read_timeout=10) as http:
        async with asyncio.timeout(5):  # far below the read timeout
            response = await _get(http, server.port, _BODY)
            assert response.status == 413
            assert await _whole(response) == b"too large"
            # The cut-short request left the connection unusable: a new one.
            assert await _whole(await _get(http, server.port, b"small")) == b"ok"
    assert server.connections == 2
    assert got[0] == len(b"small")


@both_loops
async def test_a_400_after_part_of_the_body_is_returned() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        server.heads.append(await reader.readuntil(b"\r\n\r\n"))
        await reader.readexactly(5 * 1024 * 1024)  # reads some, then gives up on the rest
        writer.write(_answer(b"400 Bad Request", b"<Error><Code>BadDigest</Code></Error>"))
        await writer.drain()
        writer.close()

    async with RawServer(script) as server, client() as http:
        async with asyncio.timeout(20):
            response = await _get(http, server.port, _BODY)
            assert response.status == 400
            assert b"BadDigest" in await _whole(response)
    assert server.connections == 1


@both_loops
async def test_an_early_2xx_lets_the_upload_finish() -> None:
    """A 2xx before the body's end is not a refusal: the body still goes out
    whole (the server may be reading it), as curl does."""
    got = [0]

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        server.heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(LENGTH)
        await writer.drain()
        got[0] = len(await reader.readexactly(_SIZE))
        await server.answer(reader)
        writer.write(LENGTH)
        await reader.read()

    async with RawServer(script) as server, client() as http:
        async with asyncio.timeout(20):
            assert await _whole(await _get(http, server.port, _BODY)) == b"ok"
            assert await _whole(await _get(http, server.port)) == b"ok"
    assert got[0] == _SIZE
    assert server.connections == 1  # the body went out whole: the connection is reused
