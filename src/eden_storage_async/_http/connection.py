"""One HTTP/1.1 connection for ``_http/client.py``: an ``asyncio.BufferedProtocol``
that parses the answer as it arrives, with read and write flow control and
timed waits.

Why buffered: the loop reads straight into a buffer we hand it. Most reads land
in one scratch buffer the client's connections share (it is parsed, and the
payload copied out, before the loop reads again), and the rest of a
Content-Length body read whole lands straight in that body's own buffer: no
``bytes`` per socket read, no pieces to join, and nothing left for the
allocator to keep (issue 16: after 16 concurrent 32 MiB loads, RSS stayed
about 100 MiB high with the pieces).

Every wait for the server is bounded: ``wait_data`` by the read timeout since
the last byte arrived (so a slow but steady body is fine and a hung server is
not), ``drain`` by the read timeout for the transport to take more. Payload
pieces queued for a reader pause the transport above ``_HIGH`` bytes and
resume it below ``_LOW``, so a 1 GiB body streamed by a slow consumer holds
about a megabyte, not the object.
"""

from __future__ import annotations

import asyncio
import collections
from typing import cast

from .parse import ProtocolError, ResponseHead, ResponseParser

__all__ = [
    "BodyError",
    "ConnectFailed",
    "ConnectTimeout",
    "Connection",
    "ConnectionClosed",
    "ReadTimeout",
    "RequestTimeout",
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


class RequestTimeout(ReadTimeout):
    """Connecting, sending and the answer's head took longer than the request's
    deadline (a server dripping its head, or sending 1xx answers without end)."""


class ConnectFailed(TransportError):
    """The connection was refused or could not be made."""


class ConnectTimeout(TransportError):
    """Connecting (or the TLS handshake) took longer than ``connect_timeout``."""


class TlsFailed(TransportError):
    """The TLS handshake failed (certificate, protocol)."""


class BodyError(TransportError):
    """The response was cut short or its framing is malformed."""


class Connection(asyncio.BufferedProtocol):
    """The protocol side of one pooled connection, and the parsed answer's state."""

    def __init__(self, read_timeout: float, scratch: memoryview) -> None:
        self._read_timeout = read_timeout
        self._scratch = scratch
        self.parser = ResponseParser(self)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.ended = False  # EOF, a reset or our own close: never reusable again
        self.reused = False  # has served a request before the current one
        self.answered = False  # some byte of the current answer arrived
        self.expecting = False  # a request is out and its answer not yet read
        self.junk = False  # bytes arrived with no request out: never reuse
        self.idle_since = 0.0
        # Loop time by which the answer's head must be in (None once it is).
        self.deadline: float | None = None
        self.reset: BaseException | None = None
        self.failure: ProtocolError | None = None  # the answer's framing was refused
        self.pieces: collections.deque[bytes] = collections.deque()
        self.queued = 0  # bytes in ``pieces``
        self._direct: memoryview | None = None  # a body's own buffer, being filled
        self._owner: object = None  # what owns ``_direct``'s memory
        self.filled = 0
        self._used = False
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._arrived = 0.0
        self._paused_reading = False
        self._paused_writing = False

    # -- asyncio.BufferedProtocol ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast("asyncio.Transport", transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        direct = self._direct
        # The body's last piece goes through the scratch buffer, so a byte the
        # server sent past the body's end arrives in the same read and is seen.
        if direct is None or len(direct) - self.filled < len(self._scratch):
            return self._scratch
        return direct[self.filled :]

    def buffer_updated(self, nbytes: int) -> None:
        self.answered = True
        direct = self._direct
        if direct is not None:
            # The reader is not woken for each piece: its timer reads this.
            self._arrived = asyncio.get_running_loop().time()
            left = len(direct) - self.filled
            if left < len(self._scratch):
                take = min(left, nbytes)
                direct[self.filled : self.filled + take] = self._scratch[:take]
                self.junk = self.junk or nbytes > take
                nbytes = take
            self.filled += nbytes
            if self.filled == len(direct):
                self.fill_done()
                self._wake()
            return
        if not self.expecting:
            self.junk = True  # a 408 before a close, or garbage: drop the connection
            return
        try:
            self.parser.feed(self._scratch[:nbytes])
        except ProtocolError as exc:
            self.failure = exc
            self._pause()
        self._wake()

    def eof_received(self) -> bool:
        self._closed(None)
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed(exc)

    def pause_writing(self) -> None:
        self._paused_writing = True

    def resume_writing(self) -> None:
        self._paused_writing = False
        self._wake()

    # -- the parser's sink -------------------------------------------------------------

    def on_head(self, head: ResponseHead) -> None:
        self._wake()  # an early answer stops the upload (``drain`` returns)

    def on_body(self, data: bytes) -> None:
        self.pieces.append(data)
        self.queued += len(data)
        if self.queued > _HIGH:
            self._pause()

    def on_complete(self) -> None:
        pass  # buffer_updated wakes the reader once the feed is parsed

    # -- for the pool and the response -------------------------------------------------

    def _closed(self, exc: BaseException | None) -> None:
        if self.ended:
            if exc is not None and self.reset is None:
                self.reset = exc
            self._wake()
            return
        self.ended = True
        self.reset = exc
        parser = self.parser
        if self.expecting and parser.head is not None and self._direct is None:
            try:
                parser.eof()
            except ProtocolError as error:
                self.failure = self.failure or error
        self._wake()

    def _pause(self) -> None:
        if not self._paused_reading and not self.ended:
            self._paused_reading = True
            self.transport.pause_reading()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def start(self, method: str, deadline: float) -> None:
        """A new exchange begins on this connection; its head is due by ``deadline``."""
        self.deadline = deadline
        self.reused = self._used
        self._used = True
        self.answered = False
        self.expecting = True
        self.parser.expect(method)

    def finish(self) -> None:
        """The exchange is over (its answer read, or dropped)."""
        self.expecting = False
        if self.queued:
            self.pieces.clear()
            self.queued = 0
        self._direct = self._owner = None

    def close(self) -> None:
        self.ended = True
        self.expecting = False
        # None until connection_made (typed as set, for the hot paths' sake).
        transport: asyncio.Transport | None = self.transport
        if transport is None:
            return
        if transport.get_extra_info("ssl_object") is not None:
            # A closed connection is never used again, so there is nothing to
            # wait for: a TLS close() would first trade close_notify alerts
            # with the server, and a loop that stops meanwhile (aclose() and
            # then the end of asyncio.run) leaves the socket unclosed, with a
            # ResourceWarning (seen in tests/tls on a loaded machine).
            transport.abort()
        else:
            transport.close()

    def take(self) -> bytes:
        """The next payload piece, and reading resumed below the low mark."""
        data = self.pieces.popleft()
        self.queued -= len(data)
        if self._paused_reading and self.queued < _LOW and not self.ended:
            self._paused_reading = False
            self.transport.resume_reading()
        return data

    def fill(self, target: memoryview, start: int, owner: object) -> None:
        """Read the rest of the body straight into ``target[start:]``, past the
        parser; ``owner`` holds ``target``'s memory and is kept while it is used."""
        self.parser.skip_body()
        self.filled = start
        self._direct = target
        self._owner = owner
        if self._paused_reading and not self.ended:
            self._paused_reading = False
            self.transport.resume_reading()

    def fill_done(self) -> None:
        """``fill``'s target is no longer read into, whether it was filled or not."""
        self._direct = None
        self._owner = None

    @property
    def filling(self) -> bool:
        """True while ``fill``'s target still waits for bytes."""
        return self._direct is not None

    async def wait_data(self) -> None:
        """Wait for the next event (bytes, the close), at most ``read_timeout``
        after the last byte arrived, and never past ``deadline``."""
        if self.ended:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiter = waiter
        now = self._arrived = loop.time()
        delay = self._read_timeout
        if self.deadline is not None:
            delay = min(delay, self.deadline - now)
        self._timer = loop.call_later(delay, self._expire, waiter)
        try:
            await waiter
        finally:
            if self._timer is not None:
                self._timer.cancel()
            self._waiter = None

    def _expire(self, waiter: asyncio.Future[None]) -> None:
        if waiter.done():
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadline = self.deadline
        if deadline is not None and now >= deadline:
            waiter.set_exception(RequestTimeout(_LATE))
            return
        idle = now - self._arrived
        if idle < self._read_timeout:  # bytes came in meanwhile: wait on from the last
            delay = self._read_timeout - idle
            if deadline is not None:
                delay = min(delay, deadline - now)
            self._timer = loop.call_later(delay, self._expire, waiter)
            return
        waiter.set_exception(ReadTimeout("the server did not answer within the read timeout"))

    async def drain(self) -> None:
        """Wait until the transport takes more bytes, the answer's head arrives
        or the server closes; at most ``read_timeout``, never past ``deadline``."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self._read_timeout
        late: TransportError = ReadTimeout("the server took nothing within the read timeout")
        if self.deadline is not None and self.deadline < until:
            until, late = self.deadline, RequestTimeout(_LATE)
        while self._paused_writing and not self.ended and self.parser.head is None:
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiter = waiter
            timer = loop.call_at(until, _expire_drain, waiter, late)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None


_LATE = "connecting, sending and the answer's head took longer than the request's deadline"


def _expire_drain(waiter: asyncio.Future[None], late: TransportError) -> None:
    if not waiter.done():
        waiter.set_exception(late)
