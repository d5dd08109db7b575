"""A minimal HTTP/1.1 client for the hot calls: keep-alive pools on
``asyncio.Protocol``, exactly what the lean S3 path (``_s3/lean/calls.py``) and the
small GCS upload (``_gcs/lean.py``) send, and nothing more.

Why hand-written: measured against SeaweedFS (4 KiB PUTs, concurrency 64,
uvloop), aiohttp costs 0.40-0.46 ms of client CPU per request and a bare
protocol 0.08-0.11 ms (docs/s3-lean.md); against fake-gcs-server, 0.54 against
0.26 ms per 4 KiB multipart POST. Responses are parsed by llhttp (``_http/parse.py``).
Not supported, on purpose: proxies (neither
caller uses one: the lean S3 path refuses a client that does, and the GCS
backend's own session never reads proxy settings), HTTP/2,
``Expect: 100-continue``, redirects, content codings.

Failures are this module's own ``TransportError`` subclasses, SDK-free;
``_s3.lean.wire.transport_error`` turns them into botocore's and
``_gcs.lean`` into aiohttp's. No error text carries a header (the
``Authorization`` one stays out of every message).
"""

from __future__ import annotations

import asyncio
import ssl

from .connection import (
    BodyError,
    ConnectFailed,
    ConnectionClosed,
    ConnectTimeout,
    ReadTimeout,
    RequestTimeout,
    TlsFailed,
    TransportError,
)
from .parse import ProtocolError
from .pool import Pool
from .response import HttpResponse

__all__ = [
    "BodyError",
    "ConnectFailed",
    "ConnectTimeout",
    "ConnectionClosed",
    "HttpClient",
    "HttpResponse",
    "ProtocolError",
    "ReadTimeout",
    "RequestTimeout",
    "TlsFailed",
    "TransportError",
    "lean_user_agent",
]


def lean_user_agent(*products: str) -> str:
    """``eden-storage-async/<version> (lean)``, then ``products``: what the lean
    callers send, so a server's logs tell them from the SDK paths."""
    import importlib.metadata

    try:
        ours = importlib.metadata.version("eden-storage-async")
    except importlib.metadata.PackageNotFoundError:
        ours = "dev"
    return " ".join((f"eden-storage-async/{ours} (lean)", *products))


# The shared receive buffer's size: one socket read, as asyncio reads (256 KiB).
_SCRATCH = 256 * 1024
# Idle connections are retired after this long. Below the keep-alive limits
# met on the way (AWS ELB/ALB idle timeout 60 s, nginx keepalive_timeout 75 s,
# NAT and firewall idle timers from about 30 s, S3's own ~20 s), and below the
# SDK path's 12 s (aiohttp's keepalive_timeout, which is what let it recover
# where this client waited a whole read timeout): a connection is reused only
# while every box on the way surely still knows it.
DEFAULT_IDLE_TIMEOUT_S = 10.0
# With no request_timeout: the deadline for connecting, sending and the head
# allows each idle limit twice over, plus the body at no less than this rate.
_MIN_SEND_RATE = 64 * 1024


def _check(text: str, what: str) -> None:
    # A caller's metadata value must never split one request into two.
    if "\r" in text or "\n" in text or "\0" in text:
        raise ValueError(f"{what} holds a CR, LF or NUL character")


class HttpClient:
    """Keep-alive HTTP/1.1 pools, one per (scheme, host, port), of at most
    ``limit`` connections each. ``aclose()`` closes the idle ones; a response
    still held closes its own when released.

    ``idle_timeout`` retires a connection idle that long; ``request_timeout``
    bounds connecting, sending and the answer's head together (by default
    ``connect_timeout + 2 * read_timeout`` plus the body at 64 KiB/s), raised
    as ``RequestTimeout``, a ``ReadTimeout``.
    """

    def __init__(
        self,
        *,
        limit: int,
        connect_timeout: float,
        read_timeout: float,
        ssl_context: ssl.SSLContext | None,
        user_agent: str,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT_S,
        request_timeout: float | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.idle_timeout = idle_timeout
        self.request_timeout = request_timeout
        self.ssl_context = ssl_context
        self.closed = False
        # Every connection's socket reads land here, and are parsed (and their
        # payload copied out) before the loop reads again: one buffer serves all.
        self.scratch = memoryview(bytearray(_SCRATCH))
        self._pools: dict[tuple[bool, str, int], Pool] = {}
        _check(user_agent, "the user agent")
        # Added to every request after signing, as aiohttp's session defaults were.
        self._extra = f"user-agent: {user_agent}\r\naccept-encoding: identity\r\n"

    def __repr__(self) -> str:
        return f"HttpClient(limit={self.limit}, pools={len(self._pools)})"

    def deadline(self, body: bytes | bytearray | memoryview | None) -> float:
        """Seconds allowed for connecting, sending ``body`` and the answer's head."""
        if self.request_timeout is not None:
            return self.request_timeout
        base = self.connect_timeout + 2 * self.read_timeout
        return base if body is None else base + len(body) / _MIN_SEND_RATE

    async def request(
        self,
        method: str,
        tls: bool,
        host: str,
        port: int,
        target: str,
        headers: dict[str, str],
        body: bytes | bytearray | memoryview | None,
    ) -> HttpResponse:
        """Send one request and read its head; the body is the response's to read.

        Raises ``ValueError`` before sending if a header name or value holds a
        CR, LF or NUL; ``TransportError`` subclasses on any transport failure.
        An answer that arrives while a large body is still going out (a 403
        before the upload ended) is returned as any other answer is.
        """
        if self.closed:
            raise RuntimeError("the HTTP client is closed")
        lines = [f"{method} {target} HTTP/1.1\r\n"]
        for name, value in headers.items():
            lines.append(f"{name}: {value}\r\n")
        if body is not None:
            lines.append(f"content-length: {len(body)}\r\n")
        lines.append(self._extra)
        lines.append("\r\n")
        text = "".join(lines)
        # One scan of the whole head: a line break anywhere but at the line ends
        # we wrote (one per piece, two in _extra) means a name, a value or the
        # target carried one.
        breaks = len(lines) + 1
        if text.count("\n") != breaks or text.count("\r") != breaks:
            for name, value in headers.items():
                _check(name, "a header name")
                _check(value, f"header {name!r}")
            _check(target, "the request target")
        if "\0" in text:
            raise ValueError("a header holds a NUL character")
        for name in headers:
            if ":" in name or " " in name or not name:
                raise ValueError(f"bad header name {name!r}")
        key = (tls, host, port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = Pool(self, host, port, tls)
        return await pool.request(method, text.encode("latin-1"), body)

    async def aclose(self) -> None:
        """Close every idle connection; no new request is accepted."""
        self.closed = True
        for pool in self._pools.values():
            pool.close()
        # Let the transports' close callbacks run before the loop may stop.
        await asyncio.sleep(0)
