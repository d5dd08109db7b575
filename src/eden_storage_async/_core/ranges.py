"""Byte ranges: ``load_range(opaque_id, start, end)`` returns ``data[start:end]``.

Python's slice semantics, planned into at most one ranged request where the
size is not needed: ``[a:b]``, ``[a:]`` and ``[-n:]`` map straight onto HTTP's
``bytes=a-(b-1)``, ``bytes=a-`` and ``bytes=-n``. A slice that depends on the
size (a negative ``end``, or a negative ``start`` with an ``end``) is resolved
by a ``stat`` first. A slice that is empty whatever the size still checks that
the object exists, so ``NotFound`` means the same as for ``load``.

A whole-object CRC32C cannot check a strict slice. What a range read does
check: that the service answered with exactly the bytes asked for (the
``Content-Range`` it sends back, and the body's length against it), and the
whole CRC32C where the answer turns out to be the whole object.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from .errors import IntegrityError

__all__ = ["ByteRange", "plan_range", "slice_stream"]


@dataclass(frozen=True)
class ByteRange:
    """A non-empty request: ``[start:stop]`` (``stop`` None for the end), or the
    last ``suffix`` bytes. The answer may still be shorter, or empty, once the
    object's size clamps it."""

    start: int = 0
    stop: int | None = None
    suffix: int | None = None

    def bounds(self, size: int) -> tuple[int, int]:
        """The absolute ``[first, stop)`` of this range in an object of ``size`` bytes."""
        if self.suffix is not None:
            return max(0, size - self.suffix), size
        stop = size if self.stop is None else min(self.stop, size)
        first = min(self.start, size)
        return first, max(first, stop)

    @property
    def header(self) -> str:
        """The HTTP ``Range`` header value."""
        if self.suffix is not None:
            return f"bytes=-{self.suffix}"
        if self.stop is None:
            return f"bytes={self.start}-"
        return f"bytes={self.start}-{self.stop - 1}"

    def check_answer(self, content_range: str | None, body_length: int) -> tuple[int, int, int]:
        """Check a 206's ``Content-Range`` against this request and the body's
        length; return ``(first, stop, total)``. Raises ``IntegrityError``."""
        match = _CONTENT_RANGE.fullmatch((content_range or "").strip())
        if match is None:
            raise IntegrityError(f"a ranged read answered Content-Range {content_range!r}")
        first, last, total = (int(group) for group in match.groups())
        expected = self.bounds(total)
        if (first, last + 1) != expected or body_length != last + 1 - first:
            raise IntegrityError(
                f"a ranged read for {self.header} of a {total}-byte object answered bytes "
                f"{first}-{last} with {body_length} bytes of body"
            )
        return first, last + 1, total


_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


def _check_bound(name: str, value: object) -> None:
    # bool is an int, but load_range(id, True) is surely a mistake.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")


def plan_range(start: int, end: int | None) -> ByteRange | bool | None:
    """Plan ``data[start:end]`` without knowing the size.

    Returns a ``ByteRange`` for one ranged request; ``None`` when the slice
    needs the size first; ``False`` when it is empty whatever the size (only
    the object's existence is left to check); ``True`` for the whole object.
    Raises ``TypeError`` for bounds that are not ints, before any I/O.
    """
    _check_bound("start", start)
    if end is not None:
        _check_bound("end", end)
    if end is None:
        if start == 0:
            return True
        if start > 0:
            return ByteRange(start=start)
        return ByteRange(suffix=-start)
    if start >= 0 and end >= 0:
        return ByteRange(start=start, stop=end) if end > start else False
    if start < 0 and end < 0 and end <= start:
        return False
    return None


async def slice_stream(
    chunks: AsyncGenerator[bytes, None], first: int, stop: int | None
) -> AsyncIterator[bytes]:
    """``[first:stop]`` of a whole object's stream (``stop`` None: to the end).

    Read to the end all the same, so a check that ``chunks`` runs when it is
    exhausted (the whole object's CRC32C) still runs.
    """
    offset = 0
    async with contextlib.aclosing(chunks):
        async for chunk in chunks:
            low = max(first - offset, 0)
            high = len(chunk) if stop is None else min(stop - offset, len(chunk))
            if low < high:
                yield chunk if (low, high) == (0, len(chunk)) else chunk[low:high]
            offset += len(chunk)
