"""Attributes on every upload path, on scripted fakes: ``Content-Type`` always sent
(the default when none is given) and the caller's metadata merged with our
bookkeeping, on PutObject and on CreateMultipartUpload, where they are fixed until
the upload completes; on the wire, on both request paths, the headers as sent and
signed."""

from __future__ import annotations

from typing import Literal

import pytest

from eden_storage_async import mint_opaque_id
from eden_storage_async._core.attributes import DEFAULT_CONTENT_TYPE

from .helpers import _MIB, FakeS3Client, MultipartFake, _crc, backend_on
from .lean_helpers import FakeS3, backend_on_fake, ok

_TYPE = "text/csv; charset=utf-8"
_METADATA = {"owner": "ada", "note": "a=b c"}


async def test_store_sends_the_content_type_and_the_callers_metadata_beside_ours() -> None:
    client = FakeS3Client(put=[{}])
    async with backend_on(client) as backend:
        await backend.store(mint_opaque_id(), b"data", content_type=_TYPE, metadata=_METADATA)
    (call,) = client.calls_to("put_object")
    assert call["ContentType"] == "text/csv; charset=utf-8"
    metadata = call["Metadata"]
    assert set(metadata) == {"owner", "note", "eden-write-nonce", "eden-crc32c"}
    assert (metadata["owner"], metadata["note"]) == ("ada", "a=b c")
    assert metadata["eden-crc32c"] == _crc(b"data")


async def test_a_store_without_attributes_sends_the_default_content_type() -> None:
    # Always sent, so stat reads the same type back whatever the service defaults to.
    client = FakeS3Client(put=[{}])
    async with backend_on(client) as backend:
        await backend.store(mint_opaque_id(), b"data")
    (call,) = client.calls_to("put_object")
    assert call["ContentType"] == DEFAULT_CONTENT_TYPE == "application/octet-stream"
    assert set(call["Metadata"]) == {"eden-write-nonce", "eden-crc32c"}


@pytest.mark.parametrize("size", [5 * _MIB, 5 * _MIB + 1], ids=["one-put", "multipart"])
async def test_store_stream_publishes_the_attributes_on_either_upload(size: int) -> None:
    client = MultipartFake(complete=[{}])
    client.scripts["put_object"].append({})
    async with backend_on(client, multipart_threshold=5 * _MIB, part_size=5 * _MIB) as backend:
        await backend.store_stream(
            mint_opaque_id(), [b"a" * size], content_type=_TYPE, metadata=_METADATA
        )
    if size <= 5 * _MIB:
        (call,) = client.calls_to("put_object")
        assert client.calls_to("create_multipart_upload") == []
    else:
        (call,) = client.calls_to("create_multipart_upload")
        assert client.calls_to("put_object") == []
        # Only CreateMultipartUpload takes attributes; the rest carry none.
        for later in client.calls_to("upload_part") + client.calls_to("complete_multipart_upload"):
            assert "Metadata" not in later
            assert "ContentType" not in later
    assert call["ContentType"] == "text/csv; charset=utf-8"
    assert {k: v for k, v in call["Metadata"].items() if not k.startswith("eden-")} == _METADATA
    assert "eden-write-nonce" in call["Metadata"]


async def test_a_multipart_store_without_attributes_sends_the_default_content_type() -> None:
    client = MultipartFake(complete=[{}])
    async with backend_on(client, multipart_threshold=5 * _MIB, part_size=5 * _MIB) as backend:
        await backend.store_stream(mint_opaque_id(), [b"a" * (6 * _MIB)])
    (create,) = client.calls_to("create_multipart_upload")
    assert create["ContentType"] == DEFAULT_CONTENT_TYPE
    assert set(create["Metadata"]) == {"eden-write-nonce"}


def _signed_headers(authorization: str) -> set[str]:
    return set(authorization.split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";"))


@pytest.mark.usefixtures("creds")
@pytest.mark.parametrize("request_path", ["lean", "sdk"])
async def test_the_attributes_go_out_as_signed_headers(
    request_path: Literal["lean", "sdk"],
) -> None:
    async with FakeS3(ok()) as fake, backend_on_fake(fake, request_path) as backend:
        await backend.store(mint_opaque_id(), b"data", content_type=_TYPE, metadata=_METADATA)
    (request,) = fake.requests
    sent = request.headers
    assert sent["Content-Type"] == "text/csv; charset=utf-8"
    assert sent["x-amz-meta-owner"] == "ada"
    assert sent["x-amz-meta-note"] == "a=b c"
    assert sent["x-amz-meta-eden-crc32c"] == _crc(b"data")
    assert len(sent["x-amz-meta-eden-write-nonce"]) == 32
    signed = _signed_headers(sent["Authorization"])
    assert {
        "content-type",
        "x-amz-meta-owner",
        "x-amz-meta-note",
        "x-amz-meta-eden-crc32c",
        "x-amz-meta-eden-write-nonce",
    } <= signed, signed
