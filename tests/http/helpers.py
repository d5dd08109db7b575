"""Shared by the HTTP client tests: scripted raw-socket servers on 127.0.0.1, the
client under test, and ``both_loops``, which runs a test on asyncio's loop and on
uvloop."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import pytest

from eden_storage_async._http.client import HttpClient, HttpResponse

from ..support.loopback import LoopbackServer

_SECRET = "AWS4-HMAC-SHA256 Credential=AKID/x, Signature=topsecret0123"


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
