"""CRC32C on the S3 side: what a store sends, and what a load checks its bytes against.

Every ``PutObject`` carries the body's CRC32C twice: as ``x-amz-checksum-crc32c``
(``ChecksumCRC32C``), which the service verifies before it commits (AWS and
SeaweedFS 4.48 answer 400 ``BadDigest`` on a mismatch; moto 5.2.5 accepts any
value), and as a metadata copy, ``x-amz-meta-eden-crc32c``, for services that
never hand the checksum back (moto keeps none for a ``PutObject``).

A load asks for the checksum (``ChecksumMode="ENABLED"``) and checks the bytes
against every whole-object CRC32C it gets: the service's, and our metadata
copy. A composite value (``...-N``, a multipart upload by another tool) cannot
be checked without its part sizes and is ignored. An object with neither
(written by another tool) loads unverified.

Imports no SDK: the backend calls these with plain mappings and bodies.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Any

from .._core.checksum import Crc32c, crc32c_b64, verify_crc32c
from .errors import LOAD_CODES, map_s3_errors

__all__ = [
    "METADATA_KEY",
    "StreamCheck",
    "drop_sdk_crc32c_validation",
    "expected_crc32c",
    "verified_chunks",
    "verify_body",
]

# Sent as x-amz-meta-eden-crc32c; S3 lower-cases metadata names anyway.
METADATA_KEY = "eden-crc32c"
# load_stream reads the body in pieces of this size.
_READ_CHUNK = 1024 * 1024


def expected_crc32c(response: Mapping[str, Any]) -> list[str]:
    """The whole-object CRC32C values a ``GetObject``/``HeadObject`` answer names.

    The service's own (``ChecksumCRC32C``, unless composite) first, then our
    metadata copy; empty when the object has neither.
    """
    found: list[str] = []
    service = response.get("ChecksumCRC32C")
    if isinstance(service, str) and service and "-" not in service:
        found.append(service)
    metadata = response.get("Metadata") or {}
    ours = metadata.get(METADATA_KEY)
    if isinstance(ours, str) and ours and ours not in found:
        found.append(ours)
    return found


def _check(what: str, expected: list[str], actual: str) -> None:
    for value in expected:
        verify_crc32c(what, value, actual)


def verify_body(what: str, response: Mapping[str, Any], body: bytes) -> bytes:
    """``body`` if it matches every CRC32C ``response`` names, else ``IntegrityError``."""
    expected = expected_crc32c(response)
    if expected:
        _check(what, expected, crc32c_b64(body))
    return body


class StreamCheck:
    """A running CRC32C over a ``load_stream``'s chunks, checked when the body ends."""

    def __init__(self, what: str, response: Mapping[str, Any]) -> None:
        self._what = what
        self._expected = expected_crc32c(response)
        self._crc = Crc32c() if self._expected else None

    def update(self, chunk: bytes) -> None:
        """Fold in one chunk just read."""
        if self._crc is not None:
            self._crc.update(chunk)

    def finish(self) -> None:
        """Raise ``IntegrityError`` unless the whole body matched."""
        if self._crc is not None:
            _check(self._what, self._expected, self._crc.b64())


async def verified_chunks(
    stream: Any, what: str, check: StreamCheck
) -> AsyncGenerator[bytes, None]:
    """A ``GetObject`` body in pieces; at its end, ``IntegrityError`` if its CRC32C is wrong.

    Bytes are handed out as they arrive, so a stream is verified only once it
    ends without error: a caller must treat what it got as unverified until then.
    """
    while True:
        with map_s3_errors(what, LOAD_CODES):
            chunk: bytes = await stream.read(_READ_CHUNK)
        if not chunk:
            check.finish()
            return
        check.update(chunk)
        yield chunk


def drop_sdk_crc32c_validation(
    context: dict[str, Any], params: dict[str, Any] | None = None, **_: Any
) -> None:
    """``before-call`` hook: botocore must not check CRC32C itself; we do.

    ``ChecksumMode="ENABLED"`` makes botocore validate the first algorithm it
    supports among those the answer carries. CRC32C is among them only when
    ``awscrt`` is installed; then the body would be checksummed twice, on the
    loop. Other algorithms (an object another tool wrote with CRC32 or SHA-256)
    stay with botocore, whose ``FlexibleChecksumError`` becomes ``IntegrityError``,
    except on a ranged read: a whole-object checksum sent with a strict slice
    would fail a correct answer, and the lean path checks none of them either.
    """
    checksum = context.get("checksum")
    if isinstance(checksum, dict):
        algorithms = checksum.get("response_algorithms")
        if algorithms:
            headers = (params or {}).get("headers") or {}
            ranged = "Range" in headers
            checksum["response_algorithms"] = [
                a for a in algorithms if a != "crc32c" and not ranged
            ]
