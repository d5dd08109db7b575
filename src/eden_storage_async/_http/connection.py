"""One HTTP/1.1 connection for ``_http/client.py``: an ``asyncio.Protocol`` with a
receive buffer, read and write flow control, and timed waits.

Every wait for the server is bounded: ``wait_data`` and ``drain`` by the read
timeout (reset on each arrival, so a slow but steady body is fine and a hung
server is not). The receive buffer pauses the transport above ``_HIGH`` bytes
and resumes once the reader takes it below ``_LOW``, so a 1 GiB body streamed
by a slow consumer holds about a megabyte, not the object.
"""

from __future__ import annotations

import asyncio
from typing import cast

from .parse import ResponseHead, parse_head

__all__ = [
    "BodyError",
    "ConnectFailed",
    "ConnectTimeout",
    "Connection",
    "ConnectionClosed",
    "ReadTimeout",
    "TlsFailed",
    "TransportError",
]

_HIGH = 1024 * 1024
_LOW = 256 * 1024


class TransportError(Exception):
    """A failure below HTTP: connecting, TLS, a reset, a timeout, bad framing."""


class ConnectionClosed(TransportError):
    """The server closed or reset the connection before its answer's head ended."""


class ReadTimeout(TransportError):
    """The server sent nothing (or took nothing) for longer than ``read_timeout``."""


class ConnectFailed(TransportError):
    """The connection was refused or could not be made."""


class ConnectTimeout(TransportError):
    """Connecting (or the TLS handshake) took longer than ``connect_timeout``."""


class TlsFailed(TransportError):
    """The TLS handshake failed (certificate, protocol)."""


class BodyError(TransportError):
    """The response was cut short or its framing is malformed."""


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(ReadTimeout("the server did not answer within the read timeout"))


class Connection(asyncio.Protocol):
    """The protocol side of one pooled connection."""

    def __init__(self, read_timeout: float) -> None:
        self._read_timeout = read_timeout
        self.buffer = bytearray()
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.ended = False  # EOF, a reset or our own close: never reusable again
        self.reused = False  # has served a request before the current one
        self.answered = False  # some byte of the current answer arrived
        self._used = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused_reading = False
        self._drain: asyncio.Future[None] | None = None
        self._paused_writing = False
        # A Content-Length body read whole goes straight into the reader's list
        # (sink) as the socket hands it over, not through ``buffer``: two copies
        # of every byte fewer (a 16 MiB S3 load: 46-52 -> 39-44 ms of CPU here).
        self.sink: list[bytes] = []
        self.sink_wanted = 0

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        self.answered = True
        wanted = self.sink_wanted
        if wanted:
            if len(data) <= wanted:
                self.sink.append(data)
                self.sink_wanted = wanted - len(data)
                self._wake()
                return
            self.sink.append(data[:wanted])
            self.sink_wanted = 0
            data = data[wanted:]  # past the body: the next answer's, or garbage
        self.buffer += data
        if len(self.buffer) > _HIGH and not self._paused_reading:
            self._paused_reading = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.ended = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        if exc is not None:
            self._error = exc
        self._wake()
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    def pause_writing(self) -> None:
        self._paused_writing = True

    def resume_writing(self) -> None:
        self._paused_writing = False
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    # -- for the pool and the response -------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def start(self) -> None:
        """A new exchange begins on this connection."""
        self.reused = self._used
        self._used = True
        self.answered = False

    def close(self) -> None:
        self.ended = True
        if self.transport is not None:
            self.transport.close()

    def consumed(self) -> None:
        """The reader took bytes from ``buffer``: resume reading below the low mark."""
        if self._paused_reading and len(self.buffer) < _LOW and not self.ended:
            self._paused_reading = False
            self.transport.resume_reading()

    async def wait_data(self) -> None:
        """Wait for the server's next bytes (or its close), at most ``read_timeout``."""
        if self.ended:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiter = waiter
        timer = loop.call_later(self._read_timeout, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    async def drain(self) -> None:
        """Wait until the transport takes more bytes, at most ``read_timeout``."""
        if self.ended:
            raise ConnectionClosed("the server closed the connection during the request")
        if not self._paused_writing:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._drain = waiter
        timer = loop.call_later(self._read_timeout, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._drain = None
        if self.ended:
            raise ConnectionClosed("the server closed the connection during the request")

    async def read_head(self) -> ResponseHead:
        """The answer's status line and headers; its body stays in ``buffer``."""
        while True:
            if self.buffer:
                head = parse_head(self.buffer)
                self.consumed()
                if head is not None:
                    return head
            if self.ended:
                reason = "reset" if self._error is not None else "closed"
                raise ConnectionClosed(f"the server {reason} the connection before answering")
            await self.wait_data()
