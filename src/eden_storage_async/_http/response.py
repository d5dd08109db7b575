"""One HTTP/1.1 answer for ``_http/client.py``: its status, headers and body.

The connection parses the body as it arrives (``_http.parse``) and queues its
payload pieces; reading takes them, which also drives the connection's read
flow control. A Content-Length body read whole goes into one buffer of its
length (``_http.body``), the rest of it straight from the socket.
"""

from __future__ import annotations

from typing import Protocol

from .body import blank
from .connection import BodyError, Connection
from .parse import ResponseHead

__all__ = ["HttpResponse"]

# A body up to this size read whole is its pieces joined, as they are few and
# small (often one, which is then the body itself); above it, one buffer.
_SMALL = 256 * 1024


class _Returns(Protocol):
    """Where a finished response hands its connection (the pool)."""

    def put_back(self, conn: Connection, reusable: bool) -> None: ...


class HttpResponse:
    """One answer: ``status``, ``headers`` (lower-case names), the body via ``read``.

    Its connection goes back to the pool on ``release()`` only once the body
    was read to its end cleanly; ``close()`` (and ``release()`` otherwise)
    drops it. Either also frees its slot in the pool.
    """

    __slots__ = (
        "_conn", "_done", "_keep", "_left", "_pool", "_ready", "headers", "reason", "status",
    )  # fmt: skip

    def __init__(self, pool: _Returns, conn: Connection, head: ResponseHead, keep: bool) -> None:
        self._pool = pool
        self._conn: Connection | None = conn
        self.status = head.status
        self.reason = head.reason
        self.headers = head.headers
        # False when the request's body was cut short by an early answer.
        self._keep = keep and head.keep_alive
        self._left = head.length  # Content-Length bytes not yet handed out
        self._ready = b""
        self._done = conn.parser.complete and not conn.pieces

    def at_eof(self) -> bool:
        """True once every byte of the body has been handed out."""
        return self._done

    async def read(self, amt: int = -1) -> bytes:
        """Up to ``amt`` bytes of the body (all that is left when negative); ``b""`` at the end."""
        if self._done:
            return b""
        if amt < 0:
            conn = self._conn
            # The usual small body: in already, and in one piece, which is the body.
            if (
                conn is not None
                and conn.parser.complete
                and not self._ready
                and len(conn.pieces) == 1
            ):
                self._done = True
                return conn.take()
            if self._left is not None and self._left > _SMALL:
                return await self._whole(self._left)
            parts = [self._ready] if self._ready else []
            self._ready = b""
            while await self._more():
                parts.append(self._ready)
                self._ready = b""
            return parts[0] if len(parts) == 1 else b"".join(parts)
        if not self._ready and not await self._more():
            return b""
        data = self._ready
        if len(data) > amt:
            self._ready = data[amt:]
            data = data[:amt]
        else:
            self._ready = b""
        if self._left is not None:
            self._left -= len(data)
        return data

    async def _more(self) -> bool:
        """Wait for the next payload piece into ``_ready``; False at the body's end."""
        conn = self._live()
        try:
            while not conn.pieces:
                if conn.failure is not None:
                    raise BodyError(str(conn.failure))
                if conn.parser.complete:
                    self._done = True
                    return False
                if conn.ended:
                    raise BodyError("connection closed before the body ended")
                await conn.wait_data()
        except BaseException:
            self.close()  # a cancel too: never pool a half-read connection
            raise
        self._ready = conn.take()
        return True

    async def _whole(self, size: int) -> bytes:
        """The rest of a Content-Length body, in one buffer of its size."""
        conn = self._live()
        view, owner, finished = blank(size)
        at = len(self._ready)
        view[:at] = self._ready
        self._ready = b""
        try:
            while conn.pieces:
                piece = conn.take()
                view[at : at + len(piece)] = piece
                at += len(piece)
            if at < size:
                if conn.failure is not None:
                    raise BodyError(str(conn.failure))
                conn.fill(view, at, owner)
                while conn.filling:
                    if conn.ended:
                        raise BodyError("connection closed before the body ended")
                    await conn.wait_data()
        except BaseException:
            self.close()
            raise
        finally:
            conn.fill_done()
        self._done = True
        self._left = 0
        return finished()

    def _live(self) -> Connection:
        conn = self._conn
        if conn is None:
            raise BodyError("the response was closed")
        return conn

    def release(self) -> None:
        """Pool the connection if the body was read whole and cleanly, else close it."""
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        # Bytes past the body's end would be the next answer's start: never reuse then.
        reusable = self._done and self._keep and not conn.parser.extra and not conn.junk
        self._pool.put_back(conn, reusable)

    def close(self) -> None:
        """Drop the connection, whatever was read."""
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        self._pool.put_back(conn, False)
