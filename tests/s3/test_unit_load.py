"""``S3Backend.load`` and ``load_stream`` on scripted fakes (``helpers.py``): the
body closed on every path, NoSuchKey as the only NotFound, and the CRC32C checked on
every load (a whole read never returns damaged bytes; a stream raises at its end)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from botocore.exceptions import ClientError

from eden_storage_async import (
    AccessDenied,
    BackendError,
    BucketNotFound,
    IntegrityError,
    NotFound,
    S3Backend,
    ServiceUnavailable,
    mint_opaque_id,
)

from .helpers import _MIB, FakeBody, FakeS3Client, _crc, backend_on, client_error

# --- load -------------------------------------------------------------------


async def test_load_reads_the_body_inside_a_context_that_closes_it() -> None:
    body = FakeBody(b"payload")
    client = FakeS3Client(get=[{"Body": body}])
    async with backend_on(client) as backend:
        assert await backend.load(mint_opaque_id()) == b"payload"
    assert body.closed


async def test_load_closes_the_body_when_the_read_fails() -> None:
    from botocore.exceptions import ResponseStreamingError

    bodies = [FakeBody(ResponseStreamingError(error="reset")) for _ in range(4)]
    client = FakeS3Client(get=[{"Body": body} for body in bodies])
    async with backend_on(client) as backend:
        with pytest.raises(ServiceUnavailable):
            await backend.load(mint_opaque_id())
    assert all(body.closed for body in bodies)


async def test_no_such_key_is_not_found() -> None:
    client = FakeS3Client(get=[client_error("NoSuchKey", 404, operation="GetObject")])
    async with backend_on(client) as backend:
        with pytest.raises(NotFound) as caught:
            await backend.load(mint_opaque_id())
    assert isinstance(caught.value.__cause__, ClientError)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (client_error("NoSuchBucket", 404, operation="GetObject"), BucketNotFound),
        (client_error("404", 404, operation="GetObject"), BackendError),
        (client_error("AccessDenied", 403, operation="GetObject"), AccessDenied),
        (client_error("InternalError", 500, operation="GetObject"), ServiceUnavailable),
        (client_error("NotImplemented", 501, operation="GetObject"), BackendError),
    ],
    ids=["no-such-bucket", "bare-404", "403", "500", "501"],
)
async def test_load_failures_other_than_no_such_key_are_not_not_found(
    error: ClientError, expected: type[BackendError]
) -> None:
    client = FakeS3Client(get=[error] * 4)
    async with backend_on(client) as backend:
        with pytest.raises(expected) as caught:
            await backend.load(mint_opaque_id())
    assert type(caught.value) is expected
    assert caught.value.__cause__ is error


# --- integrity: the CRC32C checked on every load ------------------------------


def _get(body: bytes, **fields: Any) -> dict[str, Any]:
    return {"Body": FakeBody(body), "ContentLength": len(body), **fields}


@pytest.mark.parametrize(
    "fields",
    [
        {"ChecksumCRC32C": _crc(b"payload")},
        {"Metadata": {"eden-crc32c": _crc(b"payload")}},
        {"ChecksumCRC32C": _crc(b"payload"), "Metadata": {"eden-crc32c": _crc(b"payload")}},
    ],
    ids=["service", "metadata-only", "both"],
)
async def test_a_corrupt_body_is_integrity_error_and_never_returned(
    fields: dict[str, Any],
) -> None:
    client = FakeS3Client(get=[_get(b"pAyload", **fields) for _ in range(4)])
    async with backend_on(client) as backend:
        with pytest.raises(IntegrityError, match="CRC32C mismatch") as caught:
            await backend.load(mint_opaque_id())
    assert "pAyload" not in str(caught.value)
    assert len(client.calls_to("get_object")) == 4
    assert client.calls_to("get_object")[0]["ChecksumMode"] == "ENABLED"


async def test_a_body_damaged_once_on_the_way_is_read_again() -> None:
    fields = {"ChecksumCRC32C": _crc(b"payload")}
    client = FakeS3Client(get=[_get(b"pAyload", **fields), _get(b"payload", **fields)])
    async with backend_on(client) as backend:
        assert await backend.load(mint_opaque_id()) == b"payload"


async def test_service_and_metadata_checksums_must_both_match() -> None:
    # The service vouches for what it holds, our metadata for what we sent.
    fields = {"ChecksumCRC32C": _crc(b"payload"), "Metadata": {"eden-crc32c": _crc(b"other")}}
    client = FakeS3Client(get=[_get(b"payload", **fields) for _ in range(4)])
    async with backend_on(client) as backend:
        with pytest.raises(IntegrityError):
            await backend.load(mint_opaque_id())


@pytest.mark.parametrize(
    "fields", [{}, {"ChecksumCRC32C": "AAAAAA==-3"}], ids=["no-checksum", "composite-only"]
)
async def test_an_object_without_a_whole_crc32c_loads_unverified(fields: dict[str, Any]) -> None:
    client = FakeS3Client(get=[_get(b"written by another tool", **fields)])
    async with backend_on(client) as backend:
        assert await backend.load(mint_opaque_id()) == b"written by another tool"


async def test_a_checksum_botocore_checked_itself_is_integrity_error() -> None:
    from botocore.exceptions import FlexibleChecksumError

    error = FlexibleChecksumError(error_msg="Expected checksum x did not match")
    client = FakeS3Client(get=[error] * 4)
    async with backend_on(client) as backend:
        with pytest.raises(IntegrityError) as caught:
            await backend.load(mint_opaque_id())
    assert caught.value.__cause__ is error


async def _read_stream(backend: S3Backend, chunks: list[bytes]) -> None:
    async with backend.load_stream(mint_opaque_id()) as stream:
        async for chunk in stream:
            chunks.append(chunk)


async def test_load_stream_hands_bytes_out_and_raises_at_the_end_on_a_mismatch() -> None:
    payload = os.urandom(3 * _MIB + 7)
    damaged = payload[:-1] + bytes([payload[-1] ^ 1])
    client = FakeS3Client(get=[_get(damaged, ChecksumCRC32C=_crc(payload))])
    chunks: list[bytes] = []
    async with backend_on(client) as backend:
        with pytest.raises(IntegrityError):
            await _read_stream(backend, chunks)
    # Streamed bytes cannot be taken back: all arrived, and the error came at the end.
    assert b"".join(chunks) == damaged
    assert len(chunks) == 4


@pytest.mark.parametrize("where", ["service", "metadata"])
async def test_load_stream_of_intact_bytes_ends_normally(where: str) -> None:
    payload = os.urandom(2 * _MIB + 1)
    fields: dict[str, Any] = (
        {"ChecksumCRC32C": _crc(payload)}
        if where == "service"
        else {"Metadata": {"eden-crc32c": _crc(payload)}}
    )
    client = FakeS3Client(get=[_get(payload, **fields)])
    chunks: list[bytes] = []
    async with backend_on(client) as backend:
        await _read_stream(backend, chunks)
    assert b"".join(chunks) == payload


async def test_load_stream_retries_the_request_but_not_the_body() -> None:
    client = FakeS3Client(
        get=[client_error("SlowDown", 503, operation="GetObject"), _get(b"x", Metadata={})]
    )
    chunks: list[bytes] = []
    async with backend_on(client) as backend:
        await _read_stream(backend, chunks)
    assert chunks == [b"x"]
