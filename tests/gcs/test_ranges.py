"""Range reads against ``ScriptedGcs``: exact slices, and every wrong answer caught.

The fake answers ranges as GCS does, and on demand as a faulty service
would: ``Range`` ignored (200 and the whole object), a ``Content-Range`` off
by one, a body shorter than its ``Content-Range``, a 416 for a range that is
there. None of them may hand back bytes other than ``data[start:end]``.
"""

from __future__ import annotations

import os

import pytest

from eden_storage_async import (
    AccessDenied,
    BucketNotFound,
    GcsBackend,
    IntegrityError,
    NotFound,
    mint_opaque_id,
)

from ..support.gcs_scripted import ScriptedGcs
from .helpers import FAST, SLICES, backend_for, every_attempt, read_stream

DATA = os.urandom(1000)


async def _stored(backend: GcsBackend, data: bytes = DATA) -> str:
    opaque_id = mint_opaque_id()
    await backend.store(opaque_id, data)
    return opaque_id


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("ignore_ranges", [False, True], ids=["honoured", "ignored"])
async def test_every_slice_is_exact_whether_the_service_honours_range_or_not(
    scripted: ScriptedGcs, ignore_ranges: bool, chunked: bool
) -> None:
    scripted.ignore_ranges, scripted.chunked_downloads = ignore_ranges, chunked
    async with backend_for(scripted) as backend:
        opaque_id = await _stored(backend)
        for start, end in SLICES:
            assert await backend.load_range(opaque_id, start, end) == DATA[start:end], (start, end)
            assert await read_stream(backend, opaque_id, start, end) == DATA[start:end], (
                start,
                end,
            )


async def test_a_planned_slice_is_one_ranged_request(scripted: ScriptedGcs) -> None:
    async with backend_for(scripted) as backend:
        opaque_id = await _stored(backend)
        await backend.load_range(opaque_id, 10, 20)
        await backend.load_range(opaque_id, 10)
        await read_stream(backend, opaque_id, -5, None)
        await backend.load_range(opaque_id, 2000)
    assert scripted.ranges == ["bytes=10-19", "bytes=10-", "bytes=-5", "bytes=2000-"]
    assert scripted.count("metadata") == 0  # no stat needed for these


async def test_a_ranged_stream_reads_in_bounded_pieces(scripted: ScriptedGcs) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)
    async with backend_for(scripted, resumable_threshold=8 * 1024 * 1024) as backend:
        opaque_id = await _stored(backend, data)
        async with backend.load_stream(opaque_id, start=5) as chunks:
            pieces = [chunk async for chunk in chunks]
    assert b"".join(pieces) == data[5:]
    assert len(pieces) > 1
    assert max(len(piece) for piece in pieces) <= 1024 * 1024


# --- the whole object's CRC32C, where the answer is the whole object ---------


@pytest.mark.parametrize(("start", "end"), [(0, 1000), (-5000, None), (0, 5000)])
async def test_a_ranged_answer_that_is_the_whole_object_is_checked_against_its_crc32c(
    scripted: ScriptedGcs, start: int, end: int | None
) -> None:
    async with backend_for(scripted) as backend:
        opaque_id = await _stored(backend)
        scripted.script("download", *every_attempt("corrupt"))
        with pytest.raises(IntegrityError, match="CRC32C mismatch"):
            await backend.load_range(opaque_id, start, end)
        assert scripted.count("download") == FAST.attempts  # read again, as load is
        scripted.script("download", "corrupt")
        with pytest.raises(IntegrityError, match="CRC32C mismatch"):
            await read_stream(backend, opaque_id, start, end)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_whole_object_sent_for_a_range_is_checked_before_it_is_sliced(
    scripted: ScriptedGcs, chunked: bool
) -> None:
    scripted.ignore_ranges, scripted.chunked_downloads = True, chunked
    async with backend_for(scripted) as backend:
        opaque_id = await _stored(backend)
        scripted.script("download", *every_attempt("corrupt"))
        with pytest.raises(IntegrityError, match="CRC32C mismatch"):
            await backend.load_range(opaque_id, 500, 510)
        scripted.script("download", "corrupt")
        with pytest.raises(IntegrityError, match="CRC32C mismatch"):
            await read_stream(backend, opaque_id, -3, None)
        scripted.script("download", "corrupt")  # a body damaged on the way reads again
        assert await backend.load_range(opaque_id, 500, 510) == DATA[500:510]


# --- answers that are not the range asked for --------------------------------


async def test_a_content_range_off_the_request_is_integrity_error(scripted: ScriptedGcs) -> None:
    async with backend_for(scripted) as backend:
        opaque_id = await _stored(backend)
        scripted.script("download", *every_attempt("bad-range"))
        with pytest.raises(IntegrityError, match=rf"{opaque_id}.*bytes=10-19"):
            await backend.load_range(opaque_id, 10, 20)
        scripted.script("download", *every_attempt("bad-range"))
        handed_out = False
        with pytest.raises(IntegrityError, match="answered bytes 11-20"):
            async with backend.load_stream(opaque_id, start=10, end=20):
                handed_out = True  # checked on entering: Content-Length is known
        assert not handed_out


async def test_a_body_shorter_than_its_content_range_is_integrity_error(
    scripted: ScriptedGcs,
) -> None:
    async with backend_for(scripted) as backend:
        opaque_id = await _stored(backend)
        scripted.script("download", *every_attempt("short-range"))
        with pytest.raises(IntegrityError, match="with 9 bytes of body"):
            await backend.load_range(opaque_id, 10, 20)
        scripted.script("download", "short-range")
        received: list[bytes] = []
        with pytest.raises(IntegrityError, match="with 9 bytes of body"):
            # No length to check on entering (chunked): it is checked at the end.
            await read_stream(backend, opaque_id, 10, 20, received)
        assert b"".join(received) == DATA[10:19]


async def test_a_416_for_a_range_the_object_has_is_integrity_error(
    scripted: ScriptedGcs,
) -> None:
    async with backend_for(scripted) as backend:
        opaque_id = await _stored(backend)
        scripted.script("download", *every_attempt("wrong-416"))
        with pytest.raises(IntegrityError, match="answered 416"):
            await backend.load_range(opaque_id, 10, 20)
        scripted.script("download", *every_attempt("wrong-416"))
        with pytest.raises(IntegrityError, match="answered 416"):
            await read_stream(backend, opaque_id, -5, None)


async def test_a_416_that_states_no_size_is_taken_at_its_word(scripted: ScriptedGcs) -> None:
    # fake-gcs-server v1.54.0's 416 carries no Content-Range: the range starts
    # at or past the end, so the slice is empty.
    async with backend_for(scripted) as backend:
        opaque_id = await _stored(backend)
        scripted.script("download", 416, 416)
        assert await backend.load_range(opaque_id, 2000) == b""
        assert await read_stream(backend, opaque_id, 2000, None) == b""


# --- NotFound only for an absent object; the other failures ------------------


async def test_a_range_of_an_absent_object_is_not_found(scripted: ScriptedGcs) -> None:
    async with backend_for(scripted) as backend:
        with pytest.raises(NotFound):
            await backend.load_range(mint_opaque_id(), 10, 20)
        with pytest.raises(NotFound):
            await read_stream(backend, mint_opaque_id(), -5, None)


async def test_a_range_in_a_missing_bucket_is_bucket_not_found(scripted: ScriptedGcs) -> None:
    scripted.bucket_exists = False
    async with backend_for(scripted) as backend:
        with pytest.raises(BucketNotFound) as loading:
            await backend.load_range(mint_opaque_id(), 10, 20)
        assert not isinstance(loading.value, NotFound)
        with pytest.raises(BucketNotFound):
            await read_stream(backend, mint_opaque_id(), 10, None)


async def test_a_range_read_retries_an_outage_and_refused_credentials_are_access_denied(
    scripted: ScriptedGcs,
) -> None:
    async with backend_for(scripted) as backend:
        opaque_id = await _stored(backend)
        scripted.script("download", 503, "reset")
        assert await backend.load_range(opaque_id, 10, 20) == DATA[10:20]
        scripted.script("download", 503)
        assert await read_stream(backend, opaque_id, 10, 20) == DATA[10:20]
        scripted.script("download", 403)
        with pytest.raises(AccessDenied):
            await backend.load_range(opaque_id, 10, 20)
