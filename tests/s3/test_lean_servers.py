"""The lean S3 request path (``_s3/lean/calls.py``) on the real servers, SeaweedFS
and moto: a round trip with metadata and checksum, the servers' CRC32C handling,
create-only reuse, missing keys and buckets, objects the SDK wrote and an empty one,
each checked against what an aiobotocore client returns (``lean_helpers.py``)."""

from __future__ import annotations

import os

import pytest
from botocore.exceptions import ClientError

from eden_storage_async import AlreadyExists, BucketNotFound, NotFound
from eden_storage_async._core.checksum import crc32c_b64
from eden_storage_async._s3.errors import LOAD_CODES, STORE_CODES

from ..support.s3 import fresh_prefix, use_test_credentials
from ..support.servers import RealServer
from .lean_helpers import _translated, lean_on


@pytest.mark.real_server
async def test_round_trip_with_metadata_and_checksum(server: RealServer) -> None:
    key = f"{fresh_prefix()}/a b+c~d"  # characters botocore percent-encodes
    data = os.urandom(5000)
    async with lean_on(server) as (lean, client):
        put = await lean.put_object(
            Bucket=server.bucket, Key=key, Body=data, IfNoneMatch="*",
            Metadata={"eden-write-nonce": "n1"}, ChecksumCRC32C=crc32c_b64(data),
        )  # fmt: skip
        assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert put["ResponseMetadata"]["RetryAttempts"] == 0
        assert put["ETag"]
        got = await lean.get_object(Bucket=server.bucket, Key=key, ChecksumMode="ENABLED")
        async with got["Body"] as stream:
            first = await stream.read(1000)
            rest = await stream.read()
            assert await stream.read() == b""
        assert first + rest == data
        assert got["ContentLength"] == len(data)
        assert got["Metadata"] == {"eden-write-nonce": "n1"}
        assert got["ETag"] == put["ETag"]
        head = await lean.head_object(Bucket=server.bucket, Key=key, ChecksumMode="ENABLED")
        assert head["ContentLength"] == len(data)
        assert head["Metadata"] == {"eden-write-nonce": "n1"}
        # The same fields as the SDK's own answer.
        sdk_head = await client.head_object(Bucket=server.bucket, Key=key, ChecksumMode="ENABLED")
        for field in ("ContentLength", "Metadata", "ETag", "ChecksumCRC32C"):
            assert head.get(field) == sdk_head.get(field), field


@pytest.mark.real_server
async def test_seaweedfs_keeps_and_returns_the_checksum(
    seaweedfs: RealServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_test_credentials(monkeypatch)
    key = f"{fresh_prefix()}/x"
    data = os.urandom(4096)
    async with lean_on(seaweedfs) as (lean, _):
        put = await lean.put_object(Bucket=seaweedfs.bucket, Key=key, Body=data,
                                    IfNoneMatch="*", ChecksumCRC32C=crc32c_b64(data))  # fmt: skip
        assert put["ChecksumCRC32C"] == crc32c_b64(data)
        got = await lean.get_object(Bucket=seaweedfs.bucket, Key=key, ChecksumMode="ENABLED")
        async with got["Body"] as stream:
            assert await stream.read() == data
        assert got["ChecksumCRC32C"] == crc32c_b64(data)
        head = await lean.head_object(Bucket=seaweedfs.bucket, Key=key)
        assert "ChecksumCRC32C" not in head  # only with ChecksumMode=ENABLED


@pytest.mark.real_server
async def test_seaweedfs_refuses_a_wrong_checksum_with_bad_digest(
    seaweedfs: RealServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_test_credentials(monkeypatch)
    key = f"{fresh_prefix()}/x"
    async with lean_on(seaweedfs) as (lean, _):
        with pytest.raises(ClientError) as caught:
            await lean.put_object(Bucket=seaweedfs.bucket, Key=key, Body=b"hello",
                                  IfNoneMatch="*", ChecksumCRC32C=crc32c_b64(b"hellO"))  # fmt: skip
        assert caught.value.response["Error"]["Code"] == "BadDigest"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        with pytest.raises(ClientError, match="NoSuchKey"):
            await lean.get_object(Bucket=seaweedfs.bucket, Key=key)


@pytest.mark.real_server
async def test_moto_5_2_5_gap_accepts_a_wrong_checksum(
    moto: RealServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pinned emulator gap: moto 5.2.5 stores a body whose x-amz-checksum-crc32c is
    wrong (real S3 and SeaweedFS 4.48 answer 400 BadDigest). The header is sent
    all the same: see test_the_request_carries_exactly_the_contract_headers."""
    use_test_credentials(monkeypatch)
    key = f"{fresh_prefix()}/x"
    async with lean_on(moto) as (lean, _):
        await lean.put_object(Bucket=moto.bucket, Key=key, Body=b"hello",
                              IfNoneMatch="*", ChecksumCRC32C=crc32c_b64(b"hellO"))  # fmt: skip


@pytest.mark.real_server
async def test_reuse_is_412_and_keeps_the_first_bytes(server: RealServer) -> None:
    key = f"{fresh_prefix()}/x"
    async with lean_on(server) as (lean, _):
        await lean.put_object(Bucket=server.bucket, Key=key, Body=b"first", IfNoneMatch="*")
        with pytest.raises(ClientError) as caught:
            await lean.put_object(Bucket=server.bucket, Key=key, Body=b"second", IfNoneMatch="*")
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
        assert caught.value.response["Error"]["Code"] == "PreconditionFailed"
        assert isinstance(_translated(caught.value, STORE_CODES), AlreadyExists)
        got = await lean.get_object(Bucket=server.bucket, Key=key)
        async with got["Body"] as stream:
            assert await stream.read() == b"first"


@pytest.mark.real_server
async def test_missing_key_and_missing_bucket(server: RealServer) -> None:
    key = f"{fresh_prefix()}/absent"
    async with lean_on(server) as (lean, client):
        with pytest.raises(ClientError) as missing_key:
            await lean.get_object(Bucket=server.bucket, Key=key)
        assert missing_key.value.response["Error"]["Code"] == "NoSuchKey"
        assert isinstance(_translated(missing_key.value, LOAD_CODES), NotFound)
        with pytest.raises(ClientError) as missing_bucket:
            await lean.get_object(Bucket="eden-no-such-bucket", Key=key)
        assert missing_bucket.value.response["Error"]["Code"] == "NoSuchBucket"
        assert isinstance(_translated(missing_bucket.value, LOAD_CODES), BucketNotFound)
        with pytest.raises(ClientError) as put_missing_bucket:
            await lean.put_object(Bucket="eden-no-such-bucket", Key=key, Body=b"x")
        assert isinstance(_translated(put_missing_bucket.value, STORE_CODES), BucketNotFound)
        # HEAD has no body: the status is the code, exactly as botocore reports it.
        with pytest.raises(ClientError) as head_missing:
            await lean.head_object(Bucket=server.bucket, Key=key)
        with pytest.raises(ClientError) as sdk_head_missing:
            await client.head_object(Bucket=server.bucket, Key=key)
        assert head_missing.value.response["Error"] == sdk_head_missing.value.response["Error"]
        assert head_missing.value.response["Error"]["Code"] == "404"
        assert not isinstance(_translated(head_missing.value, LOAD_CODES), NotFound)


@pytest.mark.real_server
async def test_lean_and_sdk_read_each_others_objects(server: RealServer) -> None:
    prefix = fresh_prefix()
    async with lean_on(server) as (lean, client):
        await lean.put_object(Bucket=server.bucket, Key=f"{prefix}/lean", Body=b"by lean",
                              IfNoneMatch="*", Metadata={"k": "v1"})  # fmt: skip
        sdk_got = await client.get_object(Bucket=server.bucket, Key=f"{prefix}/lean")
        async with sdk_got["Body"] as stream:
            assert await stream.read() == b"by lean"
        assert sdk_got["Metadata"] == {"k": "v1"}
        await client.put_object(Bucket=server.bucket, Key=f"{prefix}/sdk", Body=b"by sdk",
                                IfNoneMatch="*", Metadata={"k": "v2"})  # fmt: skip
        got = await lean.get_object(Bucket=server.bucket, Key=f"{prefix}/sdk")
        async with got["Body"] as stream:
            assert await stream.read() == b"by sdk"
        assert got["Metadata"] == {"k": "v2"}


@pytest.mark.real_server
async def test_an_empty_object(server: RealServer) -> None:
    key = f"{fresh_prefix()}/empty"
    async with lean_on(server) as (lean, client):
        await lean.put_object(Bucket=server.bucket, Key=key, Body=b"", IfNoneMatch="*")
        got = await lean.get_object(Bucket=server.bucket, Key=key)
        async with got["Body"] as stream:
            assert await stream.read() == b""
        assert got["ContentLength"] == 0
        assert (await client.head_object(Bucket=server.bucket, Key=key))["ContentLength"] == 0
