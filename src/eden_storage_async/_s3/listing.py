"""Listing ``S3Backend``'s ids: ``ListObjectsV2`` under the prefix, a page per request.

Objects live at ``<prefix>/<opaque_id>``, so the listing asks for the keys that
start with ``<prefix>/`` (the slash keeps a prefix ``a`` from listing ``ab/``)
with ``Delimiter="/"``: keys one level further down ("directories" another
tool wrote) come back rolled up as one common prefix each, and are never
walked. One page is held at a time; the continuation token carries the
position, so the whole listing is never built, whatever the bucket holds.

ListObjectsV2 goes to the aiobotocore client on both request paths (the lean
one carries only PutObject, GetObject and HeadObject). Each page is retried on
transient failures like every other call, and translated by the shared
mapping: a missing bucket is ``BucketNotFound``, never an empty listing; a
refusal ``AccessDenied`` (listing needs ``s3:ListBucket`` on the bucket).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any

from .._core.errors import BackendError
from .._core.retry import Backoff, retrying
from .client import S3Client
from .errors import is_transient, map_s3_errors

__all__ = ["id_pages"]


async def id_pages(
    get_client: Callable[[], Awaitable[S3Client]],
    *,
    bucket: str,
    prefix: str,
    retry: Backoff,
    page_size: int | None = None,
) -> AsyncGenerator[list[str], None]:
    """The names right under ``prefix`` in ``bucket``, one ListObjectsV2 page at a time.

    ``page_size`` is the request's ``MaxKeys`` (None: the service's default,
    1,000 on AWS).
    """
    key_prefix = f"{prefix}/" if prefix else ""
    what = f"cannot list the artifacts under s3://{bucket}/{key_prefix}"
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": key_prefix, "Delimiter": "/"}
    if page_size is not None:
        request["MaxKeys"] = page_size
    with map_s3_errors(what):
        # Any: S3Client names only the hot calls, which test fakes provide.
        client: Any = await get_client()
    while True:
        with map_s3_errors(what):
            page = await retrying(
                functools.partial(client.list_objects_v2, **request),
                should_retry=is_transient,
                backoff=retry,
            )
        names = _names(page, key_prefix)
        if names:
            yield names
        if not page.get("IsTruncated"):
            return
        token = page.get("NextContinuationToken")
        if not token:
            # Asking again without it would list the first page for ever.
            raise BackendError(
                f"{what}: ListObjectsV2 answered IsTruncated without a NextContinuationToken"
            )
        request["ContinuationToken"] = token


def _names(page: Mapping[str, Any], key_prefix: str) -> list[str]:
    """The key names of a page, without the prefix; common prefixes are left out."""
    names = []
    for entry in page.get("Contents") or ():
        key = entry.get("Key")
        if isinstance(key, str) and key.startswith(key_prefix):
            names.append(key[len(key_prefix) :])
    return names
