"""``TlsS3``: a loopback S3 over TLS that counts connection attempts.

Each TCP connection is counted in ``connections``, then TLS is set up with the
certificate given (``trustme``), so a handshake the client refuses is still
seen here, once per attempt. Past the handshake it serves from memory, one
request after another on the connection: PUT (``If-None-Match: *`` answers
412 on a taken key), GET and HEAD of an object, with its ``x-amz-meta-*``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from ..support.loopback import LoopbackServer

__all__ = ["TlsS3"]


class TlsS3(LoopbackServer):
    """See the module docstring; ``async with TlsS3(context) as server``."""

    # A refused handshake ends on its own (see handle) rather than being cancelled.
    grace_s = 1.0

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__()
        self._context = context
        self.connections = 0
        self.handshakes = 0
        self.objects: dict[str, tuple[bytes, list[tuple[str, str]]]] = {}

    @property
    def endpoint_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            # Bounded: on Python 3.11 a handshake the client gave up on may
            # never end on this side.
            await writer.start_tls(self._context, ssl_handshake_timeout=0.5)
        except (ssl.SSLError, OSError, TimeoutError):
            writer.close()
            return
        self.handshakes += 1
        try:
            while await self._exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if line]
        named = {name.lower(): value for name, value in headers}
        body = await reader.readexactly(int(named.get("content-length", "0")))
        key = target.split("?", 1)[0]
        status, extra, payload = 200, [("ETag", '"e"')], b""
        if method == "PUT":
            if named.get("if-none-match") == "*" and key in self.objects:
                status = 412
            else:
                meta = [(n, v) for n, v in headers if n.lower().startswith("x-amz-meta-")]
                self.objects[key] = (body, meta)
        elif key not in self.objects:
            status = 404
            payload = b"<Error><Code>NoSuchKey</Code><Message>absent</Message></Error>"
        else:
            payload, meta = self.objects[key]
            extra += meta
        lines_out = [f"HTTP/1.1 {status} X", f"Content-Length: {len(payload)}"]
        lines_out += [f"{name}: {value}" for name, value in extra]
        writer.write(("\r\n".join(lines_out) + "\r\n\r\n").encode("latin-1"))
        if method != "HEAD":
            writer.write(payload)
        await writer.drain()
        return True
