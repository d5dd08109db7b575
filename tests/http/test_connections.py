"""The HTTP client's connections and pool against scripted raw servers: keep-alive
and reuse, answers that end the connection, the keep-alive race, refused and
timed-out connects, a cancelled read freeing its slot, and header injection
refused before anything is sent."""

from __future__ import annotations

import asyncio
import ssl
import time

import pytest

from eden_storage_async._http import connection as _http_conn
from eden_storage_async._http.client import ConnectFailed, ConnectTimeout, HttpClient
from eden_storage_async._s3.lean.wire import transport_error

from .helpers import (
    _SECRET,
    CHUNKED,
    LENGTH,
    RawServer,
    _get,
    _whole,
    both_loops,
    client,
    keep_alive,
    serving,
)


@both_loops
async def test_chunked_and_length_answers_reuse_one_connection() -> None:
    script = keep_alive(CHUNKED, b"HTTP/1.1 100 Continue\r\n\r\n" + LENGTH, LENGTH)
    async with serving(script) as server, client() as http:
        assert await _whole(await _get(http, server.port)) == b"abcde"
        assert await _whole(await _get(http, server.port)) == b"ok"  # 100 skipped
        assert await _whole(await _get(http, server.port, b"put")) == b"ok"
    assert server.connections == 1
    assert b"content-length: 3" in server.heads[2]
    assert b"user-agent: t" in server.heads[0]


@pytest.mark.parametrize(
    "first",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\n\r\nok",  # close-delimited
    ],
)
@both_loops
async def test_connection_close_and_http_1_0_answers_are_not_reused(first: bytes) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.answer(reader)
        writer.write(first if n == 1 else LENGTH)
        await writer.drain()
        if n == 1 and b"Content-Length" not in first:
            return  # our close ends the close-delimited body
        # Otherwise keep the connection open: the client must not reuse it anyway.
        await reader.read()

    async with RawServer(script) as server, client() as http:
        assert await _whole(await _get(http, server.port)) == b"ok"
        assert await _whole(await _get(http, server.port)) == b"ok"
    assert server.connections == 2
    assert len(server.heads) == 2


@both_loops
async def test_an_idle_connection_the_server_closed_is_discarded() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.answer(reader)
        writer.write(LENGTH)
        await writer.drain()  # then close, as an idle timeout does

    async with RawServer(script) as server, client() as http:
        assert await _whole(await _get(http, server.port)) == b"ok"
        await asyncio.sleep(0.1)  # the close arrives while the connection is idle
        assert await _whole(await _get(http, server.port)) == b"ok"
    assert server.connections == 2
    assert len(server.heads) == 2  # nothing was sent on the closed one


@both_loops
async def test_the_keep_alive_race_resends_once_on_a_fresh_connection() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.answer(reader)
        writer.write(LENGTH)
        await writer.drain()
        if n == 1:
            await server.answer(reader)  # the second request: closed unanswered
            return
        await reader.read()

    async with RawServer(script) as server, client() as http:
        assert await _whole(await _get(http, server.port)) == b"ok"
        assert await _whole(await _get(http, server.port)) == b"ok"
    assert server.connections == 2
    assert len(server.heads) == 3


@both_loops
async def test_a_reset_on_a_fresh_connection_is_not_resent() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.answer(reader)

    async with RawServer(script) as server, client() as http:
        with pytest.raises(_http_conn.ConnectionClosed) as caught:
            await _get(http, server.port)
    assert len(server.heads) == 1
    assert _SECRET not in str(caught.value)
    assert type(transport_error(caught.value, "u")).__name__ == "ConnectionClosedError"


@pytest.mark.parametrize(
    "headers",
    [
        {"x-amz-meta-a": "v\r\nx-evil: 1"},
        {"x-amz-meta-a": "v\nx-evil: 1"},
        {"x-amz-meta-a": "v\rx"},
        {"x-amz-meta-a": "v\0"},
        {"x-evil\r\nx": "v"},
        {"bad name": "v"},
        {"bad:name": "v"},
    ],
)
@both_loops
async def test_header_injection_is_refused_before_sending(headers: dict[str, str]) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.answer(reader)

    async with RawServer(script) as server, client() as http:
        with pytest.raises(ValueError):
            await http.request("PUT", False, "127.0.0.1", server.port, "/b/k", headers, b"x")
    assert server.connections == 0


@both_loops
async def test_a_cancelled_read_closes_the_connection_and_frees_the_slot() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.answer(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
        if n == 1:
            await asyncio.sleep(30)
        writer.write(b"cd")
        await reader.read()

    async with RawServer(script) as server, client(limit=1) as http:
        response = await _get(http, server.port)
        task = asyncio.ensure_future(response.read())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with asyncio.timeout(5):
            assert await _whole(await _get(http, server.port)) == b"abcd"
    assert server.connections == 2


@both_loops
async def test_a_refused_connection_and_a_tls_handshake_timeout() -> None:
    async with RawServer(keep_alive()) as server:
        port = server.port
    async with client() as http:
        with pytest.raises(ConnectFailed) as refused:
            await _get(http, port)
    assert type(transport_error(refused.value, "u")).__name__ == "EndpointConnectionError"

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await reader.read()  # accepts TCP, never answers the TLS handshake

    async with RawServer(silent) as server:
        http = HttpClient(
            limit=1,
            connect_timeout=0.3,
            read_timeout=5,
            ssl_context=ssl.create_default_context(),
            user_agent="t",
        )
        started = time.monotonic()
        headers = {"host": "localhost", "authorization": _SECRET}
        with pytest.raises(ConnectTimeout) as slow:
            await http.request("GET", True, "127.0.0.1", server.port, "/b/k", headers, None)
        assert time.monotonic() - started < 3
        await http.aclose()
    assert type(transport_error(slow.value, "u")).__name__ == "ConnectTimeoutError"
    assert _SECRET not in str(slow.value)


@both_loops
async def test_one_llhttp_parser_serves_a_connection_from_answer_to_answer() -> None:
    """Reused, not made per answer (about 1 µs less per answer), unless an
    answer left it out of step with the stream (a HEAD answer's head)."""
    script = keep_alive(LENGTH, LENGTH, LENGTH)
    seen = []
    async with serving(script) as server, client() as http:
        for method in ("GET", "GET", "HEAD"):
            headers = {"host": f"127.0.0.1:{server.port}"}
            response = await http.request(
                method, False, "127.0.0.1", server.port, "/k", headers, None
            )
            assert response._conn is not None
            seen.append(response._conn.parser._parser)
            await _whole(response)
    assert seen[0] is seen[1] is seen[2]
    assert server.connections == 1
