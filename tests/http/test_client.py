"""The lean path's HTTP/1.1 client (``_http*.py``): the response parser under
hypothesis, and the client against scripted raw-socket servers on 127.0.0.1
(keep-alive, framing, flow control, timeouts, header injection)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eden_storage_async._http import connection as _http_conn
from eden_storage_async._http.client import (
    BodyError,
    ConnectFailed,
    ConnectTimeout,
    HttpClient,
    HttpResponse,
    ReadTimeout,
    _Pool,
)
from eden_storage_async._http.connection import Connection
from eden_storage_async._http.parse import (
    MAX_HEAD,
    BodyDecoder,
    ProtocolError,
    ResponseHead,
    parse_head,
)
from eden_storage_async._s3.lean.wire import transport_error

from ..support.loopback import LoopbackServer

_SECRET = "AWS4-HMAC-SHA256 Credential=AKID/x, Signature=topsecret0123"

# -- the parser ------------------------------------------------------------------------


def _parse(pieces: list[bytes], method: str = "GET") -> tuple[ResponseHead, bytes, bytes]:
    """Feed ``pieces`` one by one as a socket would; the head, the body, the leftover."""
    buffer = bytearray()
    head: ResponseHead | None = None
    decoder: BodyDecoder | None = None
    body: list[bytes] = []
    for piece in pieces:
        buffer += piece
        if head is None:
            head = parse_head(buffer)
            if head is None:
                continue
            decoder = BodyDecoder(head, method)
        assert decoder is not None
        while buffer and not decoder.done:
            before = len(buffer)
            body.append(decoder.decode(buffer))
            if len(buffer) == before:
                break  # an incomplete line: wait for the next piece
    assert head is not None
    assert decoder is not None
    decoder.finish()
    return head, b"".join(body), bytes(buffer)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def _chunked(body: bytes, sizes: list[int], trailer: bool) -> bytes:
    out, at = [], 0
    for size in sizes:
        if at >= len(body):
            break
        piece = body[at : at + max(size, 1)]
        at += len(piece)
        out.append(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
    if at < len(body):
        out.append(b"%X\r\n%s\r\n" % (len(body) - at, body[at:]))
    out.append(b"0\r\nx-amz-checksum-crc32c: AAAAAA==\r\n\r\n" if trailer else b"0\r\n\r\n")
    return b"".join(out)


_HEAD = b'HTTP/1.1 200 OK\r\nETag: "e"\r\nx-amz-meta-a: 1\r\nX-Amz-Meta-A: 2\r\n'


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=3000),
    cuts=st.lists(st.integers(0, 10_000), max_size=12),
    sizes=st.lists(st.integers(1, 700), max_size=8),
    chunked=st.booleans(),
    trailer=st.booleans(),
)
def test_any_split_of_a_valid_answer_parses_the_same(
    body: bytes, cuts: list[int], sizes: list[int], chunked: bool, trailer: bool
) -> None:
    if chunked:
        wire = _HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(body, sizes, trailer)
    else:
        wire = _HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body
    next_answer = b"HTTP/1.1 204 No Content\r\n\r\n"
    head, got, rest = _parse(_split(wire + next_answer, cuts))
    assert head.status == 200
    assert head.headers["etag"] == '"e"'
    assert head.headers["x-amz-meta-a"] == "1, 2"  # repeats joined, names lower-case
    assert got == body
    assert rest == next_answer  # framing ends the body exactly: the next answer is intact


MALFORMED = [
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/2 200 OK\r\n\r\n",
    b"ICY 200 OK\r\n\r\n",
    b"HTTP/1.1 20x OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nx",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nxx",
    b"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nno colon\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 9000,
    b"HTTP/1.1 200 OK\r\nX: " + b"y" * MAX_HEAD,
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc",  # truncated by the close
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",  # truncated
]


@pytest.mark.parametrize("wire", MALFORMED)
def test_malformed_framing_is_a_protocol_error(wire: bytes) -> None:
    with pytest.raises(ProtocolError):
        _parse([wire])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    garbage=st.binary(max_size=200),
    prefix=st.sampled_from(
        [b"", b"HTTP/1.1 200 OK\r\n", _HEAD + b"Transfer-Encoding: chunked\r\n\r\n"]
    ),
)
def test_arbitrary_bytes_parse_or_raise_never_hang(garbage: bytes, prefix: bytes) -> None:
    """Either a clean parse, a protocol error, or an incomplete head: nothing else."""
    try:
        _parse([prefix + garbage])
    except ProtocolError:
        pass
    except AssertionError:
        pass  # the head never completed: more bytes (or the read timeout) decide


@pytest.mark.parametrize(
    ("status", "method", "extra", "body"),
    [
        (204, "GET", b"Content-Length: 9\r\n", b""),
        (304, "GET", b"", b""),
        (200, "HEAD", b"Content-Length: 5000\r\n", b""),
        (200, "GET", b"Connection: close\r\n", b"until the close"),
    ],
)
def test_bodyless_and_close_delimited_framing(
    status: int, method: str, extra: bytes, body: bytes
) -> None:
    wire = b"HTTP/1.1 %d X\r\n%s\r\n%s" % (status, extra, body)
    head, got, _ = _parse([wire], method)
    assert got == body
    assert head.keep_alive is (b"close" not in extra)


def test_http_1_0_is_never_kept_alive() -> None:
    head, _, _ = _parse([b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"])
    assert head.keep_alive is False


# -- the client against raw servers ------------------------------------------------------


def both_loops(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on asyncio's loop and on uvloop: uvloop orders protocol
    callbacks differently (``connection_made`` may run after
    ``create_connection`` has returned)."""

    def run(*args: Any, loop: str, **kwargs: Any) -> None:
        import uvloop

        runner = uvloop.run if loop == "uvloop" else asyncio.run
        runner(test(*args, **kwargs))

    signature = inspect.signature(test)
    parameters = [*signature.parameters.values()]
    parameters.append(inspect.Parameter("loop", inspect.Parameter.KEYWORD_ONLY))
    run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    run.__name__ = test.__name__
    run.__doc__ = test.__doc__
    marks = getattr(test, "pytestmark", [])
    wrapped: Callable[..., None] = pytest.mark.parametrize("loop", ["asyncio", "uvloop"])(run)
    for mark in marks:
        wrapped = mark(wrapped)
    return wrapped


Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One request's head and body (Content-Length framed) as the server got them."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head, await reader.readexactly(length)


class RawServer(LoopbackServer):
    """A loopback server running ``script(reader, writer, connection_number)``
    per connection; ``heads`` keeps every request head it read."""

    # Handlers get a moment to see the client's close before they are stopped.
    grace_s = 1.0

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.heads: list[bytes] = []
        super().__init__()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Run the script on one connection."""
        self.connections += 1
        try:
            await self.script(reader, writer, self.connections)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client hung up, or the test is over
        finally:
            writer.close()

    async def answer(self, reader: asyncio.StreamReader) -> bytes:
        head, body = await _read_request(reader)
        self.heads.append(head)
        return body


@contextlib.asynccontextmanager
async def client(limit: int = 4, read_timeout: float = 5.0) -> AsyncIterator[HttpClient]:
    http = HttpClient(
        limit=limit,
        connect_timeout=2.0,
        read_timeout=read_timeout,
        ssl_context=None,
        user_agent="t",
    )
    try:
        yield http
    finally:
        await http.aclose()


async def _get(http: HttpClient, port: int, body: bytes | None = None) -> HttpResponse:
    headers = {"host": f"127.0.0.1:{port}", "authorization": _SECRET}
    method = "GET" if body is None else "PUT"
    return await http.request(method, False, "127.0.0.1", port, "/b/k", headers, body)


async def _whole(response: HttpResponse) -> bytes:
    try:
        return await response.read()
    finally:
        response.release()


def keep_alive(*answers: bytes) -> Script:
    """Answer each request on a connection with the next of ``answers``."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        for wire in answers:
            await server_of[script].answer(reader)
            writer.write(wire)
            await writer.drain()
        await reader.read()  # then wait for the client to hang up

    return script


server_of: dict[Script, RawServer] = {}


@contextlib.asynccontextmanager
async def serving(script: Script) -> AsyncIterator[RawServer]:
    async with RawServer(script) as server:
        server_of[script] = server
        try:
            yield server
        finally:
            del server_of[script]


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
LENGTH = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


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
async def test_a_large_upload_is_flow_controlled_and_never_blocks_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    size = 24 * 1024 * 1024
    conns: list[Connection] = []
    connect = _Pool._connect

    async def recording(pool: _Pool) -> Connection:
        conns.append(await connect(pool))
        return conns[-1]

    monkeypatch.setattr(_Pool, "_connect", recording)
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
            peak = max(peak, len(conn.buffer))
            await asyncio.sleep(0.001)  # a slow consumer
        response.release()
    assert total == size
    # Paused above 1 MiB; one more socket read may land before the pause bites.
    assert peak < 4 * 1024 * 1024, peak


@both_loops
async def test_a_body_arriving_in_many_pieces_is_read_whole_and_exact() -> None:
    """A Content-Length body read whole goes straight from the socket into the
    reader's list; bytes past its end stay behind, and then the connection is
    not reused."""
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
