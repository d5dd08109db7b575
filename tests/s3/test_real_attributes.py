"""Attributes and ``stat`` on the real servers, on both request paths: the content
type and metadata published with the object on a single PutObject and on a
multipart upload, read back by ``stat`` and by a plain client; ``stat`` of a missing
key and of a missing bucket."""

from __future__ import annotations

import os
from typing import Literal

import pytest

from eden_storage_async import ArtifactInfo, BucketNotFound, NotFound, mint_opaque_id
from eden_storage_async._core.checksum import crc32c_b64

from ..support.s3 import raw_client, s3_backend_on
from ..support.servers import RealServer

pytestmark = [pytest.mark.real_server, pytest.mark.parametrize("path", ["lean", "sdk"])]

Path = Literal["lean", "sdk"]
_TYPE = 'text/csv; charset=utf-8; header="present"'
# No empty value here: SeaweedFS 4.48 drops one on PutObject (test_real_gaps.py).
_METADATA = {"owner": "ada", "sha": "=?a,b&c%41\"'~", "z-last": "x  y"}


async def test_attributes_round_trip_on_one_put_and_on_a_multipart_upload(
    server: RealServer, path: Path
) -> None:
    small, large = os.urandom(700), os.urandom(3000)
    put_id, multipart_id, plain_id = mint_opaque_id(), mint_opaque_id(), mint_opaque_id()
    # A threshold of 1 KiB sends the 3000-byte stream as a multipart upload
    # (one last part may be any size).
    async with (
        s3_backend_on(server, request_path=path, multipart_threshold=1024) as backend,
        raw_client(server) as client,
    ):
        await backend.store(put_id, small, content_type=_TYPE, metadata=_METADATA)
        await backend.store_stream(
            multipart_id, [large[:1500], large[1500:]], content_type=_TYPE, metadata=_METADATA
        )
        await backend.store(plain_id, b"plain")
        for opaque_id, data in ((put_id, small), (multipart_id, large)):
            assert await backend.stat(opaque_id) == ArtifactInfo(
                size=len(data), crc32c=crc32c_b64(data), content_type=_TYPE, metadata=_METADATA
            )
            assert await backend.load(opaque_id) == data
        plain = await backend.stat(plain_id)
        assert (plain.content_type, dict(plain.metadata)) == ("application/octet-stream", {})
        # What another S3 client sees: the same type and keys, and our bookkeeping,
        # which stat never shows.
        keys = {opaque_id: f"{backend.prefix}/{opaque_id}" for opaque_id in (put_id, multipart_id)}
        put_head = await client.head_object(Bucket=server.bucket, Key=keys[put_id])
        multipart_head = await client.head_object(Bucket=server.bucket, Key=keys[multipart_id])
    for head in (put_head, multipart_head):
        assert head["ContentType"] == _TYPE
        assert {k: v for k, v in head["Metadata"].items() if not k.startswith("eden-")} == _METADATA
    assert set(put_head["Metadata"]) - set(_METADATA) == {"eden-crc32c", "eden-write-nonce"}
    # No CRC32C copy on a multipart upload (metadata is fixed before the bytes are
    # known), which also shows this one took the multipart path.
    assert set(multipart_head["Metadata"]) - set(_METADATA) == {"eden-write-nonce"}


async def test_stat_of_a_missing_key_is_not_found(server: RealServer, path: Path) -> None:
    async with s3_backend_on(server, request_path=path) as backend:
        with pytest.raises(NotFound):
            await backend.stat(mint_opaque_id())


async def test_stat_on_a_missing_bucket_is_bucket_not_found(server: RealServer, path: Path) -> None:
    async with s3_backend_on(server, bucket="eden-no-such-bucket", request_path=path) as backend:
        with pytest.raises(BucketNotFound, match="eden-no-such-bucket") as caught:
            await backend.stat(mint_opaque_id())
        with pytest.raises(BucketNotFound):
            await backend.load_range(mint_opaque_id(), 2, 5)
    assert not isinstance(caught.value, NotFound)
