"""An artifact's attributes on disk: user xattrs beside the CRC32C one.

``user.eden.content_type`` holds the content type and ``user.eden.metadata``
the caller's metadata, one ``key=value`` line each (keys cannot hold ``=``
and values cannot hold a newline, ``_core.attributes`` makes sure). Both are
set on the temp file before its fsync and exclusive link, as the checksum is,
so an object is published with its attributes or not at all. Only the
attributes that were given are written: an object stored without any has
neither xattr, exactly as before.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from types import MappingProxyType

from .._core.attributes import Attributes

__all__ = ["CONTENT_TYPE_XATTR", "METADATA_XATTR", "read_attributes", "write_attributes"]

CONTENT_TYPE_XATTR = "user.eden.content_type"
METADATA_XATTR = "user.eden.metadata"
_ABSENT = {getattr(errno, "ENODATA", errno.ENOENT), errno.ENOTSUP, errno.EOPNOTSUPP}


def encode_metadata(metadata: Mapping[str, str]) -> bytes:
    return "".join(f"{key}={value}\n" for key, value in metadata.items()).encode("ascii")


def decode_metadata(raw: bytes) -> MappingProxyType[str, str]:
    pairs = (line.split("=", 1) for line in raw.decode("ascii", "replace").splitlines() if line)
    return MappingProxyType(dict(sorted((key, value) for key, value in pairs)))


def write_attributes(fd: int, attributes: Attributes) -> None:
    """Set the given attributes on ``fd``; raises ``OSError``."""
    if attributes.content_type is not None:
        os.setxattr(fd, CONTENT_TYPE_XATTR, attributes.content_type.encode("ascii"))
    if attributes.metadata:
        os.setxattr(fd, METADATA_XATTR, encode_metadata(attributes.metadata))


def _get(fd: int, name: str) -> bytes | None:
    try:
        return os.getxattr(fd, name)
    except OSError as exc:
        if exc.errno in _ABSENT:
            return None
        raise


def read_attributes(fd: int) -> tuple[str | None, MappingProxyType[str, str]]:
    """``(content type or None, metadata)`` of ``fd``; raises ``OSError``."""
    content_type = _get(fd, CONTENT_TYPE_XATTR)
    metadata = _get(fd, METADATA_XATTR)
    return (
        content_type.decode("ascii", "replace") if content_type is not None else None,
        decode_metadata(metadata) if metadata is not None else MappingProxyType({}),
    )
