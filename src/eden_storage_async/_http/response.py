"""One HTTP/1.1 answer for ``_http/client.py``: its status, headers and body.

The body is decoded as it arrives (``_http.parse.BodyDecoder``) straight
from the connection's receive buffer, so reading it also drives the
connection's read flow control.
"""

from __future__ import annotations

from typing import Protocol

from .connection import BodyError, Connection
from .parse import BodyDecoder, ProtocolError, ResponseHead

__all__ = ["HttpResponse"]


class _Returns(Protocol):
    """Where a finished response hands its connection (the pool)."""

    def put_back(self, conn: Connection, reusable: bool) -> None: ...


class HttpResponse:
    """One answer: ``status``, ``headers`` (lower-case names), the body via ``read``.

    Its connection goes back to the pool on ``release()`` only once the body
    was read to its end cleanly; ``close()`` (and ``release()`` otherwise)
    drops it. Either also frees its slot in the pool.
    """

    __slots__ = ("_conn", "_decoder", "_pool", "_ready", "headers", "reason", "status")

    def __init__(self, pool: _Returns, conn: Connection, head: ResponseHead, method: str) -> None:
        self._pool = pool
        self._conn: Connection | None = conn
        self.status = head.status
        self.reason = head.reason
        self.headers = head.headers
        try:
            self._decoder = BodyDecoder(head, method)
        except ProtocolError as exc:
            self.close()
            raise BodyError(str(exc)) from None
        self._ready = b""

    def at_eof(self) -> bool:
        """True once every byte of the body has been handed out."""
        return self._decoder.done and not self._ready

    async def read(self, amt: int = -1) -> bytes:
        """Up to ``amt`` bytes of the body (all that is left when negative); ``b""`` at the end."""
        if amt < 0:
            # Whole pieces as decoded, joined once: no slicing copies.
            parts = [self._ready] if self._ready else []
            self._ready = b""
            while not self._decoder.done:
                conn = self._conn
                if (
                    conn is not None
                    and self._decoder.length_left
                    and not conn.buffer
                    and await self._sink(conn, parts)
                ):
                    break
                await self._fill()
                if self._ready:
                    parts.append(self._ready)
                    self._ready = b""
            return parts[0] if len(parts) == 1 else b"".join(parts)
        while not self._ready:
            if self._decoder.done:
                return b""
            await self._fill()
        data = self._ready
        if len(data) > amt:
            self._ready = data[amt:]
            return data[:amt]
        self._ready = b""
        return data

    async def _sink(self, conn: Connection, parts: list[bytes]) -> bool:
        """The rest of a Content-Length body, appended to ``parts`` as it arrives;
        True once it is whole.

        Stops early only if the server closes; ``_fill`` then reports the
        truncation. Any failure or cancel drops the connection, as ``_fill`` does.
        """
        wanted = self._decoder.length_left
        conn.sink, conn.sink_wanted = parts, wanted
        try:
            while conn.sink_wanted and not conn.ended:
                await conn.wait_data()
        except BaseException:
            self.close()
            raise
        finally:
            left = conn.sink_wanted
            conn.sink, conn.sink_wanted = [], 0
        self._decoder.took(wanted - left)
        return self._decoder.done

    async def _fill(self) -> None:
        conn = self._conn
        if conn is None:
            raise BodyError("the response was closed")
        try:
            while True:
                if conn.buffer:
                    self._ready = self._decoder.decode(conn.buffer)
                    conn.consumed()
                    if self._ready or self._decoder.done:
                        return
                    continue
                if conn.ended:
                    try:
                        self._decoder.finish()
                    except ProtocolError as exc:
                        raise BodyError(str(exc)) from None
                    return
                await conn.wait_data()
        except ProtocolError as exc:
            self.close()
            raise BodyError(str(exc)) from None
        except BaseException:
            self.close()
            raise

    def release(self) -> None:
        """Pool the connection if the body was read whole and cleanly, else close it."""
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        # Bytes past the body's end would be the next answer's start: never reuse then.
        reusable = self.at_eof() and self._decoder.reusable and not conn.buffer
        self._pool.put_back(conn, reusable)

    def close(self) -> None:
        """Drop the connection, whatever was read."""
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        self._pool.put_back(conn, False)
