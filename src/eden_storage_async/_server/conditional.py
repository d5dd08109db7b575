"""The fetch's validators and ranges (RFC 9110 sections 8.8.3, 13 and 14), pure.

An artifact never changes, so its CRC32C is a strong validator: the ``ETag``
is the base64 CRC32C, quoted. A backend that keeps no CRC32C for an object
(a file backend on a filesystem without user xattrs) gives no ``ETag``; then
only ``If-None-Match: *`` can match.

Ranges: one ``bytes=a-b``, ``bytes=a-`` or suffix ``bytes=-n`` is served as
206. A header we do not serve as a range (several ranges, another unit, a
syntax error, ``a`` after ``b``) is ignored and the whole artifact is sent,
which RFC 9110 section 14.2 allows; one that cannot be satisfied is a 416.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "UNSATISFIABLE",
    "Slice",
    "entity_tag",
    "if_none_match_hits",
    "parse_range",
]


@dataclass(frozen=True)
class Slice:
    """The bytes ``[first, stop)`` of an artifact of ``size`` bytes, as a 206 sends them."""

    first: int
    stop: int
    size: int

    @property
    def content_range(self) -> str:
        return f"bytes {self.first}-{self.stop - 1}/{self.size}"


class _Unsatisfiable:
    """The range asks for nothing the artifact holds: a 416."""

    def __repr__(self) -> str:
        return "UNSATISFIABLE"


UNSATISFIABLE = _Unsatisfiable()

# One range-spec, no list: RFC 9110 allows spaces around the "=" and "-" only
# as OWS in a list, so none are accepted inside one spec.
_RANGE = re.compile(r"bytes=(?:(\d+)-(\d*)|-(\d+))", re.IGNORECASE)
# Far beyond any artifact, and small enough that int() never meets a
# thousand-digit number a client made up.
_MAX_DIGITS = 19


def entity_tag(crc32c: str | None) -> str | None:
    """The strong ``ETag`` of an artifact with this CRC32C, or None without one."""
    return None if crc32c is None else f'"{crc32c}"'


def if_none_match_hits(header: str | None, etag: str | None) -> bool:
    """Whether ``If-None-Match: header`` matches ``etag`` (weak comparison, per RFC 9110)."""
    if header is None:
        return False
    tags = [tag.strip() for tag in header.split(",")]
    if "*" in tags:
        return True
    if etag is None:
        return False
    return any(tag.removeprefix("W/") == etag for tag in tags)


def parse_range(
    header: str | None, size: int, *, if_range: str | None = None, etag: str | None = None
) -> Slice | _Unsatisfiable | None:
    """The slice ``Range: header`` asks of an artifact of ``size`` bytes.

    None means "send it all": no header, one we ignore, or an ``If-Range``
    that is not our strong ``etag`` (the client's copy is another one, so a
    piece of ours would not fit it). ``UNSATISFIABLE`` means a 416.
    """
    if header is None:
        return None
    if if_range is not None and (etag is None or if_range.strip() != etag):
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or any(len(group or "") > _MAX_DIGITS for group in match.groups()):
        return None
    first_text, last_text, suffix_text = match.groups()
    if suffix_text is not None:
        suffix = int(suffix_text)
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return Slice(max(0, size - suffix), size, size)
    first = int(first_text)
    last = int(last_text) if last_text else None
    if last is not None and last < first:
        return None  # invalid syntax: ignored, as RFC 9110 section 14.1.1 says
    if first >= size:
        return UNSATISFIABLE
    stop = size if last is None else min(last + 1, size)
    return Slice(first, stop, size)
