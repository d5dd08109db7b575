"""Streaming stores for ``S3Backend``: one multipart upload, created only at the end.

Parts are buffered one at a time in one buffer of the part size, and
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

Memory: about one part per upload. The part buffer is allocated once and
filled in place, and each part goes to aiohttp as a stream of small pieces
copied from it as the socket takes them (``_pieces``); the buffer is refilled
only after the part's answer, so a retry re-sends the same bytes. One 64 MiB
store in 1 MiB chunks now peaks at 11 MiB of Python allocations with 8 MiB
parts (the head, threshold plus a chunk, is the largest piece), measured with
tracemalloc on SeaweedFS. It was 32 MiB, four parts: the buffer being filled,
the slice cut from it, that slice's ``bytes`` copy, and aiohttp's copy of the
``BytesIO`` botocore wraps a ``bytes`` body in (``getbuffer`` unshares it).
A ``bytes`` or ``bytearray`` body handed over whole would be copied again
where aiohttp joins headers and body into one write (Python < 3.12.9).

Each call is retried on transient failures (``retry``): a part or a Complete
re-sent after a lost reply is harmless (same part number and bytes; a second
Complete meets our own object, which the 412 nonce check recognises).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from .._core.checksum import Crc32c, crc32c_b64
from .._core.retry import Backoff, retrying
from .._core.settle import settle

__all__ = ["CompleteConflict", "Tally", "upload_multipart"]


_T = TypeVar("_T")

# A part reaches the socket in pieces of this size, each a fresh copy: aiohttp
# waits for the socket to drain between writes, so at most a piece or two is
# queued, and no view of the part buffer outlives a piece (the buffer can be
# refilled, and the head resized, even if an abandoned attempt's body is
# never finished).
_PIECE = 256 * 1024


async def _pieces(buffer: bytearray, start: int, end: int) -> AsyncGenerator[bytes, None]:
    """``buffer[start:end]`` as pieces of at most ``_PIECE`` bytes, copied one at a time."""
    for at in range(start, end, _PIECE):
        with memoryview(buffer) as view, view[at : min(at + _PIECE, end)] as piece:
            copy = piece.tobytes()
        yield copy


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

    async def send(buffer: bytearray, start: int, end: int) -> None:
        number = len(parts) + 1
        with memoryview(buffer) as view, view[start:end] as part:
            part_crc = crc32c_b64(part)
            tally.crc.update(part)
        # A new body per attempt, so a retry sends the part from its first byte.
        # ContentLength is given, since botocore cannot measure a stream.
        reply = await call(
            lambda: client.upload_part(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=_pieces(buffer, start, end),
                ContentLength=end - start,
                ChecksumCRC32C=part_crc,
            )
        )
        parts.append({"PartNumber": number, "ETag": reply["ETag"], "ChecksumCRC32C": part_crc})

    try:
        # Whole parts go straight out of the head; what is left of it moves to
        # the part buffer. The head is cut down before that buffer exists (a
        # bytearray cut below half its capacity moves to a block of its exact
        # size), so the head's large block and the buffer are never both alive.
        # The caller keeps its reference to ``head``: emptying it frees it now.
        sent = 0
        while len(head) - sent >= part_size:
            await send(head, sent, sent + part_size)
            sent += part_size
        del head[:sent]
        buffer = bytearray(part_size)
        filled = len(head)
        buffer[:filled] = head
        head.clear()
        async for chunk in rest:
            taken = 0
            while taken < chunk.nbytes:
                step = min(part_size - filled, chunk.nbytes - taken)
                buffer[filled : filled + step] = chunk[taken : taken + step]
                filled += step
                taken += step
                if filled == part_size:
                    await send(buffer, 0, part_size)
                    filled = 0
        if filled or not parts:
            await send(buffer, 0, filled)
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
