"""Telling our own lost-reply write apart from someone else's object, after a 412.

A PUT (or a CompleteMultipartUpload) can be committed and lose its reply; the
re-send then answers 412 about our own object. Each write carries a random
nonce in its metadata, and its CRC32C; a 412 is success only when the object
under the key has this write's nonce, size and CRC32C.
"""

from __future__ import annotations

from .._core.errors import BackendError, IntegrityError
from .._core.retry import Backoff, retrying
from .checksum import expected_crc32c
from .client import S3Client
from .errors import http_status, is_transient, map_s3_errors

__all__ = ["NONCE_KEY", "is_this_write"]

# Sent as x-amz-meta-eden-write-nonce.
NONCE_KEY = "eden-write-nonce"


async def is_this_write(
    client: S3Client,
    *,
    bucket: str,
    key: str,
    nonce: str,
    size: int,
    crc32c: str,
    what: str,
    retry: Backoff,
) -> bool:
    """True when the object at ``key`` is this write's own, whole and intact."""
    verify = f"{what}: checking whose object answered 412"
    with map_s3_errors(verify):
        try:
            head = await retrying(
                lambda: client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED"),
                should_retry=is_transient,
                backoff=retry,
            )
        except Exception as exc:
            if http_status(exc) == 404:
                # It existed a moment ago (412) and is gone now: whose it was
                # cannot be known, and "exists" or "absent" would both be guesses.
                raise BackendError(f"{verify}: the object vanished; outcome unknown") from exc
            raise
    metadata = head.get("Metadata") or {}
    if metadata.get(NONCE_KEY) != nonce:
        return False
    if head.get("ContentLength") != size:
        # Our headers arrived but not our body: SeaweedFS 4.48 publishes an
        # empty object when the connection drops between the two.
        raise BackendError(
            f"{verify}: the service kept {head.get('ContentLength')} of {size} bytes"
            " of this write; the object at this id is damaged"
        )
    if any(value != crc32c for value in expected_crc32c(head)):
        raise IntegrityError(
            f"{verify}: the object holds this write's nonce and size but not its CRC32C"
            f" ({crc32c}); the object at this id is damaged"
        )
    return True
