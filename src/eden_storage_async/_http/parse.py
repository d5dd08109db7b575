"""HTTP/1.1 response parsing for ``_http/client.py``, on llhttp (``httptools``).

llhttp is the parser Node and uvicorn use, hardened by a very wide user base
against malformed input and response smuggling; it replaced our hand-written
parser (issue 16). It parses the bytes as they arrive, in whatever pieces the
socket gives them, and calls back: ``ResponseParser`` turns those callbacks
into a ``ResponseHead``, the payload pieces and the end of the message, handed
to a ``Sink`` (the connection).

What llhttp decides: the status line, header syntax, Content-Length (digits
only; a duplicate, even an equal one, is refused), chunked framing and its
trailers, both Content-Length and Transfer-Encoding (refused), bodyless 1xx,
204 and 304 answers. What we add on top, where llhttp is more lenient than
this client wants: only HTTP/1.0 and 1.1; no status below 100; no 101; only
``chunked`` as a transfer coding (we send ``accept-encoding: identity``); no
body for an answer to HEAD; at most ``MAX_INTERIM`` 1xx answers; at most
``MAX_HEAD`` bytes of framing (head, chunk lines, trailers), so a broken
server can neither hang a caller nor grow a buffer without bound. Anything
refused raises ``ProtocolError``.
"""

from __future__ import annotations

from typing import Protocol

import httptools

__all__ = ["MAX_HEAD", "MAX_INTERIM", "ProtocolError", "ResponseHead", "ResponseParser", "Sink"]

# The most framing bytes accepted per answer, beyond a small allowance per
# chunk: S3 heads are a few hundred bytes plus user metadata (at most 2 KiB on
# AWS); 64 KiB is aiohttp's own head limit.
MAX_HEAD = 64 * 1024
# A chunk's own framing is its size line and CRLF, about 20 bytes.
_PER_CHUNK = 32
# Interim (1xx) answers accepted before the final one: a server that sends
# them without end would otherwise keep a request alive forever.
MAX_INTERIM = 32


class ProtocolError(Exception):
    """The server's answer is not valid HTTP/1.1 framing."""


class ResponseHead:
    """A parsed status line and headers (names lower-case, repeats joined with ", ")."""

    __slots__ = (
        "close_delimited",
        "headers",
        "keep_alive",
        "length",
        "reason",
        "status",
        "version",
    )

    def __init__(
        self, version: str, status: int, reason: str, headers: dict[str, str], keep_alive: bool
    ) -> None:
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers
        self.keep_alive = keep_alive
        # The body's length when a Content-Length frames it, else None.
        self.length: int | None = None
        # True for a body that only the server's close ends.
        self.close_delimited = False


class Sink(Protocol):
    """Where a ``ResponseParser`` hands what it parsed."""

    def on_head(self, head: ResponseHead) -> None: ...

    def on_body(self, data: bytes) -> None: ...

    def on_complete(self) -> None: ...


class _Stop(Exception):
    """Raised from a callback to stop llhttp: a HEAD's head, or bytes past the answer."""


class ResponseParser:
    """One connection's parser, reused from answer to answer (a fresh llhttp
    parser costs about 1 µs more per answer). ``expect(method)`` before each
    request; ``feed(data)`` as bytes arrive; ``eof()`` when the server closes.

    After the final answer's end, any further byte sets ``extra`` (the answer
    was followed by something: the connection is not reusable) and is dropped.
    """

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._parser = httptools.HttpResponseParser(self)
        self._spent = False  # llhttp stopped (error, HEAD, skipped body): make a new one
        self._method = "GET"
        self._headers: dict[str, str] = {}
        self._reason = ""
        self._error: ProtocolError | None = None
        self._interim = 0
        self._framing = 0  # bytes fed and not payload, less the per-chunk allowance
        self.head: ResponseHead | None = None
        self.complete = False
        self.extra = False

    def expect(self, method: str) -> None:
        """A new request was sent: parse its answer."""
        if self._spent or self.extra:
            self._parser = httptools.HttpResponseParser(self)
            self._spent = False
            self._headers = {}
            self._reason = ""
        self._method = method
        # _headers and _reason were emptied when the last head completed, or
        # the parser is new (or spent, and about to be replaced by a new one).
        self._interim = self._framing = 0
        self.head = None
        self.complete = self.extra = False

    def skip_body(self) -> None:
        """The rest of the body goes around the parser (read whole into one
        buffer): llhttp's state no longer matches the stream, so the next
        answer gets a fresh parser."""
        self._spent = True

    @property
    def spent(self) -> bool:
        """True once llhttp no longer follows the stream."""
        return self._spent

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Parse ``data``; the sink hears of what it completes."""
        if self._spent or self.extra:
            self.extra = True
            return
        self._framing += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._spent = True
            if isinstance(exc.__context__, _Stop):
                if not self.extra:  # a HEAD answer's head: was anything after it?
                    self.extra = not _ends_at_one_head(bytes(data))
                return
            if self._error is not None:
                error, self._error = self._error, None
                raise error from None
            if self.complete:  # garbage after a whole answer: not this answer's fault
                self.extra = True
                return
            raise ProtocolError(f"malformed response: {exc}") from None
        if self._framing > MAX_HEAD:
            self._spent = True
            raise ProtocolError("response head or framing too long")

    def eof(self) -> None:
        """The server closed: the end of a close-delimited body, else a truncation."""
        if self.complete:
            return
        head = self.head
        if head is not None and head.close_delimited and not self._spent:
            self.complete = True
            self._sink.on_complete()
            return
        raise ProtocolError("connection closed before the answer ended")

    def _fail(self, reason: str) -> None:
        self._error = ProtocolError(reason)
        raise self._error

    # -- llhttp's callbacks --------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:
            self.extra = True
            raise _Stop

    def on_status(self, reason: bytes) -> None:
        self._reason += reason.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        # llhttp keeps trailing whitespace; it is not part of the value (RFC 9110 5.5).
        text = value.decode("latin-1").strip(" \t")
        previous = self._headers.get(key)
        self._headers[key] = text if previous is None else f"{previous}, {text}"

    def on_chunk_header(self) -> None:
        self._framing -= _PER_CHUNK

    def on_body(self, data: bytes) -> None:
        self._framing -= len(data)
        self._sink.on_body(data)

    def on_headers_complete(self) -> None:
        parser = self._parser
        status = parser.get_status_code()
        version = parser.get_http_version()
        headers, self._headers = self._headers, {}
        reason, self._reason = self._reason, ""
        if version not in ("1.1", "1.0"):
            self._fail("bad status line")
        if status < 100:
            self._fail("bad status code")
        if status == 101:
            self._fail("unexpected protocol switch")
        if status < 200:
            self._interim += 1
            if self._interim > MAX_INTERIM:
                self._fail("too many interim (1xx) answers")
            return  # 100 Continue and the like: the real answer follows
        coding = headers.get("transfer-encoding")
        if coding is not None and coding.strip().lower() != "chunked":
            # gzip and the like: the body would not be the object's bytes.
            self._fail("unsupported transfer-encoding")
        # HTTP/1.0 keeps a connection only when asked to, and we never ask.
        head = ResponseHead(
            f"HTTP/{version}",
            status,
            reason,
            headers,
            version == "1.1" and parser.should_keep_alive(),
        )
        bodyless = self._method == "HEAD" or status in (204, 304)
        length = headers.get("content-length")
        if not bodyless and coding is None:
            if length is not None:
                head.length = int(length)  # llhttp allows digits only
            else:
                head.close_delimited = True
                head.keep_alive = False
        self.head = head
        self._sink.on_head(head)
        if self._method == "HEAD":
            # llhttp would wait for a Content-Length body that never comes.
            self._finish()
            raise _Stop

    def on_message_complete(self) -> None:
        if self.head is not None:  # else an interim answer ended
            self._finish()

    def _finish(self) -> None:
        self.complete = True
        self._sink.on_complete()


def _ends_at_one_head(data: bytes) -> bool:
    """True if ``data`` ends with the one blank line in it: llhttp, stopped at a
    HEAD answer's head, does not say where that was, and a byte after it would
    be taken as the next answer's. Anything else (an interim answer in the same
    read, a head split just there) only costs the connection's reuse."""
    return data.find(b"\r\n\r\n") == len(data) - 4
