"""Reads for ``S3Backend``: every GetObject (whole, streamed, ranged) and ``stat``.

A whole read is checked against the object's CRC32C (``checksum.py``). A strict
slice cannot be, so a ranged GET is checked for what it can be:

* 206: its ``Content-Range`` must be exactly the range asked for, clamped to
  the object's size, and the body exactly that long (``ByteRange.check_answer``);
  when the range turns out to be the whole object, its CRC32C is checked too.
* 200, from a server that ignored ``Range``: the body is the whole object, so
  it is checked against its CRC32C as ``load`` checks it, then sliced.
* 416: the range starts at or past the end (an empty object included). The
  object exists, so the slice is empty; ``NoSuchKey`` is still ``NotFound``.
  One that states a size (``Content-Range: bytes */N`` or AWS's
  ``<ActualObjectSize>``) under which the range would not be empty is an
  ``IntegrityError``, as on GCS.

A damaged answer (``IntegrityError``) is retried within ``retry``: a body
spoiled on the way reads back whole. A stream is never retried once bytes are
handed out: its length and, for a whole answer, its CRC32C are checked when it
ends.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from .._core.attributes import ArtifactInfo
from .._core.errors import BackendError, IntegrityError
from .._core.ranges import ByteRange, slice_stream
from .._core.retry import Backoff, retrying
from .._core.stream import no_chunks, read_sized
from .checksum import StreamCheck, verified_chunks, verify_body
from .client import S3Client
from .errors import LOAD_CODES, http_status, is_transient, map_s3_errors
from .stat import stat_object

__all__ = ["Reader"]

_UNSATISFIED = re.compile(r"bytes \*/(\d+)")


@dataclass(frozen=True, slots=True)
class Reader:
    """The reads of one object: ``what`` starts every error message."""

    client: S3Client
    bucket: str
    key: str
    what: str
    retry: Backoff

    async def stat(self) -> ArtifactInfo:
        """HeadObject, and HeadBucket after a 404 (``stat.py``)."""
        return await stat_object(
            self.client, bucket=self.bucket, key=self.key, what=self.what, retry=self.retry
        )

    async def _get(self, byte_range: ByteRange | None = None) -> Mapping[str, Any]:
        if byte_range is None:
            return await self.client.get_object(
                Bucket=self.bucket, Key=self.key, ChecksumMode="ENABLED"
            )
        try:
            return await self.client.get_object(
                Bucket=self.bucket, Key=self.key, ChecksumMode="ENABLED", Range=byte_range.header
            )
        except Exception as exc:
            if http_status(exc) == 416:
                _check_unsatisfiable(self.what, byte_range, exc)
            raise

    async def load(self) -> bytes:
        """The whole object, checked against its CRC32C."""

        async def get() -> bytes:
            response = await self._get()
            # The context closes the body even if the read fails or is
            # cancelled, so its connection goes back to the pool (or is
            # dropped), never leaked.
            async with response["Body"] as stream:
                # Into one buffer of the stated length: see read_sized for the
                # RSS it saves. The lean path's body already reads that way.
                if getattr(stream, "reads_whole_into_one_buffer", False):
                    payload = await stream.read()
                else:
                    payload = await read_sized(stream, response.get("ContentLength"), self.what)
            # A mismatch raises IntegrityError and the bytes are dropped; it
            # is retried, since a body damaged on the way reads back whole.
            return verify_body(self.what, response, payload)

        with map_s3_errors(self.what, LOAD_CODES):
            return await retrying(get, should_retry=is_transient, backoff=self.retry)

    @contextlib.asynccontextmanager
    async def load_stream(self) -> AsyncIterator[AsyncIterator[bytes]]:
        """The whole object in pieces; ``IntegrityError`` at the end on a mismatch."""
        with map_s3_errors(self.what, LOAD_CODES):
            # Only the request is retried: once bytes are handed out, a failure
            # mid-body cannot be taken back and is raised.
            response = await retrying(self._get, should_retry=is_transient, backoff=self.retry)
        # Closed on exit, read to the end or not, so the connection is never leaked.
        async with response["Body"] as stream:
            yield verified_chunks(stream, self.what, StreamCheck(self.what, response))

    async def load_range(self, byte_range: ByteRange) -> bytes:
        """The bytes of ``byte_range``, checked as the module says."""

        async def get() -> bytes:
            response = await self._get(byte_range)
            async with response["Body"] as stream:
                body: bytes = await stream.read()
            if not _partial(response):
                first, stop = byte_range.bounds(len(verify_body(self.what, response, body)))
                return body[first:stop]
            if _checked(self.what, byte_range, response.get("ContentRange"), len(body)):
                verify_body(self.what, response, body)
            return body

        with map_s3_errors(self.what, LOAD_CODES):
            try:
                return await retrying(get, should_retry=is_transient, backoff=self.retry)
            except Exception as exc:
                if http_status(exc) == 416:
                    return b""
                raise

    @contextlib.asynccontextmanager
    async def load_range_stream(self, byte_range: ByteRange) -> AsyncIterator[AsyncIterator[bytes]]:
        """The bytes of ``byte_range`` in pieces, with bounded memory."""
        what = self.what

        async def get() -> Mapping[str, Any]:
            response = await self._get(byte_range)
            length = response.get("ContentLength")
            try:
                # Checked before a byte is handed out, so a wrong answer is retried.
                if _partial(response):
                    if isinstance(length, int):
                        _checked(what, byte_range, response.get("ContentRange"), length)
                elif not isinstance(length, int):
                    raise BackendError(
                        f"{what}: a ranged read was answered with the whole object and no"
                        " Content-Length, so the range cannot be found in it"
                    )
            except BaseException:
                async with response["Body"]:
                    pass
                raise
            return response

        response: Mapping[str, Any] | None = None
        with map_s3_errors(what, LOAD_CODES):
            try:
                response = await retrying(get, should_retry=is_transient, backoff=self.retry)
            except Exception as exc:
                if http_status(exc) != 416:
                    raise
        if response is None:
            yield no_chunks()
            return
        async with response["Body"] as stream:
            chunks = verified_chunks(stream, what, _RangeCheck(what, byte_range, response))
            if _partial(response):
                yield chunks
            else:
                first, stop = byte_range.bounds(response["ContentLength"])
                yield slice_stream(chunks, first, stop)


def _check_unsatisfiable(what: str, byte_range: ByteRange, exc: BaseException) -> None:
    """A 416 that states the object's size (``Content-Range: bytes */N``, as
    GCS checks, else AWS's ``<ActualObjectSize>``) must agree that the range
    is empty there; else ``IntegrityError``, retried as any damaged answer."""
    response: Any = getattr(exc, "response", {})
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    found = _UNSATISFIED.fullmatch(str(headers.get("content-range", "")).strip())
    size = found.group(1) if found else str(response.get("Error", {}).get("ActualObjectSize", ""))
    if not size.isdigit():
        return  # no size stated: nothing to check it against
    first, stop = byte_range.bounds(int(size))
    if stop > first:
        raise IntegrityError(
            f"{what}: a ranged read for {byte_range.header} of a {size}-byte object answered 416"
        )


def _partial(response: Mapping[str, Any]) -> bool:
    return bool(response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 206)


def _checked(what: str, byte_range: ByteRange, content_range: Any, length: int) -> bool:
    """Check a 206 against the request; True when it holds the whole object."""
    try:
        first, stop, total = byte_range.check_answer(content_range, length)
    except IntegrityError as exc:
        raise IntegrityError(f"{what}: {exc}") from exc
    return first == 0 and stop == total


class _RangeCheck(StreamCheck):
    """A ranged stream's check at its end: the length, and the CRC32C of a whole answer."""

    def __init__(self, what: str, byte_range: ByteRange, response: Mapping[str, Any]) -> None:
        super().__init__(what, response)
        self._range = byte_range
        self._response = response
        self._count = 0

    def update(self, chunk: bytes) -> None:
        super().update(chunk)
        self._count += len(chunk)

    def finish(self) -> None:
        response = self._response
        if _partial(response):
            if _checked(self._what, self._range, response.get("ContentRange"), self._count):
                super().finish()
            return
        if self._count != response["ContentLength"]:
            raise IntegrityError(
                f"{self._what}: the whole object was answered with {self._count} of"
                f" {response['ContentLength']} bytes"
            )
        super().finish()
