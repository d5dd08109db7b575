"""The keep-alive pool of ``_http/client.py``: connections to one host, how a
request goes out on one, and what is done when that fails.

- Idle connections are reused LIFO, and retired once idle longer than the
  client's ``idle_timeout``: a connection a middlebox dropped silently would
  otherwise cost a whole read timeout when taken.
- A reused connection that fails before any byte of the answer arrived (a
  reset, an EOF) is the stale-connection case: the request goes once more on
  a fresh connection. Its body is bytes, so it can be sent again, and the
  create-only stores are safe to resend (S3Backend and GcsBackend recognise
  their own earlier write by its nonce). A read timeout is not resent: the
  server may only be slow, and is still working on the first one.
- The answer is read while the body goes out. A final answer of 300 or more
  that arrives first (a 403, a 413) stops the upload, as curl does ("HTTP
  error before end of send, stop sending"), and is returned; a 2xx that
  arrives early lets the upload go on, since the server may still be reading.
  A connection whose request body was cut short is never reused.
- Connecting, sending and the head together are bounded by a deadline
  (``RequestTimeout``), and llhttp's parser caps the 1xx answers, so neither
  a server dripping its head nor one sending ``100 Continue`` forever keeps a
  request alive.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING, Any

from .connection import (
    BodyError,
    ConnectFailed,
    Connection,
    ConnectionClosed,
    ConnectTimeout,
    RequestTimeout,
    TlsFailed,
)
from .response import HttpResponse

if TYPE_CHECKING:
    from .client import HttpClient

__all__ = ["Pool"]

_LATE = "connecting, sending and the answer's head took longer than the request's deadline"
# Bodies up to this size go out in one writelines() with the head; above it in
# slices, awaiting the transport's flow control between them.
_SLICE = 256 * 1024


class Pool:
    """At most ``limit`` connections to one host; idle ones reused LIFO."""

    def __init__(self, client: HttpClient, host: str, port: int, tls: bool) -> None:
        self._client = client
        self._host = host
        self._port = port
        self._tls = tls
        self._idle: list[Connection] = []
        self._slots = asyncio.Semaphore(client.limit)

    async def _connect(self, deadline: float) -> Connection:
        client = self._client
        loop = asyncio.get_running_loop()
        context = client.ssl_context if self._tls else None
        left = deadline - loop.time()
        try:
            async with asyncio.timeout(min(client.connect_timeout, left)):
                transport, conn = await loop.create_connection(
                    lambda: Connection(client.read_timeout, client.scratch),
                    self._host,
                    self._port,
                    ssl=context,
                    server_hostname=self._host if context is not None else None,
                )
        except TimeoutError:
            if left < client.connect_timeout:
                raise RequestTimeout(_LATE) from None
            raise ConnectTimeout(f"connecting to {self._host}:{self._port} timed out") from None
        except ssl.SSLError as exc:
            raise TlsFailed(f"TLS with {self._host}:{self._port} failed: {exc}") from None
        except OSError as exc:
            raise ConnectFailed(f"could not connect to {self._host}:{self._port}: {exc}") from None
        # uvloop may run connection_made after create_connection returns.
        conn.transport = transport
        return conn

    def put_back(self, conn: Connection, reusable: bool) -> None:
        conn.finish()
        if reusable and not conn.ended and not conn.junk and not self._client.closed:
            conn.idle_since = asyncio.get_running_loop().time()
            self._idle.append(conn)
        else:
            conn.close()
        self._slots.release()

    def _take_idle(self, now: float) -> Connection | None:
        """The most recently used idle connection still fit to send on, if any."""
        oldest = now - self._client.idle_timeout
        while self._idle:
            conn = self._idle.pop()
            if conn.idle_since < oldest:
                # LIFO: every connection under this one has been idle longer still.
                for stale in (conn, *self._idle):
                    stale.close()
                self._idle.clear()
                return None
            if not conn.ended and not conn.junk:
                return conn
            conn.close()  # the server closed it, or sent something, while it sat idle
        return None

    async def request(self, method: str, head: bytes, body: Any) -> HttpResponse:
        await self._slots.acquire()
        try:
            # Enforced by each wait (connect, drain, wait_data) rather than by an
            # asyncio.timeout() around them all, which costs 7 µs per request here.
            now = asyncio.get_running_loop().time()
            deadline = now + self._client.deadline(body)
            conn = self._take_idle(now) or await self._connect(deadline)
            try:
                return await self._exchange(conn, method, head, body, deadline)
            except ConnectionClosed:
                if not conn.reused or conn.answered:
                    raise
                # The stale-connection case: the server (or a middlebox) had closed
                # a pooled connection as we sent on it, and nothing was answered.
                conn = await self._connect(deadline)
                return await self._exchange(conn, method, head, body, deadline)
        except BaseException:
            self._slots.release()
            raise

    async def _exchange(
        self, conn: Connection, method: str, head: bytes, body: Any, deadline: float
    ) -> HttpResponse:
        whole = True
        try:
            conn.start(method, deadline)
            if body is None or len(body) <= _SLICE:
                conn.transport.writelines([head, body] if body else [head])
            else:
                whole = await _upload(conn, head, body)
            while True:
                parsed = conn.parser.head
                if parsed is not None:
                    break  # a framing error in its body is the body's reader's to raise
                if conn.failure is not None:
                    raise BodyError(str(conn.failure))
                if conn.ended:
                    reason = "reset" if conn.reset is not None else "closed"
                    raise ConnectionClosed(f"the server {reason} the connection before answering")
                await conn.wait_data()
        except BaseException:
            conn.close()  # a cancel too: the exchange's state is unknown
            raise
        conn.deadline = None  # the body's reads are bounded by the read timeout alone
        return HttpResponse(self, conn, parsed, whole)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


async def _upload(conn: Connection, head: bytes, body: Any) -> bool:
    """Send ``head`` and a large ``body`` in slices as the transport takes them;
    False if an early answer (or the server's close after one) cut it short."""
    transport = conn.transport
    transport.write(head)
    view = memoryview(body).cast("B")
    for start in range(0, len(view), _SLICE):
        await conn.drain()
        # Let the loop read what the server has sent so far: an answer that
        # is read before a reset arrives is not lost with the connection.
        await asyncio.sleep(0)
        answer = conn.parser.head
        if (answer is not None and answer.status >= 300) or conn.failure is not None:
            return False
        if conn.ended or transport.is_closing():
            if answer is not None:
                return False  # it answered, then closed: the answer stands
            raise ConnectionClosed("the server closed the connection during the request")
        transport.write(view[start : start + _SLICE])
    return True
