"""``stat`` and range reads of one GCS object: what is asked, and what is checked.

``stat`` reads the object resource (the JSON metadata the backend already
reads to check a nonce): ``size``, our ``eden-crc32c`` copy (else GCS's
``crc32c``), ``contentType``, and the caller's metadata without ours.

A range read is the media download with ``Range``. A whole-object CRC32C
cannot check a strict slice, so what is checked depends on the answer:

* 206: its ``Content-Range`` must be exactly the range asked for and the body
  exactly that long, else ``IntegrityError``; an answer that is the whole
  object has its CRC32C verified, as ``load`` does.
* 200 (``Range`` ignored): the body is the whole object, so its CRC32C is
  verified and the slice is cut here.
* 416: the object exists and the range starts at or past its end, so the
  answer is empty. One that states a size (``bytes */N``) under which the
  range would not be empty is an ``IntegrityError``.
* 404: ``NotFound`` or ``BucketNotFound``, as for ``load``.

A mismatch is read again per ``retry``, as for ``load``. The streamed variant
checks a 206's ``Content-Range`` against its ``Content-Length`` on entering,
and the bytes that arrived (and, for the whole object, the CRC32C) at its end.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn

from .._core.checksum import Crc32c
from .._core.errors import IntegrityError
from .._core.ranges import ByteRange, slice_stream
from .._core.stream import no_chunks
from .errors import status_of
from .outcomes import Failed
from .wire import CRC_KEY, crc32c_of_hash_header, info_of_resource

if TYPE_CHECKING:
    import aiohttp

    from .._core.attributes import ArtifactInfo
    from .client import Download
    from .outcomes import Target

__all__ = ["open_range", "read_range", "stat"]

_PIECE = 1024 * 1024
# fake-gcs-server v1.54.0 answers a suffix range of an empty object with 206
# and "bytes 0--1/0" (pinned in tests/gcs/test_emulator_gaps.py): an answer
# that declares a total of 0 is the whole, empty object.
_EMPTY_TOTAL = re.compile(r"bytes [0-9-]*/0")
_UNSATISFIED = re.compile(r"bytes \*/(\d+)")


async def stat(target: Target) -> ArtifactInfo:
    """The object's facts from its resource; ``NotFound`` only when it is absent."""
    got = await target.call(lambda: target.client.resource_of(target.name))
    if not isinstance(got, Failed):
        return info_of_resource(got, target.url)
    if status_of(got.exc) == 404:
        await target.raise_absent(got.exc, "stat")
    target.fail(got.exc, f"GcsBackend: cannot stat artifact {target.opaque_id} at {target.url}")


async def read_range(target: Target, byte_range: ByteRange) -> bytes:
    """Exactly the bytes of ``byte_range``, checked as the module says."""

    async def fetch() -> bytes:
        got = await target.client.download(target.name, byte_range.header)
        return await _answer(target, byte_range, got)

    outcome = await target.call(fetch, retry_mismatch=True)
    if isinstance(outcome, Failed):
        await _raise(target, byte_range, outcome.exc)
    return outcome


@contextlib.asynccontextmanager
async def open_range(target: Target, byte_range: ByteRange) -> AsyncIterator[AsyncIterator[bytes]]:
    """The bytes of ``byte_range`` in pieces of up to 1 MiB, checked at the end."""

    async def opening() -> aiohttp.ClientResponse:
        resp = await target.client.download_stream(target.name, byte_range.header)
        content_range = resp.headers.get("Content-Range")
        try:
            if resp.status == 416:
                _check_unsatisfiable(target, byte_range, content_range)
            elif resp.status == 206 and resp.content_length is not None:
                # Before any byte is handed out, where the length is declared.
                _is_whole(target, byte_range, content_range, resp.content_length)
        except BaseException:
            resp.release()
            raise
        return resp

    opened = await target.call(opening, retry_mismatch=True)
    if isinstance(opened, Failed):
        await _raise(target, byte_range, opened.exc)
    try:
        body = _Body(target, opened, _what(target, byte_range))
        if opened.status == 416:
            yield no_chunks()
        elif opened.status == 206:
            yield _partial(body, byte_range)
        else:
            yield _whole(body, byte_range, await _expected(target, opened))
    finally:
        opened.release()


async def _answer(target: Target, byte_range: ByteRange, got: Download) -> bytes:
    if got.status == 416:
        _check_unsatisfiable(target, byte_range, got.content_range)
        return b""
    if got.status == 206:
        if _is_whole(target, byte_range, got.content_range, len(got.data)):
            await target.verify_download(got.data, got.crc32c, got.own_crc32c)
        return got.data
    # Range ignored: this is the whole object, so its checksum applies.
    await target.verify_download(got.data, got.crc32c, got.own_crc32c)
    first, stop = byte_range.bounds(len(got.data))
    return got.data[first:stop]


def _is_whole(
    target: Target, byte_range: ByteRange, content_range: str | None, length: int
) -> bool:
    """Check a 206 against the request (``IntegrityError`` naming the artifact);
    True when it is the whole object, so its CRC32C applies."""
    content_range = (content_range or "").strip()
    if length == 0 and _EMPTY_TOTAL.fullmatch(content_range):
        return True
    try:
        first, stop, total = byte_range.check_answer(content_range, length)
    except IntegrityError as exc:
        failure = exc
    else:
        return first == 0 and stop == total
    raise IntegrityError(f"GcsBackend: artifact {target.opaque_id} at {target.url}: {failure}")


def _check_unsatisfiable(target: Target, byte_range: ByteRange, content_range: str | None) -> None:
    found = _UNSATISFIED.fullmatch((content_range or "").strip())
    if found is None:
        return
    size = int(found.group(1))
    first, stop = byte_range.bounds(size)
    if stop > first:
        raise IntegrityError(
            f"GcsBackend: artifact {target.opaque_id} at {target.url}: a ranged read for "
            f"{byte_range.header} of a {size}-byte object answered 416"
        )


async def _raise(target: Target, byte_range: ByteRange, exc: Exception) -> NoReturn:
    if isinstance(exc, IntegrityError):
        raise exc
    if status_of(exc) == 404:
        await target.raise_absent(exc)
    target.fail(exc, _what(target, byte_range))


def _what(target: Target, byte_range: ByteRange) -> str:
    return (
        f"GcsBackend: cannot load {byte_range.header} of artifact {target.opaque_id} "
        f"from {target.url}"
    )


async def _expected(target: Target, resp: aiohttp.ClientResponse) -> tuple[str, ...]:
    return await target.expected_crcs(
        crc32c_of_hash_header(resp.headers), resp.headers.get(f"X-Goog-Meta-{CRC_KEY}")
    )


@dataclass
class _Body:
    """An open download's body, read in pieces, with its running CRC32C and size."""

    target: Target
    resp: aiohttp.ClientResponse
    what: str
    crc: Crc32c = field(default_factory=Crc32c)
    size: int = 0

    async def pieces(self) -> AsyncGenerator[bytes, None]:
        while True:
            try:
                piece = await self.resp.content.read(_PIECE)
            except Exception as exc:
                failure = exc
            else:
                if not piece:
                    return
                self.crc.update(piece)
                self.size += len(piece)
                yield piece
                continue
            # Outside the except block: the SDK error must not ride along as
            # __context__ (its request headers hold the token).
            self.target.fail(failure, self.what)


async def _partial(body: _Body, byte_range: ByteRange) -> AsyncIterator[bytes]:
    async for piece in body.pieces():
        yield piece
    content_range = body.resp.headers.get("Content-Range")
    if _is_whole(body.target, byte_range, content_range, body.size):
        body.target.verify(await _expected(body.target, body.resp), body.crc.b64())


async def _whole(
    body: _Body, byte_range: ByteRange, expected: tuple[str, ...]
) -> AsyncIterator[bytes]:
    """The slice of a whole-object answer, handed out as it arrives; the whole
    object's CRC32C is verified at the end, before the stream completes."""
    size = body.resp.content_length
    suffix = byte_range.suffix if size is None else None
    first, stop = (byte_range.start, byte_range.stop) if size is None else byte_range.bounds(size)
    if suffix is None:
        async for piece in slice_stream(body.pieces(), first, stop):
            yield piece
        body.target.verify(expected, body.crc.b64())
        return
    # Only a suffix of a body of unknown size needs holding: its last n bytes.
    tail = bytearray()
    async for piece in body.pieces():
        tail += piece
        del tail[: max(0, len(tail) - suffix)]
    body.target.verify(expected, body.crc.b64())
    if tail:
        yield bytes(tail)
