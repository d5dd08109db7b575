"""HTTP/1.1 as the fault proxy (``fault_proxy.py``) sees it, with no fault logic.

Messages read whole off a stream (the head, then a ``Content-Length`` or
chunked body); what a request is to each flavor (S3 or GCS): an object
download or upload, where an upload's object bytes sit, the service's own 503;
and the link between one client connection and the upstream one serving it,
reset as a crashed peer would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Flavor",
    "Message",
    "Request",
    "error_503",
    "is_object_download",
    "is_object_upload",
    "payload_span",
]

Flavor = Literal["s3", "gcs"]


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
