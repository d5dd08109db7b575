"""Streaming stores for ``S3Backend``: one multipart upload, created only at the end.

Parts are buffered one at a time (bounded memory), and
``CompleteMultipartUpload`` carries ``If-None-Match: *``, so the object appears
whole at completion or not at all, and a taken key answers 412 like
``PutObject`` does. Any failure or cancellation aborts the upload, so no
orphan parts are left to bill for.

Integrity: every ``UploadPart`` carries its part's CRC32C, which the service
verifies, and the upload is a ``FULL_OBJECT`` CRC32C one: the Complete carries
the whole object's CRC32C, which the service checks against the parts and
hands back on every later ``GetObject``, so a load verifies the whole object
as it does for a single ``PutObject``. (The composite ``...-N`` form could not
be verified by a reader that does not know the part sizes.) Measured: SeaweedFS
4.48 verifies parts and the whole (400 BadDigest on a wrong one) and returns
the whole-object value; moto 5.2.5 verifies neither, and returns a correct
value only when the optional ``crc32c`` package is installed next to it
(``moto[s3crc32c]``), else a CRC32 labelled CRC32C.

Each call is retried on transient failures (``retry``): a part or a Complete
re-sent after a lost reply is harmless (same part number and bytes; a second
Complete meets our own object, which the 412 nonce check recognises).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from .._core.checksum import Crc32c, crc32c_b64
from .._core.retry import Backoff, retrying
from .._core.settle import settle

__all__ = ["CompleteConflict", "Tally", "upload_multipart"]


_T = TypeVar("_T")


class Tally:
    """The bytes handed to the service so far: the size and CRC32C a 412's nonce
    check expects."""

    def __init__(self) -> None:
        self.crc = Crc32c()

    @property
    def size(self) -> int:
        """Bytes handed over so far."""
        return self.crc.size


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
    content_type: str,
    head: bytearray,
    rest: AsyncIterator[memoryview],
    part_size: int,
    tally: Tally,
    retry: Backoff,
) -> None:
    """Upload ``head`` then ``rest`` as one multipart upload, counting into ``tally``.

    ``metadata`` and ``content_type`` are fixed at CreateMultipartUpload and
    published with the object at completion, never before.

    Botocore errors propagate as they are (the caller maps them), except a 409
    at completion, which becomes ``CompleteConflict`` so the caller can decide
    whether the input can be sent again.
    """
    from .errors import is_conditional_conflict, is_transient

    async def call(operation: Callable[[], Awaitable[_T]]) -> _T:
        # settle each attempt: a request cancelled on the wire could still land
        # after the abort below and be kept (and billed) by the service, so a
        # cancel waits for its answer; a cancel during a backoff sleep is at once.
        return await retrying(lambda: settle(operation()), should_retry=is_transient, backoff=retry)

    created = await call(
        lambda: client.create_multipart_upload(
            Bucket=bucket,
            Key=key,
            Metadata=metadata,
            ContentType=content_type,
            ChecksumAlgorithm="CRC32C",
            ChecksumType="FULL_OBJECT",
        )
    )
    upload_id: str = created["UploadId"]
    parts: list[dict[str, Any]] = []

    async def send(body: bytes) -> None:
        number = len(parts) + 1
        part_crc = crc32c_b64(body)
        tally.crc.update(body)
        reply = await call(
            lambda: client.upload_part(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=body,
                ChecksumCRC32C=part_crc,
            )
        )
        parts.append({"PartNumber": number, "ETag": reply["ETag"], "ChecksumCRC32C": part_crc})

    buffer = head
    try:
        while True:
            while len(buffer) >= part_size:
                body = bytes(buffer[:part_size])
                del buffer[:part_size]
                await send(body)
            chunk = await anext(rest, None)
            if chunk is None:
                break
            buffer += chunk
        if buffer or not parts:
            await send(bytes(buffer))
            buffer.clear()
        try:
            await call(
                lambda: client.complete_multipart_upload(
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    IfNoneMatch="*",
                    MultipartUpload={"Parts": parts},
                    ChecksumCRC32C=tally.crc.b64(),
                    ChecksumType="FULL_OBJECT",
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
