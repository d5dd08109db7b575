"""An artifact's attributes: its content type and the caller's metadata.

They are published atomically with the object on every backend (S3
``Content-Type`` and ``x-amz-meta-*``, GCS ``contentType`` and ``metadata``,
user xattrs on disk), so the rules here are the strictest of the three
services, checked before any I/O: what passes here survives every one of them
unchanged, and what would not is a ``ValueError`` instead of a surprise on the
wire.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "MAX_METADATA_BYTES",
    "MAX_METADATA_KEYS",
    "RESERVED_METADATA_KEYS",
    "ArtifactInfo",
    "Attributes",
    "check_attributes",
]

DEFAULT_CONTENT_TYPE = "application/octet-stream"

# The metadata keys our own bookkeeping writes beside the caller's: the CRC32C
# copy (S3, GCS) and the write nonce that decides whose object answered a 412
# (S3's and GCS's names). A caller may not set them, and ``stat`` never shows them.
RESERVED_METADATA_KEYS = frozenset({"eden-crc32c", "eden-write-nonce", "eden-store-nonce"})

# S3 allows 2 KiB of user metadata per object, counted as the UTF-8 bytes of
# every key and value, ours included: the CRC32C copy (11 + 8 bytes of base64)
# and the write nonce (16 + 32 hex) take 67, so the caller has the rest.
_S3_USER_METADATA_LIMIT = 2048
_BOOKKEEPING_BYTES = len("eden-crc32c") + 8 + len("eden-write-nonce") + 32
MAX_METADATA_BYTES = _S3_USER_METADATA_LIMIT - _BOOKKEEPING_BYTES

# Keys per object. No service's metadata limit counts keys, but each key costs
# more than its bytes: a header line on S3 (whose request head is capped at
# 8 KiB) and an entry in the file backend's xattr (ext4 keeps all of a file's
# xattrs in one 4 KiB block). 64 keys of the largest size fit both.
MAX_METADATA_KEYS = 64

# Lowercase: S3 folds metadata keys to lowercase and GCS keeps their case, so
# only lowercase keys read back the same everywhere. 64 characters is far
# below every service's own key limit.
_KEY = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
# Printable ASCII: a header value can carry nothing else unchanged.
_PRINTABLE = re.compile(r"[\x20-\x7e]*")
_MAX_CONTENT_TYPE = 255


@dataclass(frozen=True)
class Attributes:
    """Checked attributes for one store: ``content_type`` is None when the caller
    gave none (the backend stores ``DEFAULT_CONTENT_TYPE``)."""

    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def effective_content_type(self) -> str:
        return self.content_type or DEFAULT_CONTENT_TYPE

    def __bool__(self) -> bool:
        return self.content_type is not None or bool(self.metadata)


NO_ATTRIBUTES = Attributes()


@dataclass(frozen=True)
class ArtifactInfo:
    """What ``stat`` tells about a stored artifact, without loading it.

    ``size`` in bytes; ``crc32c`` the whole object's CRC32C, base64 of the
    big-endian 4 bytes as S3 and GCS write it, or None where the backend keeps
    none (a file backend on a filesystem without user xattrs, an object
    written by another tool); ``content_type`` as stored, or
    ``application/octet-stream`` when none was given; ``metadata`` the
    caller's keys only, never this library's bookkeeping.
    """

    size: int
    crc32c: str | None
    content_type: str
    metadata: Mapping[str, str]


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_value(key: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"metadata value for {key!r} must be str, not {type(value).__name__}")
    if _PRINTABLE.fullmatch(value) is None:
        raise ValueError(
            f"metadata value for {key!r} must be printable ASCII "
            f"(no CR, LF or other control characters), got {_shown(value)}"
        )
    if not value:
        # SeaweedFS 4.48 drops a key whose value is empty on PutObject
        # (tests/s3/test_real_gaps.py), so it would not read back everywhere.
        raise ValueError(f"metadata value for {key!r} must not be empty")
    if value != value.strip(" "):
        # HTTP drops a header value's leading and trailing spaces, so the value
        # would read back changed from S3 and GCS.
        raise ValueError(
            f"metadata value for {key!r} must not start or end with a space, got {_shown(value)}"
        )
    return value


def check_attributes(
    content_type: object = None, metadata: Mapping[str, str] | None = None
) -> Attributes:
    """Return the checked attributes of a store, or raise ``ValueError``.

    Refused: a metadata key that is not ``[a-z0-9][a-z0-9-]{0,63}`` or that is
    reserved for this library's bookkeeping; a value that is empty, that is
    not printable ASCII, or that starts or ends with a space; more than
    ``MAX_METADATA_BYTES`` of keys and values in all, or more than
    ``MAX_METADATA_KEYS`` keys; a content type that is
    not one line of 1 to 255 printable ASCII characters. A key or value that
    is not a ``str`` is a ``TypeError``.
    """
    if content_type is not None:
        if not isinstance(content_type, str):
            raise TypeError(f"content_type must be str, not {type(content_type).__name__}")
        if (
            not content_type
            or len(content_type) > _MAX_CONTENT_TYPE
            or _PRINTABLE.fullmatch(content_type) is None
            or content_type != content_type.strip(" ")
        ):
            raise ValueError(
                "content_type must be one header-safe line of 1 to 255 printable ASCII "
                f"characters, without leading or trailing spaces, got {_shown(content_type)}"
            )
    if metadata is None:
        return Attributes(content_type) if content_type is not None else NO_ATTRIBUTES
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a mapping of str to str, not {type(metadata).__name__}")
    if len(metadata) > MAX_METADATA_KEYS:
        raise ValueError(
            f"metadata has {len(metadata)} keys; at most {MAX_METADATA_KEYS} are allowed"
        )
    checked: dict[str, str] = {}
    total = 0
    for key, value in metadata.items():
        if not isinstance(key, str):
            raise TypeError(f"metadata keys must be str, not {type(key).__name__}")
        if _KEY.fullmatch(key) is None:
            raise ValueError(
                f"metadata key must match [a-z0-9][a-z0-9-]{{0,63}}, got {_shown(key)}"
            )
        if key in RESERVED_METADATA_KEYS:
            raise ValueError(f"metadata key {key!r} is reserved for eden_storage_async's own use")
        checked[key] = _check_value(key, value)
        total += len(key) + len(value)
    if total > MAX_METADATA_BYTES:
        raise ValueError(
            f"metadata takes {total} bytes (keys and values); at most {MAX_METADATA_BYTES} "
            f"are allowed: S3 keeps 2 KiB of user metadata per object, and this library's "
            f"checksum copy and write nonce take {_BOOKKEEPING_BYTES} of them"
        )
    return Attributes(content_type, MappingProxyType(dict(sorted(checked.items()))))


def caller_metadata(stored: Mapping[str, str]) -> MappingProxyType[str, str]:
    """The caller's keys of ``stored`` metadata, without our bookkeeping, sorted."""
    return MappingProxyType(
        {key: value for key, value in sorted(stored.items()) if key not in RESERVED_METADATA_KEYS}
    )
