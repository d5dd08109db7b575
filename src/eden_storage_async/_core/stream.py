"""The input side of ``store_stream``: any iterable of byte chunks, as one async stream."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable
from typing import Protocol, TypeVar

from .errors import IntegrityError
from .ids import Payload, as_payload

__all__ = ["ChunkSource", "aiterate", "check_chunks", "no_chunks", "read_head", "read_sized"]

_T = TypeVar("_T")

Chunks = AsyncIterable[Payload] | Iterable[Payload]


async def aiterate(items: AsyncIterable[_T] | Iterable[_T]) -> AsyncGenerator[_T, None]:
    """Walk a sync or an async iterable the same way, from async code."""
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


async def read_head(chunks: AsyncIterator[memoryview], limit: int) -> tuple[bytearray, bool]:
    """Gather chunks until there are more than ``limit`` bytes or the stream ends.

    Returns the bytes gathered and whether the stream goes on. A stream that
    ends within ``limit`` can take a backend's single-request path; a longer
    one continues from ``chunks``, which is left open for the caller.
    """
    head = bytearray()
    async for chunk in chunks:
        head += chunk
        if len(head) > limit:
            return head, True
    return head, False


class _Readable(Protocol):
    async def read(self, amt: int = ..., /) -> bytes: ...


# A body above this with a stated length is read into one buffer of that
# length; smaller ones are read whole, as the body hands them out.
_SIZED_FROM = 1024 * 1024
_SIZED_PIECE = 1024 * 1024


async def read_sized(body: _Readable, length: object, what: str) -> bytes:
    """All of ``body``, which states ``length`` bytes, with bounded pieces alive.

    Why not ``body.read()``: an HTTP client gathers a body's socket reads
    (tens to hundreds of KiB each, below glibc's mmap threshold, so on the
    heap) in a list until the end, then joins them. Sixteen 32 MiB loads at
    once put 512 MiB of pieces on the heap, interleaved with small live
    objects, and glibc can then give little of it back: RSS stayed 30 to 380
    MiB high after every load was dropped (tests/memory/). Copied into one
    buffer as they arrive, the pieces are freed one by one and their heap
    space is reused by the next, so the heap never grows by a whole body.
    The final ``bytes`` is one large allocation, which glibc maps and unmaps.
    A body that ends short of, or runs past, ``length`` is an ``IntegrityError``.
    """
    if not isinstance(length, int) or length < _SIZED_FROM:
        return await body.read()
    buffer = bytearray(length)
    view = memoryview(buffer)
    got = 0
    try:
        while piece := await body.read(min(_SIZED_PIECE, length - got) or 1):
            end = got + len(piece)
            if end > length:
                raise IntegrityError(f"{what}: the body ran past its {length} stated bytes")
            view[got:end] = piece
            got = end
        if got != length:
            raise IntegrityError(f"{what}: the body ended after {got} of {length} bytes")
    finally:
        view.release()
    return bytes(buffer)


async def no_chunks() -> AsyncGenerator[bytes, None]:
    """The stream of an empty answer: an async generator that yields nothing."""
    nothing: tuple[bytes, ...] = ()
    for chunk in nothing:
        yield chunk


def check_chunks(chunks: object) -> None:
    """Raise ``TypeError`` unless ``chunks`` is iterable; looks, never iterates."""
    if isinstance(chunks, bytes | bytearray | memoryview | str):
        # Iterating bytes gives ints: almost surely store() was meant.
        raise TypeError(f"chunks must be an iterable of bytes, not {type(chunks).__name__}")
    if not (hasattr(chunks, "__aiter__") or hasattr(chunks, "__iter__")):
        raise TypeError(f"chunks must be an iterable of bytes, not {type(chunks).__name__}")


class ChunkSource:
    """The caller's chunks, each as a read-only byte view; empty chunks are skipped.

    ``replayable`` is true only for a list or tuple: a backend that must restart
    an upload from the first byte (S3's 409 at CompleteMultipartUpload) can
    iterate those again, and nothing else.
    """

    def __init__(self, chunks: Chunks) -> None:
        self._chunks = chunks
        self.replayable = isinstance(chunks, list | tuple)
        self._started = False

    async def __aiter__(self) -> AsyncGenerator[memoryview, None]:
        if self._started and not self.replayable:
            raise RuntimeError("a one-shot chunk iterable cannot be read twice")
        self._started = True
        async for chunk in aiterate(self._chunks):
            view = as_payload(chunk)
            if view.nbytes:
                yield view
