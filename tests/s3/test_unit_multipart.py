"""``S3Backend.store_stream`` on scripted fakes (``helpers.py``): the multipart
upload and its create-only CompleteMultipartUpload (a 409 restarts the upload, a 412
checks the nonce, every failed try is aborted), one PutObject at or under the
threshold, and the per-part and FULL_OBJECT CRC32C."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pytest

from eden_storage_async import (
    AlreadyExists,
    ConfigError,
    ConflictRetriesExhausted,
    IntegrityError,
    S3Backend,
    mint_opaque_id,
)

from .helpers import _MIB, FakeS3Client, MultipartFake, _crc, backend_on, client_error, received

# --- store_stream: CompleteMultipartUpload's 409 and the abort ---------------


def _stream_backend(client: MultipartFake) -> S3Backend:
    return backend_on(client, multipart_threshold=5 * _MIB, part_size=5 * _MIB)


async def test_stream_above_the_threshold_completes_with_if_none_match_and_a_nonce() -> None:
    client = MultipartFake(complete=[{}])
    async with _stream_backend(client) as backend:
        await backend.store_stream(mint_opaque_id(), [b"a" * 3 * _MIB] * 4)
    [create] = client.calls_to("create_multipart_upload")
    assert set(create["Metadata"]) == {"eden-write-nonce"}
    sizes = [len(call["Body"]) for call in client.calls_to("upload_part")]
    assert sizes == [5 * _MIB, 5 * _MIB, 2 * _MIB]
    [complete] = client.calls_to("complete_multipart_upload")
    assert complete["IfNoneMatch"] == "*"
    assert [p["PartNumber"] for p in complete["MultipartUpload"]["Parts"]] == [1, 2, 3]
    assert client.calls_to("abort_multipart_upload") == []
    assert client.calls_to("put_object") == []


async def test_a_409_at_complete_restarts_the_whole_upload_for_a_list() -> None:
    client = MultipartFake(complete=[client_error("ConditionalRequestConflict", 409), {}])
    async with _stream_backend(client) as backend:
        await backend.store_stream(mint_opaque_id(), [b"a" * 3 * _MIB] * 2)
    assert len(client.calls_to("create_multipart_upload")) == 2
    assert len(client.calls_to("upload_part")) == 4
    [abort] = client.calls_to("abort_multipart_upload")
    assert abort["UploadId"] == "upload-1"


async def test_a_409_at_complete_for_a_one_shot_iterable_is_a_clear_error() -> None:
    client = MultipartFake(complete=[client_error("ConditionalRequestConflict", 409), {}])
    async with _stream_backend(client) as backend:
        with pytest.raises(ConflictRetriesExhausted, match="cannot be sent again"):
            await backend.store_stream(mint_opaque_id(), iter([b"a" * 3 * _MIB] * 2))
    assert len(client.calls_to("create_multipart_upload")) == 1
    assert len(client.calls_to("abort_multipart_upload")) == 1


async def test_a_409_at_complete_past_the_bound_raises_conflict_retries_exhausted() -> None:
    client = MultipartFake(complete=[client_error("ConditionalRequestConflict", 409)] * 4)
    async with _stream_backend(client) as backend:
        with pytest.raises(ConflictRetriesExhausted):
            await backend.store_stream(mint_opaque_id(), [b"a" * 6 * _MIB])
    assert len(client.calls_to("create_multipart_upload")) == 4
    assert len(client.calls_to("abort_multipart_upload")) == 4


async def test_a_412_at_complete_is_already_exists_and_the_upload_is_aborted() -> None:
    client = MultipartFake(complete=[client_error("PreconditionFailed", 412)])
    client.scripts["head_object"] = [
        {"Metadata": {"eden-write-nonce": "someone-else"}, "ContentLength": 6 * _MIB}
    ]
    async with _stream_backend(client) as backend:
        with pytest.raises(AlreadyExists):
            await backend.store_stream(mint_opaque_id(), [b"a" * 6 * _MIB])
    assert len(client.calls_to("abort_multipart_upload")) == 1


async def test_a_412_at_complete_on_our_own_nonce_is_success() -> None:
    # A Complete whose reply was lost and which botocore re-sent: the first landed.
    def ours(fake: FakeS3Client) -> Mapping[str, Any]:
        sent = fake.calls_to("create_multipart_upload")[0]["Metadata"]["eden-write-nonce"]
        return {"Metadata": {"eden-write-nonce": sent}, "ContentLength": 6 * _MIB}

    client = MultipartFake(complete=[client_error("PreconditionFailed", 412)])
    client.scripts["head_object"] = [ours]
    async with _stream_backend(client) as backend:
        await backend.store_stream(mint_opaque_id(), [b"a" * 6 * _MIB])


@pytest.mark.parametrize("size", [4 * _MIB, 5 * _MIB])
async def test_a_stream_at_or_under_the_threshold_is_one_put_object(size: int) -> None:
    client = MultipartFake(complete=[])
    client.scripts["put_object"] = [{}]
    async with _stream_backend(client) as backend:
        await backend.store_stream(mint_opaque_id(), [b"a" * size])
    [put] = client.calls_to("put_object")
    assert len(put["Body"]) == size
    assert put["IfNoneMatch"] == "*"
    assert client.calls_to("create_multipart_upload") == []


@pytest.mark.parametrize(
    "kwargs", [{"part_size": 5 * _MIB - 1}, {"multipart_threshold": -1}], ids=repr
)
def test_bad_stream_settings_raise_config_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        S3Backend(bucket="b", **kwargs)


# --- multipart: per-part CRC32C and a FULL_OBJECT whole --------------------------


async def test_multipart_parts_carry_their_crc32c_and_complete_the_whole() -> None:
    payload = os.urandom(12 * _MIB)
    client = MultipartFake(complete=[{}])
    async with _stream_backend(client) as backend:
        await backend.store_stream(
            mint_opaque_id(), [payload[i : i + _MIB] for i in range(0, 12 * _MIB, _MIB)]
        )
    [create] = client.calls_to("create_multipart_upload")
    assert (create["ChecksumAlgorithm"], create["ChecksumType"]) == ("CRC32C", "FULL_OBJECT")
    parts = client.calls_to("upload_part")
    assert [p["ChecksumCRC32C"] for p in parts] == [_crc(p["Body"]) for p in parts]
    assert b"".join(p["Body"] for p in parts) == payload
    [complete] = client.calls_to("complete_multipart_upload")
    assert complete["ChecksumCRC32C"] == _crc(payload)
    assert complete["ChecksumType"] == "FULL_OBJECT"
    listed = complete["MultipartUpload"]["Parts"]
    assert [p["ChecksumCRC32C"] for p in listed] == [p["ChecksumCRC32C"] for p in parts]


async def test_a_412_at_complete_compares_the_whole_crc32c() -> None:
    def ours_but_damaged(fake: FakeS3Client) -> Mapping[str, Any]:
        sent = fake.calls_to("create_multipart_upload")[0]["Metadata"]
        return {"Metadata": sent, "ContentLength": 6 * _MIB, "ChecksumCRC32C": _crc(b"no")}

    client = MultipartFake(complete=[client_error("PreconditionFailed", 412)])
    client.scripts["head_object"] = [ours_but_damaged]
    async with _stream_backend(client) as backend:
        with pytest.raises(IntegrityError):
            await backend.store_stream(mint_opaque_id(), [b"a" * 6 * _MIB])


async def test_a_part_damaged_on_the_way_is_sent_again() -> None:
    class Flaky(MultipartFake):
        async def upload_part(self, **kwargs: Any) -> Mapping[str, Any]:
            if not self.calls_to("upload_part"):
                self.calls.append(("upload_part", await received(kwargs)))
                raise client_error("BadDigest", 400, operation="UploadPart")
            return await super().upload_part(**kwargs)

    client = Flaky(complete=[{}])
    async with _stream_backend(client) as backend:
        await backend.store_stream(mint_opaque_id(), [b"a" * 6 * _MIB])
    first, second, _ = client.calls_to("upload_part")
    assert first == second
