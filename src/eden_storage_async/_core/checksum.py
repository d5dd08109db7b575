"""CRC32C, the one checksum every store carries and every load checks.

Why CRC32C and not SHA-256: it is the one checksum that both services verify
on upload *and* hand back on download (S3 ``x-amz-checksum-crc32c``, GCS
``crc32c`` / ``x-goog-hash``), S3 accepts it as a whole-object checksum even for
multipart uploads, and it extends chunk by chunk for streams. The C
implementation in ``google-crc32c`` runs at about 9 GB/s here (0.6 us for
4 KiB), so it costs the hot path nothing measurable. It guards against
accidental corruption (bad disks, broken proxies, truncation), which is the
threat here; it is not a defence against a forger, and neither would a
checksum stored next to the object be.

Values travel as base64 of the big-endian 4 bytes, the form both services use.
"""

from __future__ import annotations

import base64

import google_crc32c

from .errors import IntegrityError
from .ids import Payload

__all__ = ["Crc32c", "crc32c_b64", "verify_crc32c"]


# google-crc32c takes only ``bytes``; other buffers are copied in slices of this
# size, so checksumming a large bytearray never doubles its memory.
_SLICE = 1024 * 1024


def _extend(crc: int, data: Payload) -> int:
    if type(data) is bytes:
        return int(google_crc32c.extend(crc, data))
    view = memoryview(data).cast("B")
    if type(view.obj) is bytes and view.nbytes == len(view.obj):
        return int(google_crc32c.extend(crc, view.obj))
    for start in range(0, view.nbytes, _SLICE):
        crc = int(google_crc32c.extend(crc, bytes(view[start : start + _SLICE])))
    return crc


def _b64(crc: int) -> str:
    return base64.b64encode(crc.to_bytes(4, "big")).decode("ascii")


def crc32c_b64(data: Payload) -> str:
    """The CRC32C of ``data`` as base64 of its 4 big-endian bytes."""
    return _b64(_extend(0, data))


class Crc32c:
    """A running CRC32C over chunks, for streams."""

    __slots__ = ("_crc", "size")

    def __init__(self) -> None:
        self._crc = 0
        self.size = 0

    def update(self, chunk: Payload) -> None:
        """Fold ``chunk`` into the checksum."""
        self._crc = _extend(self._crc, chunk)
        self.size += memoryview(chunk).nbytes

    def b64(self) -> str:
        """The checksum so far, as base64 of its 4 big-endian bytes."""
        return _b64(self._crc)


def verify_crc32c(what: str, expected_b64: str, actual_b64: str) -> None:
    """Raise ``IntegrityError`` unless the two base64 CRC32C values are equal.

    ``what`` starts the message (backend, bucket, id); both values are named,
    since neither is a secret.
    """
    if expected_b64 != actual_b64:
        raise IntegrityError(
            f"{what}: CRC32C mismatch, stored {expected_b64} but the bytes read give"
            f" {actual_b64}; the bytes were not handed back"
        )
