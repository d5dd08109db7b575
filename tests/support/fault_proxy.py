"""A loopback HTTP/1.1 proxy that injects faults, one decision per request.

It sits on 127.0.0.1 between a backend and a real server, on the test's own
event loop. It reads each request whole (head, then a ``Content-Length`` or
chunked body), decides its fate, forwards it on its own upstream connection,
reads the whole response the same way, and answers, keeping the client's
connection alive between requests as the server would. One fault per request,
drawn by a seeded RNG from ``weights`` (or taken in order from ``script``):

===================== =====================================================
``pass``              forward unchanged
``reset_before``      reset the client's connection; the server never sees it
``reset_mid_request`` forward the head and part of the body, reset both sides
``status_503``        answer 503 with an S3 (XML) or GCS (JSON) error body
``stall``             hold the request, or the server's answer, until the
                      client gives up (or ``stall_s``), then reset
``truncate_response`` send part of the answer (part of its head when it has
                      no body), then reset
``corrupt_response``  flip one byte of an object download's body
``corrupt_request``   flip one byte of an object upload's payload
``drop_after_commit`` forward the request, read the whole answer, reset
                      without sending it
===================== =====================================================

Only object bodies are corrupted (``is_object_download``,
``is_object_upload``): a flipped byte in a metadata reply (a nonce, an upload id)
tests nothing the library can check, and TLS stops it in production. A kind
that does not apply to a request (no payload to corrupt, no body to flip) is
counted in ``not_applicable`` and the request passes. ``counts`` holds the
faults really injected, by kind.

Reading messages, what a request is to each flavor, and the client and upstream
connections are in ``fault_proxy_wire``; this module holds the fault plan and
the proxy that carries it out.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Literal
from urllib.parse import urlsplit

from .fault_proxy_wire import (
    Flavor,
    Message,
    Request,
    _Link,
    _Pair,
    _read_body,
    _read_head,
    error_503,
    is_object_download,
    is_object_upload,
    payload_span,
)
from .loopback import LoopbackServer

__all__ = ["FAULT_KINDS", "FaultProxy"]

FAULT_KINDS = (
    "pass",
    "reset_before",
    "reset_mid_request",
    "status_503",
    "stall",
    "truncate_response",
    "corrupt_response",
    "corrupt_request",
    "drop_after_commit",
)
_LIMIT = 1 << 20  # the longest head line we accept


def _flip(data: bytes, span: tuple[int, int], rng: random.Random) -> bytes:
    at = rng.randrange(*span)
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


class _Closed(Exception):
    """This connection is over (a fault ended it, or a side closed it)."""


class _UpstreamIdle(Exception):
    """The server closed a kept-alive connection before answering on it."""


class FaultProxy(LoopbackServer):
    """Faults injected between a client and ``upstream_url``; see the module docstring.

    ``faultable`` picks the requests that may be faulted (default: all); the
    others pass and do not draw from the RNG or the script. With ``script``,
    faultable requests take its kinds in order, then pass.
    """

    stream_limit = _LIMIT

    def __init__(
        self,
        upstream_url: str,
        *,
        flavor: Flavor,
        weights: Mapping[str, float] | None = None,
        script: Sequence[str] = (),
        seed: int = 0,
        stall_s: float = 5.0,
        stall_at: Literal["request", "response", "either"] = "either",
        faultable: Callable[[Request], bool] = lambda request: True,
    ) -> None:
        parts = urlsplit(upstream_url)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._upstream_base = f"http://{parts.netloc}".encode()
        self._flavor: Flavor = flavor
        weights = dict(weights or {"pass": 1.0})
        unknown = (set(weights) | set(script)) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        self._kinds = [kind for kind in FAULT_KINDS if weights.get(kind, 0) > 0]
        self._weights = [weights[kind] for kind in self._kinds]
        self._script = list(script)
        self._rng = random.Random(seed)
        self._stall_s = stall_s
        self._stall_at = stall_at
        self._faultable = faultable
        super().__init__()
        self.counts: Counter[str] = Counter()
        self.not_applicable: Counter[str] = Counter()
        self.stalls: Counter[str] = Counter()
        self.log: list[tuple[str, str, str]] = []
        self.errors: list[str] = []

    def arm(
        self,
        *,
        script: Sequence[str] = (),
        stall_at: Literal["request", "response", "either"] = "either",
        faultable: Callable[[Request], bool] = lambda request: False,
    ) -> None:
        """Start a new scripted round: counts and log cleared, nothing faultable by default."""
        unknown = set(script) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        self._script = list(script)
        self._stall_at = stall_at
        self._faultable = faultable
        for counter in (self.counts, self.not_applicable, self.stalls):
            counter.clear()
        self.log.clear()

    def _choose(self, request: Request) -> str:
        if not self._faultable(request):
            return "pass"
        if self._script:
            return self._script.pop(0)
        if not self._kinds:
            return "pass"
        return self._rng.choices(self._kinds, self._weights)[0]

    def _record(self, request: Request, kind: str, applies: bool = True) -> str:
        if not applies:
            self.not_applicable[kind] += 1
            kind = "pass"
        self.counts[kind] += 1
        self.log.append((request.method, request.target, kind))
        return kind

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Proxy one client connection, request by request, faulting as armed."""
        link = _Link(reader, writer)
        try:
            while True:
                await self._one_exchange(link)
        except (_Closed, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except Exception as exc:
            # A bug of the proxy's own would end a connection like a fault
            # that was never counted: keep it for the test to assert on.
            self.errors.append(repr(exc))
        finally:
            link.close()

    async def _one_exchange(self, link: _Link) -> None:
        reader, writer = link.reader, link.writer
        head = await _read_head(reader)
        if head is None:
            raise _Closed
        if "100-continue" in (Message(head).header("expect") or "").lower():
            # Answer the go-ahead here and forward without it: the proxy
            # needs the whole body before it decides.
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            head = b"\r\n".join(
                line for line in head.split(b"\r\n") if not line.lower().startswith(b"expect:")
            )
        request_msg = Message(head)
        await _read_body(reader, request_msg, to_eof=False)
        method, target, *_ = [*request_msg.start_line.split(" "), "", ""]
        request = Request(method, target)
        kind = self._choose(request)
        if kind == "reset_before":
            self._record(request, kind)
            link.reset()
            raise _Closed
        if kind == "status_503":
            self._record(request, kind)
            writer.write(error_503(self._flavor))
            await writer.drain()
            return
        stall_at = self._stall_at
        if kind == "stall" and stall_at == "either":
            stall_at = self._rng.choice(["request", "response"])
        if kind == "stall" and stall_at == "request":
            self._record(request, kind)
            self.stalls["request"] += 1
            await self._hold(reader)
            link.reset()
            raise _Closed
        wire = request_msg.head + request_msg.body
        if kind == "corrupt_request":
            span = payload_span(request_msg) if is_object_upload(self._flavor, request) else None
            if self._record(request, kind, span is not None) == kind:
                assert span is not None
                wire = request_msg.head + _flip(request_msg.body, span, self._rng)
        if kind == "reset_mid_request":
            self._record(request, kind)
            _, up_writer = await link.upstream(self._connect)
            up_writer.write(wire[: self._cut(len(request_msg.head), len(wire))])
            await up_writer.drain()
            link.reset()
            raise _Closed
        response = await self._forward(link, wire, method)
        if kind in ("drop_after_commit", "stall"):
            self._record(request, kind)
            if kind == "stall":
                self.stalls["response"] += 1
                await self._hold(reader)
            link.reset()
            raise _Closed
        out = response.head + response.body
        # A body framed only by the connection's end cannot be seen to be cut short.
        if kind == "truncate_response" and self._record(request, kind, not response.to_eof) == kind:
            writer.write(out[: self._cut(len(response.head), len(out))])
            await writer.drain()
            link.reset()
            raise _Closed
        if kind == "corrupt_response":
            span = response.spans[0] if response.spans else None
            applies = is_object_download(self._flavor, request) and span is not None
            applies = applies and span is not None and span[1] > span[0]
            if self._record(request, kind, applies) == kind:
                assert span is not None
                out = response.head + _flip(response.body, span, self._rng)
        elif kind not in ("corrupt_request", "truncate_response"):
            self._record(request, kind)
        writer.write(out)
        await writer.drain()
        if response.ends_connection:
            raise _Closed

    async def _forward(self, link: _Link, wire: bytes, method: str) -> Message:
        """Send ``wire`` upstream and return the whole final response.

        A kept-alive upstream connection that the server closed meanwhile (it
        answers nothing) is replaced and the request sent once more, as any
        HTTP client does: that is not a fault of ours.
        """
        for _ in range(2):
            reused = link.up is not None
            up_reader, up_writer = await link.upstream(self._connect)
            try:
                up_writer.write(wire)
                await up_writer.drain()
                return await self._read_response(up_reader, method)
            except (_UpstreamIdle, ConnectionError):
                link.drop_upstream()
                if not reused:
                    raise _Closed from None
        raise _Closed

    def _cut(self, head_size: int, total: int) -> int:
        """Where to cut a message short: inside its body, or inside its head if it has none."""
        if total > head_size:
            return self._rng.randrange(head_size, total)
        return self._rng.randrange(1, head_size)

    async def _connect(self) -> _Pair:
        return await asyncio.open_connection(*self._upstream, limit=_LIMIT)

    async def _read_response(self, up_reader: asyncio.StreamReader, method: str) -> Message:
        """The final response (interim 1xx ones are dropped), read whole."""
        while True:
            head = await _read_head(up_reader)
            if head is None:
                raise _UpstreamIdle
            response = Message(head.replace(self._upstream_base, self._proxy_base()))
            version, status_text = response.start_line.split(" ")[:2]
            if int(status_text) >= 200:
                break
        connection = (response.header("connection") or "").lower()
        response.ends_connection = connection == "close" or (
            version == "HTTP/1.0" and connection != "keep-alive"
        )
        if method != "HEAD" and int(status_text) not in (204, 304):
            response.to_eof = await _read_body(up_reader, response, to_eof=True)
            response.ends_connection = response.ends_connection or response.to_eof
        return response

    def _proxy_base(self) -> bytes:
        # Location headers (a GCS resumable session) must lead back here.
        return self.endpoint_url.encode()

    async def _hold(self, reader: asyncio.StreamReader) -> None:
        """Wait until the client hangs up (its read timeout) or ``stall_s`` passes."""
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(self._stall_s):
                while await reader.read(65536):
                    pass
