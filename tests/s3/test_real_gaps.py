"""Emulator gaps pinned on the real servers, so an upgrade that changes one shows
up here: what SeaweedFS 4.48 and moto 5.2.5 do with a PUT whose body never arrives,
where ``weed mini`` leaves its volume files, an empty metadata value, a suffix range
of an empty object, and metadata over S3's 2 KiB. (The CRC32C gaps are pinned next to
the checksum tests, in ``test_real_integrity.py`` and ``test_lean_servers.py``.)"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from eden_storage_async import mint_opaque_id

from ..support.s3 import fresh_prefix, raw_client, s3_backend_on, use_test_credentials
from ..support.servers import RealServer

pytestmark = pytest.mark.real_server


# What each server does with a PUT whose client vanishes after sending the
# headers but before a single body byte. SeaweedFS 4.48 publishes an EMPTY
# object under the key, with the request's metadata; moto publishes nothing.
# S3Backend narrows the window (no "Expect: 100-continue" wait between headers
# and body) and never reports such an object as its own write (length check).
_PUBLISHES_EMPTY_OBJECT = {"seaweedfs": True, "moto": False}


async def test_a_put_whose_body_never_arrives(server: RealServer) -> None:
    key = f"{fresh_prefix()}/{mint_opaque_id()}"
    parts = urlsplit(server.endpoint_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(
        f"PUT /{server.bucket}/{key} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Content-Length: 4096\r\nIf-None-Match: *\r\nx-amz-meta-eden-write-nonce: n\r\n"
        "Expect: 100-continue\r\n\r\n".encode()
    )
    await writer.drain()
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim.startswith(b"HTTP/1.1 100")
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(1.0)  # let the server act on the dropped request
    async with raw_client(server) as client:
        listed = await client.list_objects_v2(Bucket=server.bucket, Prefix=key)
        found = [(entry["Key"], entry["Size"]) for entry in listed.get("Contents", [])]
        published = bool(found)
        if published:
            assert found == [(key, 0)]
            head = await client.head_object(Bucket=server.bucket, Key=key)
            assert head["Metadata"] == {"eden-write-nonce": "n"}
    assert published == _PUBLISHES_EMPTY_OBJECT[server.name]


def test_seaweedfs_4_48_gap_keeps_volume_files_in_tmpdir(seaweedfs: RealServer) -> None:
    """`weed mini` writes a directory of volume files (``*.dat``, ``*.idx``) into
    ``$TMPDIR`` on every start, whatever ``-dir`` says, and leaves it behind.
    ``tests.support.servers`` points ``$TMPDIR`` inside the server's own temp dir, so
    the files are removed with it instead of piling up in the system one."""
    scratch = seaweedfs.log_path.parent / "scratch"
    assert list(scratch.glob("*/*.idx")), "SeaweedFS no longer writes to $TMPDIR: drop the override"


async def test_seaweedfs_4_48_gap_drops_an_empty_metadata_value_on_put_object(
    seaweedfs: RealServer, moto: RealServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SeaweedFS 4.48 stores a PutObject without a metadata key whose value is
    empty (``x-amz-meta-empty:``), though the request carries it; it keeps the
    key on CreateMultipartUpload, and moto 5.2.5 keeps it on both. That is why
    ``check_attributes`` refuses an empty value before any I/O: it would not
    read back the same from every store. Sent here with the SDK directly."""
    use_test_credentials(monkeypatch)
    metadata = {"empty": "", "full": "x"}
    kept: dict[tuple[str, str], bool] = {}
    for server in (seaweedfs, moto):
        async with raw_client(server) as client:
            put_key, multipart_key = f"{fresh_prefix()}/put", f"{fresh_prefix()}/multipart"
            await client.put_object(Bucket=server.bucket, Key=put_key, Body=b"x", Metadata=metadata)
            upload = await client.create_multipart_upload(
                Bucket=server.bucket, Key=multipart_key, Metadata=metadata
            )
            part = await client.upload_part(
                Bucket=server.bucket,
                Key=multipart_key,
                UploadId=upload["UploadId"],
                PartNumber=1,
                Body=b"y",
            )
            await client.complete_multipart_upload(
                Bucket=server.bucket,
                Key=multipart_key,
                UploadId=upload["UploadId"],
                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
            )
            for how, key in (("put", put_key), ("multipart", multipart_key)):
                head = await client.head_object(Bucket=server.bucket, Key=key)
                assert head["Metadata"] in (metadata, {"full": "x"})
                kept[server.name, how] = head["Metadata"] == metadata
    assert kept == {
        ("seaweedfs", "put"): False,
        ("seaweedfs", "multipart"): True,
        ("moto", "put"): True,
        ("moto", "multipart"): True,
    }


async def test_moto_5_2_5_gap_answers_a_suffix_range_of_an_empty_object_with_200(
    seaweedfs: RealServer, moto: RealServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Range: bytes=-3`` of an empty object: moto 5.2.5 answers 200 and the
    empty body, SeaweedFS 4.48 416 ``InvalidRange`` (as RFC 9110 has it for any
    range of an empty representation). Both read as ``b""``."""
    use_test_credentials(monkeypatch)
    answers = {}
    for server in (seaweedfs, moto):
        key = f"{fresh_prefix()}/{mint_opaque_id()}"
        async with raw_client(server) as client:
            await client.put_object(Bucket=server.bucket, Key=key, Body=b"")
            try:
                got = await client.get_object(Bucket=server.bucket, Key=key, Range="bytes=-3")
                async with got["Body"] as stream:
                    body = await stream.read()
                answers[server.name] = (got["ResponseMetadata"]["HTTPStatusCode"], body)
            except ClientError as exc:
                meta, error = exc.response["ResponseMetadata"], exc.response["Error"]
                answers[server.name] = (meta["HTTPStatusCode"], error["Code"])
        prefix, opaque_id = key.split("/")
        async with s3_backend_on(server, prefix=prefix) as backend:
            assert await backend.load_range(opaque_id, -3) == b""
    assert answers == {"seaweedfs": (416, "InvalidRange"), "moto": (200, b"")}


async def test_seaweedfs_4_48_and_moto_5_2_5_gap_accept_metadata_over_2_kib(
    server: RealServer,
) -> None:
    """AWS refuses more than 2 KiB of user metadata (400 ``MetadataTooLarge``);
    neither test server does. ``check_attributes`` keeps every store under the
    limit before any I/O, so this is never what refuses a store here."""
    key = f"{fresh_prefix()}/{mint_opaque_id()}"
    metadata = {"k": "v" * 4096}
    async with raw_client(server) as client:
        await client.put_object(Bucket=server.bucket, Key=key, Body=b"x", Metadata=metadata)
        head = await client.head_object(Bucket=server.bucket, Key=key)
    assert head["Metadata"] == metadata
