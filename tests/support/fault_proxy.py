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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import struct
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from .loopback import LoopbackServer

__all__ = [
    "FAULT_KINDS",
    "FaultProxy",
    "Flavor",
    "Message",
    "Request",
    "error_503",
    "is_object_download",
    "is_object_upload",
    "payload_span",
]

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
Flavor = Literal["s3", "gcs"]
_LIMIT = 1 << 20  # the longest head line we accept


@dataclass
class Message:
    """One request or response as it crossed the wire: the head and the raw body.

    ``spans`` are where the payload bytes sit inside ``body`` (one span for a
    ``Content-Length`` body, one per chunk for a chunked one).
    """

    head: bytes
    body: bytes = b""
    spans: list[tuple[int, int]] = field(default_factory=list)
    to_eof: bool = False  # a response body framed only by the connection's end
    ends_connection: bool = False

    @property
    def start_line(self) -> str:
        """The request or status line."""
        return self.head.split(b"\r\n", 1)[0].decode("latin-1")

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), if present."""
        wanted = name.lower().encode()
        for line in self.head.split(b"\r\n")[1:]:
            key, sep, value = line.partition(b":")
            if sep and key.strip().lower() == wanted:
                return value.strip().decode("latin-1")
        return None


@dataclass(frozen=True)
class Request:
    """What a fault decision may look at: the method and the request target."""

    method: str
    target: str


def is_object_download(flavor: Flavor, request: Request) -> bool:
    """A GET whose answer is an object's bytes (S3 GetObject, GCS ``alt=media``)."""
    if request.method != "GET":
        return False
    if flavor == "gcs":
        return "alt=media" in request.target
    return "?" not in request.target


def is_object_upload(flavor: Flavor, request: Request) -> bool:
    """A request whose body is object bytes: S3 PutObject/UploadPart, a GCS multipart
    upload or resumable piece (not a resumable initiation or an S3 POST: their
    bodies are JSON or XML about the object)."""
    if request.method == "POST":
        return flavor == "gcs" and "uploadType=multipart" in request.target
    return request.method == "PUT"


def payload_span(message: Message) -> tuple[int, int] | None:
    """Where an upload's object bytes sit in ``message.body``, or None.

    A GCS multipart upload carries its JSON resource first and the object
    second; only the second part counts. An S3 PUT body, or a GCS resumable
    piece, is all object bytes (a chunked body: its first non-empty chunk).
    """
    content_type = message.header("content-type") or ""
    if content_type.startswith("multipart/related"):
        boundary = b"--" + content_type.split("boundary=", 1)[1].strip().strip('"').encode()
        parts = message.body.split(boundary)
        if len(parts) < 3:
            return None
        start = len(boundary.join(parts[:2])) + len(boundary)
        content = parts[2].partition(b"\r\n\r\n")[2][:-2]  # the CRLF before the delimiter
        offset = start + len(parts[2]) - len(content) - 2
        return (offset, offset + len(content)) if content else None
    spans = [span for span in message.spans if span[1] > span[0]]
    return spans[0] if spans else None


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    """A message head, or None at a clean end of stream between messages."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise


async def _read_body(reader: asyncio.StreamReader, message: Message, *, to_eof: bool) -> bool:
    """Read ``message``'s body into it; True when it was framed by the connection's end."""
    if "chunked" in (message.header("transfer-encoding") or "").lower():
        parts: list[bytes] = []
        position = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            parts.append(size_line)
            position += len(size_line)
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while (trailer := await reader.readuntil(b"\r\n")) != b"\r\n":
                    parts.append(trailer)
                parts.append(trailer)
                break
            parts.append(await reader.readexactly(size + 2))
            message.spans.append((position, position + size))
            position += size + 2
        message.body = b"".join(parts)
        return False
    length = message.header("content-length")
    if length is not None:
        message.body = await reader.readexactly(int(length))
        message.spans.append((0, len(message.body)))
        return False
    if not to_eof:
        return False
    message.body = await reader.read()
    message.spans.append((0, len(message.body)))
    return True


def _flip(data: bytes, span: tuple[int, int], rng: random.Random) -> bytes:
    at = rng.randrange(*span)
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def _reset(writer: asyncio.StreamWriter | None) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashed peer or middlebox would."""
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def error_503(flavor: Flavor) -> bytes:
    """A whole 503 response, shaped as the service's own error would be."""
    if flavor == "s3":
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code>'
            b"<Message>Injected by the fault proxy.</Message><RequestId>fault</RequestId></Error>"
        )
        content_type = b"application/xml"
    else:
        error = {"code": 503, "message": "Injected by the fault proxy.", "errors": []}
        body = json.dumps({"error": error}).encode()
        content_type = b"application/json; charset=UTF-8"
    return (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: " + content_type + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


class _Closed(Exception):
    """This connection is over (a fault ended it, or a side closed it)."""


class _UpstreamIdle(Exception):
    """The server closed a kept-alive connection before answering on it."""


_Pair = tuple[asyncio.StreamReader, asyncio.StreamWriter]
_Connector = Callable[[], Awaitable[_Pair]]


class _Link:
    """One client connection and the upstream connection serving it, opened on demand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.up: _Pair | None = None

    async def upstream(self, connect: _Connector) -> _Pair:
        if self.up is not None and self.up[0].at_eof():
            self.drop_upstream()  # the server ended the idle connection: not a fault
        if self.up is None:
            self.up = await connect()
        return self.up

    def drop_upstream(self) -> None:
        if self.up is not None:
            self.up[1].close()
            self.up = None

    def reset(self) -> None:
        """Reset both sides, as a crashed peer or middlebox would."""
        _reset(self.writer)
        if self.up is not None:
            _reset(self.up[1])
            self.up = None

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()
        self.drop_upstream()


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
