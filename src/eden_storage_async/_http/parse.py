"""HTTP/1.1 response parsing for ``_http/client.py``: the head, and the body's framing.

Both work on the bytes as they arrive, in whatever pieces the socket gives
them: ``parse_head`` looks at a buffer that may hold only part of a head and
answers ``None`` until the blank line is there; ``BodyDecoder`` consumes what a
buffer holds and hands out the payload bytes it contains. Anything malformed
(a bad status line, a header without a colon, conflicting lengths, a bad chunk
size, a head or chunk line past its limit) raises ``ProtocolError`` at once, so
a broken server can neither hang a caller nor grow a buffer without bound.
"""

from __future__ import annotations

__all__ = ["MAX_HEAD", "BodyDecoder", "ProtocolError", "ResponseHead", "parse_head"]

# The longest head accepted. S3 answers carry a few hundred bytes of headers,
# plus user metadata (at most 2 KiB on AWS); 64 KiB is aiohttp's own limit.
MAX_HEAD = 64 * 1024
# A chunk-size line or a trailer line: hex digits, maybe an extension.
_MAX_LINE = 8 * 1024


class ProtocolError(Exception):
    """The server's answer is not valid HTTP/1.1 framing."""


class ResponseHead:
    """A parsed status line and headers (names lower-case, repeats joined with ", ")."""

    __slots__ = ("headers", "keep_alive", "reason", "status", "version")

    def __init__(self, version: str, status: int, reason: str, headers: dict[str, str]) -> None:
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.1":
            self.keep_alive = "close" not in connection
        else:  # HTTP/1.0 keeps a connection only when asked to, and we never ask.
            self.keep_alive = False


def parse_head(buffer: bytearray) -> ResponseHead | None:
    """The head at the start of ``buffer``, removed from it; ``None`` if incomplete."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_HEAD:
            raise ProtocolError("response head too long")
        return None
    if end > MAX_HEAD:
        raise ProtocolError("response head too long")
    try:
        text = buffer[:end].decode("latin-1")
    finally:
        del buffer[: end + 4]
    lines = text.split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or status_line[0] not in ("HTTP/1.1", "HTTP/1.0"):
        raise ProtocolError("bad status line")
    code = status_line[1]
    if len(code) != 3 or not code.isdigit():
        raise ProtocolError("bad status code")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        # A name with whitespace or no colon, or an obsolete folded line: refused
        # rather than guessed at (RFC 9112 section 5).
        if not colon or not name or name != name.strip() or " " in name or "\t" in name:
            raise ProtocolError("bad header line")
        key = name.lower()
        value = value.strip(" \t")
        previous = headers.get(key)
        headers[key] = value if previous is None else f"{previous}, {value}"
    reason = status_line[2] if len(status_line) == 3 else ""
    return ResponseHead(status_line[0], int(code), reason, headers)


_LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _CLOSE, _DONE = range(7)


class BodyDecoder:
    """The payload of one response body, framed as its head says.

    ``decode(buffer)`` consumes raw bytes from the front of ``buffer`` and
    returns the payload bytes among them; ``done`` turns true once the body's
    framing says it has ended (for a close-delimited body: ``finish()`` at EOF).
    """

    __slots__ = ("_remaining", "_state", "reusable")

    def __init__(self, head: ResponseHead, method: str) -> None:
        headers = head.headers
        status = head.status
        # A connection is kept only when the framing, and not the close, ends the body.
        self.reusable = head.keep_alive
        self._remaining = 0
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            self._state = _DONE
            return
        coding = headers.get("transfer-encoding")
        if coding is not None:
            codings = [part.strip().lower() for part in coding.split(",")]
            if codings[-1] != "chunked" or "chunked" in codings[:-1]:
                raise ProtocolError("unsupported transfer-encoding")
            if len(codings) > 1:  # gzip and the like: the body is the object's bytes
                raise ProtocolError("unsupported transfer-encoding")
            self._state = _CHUNK_SIZE
            return
        length = headers.get("content-length")
        if length is not None:
            values = {part.strip() for part in length.split(",")}
            value = values.pop()
            if values or not value.isdigit() or not value.isascii():
                raise ProtocolError("bad content-length")
            self._remaining = int(value)
            self._state = _LENGTH if self._remaining else _DONE
            return
        self._state = _CLOSE
        self.reusable = False

    @property
    def done(self) -> bool:
        """True once the whole body has been decoded."""
        return self._state == _DONE

    @property
    def length_left(self) -> int:
        """Bytes of a Content-Length body still to come; 0 for any other framing."""
        return self._remaining if self._state == _LENGTH else 0

    def took(self, count: int) -> None:
        """``count`` bytes of a Content-Length body were taken without ``decode``."""
        if self._state != _LENGTH or not 0 <= count <= self._remaining:
            raise ValueError("took more than the body holds")
        self._remaining -= count
        if not self._remaining:
            self._state = _DONE

    @property
    def close_delimited(self) -> bool:
        """True for a body that only the server's close ends."""
        return self._state == _CLOSE

    def finish(self) -> None:
        """The server closed: the end of a close-delimited body, else a truncation."""
        if self._state == _CLOSE:
            self._state = _DONE
        elif self._state != _DONE:
            raise ProtocolError("connection closed before the body ended")

    def decode(self, buffer: bytearray) -> bytes:
        """The payload bytes in ``buffer``, which loses the bytes it consumed."""
        state = self._state
        if state == _LENGTH:
            take = min(self._remaining, len(buffer))
            if take == len(buffer):  # the usual case when streaming: one copy, not two
                data = bytes(buffer)
                buffer.clear()
            else:
                data = bytes(buffer[:take])
                del buffer[:take]
            self._remaining -= take
            if not self._remaining:
                self._state = _DONE
            return data
        if state == _CLOSE:
            data = bytes(buffer)
            buffer.clear()
            return data
        if state == _DONE:
            return b""
        return self._decode_chunked(buffer)

    def _decode_chunked(self, buffer: bytearray) -> bytes:
        out: list[bytes] = []
        while buffer:
            state = self._state
            if state == _CHUNK_DATA:
                take = min(self._remaining, len(buffer))
                out.append(bytes(buffer[:take]))
                del buffer[:take]
                self._remaining -= take
                if not self._remaining:
                    self._state = _CHUNK_END
                continue
            if state == _DONE:
                break
            if state == _CHUNK_END:
                if len(buffer) < 2:
                    break
                if buffer[:2] != b"\r\n":
                    raise ProtocolError("chunk not followed by CRLF")
                del buffer[:2]
                self._state = _CHUNK_SIZE
                continue
            line = _take_line(buffer)
            if line is None:
                break
            if state == _CHUNK_SIZE:
                size_text = line.split(b";", 1)[0].strip(b" \t")
                if (
                    not size_text
                    or len(size_text) > 16
                    or size_text.strip(b"0123456789abcdefABCDEF")
                ):
                    raise ProtocolError("bad chunk size")
                self._remaining = int(size_text, 16)
                self._state = _CHUNK_DATA if self._remaining else _TRAILER
            elif not line:  # _TRAILER: the blank line ends the body
                self._state = _DONE
            elif b":" not in line:
                raise ProtocolError("bad trailer line")
        return b"".join(out)


def _take_line(buffer: bytearray) -> bytes | None:
    """One CRLF-ended line from the front of ``buffer``, or ``None`` if incomplete."""
    end = buffer.find(b"\r\n", 0, _MAX_LINE + 2)
    if end < 0:
        if len(buffer) > _MAX_LINE:
            raise ProtocolError("chunk line too long")
        return None
    line = bytes(buffer[:end])
    del buffer[: end + 2]
    return line
