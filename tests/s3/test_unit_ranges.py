"""``S3Backend.load_range`` and a ranged ``load_stream`` on scripted fakes
(``helpers.py``): one GetObject with ``Range``; a 206 checked against its
``Content-Range`` (and its CRC32C when it is the whole object), a 200 from a server
that ignored ``Range`` verified and sliced, a 416 read as empty, and a stream that
holds one piece at a time and checks its length at the end."""

from __future__ import annotations

import os
from typing import Any

import pytest

from eden_storage_async import (
    AccessDenied,
    BackendError,
    BucketNotFound,
    IntegrityError,
    NotFound,
    S3Backend,
    mint_opaque_id,
)
from eden_storage_async._core.retry import Backoff

from .helpers import _MIB, FakeBody, FakeS3Client, _crc, backend_on, client_error

_DATA = b"0123456789"


def _attempts(n: int) -> Backoff:
    return Backoff(attempts=n, base_s=0.0, cap_s=0.0)


def _partial(
    body: bytes, first: int, total: int, content_range: str | None = None, **fields: Any
) -> dict[str, Any]:
    """A 206 for ``body`` at ``first`` of a ``total``-byte object."""
    fields.setdefault("ContentLength", len(body))
    return {
        "Body": FakeBody(body),
        "ContentRange": content_range or f"bytes {first}-{first + len(body) - 1}/{total}",
        "ResponseMetadata": {"HTTPStatusCode": 206},
        **fields,
    }


def _whole(body: bytes, **fields: Any) -> dict[str, Any]:
    """A 200: the whole object, as from a server that ignored ``Range``."""
    fields.setdefault("ContentLength", len(body))
    return {"Body": FakeBody(body), "ResponseMetadata": {"HTTPStatusCode": 200}, **fields}


def _ours(data: bytes) -> dict[str, Any]:
    return {"Metadata": {"eden-crc32c": _crc(data)}}


async def _stream(
    backend: S3Backend, start: int, end: int | None = None, into: list[bytes] | None = None
) -> list[bytes]:
    """The chunks of a ranged stream, kept in ``into`` as they arrive."""
    got = [] if into is None else into
    async with backend.load_stream(mint_opaque_id(), start=start, end=end) as chunks:
        async for chunk in chunks:
            got.append(chunk)
    return got


# --- load_range ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "header", "first"),
    [(2, 5, "bytes=2-4", 2), (-3, None, "bytes=-3", 7), (7, None, "bytes=7-", 7)],
)
async def test_a_206_is_the_range_asked_for(
    start: int, end: int | None, header: str, first: int
) -> None:
    expected = _DATA[start:end]
    # Our whole-object CRC32C is in every answer; a strict slice is not held to it.
    client = FakeS3Client(get=[_partial(expected, first, len(_DATA), **_ours(_DATA))])
    async with backend_on(client, prefix="p") as backend:
        assert await backend.load_range(mint_opaque_id(), start, end) == expected
    (call,) = client.calls_to("get_object")
    assert (call["Range"], call["ChecksumMode"]) == (header, "ENABLED")


@pytest.mark.parametrize("intact", [True, False])
async def test_a_206_of_the_whole_object_is_checked_against_its_crc32c(intact: bool) -> None:
    body = _DATA if intact else b"0123456788"
    client = FakeS3Client(get=[_partial(body, 0, 10, **_ours(_DATA)) for _ in range(4)])
    async with backend_on(client) as backend:
        if intact:
            assert await backend.load_range(mint_opaque_id(), 0, 100) == _DATA
        else:
            with pytest.raises(IntegrityError, match="CRC32C mismatch"):
                await backend.load_range(mint_opaque_id(), 0, 100)
            assert len(client.calls_to("get_object")) == 4  # retried, as a load is


@pytest.mark.parametrize(("start", "end"), [(2, 5), (-3, None), (8, None), (20, 30)])
async def test_a_200_that_ignored_range_is_verified_then_sliced(
    start: int, end: int | None
) -> None:
    client = FakeS3Client(get=[_whole(_DATA, ChecksumCRC32C=_crc(_DATA))])
    async with backend_on(client) as backend:
        assert await backend.load_range(mint_opaque_id(), start, end) == _DATA[start:end]


async def test_a_damaged_200_is_integrity_error() -> None:
    client = FakeS3Client(get=[_whole(b"0123456788", **_ours(_DATA)) for _ in range(4)])
    async with backend_on(client) as backend:
        with pytest.raises(IntegrityError, match="CRC32C mismatch"):
            await backend.load_range(mint_opaque_id(), 2, 5)


@pytest.mark.parametrize(
    ("body", "content_range"),
    [(b"012", None), (b"234", "bytes 2-4/4"), (b"23", "bytes 2-4/10"),
     (b"2345", "bytes 2-4/10"), (b"234", ""), (b"234", "bytes */10")],
    ids=["other-range", "past-the-end", "short-body", "long-body", "missing", "malformed"],
)  # fmt: skip
async def test_a_206_that_is_not_the_range_asked_for_is_integrity_error(
    body: bytes, content_range: str | None
) -> None:
    answer = _partial(body, 0, 10, content_range=content_range)
    if content_range == "":
        del answer["ContentRange"]
    client = FakeS3Client(get=[answer])
    async with backend_on(client, retry=_attempts(1)) as backend:
        with pytest.raises(IntegrityError, match="ranged read"):
            await backend.load_range(mint_opaque_id(), 2, 5)


async def test_a_wrong_answer_once_is_read_again() -> None:
    client = FakeS3Client(get=[_partial(b"012", 0, 10), _partial(b"234", 2, 10)])
    async with backend_on(client) as backend:
        assert await backend.load_range(mint_opaque_id(), 2, 5) == b"234"


@pytest.mark.parametrize("code", ["InvalidRange", "416"])
async def test_a_416_is_an_empty_slice_of_an_object_that_exists(code: str) -> None:
    error = client_error(code, 416, operation="GetObject")
    client = FakeS3Client(get=[error, error])
    async with backend_on(client) as backend:
        assert await backend.load_range(mint_opaque_id(), 10) == b""
        assert await _stream(backend, 10) == []
    assert len(client.calls_to("get_object")) == 2  # never retried


@pytest.mark.parametrize(
    ("error", "expected"),
    [(client_error("NoSuchKey", 404, operation="GetObject"), NotFound),
     (client_error("NoSuchBucket", 404, operation="GetObject"), BucketNotFound),
     (client_error("AccessDenied", 403, operation="GetObject"), AccessDenied)],
    ids=["no-such-key", "no-such-bucket", "403"],
)  # fmt: skip
async def test_range_failures_map_as_load_failures_do(
    error: Exception, expected: type[Exception]
) -> None:
    client = FakeS3Client(get=[error, error])
    async with backend_on(client) as backend:
        with pytest.raises(expected):
            await backend.load_range(mint_opaque_id(), 2, 5)
        with pytest.raises(expected):
            await _stream(backend, 2, 5)


# --- a ranged load_stream ---------------------------------------------------------


async def test_a_206_streams_in_pieces() -> None:
    body = os.urandom(3 * _MIB + 7)
    client = FakeS3Client(get=[_partial(body, 5, 4 * _MIB)])
    async with backend_on(client) as backend:
        chunks = await _stream(backend, 5, 5 + len(body))
    assert b"".join(chunks) == body
    assert len(chunks) == 4  # one MiB at a time, never the whole range at once


async def test_a_206_body_cut_short_raises_at_the_end() -> None:
    # The head promised 3 bytes of Content-Range; only 2 came.
    client = FakeS3Client(get=[_partial(b"23", 2, 10, "bytes 2-4/10", ContentLength=3)])
    chunks: list[bytes] = []
    async with backend_on(client) as backend:
        with pytest.raises(IntegrityError, match="2 bytes of body"):
            await _stream(backend, 2, 5, into=chunks)
    assert chunks == [b"23"]


async def test_a_wrong_content_range_is_refused_on_entering_and_retried() -> None:
    bodies = [_partial(b"012", 0, 10) for _ in range(2)]
    client = FakeS3Client(get=[*bodies])
    async with backend_on(client, retry=_attempts(2)) as backend:
        with pytest.raises(IntegrityError, match="ranged read"):
            await _stream(backend, 2, 5)
    assert len(client.calls_to("get_object")) == 2
    assert all(answer["Body"].closed for answer in bodies)


@pytest.mark.parametrize("intact", [True, False])
async def test_a_streamed_206_of_the_whole_object_checks_its_crc32c_at_the_end(
    intact: bool,
) -> None:
    body = _DATA if intact else b"0123456788"
    client = FakeS3Client(get=[_partial(body, 0, 10, **_ours(_DATA))])
    async with backend_on(client) as backend:
        if intact:
            assert await _stream(backend, 0, 10) == [_DATA]
        else:
            with pytest.raises(IntegrityError, match="CRC32C mismatch"):
                await _stream(backend, 0, 10)


@pytest.mark.parametrize(
    ("start", "end"), [(_MIB + 5, 2 * _MIB + 9), (-5, None), (0, 1), (3 * _MIB, None)]
)
async def test_a_streamed_200_hands_out_only_the_range_and_checks_the_whole(
    start: int, end: int | None
) -> None:
    payload = os.urandom(3 * _MIB + 3)
    client = FakeS3Client(get=[_whole(payload, **_ours(payload))])
    async with backend_on(client) as backend:
        assert b"".join(await _stream(backend, start, end)) == payload[start:end]


async def test_a_damaged_streamed_200_raises_at_the_end() -> None:
    payload = os.urandom(2 * _MIB)
    damaged = payload[:-1] + bytes([payload[-1] ^ 1])
    client = FakeS3Client(get=[_whole(damaged, **_ours(payload))])
    chunks: list[bytes] = []
    async with backend_on(client) as backend:
        with pytest.raises(IntegrityError, match="CRC32C mismatch"):
            await _stream(backend, 1, 3, into=chunks)
    assert chunks == [payload[1:3]]


async def test_a_streamed_200_shorter_than_its_length_raises_at_the_end() -> None:
    client = FakeS3Client(get=[_whole(b"01234567", ContentLength=10)])
    async with backend_on(client) as backend:
        with pytest.raises(IntegrityError, match="8 of 10 bytes"):
            await _stream(backend, 2, 5)


async def test_a_streamed_200_without_a_length_is_a_backend_error() -> None:
    answer = _whole(_DATA)
    del answer["ContentLength"]
    client = FakeS3Client(get=[answer])
    async with backend_on(client) as backend:
        with pytest.raises(BackendError, match="Content-Length"):
            await _stream(backend, -3)
    assert answer["Body"].closed
