"""The upload paths ``S3Backend.check_create_only`` tries, on the code stores use.

``S3Backend`` creates objects two ways, each carrying ``If-None-Match: *``:

* ``put-object``: ``store``, and ``store_stream`` below ``multipart_threshold``;
  one ``PutObject`` on the backend's request path (lean or sdk). The canary
  goes through ``S3Backend._store`` itself.
* ``multipart``: ``store_stream`` above the threshold; the precondition rides
  on ``CompleteMultipartUpload``. The canary goes through
  ``S3Backend._store_stream`` itself with the threshold at 0, so a few bytes
  make a one-part upload (its only part is the last, which S3 lets be smaller
  than 5 MiB) where going through the real threshold would send 8 MiB twice at
  every start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._core.attributes import check_attributes
from .._core.create_only import CANARY_NAME, CanaryPath
from .._core.stream import ChunkSource

if TYPE_CHECKING:
    from .backend import S3Backend

__all__ = ["canary_paths"]


def canary_paths(backend: S3Backend) -> list[CanaryPath]:
    """The backend's two upload paths, each under its own reserved key."""

    async def put_object(name: str, body: bytes) -> None:
        await backend._store(name, memoryview(body), check_attributes())

    async def multipart(name: str, body: bytes) -> None:
        await backend._store_stream(name, ChunkSource([body]), check_attributes(), threshold=0)

    return [
        CanaryPath("put-object", f"{CANARY_NAME}/put-object", put_object, backend._load),
        CanaryPath("multipart", f"{CANARY_NAME}/multipart", multipart, backend._load),
    ]
