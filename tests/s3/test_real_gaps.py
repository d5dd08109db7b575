"""Emulator gaps pinned on the real servers, so an upgrade that changes one shows
up here: what SeaweedFS 4.48 and moto 5.2.5 do with a PUT whose body never arrives,
and where ``weed mini`` leaves its volume files. (The CRC32C gaps are pinned next to
the checksum tests, in ``test_real_integrity.py`` and ``test_lean_servers.py``.)"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest

from eden_storage_async import mint_opaque_id

from ..support.s3 import fresh_prefix, raw_client
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
