"""``stat`` for ``S3Backend``: one HeadObject, and a HeadBucket only after a 404.

A HEAD answer has no body, so its 404 carries no error code: "no such key" and
"no such bucket" look the same. ``NotFound`` must mean what it means for
``load`` (the object is absent, nothing else), so a 404 is settled by asking
for the bucket: absent is ``BucketNotFound``, present is ``NotFound``. S3
authorizes HeadBucket with ``s3:ListBucket``; refused, it is ``AccessDenied``,
never a guess.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

from .._core.attributes import DEFAULT_CONTENT_TYPE, ArtifactInfo, caller_metadata
from .._core.errors import BackendError, BucketNotFound, NotFound
from .._core.retry import Backoff, retrying
from .checksum import METADATA_KEY
from .client import S3Client
from .errors import error_code, http_status, is_transient, map_s3_errors

__all__ = ["artifact_info", "stat_object"]


async def stat_object(
    client: S3Client, *, bucket: str, key: str, what: str, retry: Backoff
) -> ArtifactInfo:
    """The ``ArtifactInfo`` of ``key``; ``NotFound`` only for a missing key in a present bucket."""
    started = time.monotonic()
    with map_s3_errors(what):
        try:
            head = await retrying(
                lambda: client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED"),
                should_retry=is_transient,
                backoff=retry,
            )
        except Exception as exc:
            if http_status(exc) != 404:
                raise
            await _raise_absent(client, bucket, what, _remaining(retry, started), exc)
    return artifact_info(what, head)


def _remaining(retry: Backoff, started: float) -> Backoff:
    """``retry`` with what is left of its deadline: one deadline bounds the whole stat."""
    if retry.deadline_s is None:
        return retry
    left = retry.deadline_s - (time.monotonic() - started)
    # Still one try when the deadline is spent: the 404 must be settled one way.
    return dataclasses.replace(retry, deadline_s=max(left, 1e-3))


async def _raise_absent(
    client: S3Client, bucket: str, what: str, retry: Backoff, cause: BaseException
) -> None:
    check = (
        f"{what}: HeadObject answered 404, and HeadBucket (which needs s3:ListBucket)"
        " could not tell a missing object from a missing bucket"
    )
    with map_s3_errors(check):
        try:
            await retrying(
                lambda: client.head_bucket(Bucket=bucket),
                should_retry=is_transient,
                backoff=retry,
            )
        except Exception as exc:
            if http_status(exc) == 404 or error_code(exc) == "NoSuchBucket":
                raise BucketNotFound(f"{what}: the bucket {bucket!r} does not exist") from exc
            raise
    raise NotFound(f"{what}: no such object") from cause


def artifact_info(what: str, head: Mapping[str, Any]) -> ArtifactInfo:
    """What a HeadObject answer says about the object; our bookkeeping keys left out."""
    size = head.get("ContentLength")
    if not isinstance(size, int):
        raise BackendError(f"{what}: HeadObject answered without a Content-Length")
    metadata: Mapping[str, str] = head.get("Metadata") or {}
    # Our copy first: it is what the writer computed, and it exists on every
    # service; the service's own is there for a multipart upload, which cannot
    # carry the copy. A composite "...-N" value is no whole-object checksum.
    service = head.get("ChecksumCRC32C")
    if not isinstance(service, str) or not service or "-" in service:
        service = None
    return ArtifactInfo(
        size=size,
        crc32c=metadata.get(METADATA_KEY) or service,
        content_type=head.get("ContentType") or DEFAULT_CONTENT_TYPE,
        metadata=caller_metadata(metadata),
    )
