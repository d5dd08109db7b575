"""The request's overall deadline (issue 16, finding 6): a server that sends
``100 Continue`` forever, or drips its head a byte at a time, each byte
within the read timeout, no longer keeps a call alive; nor does one that
sends interim answers without end, however fast."""

from __future__ import annotations

import asyncio
import time

import pytest

from eden_storage_async._http.client import BodyError, HttpClient, ReadTimeout, RequestTimeout
from eden_storage_async._s3.lean.wire import transport_error

from .helpers import LENGTH, RawServer, _get, _whole, both_loops


def _client(request_timeout: float | None) -> HttpClient:
    return HttpClient(
        limit=2,
        connect_timeout=2.0,
        read_timeout=0.5,
        ssl_context=None,
        user_agent="t",
        request_timeout=request_timeout,
    )


async def _endless_continue(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
) -> None:
    await reader.readuntil(b"\r\n\r\n")
    while True:
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)


async def _dripping_head(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\n")
    while True:  # one header byte every 50 ms, never the blank line
        writer.write(b"x")
        await writer.drain()
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("script", [_endless_continue, _dripping_head])
@both_loops
async def test_a_server_that_never_ends_its_head_hits_the_deadline(script: object) -> None:
    http = _client(request_timeout=1.0)
    try:
        async with RawServer(script) as server:  # type: ignore[arg-type]
            started = time.monotonic()
            async with asyncio.timeout(15):
                with pytest.raises(RequestTimeout) as caught:
                    await _get(http, server.port)
            assert time.monotonic() - started < 8
    finally:
        await http.aclose()
    # A ReadTimeout, so the S3 and GCS paths map and retry it as one.
    assert isinstance(caught.value, ReadTimeout)
    assert type(transport_error(caught.value, "u")).__name__ == "ReadTimeoutError"


@both_loops
async def test_the_default_deadline_ends_an_endless_continue_too() -> None:
    """No request_timeout given: connect_timeout + 2 * read_timeout (3 s here),
    or the cap on interim answers, whichever comes first."""
    http = _client(request_timeout=None)
    try:
        async with RawServer(_endless_continue) as server:
            async with asyncio.timeout(15):
                with pytest.raises((RequestTimeout, BodyError)):
                    await _get(http, server.port)
    finally:
        await http.aclose()


@both_loops
async def test_interim_answers_beyond_the_cap_are_a_body_error() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" * 1000 + LENGTH)
        await reader.read()

    http = _client(request_timeout=30)
    try:
        async with RawServer(script) as server:
            with pytest.raises(BodyError, match="interim"):
                await _get(http, server.port)
    finally:
        await http.aclose()


@both_loops
async def test_a_few_interim_answers_then_the_answer() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await reader.readuntil(b"\r\n\r\n")
        for _ in range(5):
            writer.write(b"HTTP/1.1 102 Processing\r\n\r\n")
            await asyncio.sleep(0.01)
        writer.write(LENGTH)
        await reader.read()

    http = _client(request_timeout=None)
    try:
        async with RawServer(script) as server:
            assert await _whole(await _get(http, server.port)) == b"ok"
    finally:
        await http.aclose()
