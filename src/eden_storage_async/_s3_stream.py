"""Streaming stores for ``S3Backend``: one multipart upload, created only at the end.

Parts are buffered one at a time (bounded memory), and
``CompleteMultipartUpload`` carries ``If-None-Match: *``, so the object appears
whole at completion or not at all, and a taken key answers 412 like
``PutObject`` does. Any failure or cancellation aborts the upload, so no
orphan parts are left to bill for.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from ._settle import settle

__all__ = ["MIN_PART_SIZE", "CompleteConflict", "Tally", "upload_multipart"]

# S3's floor for every part but the last.
MIN_PART_SIZE = 5 * 1024 * 1024


class Tally:
    """The bytes handed to the service so far: the size a 412's nonce check expects."""

    size = 0


class CompleteConflict(Exception):
    """CompleteMultipartUpload answered 409 ConditionalRequestConflict; nothing was written."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


async def upload_multipart(
    client: Any,
    *,
    bucket: str,
    key: str,
    metadata: dict[str, str],
    head: bytearray,
    rest: AsyncIterator[memoryview],
    part_size: int,
    tally: Tally,
) -> None:
    """Upload ``head`` then ``rest`` as one multipart upload, counting into ``tally``.

    Botocore errors propagate as they are (the caller maps them), except a 409
    at completion, which becomes ``CompleteConflict`` so the caller can decide
    whether the input can be sent again.
    """
    from ._s3_errors import is_conditional_conflict

    created = await client.create_multipart_upload(Bucket=bucket, Key=key, Metadata=metadata)
    upload_id: str = created["UploadId"]
    parts: list[dict[str, Any]] = []

    async def send(body: bytes) -> None:
        number = len(parts) + 1
        # settle: a part cancelled on the wire could still land after the abort
        # below and be kept (and billed) by the service; wait for its answer.
        reply = await settle(
            client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
            )
        )
        parts.append({"PartNumber": number, "ETag": reply["ETag"]})

    buffer = head
    try:
        while True:
            while len(buffer) >= part_size:
                body = bytes(buffer[:part_size])
                del buffer[:part_size]
                tally.size += len(body)
                await send(body)
            chunk = await anext(rest, None)
            if chunk is None:
                break
            buffer += chunk
        if buffer or not parts:
            tally.size += len(buffer)
            await send(bytes(buffer))
            buffer.clear()
        try:
            await settle(
                client.complete_multipart_upload(
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    IfNoneMatch="*",
                    MultipartUpload={"Parts": parts},
                )
            )
        except Exception as exc:
            if is_conditional_conflict(exc):
                raise CompleteConflict(exc) from exc
            raise
    except BaseException:
        # Shielded, and its own failure (the upload already completed or gone,
        # the connection down) must not hide the error that brought us here.
        with contextlib.suppress(Exception):
            await settle(client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id))
        raise
