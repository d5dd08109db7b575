"""CRC32C integrity on the real servers: what each does with a PutObject whose
checksum does not match its body, damage caught on load and ``load_stream``, intact
objects verified on both paths, a multipart object's whole CRC32C, and moto's CRC32C
gap without the optional ``crc32c`` package."""

from __future__ import annotations

import base64
import os
import sys
import zlib

import pytest
from botocore.exceptions import ClientError

from eden_storage_async import IntegrityError, NotFound, S3Backend, mint_opaque_id
from eden_storage_async._core.checksum import crc32c_b64
from eden_storage_async._core.retry import Backoff

from ..support.s3 import fresh_prefix, raw_client, s3_backend_on
from ..support.servers import RealServer
from .helpers import _MIB

pytestmark = pytest.mark.real_server


# What each server does with a PutObject whose x-amz-checksum-crc32c does not
# match its body: SeaweedFS 4.48 refuses it (400 BadDigest) and stores nothing;
# moto 5.2.5 stores it anyway and never hands a PutObject's checksum back. So on
# moto only our metadata copy (x-amz-meta-eden-crc32c) lets a load catch damage.
_REFUSES_A_WRONG_CRC32C = {"seaweedfs": True, "moto": False}


async def test_a_put_with_a_wrong_crc32c(server: RealServer) -> None:
    key = f"{fresh_prefix()}/{mint_opaque_id()}"
    async with raw_client(server) as client:
        code: str | None = None
        try:
            await client.put_object(
                Bucket=server.bucket, Key=key, Body=b"payload", ChecksumCRC32C=crc32c_b64(b"x")
            )
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
        refused = code is not None
        assert code in (None, "BadDigest")
        listed = await client.list_objects_v2(Bucket=server.bucket, Prefix=key)
    assert refused == _REFUSES_A_WRONG_CRC32C[server.name]
    assert bool(listed.get("Contents")) is not refused, "a refused PUT must store nothing"


async def test_a_store_whose_body_does_not_match_its_crc32c(
    server: RealServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body damaged between checksum and service, as the service sees it."""
    monkeypatch.setattr("eden_storage_async._s3.backend.crc32c_b64", lambda data: crc32c_b64(b"x"))
    opaque_id = mint_opaque_id()
    async with s3_backend_on(server, retry=Backoff(attempts=2, base_s=0, cap_s=0)) as backend:
        if _REFUSES_A_WRONG_CRC32C[server.name]:
            with pytest.raises(IntegrityError, match="nothing was written"):
                await backend.store(opaque_id, b"payload")
            with pytest.raises(NotFound):
                await backend.load(opaque_id)
        else:
            # moto's gap: the store is accepted; the metadata copy still stops the load.
            await backend.store(opaque_id, b"payload")
            with pytest.raises(IntegrityError):
                await backend.load(opaque_id)


async def _read_all(backend: S3Backend, opaque_id: str, received: list[bytes]) -> None:
    async with backend.load_stream(opaque_id) as stream:
        async for chunk in stream:
            received.append(chunk)


async def _tamper(server: RealServer, key: str, body: bytes, metadata: dict[str, str]) -> None:
    """Write ``body`` under ``metadata`` with a plain client, as a bad disk or a bad tool would."""
    async with raw_client(server) as client:
        await client.put_object(Bucket=server.bucket, Key=key, Body=body, Metadata=metadata)


async def test_a_tampered_object_is_integrity_error_on_load_and_load_stream(
    server: RealServer,
) -> None:
    opaque_id = mint_opaque_id()
    payload = os.urandom(3 * _MIB)
    async with s3_backend_on(server, retry=Backoff(attempts=2, base_s=0, cap_s=0)) as backend:
        # Our metadata (nonce and CRC32C of payload) over other bytes of the same size.
        await backend.store(mint_opaque_id(), payload)  # a real one, for its metadata shape
        tampered = bytes([payload[0] ^ 1]) + payload[1:]
        metadata = {"eden-write-nonce": "0" * 32, "eden-crc32c": crc32c_b64(payload)}
        await _tamper(server, f"{backend.prefix}/{opaque_id}", tampered, metadata)
        with pytest.raises(IntegrityError, match="CRC32C mismatch") as caught:
            await backend.load(opaque_id)
        assert not isinstance(caught.value, NotFound)
        received: list[bytes] = []
        with pytest.raises(IntegrityError):
            await _read_all(backend, opaque_id, received)
        assert b"".join(received) == tampered  # handed out, then refused at the end


async def test_an_intact_object_loads_verified_on_both_paths(server: RealServer) -> None:
    opaque_id = mint_opaque_id()
    payload = os.urandom(2 * _MIB + 3)
    async with s3_backend_on(server) as backend, raw_client(server) as client:
        await backend.store(opaque_id, payload)
        head = await client.head_object(
            Bucket=server.bucket, Key=f"{backend.prefix}/{opaque_id}", ChecksumMode="ENABLED"
        )
        assert head["Metadata"]["eden-crc32c"] == crc32c_b64(payload)
        # SeaweedFS hands the service's checksum back; moto does not for a PutObject.
        served = head.get("ChecksumCRC32C")
        assert served == (crc32c_b64(payload) if server.name == "seaweedfs" else None)
        assert await backend.load(opaque_id) == payload
        async with backend.load_stream(opaque_id) as stream:
            assert b"".join([chunk async for chunk in stream]) == payload


async def test_a_multipart_object_carries_its_whole_crc32c(server: RealServer) -> None:
    """FULL_OBJECT CRC32C: the service checks the Complete's whole-object value and
    hands it back, so a load verifies the whole object. On moto 5.2.5 this needs
    the optional ``crc32c`` package next to moto (``moto[s3crc32c]``); without
    it moto computes a CRC32 and labels it CRC32C (pinned below)."""
    opaque_id = mint_opaque_id()
    payload = os.urandom(11 * _MIB + 5)
    async with s3_backend_on(server) as backend, raw_client(server) as client:
        await backend.store_stream(
            opaque_id, [payload[i : i + _MIB] for i in range(0, len(payload), _MIB)]
        )
        head = await client.head_object(
            Bucket=server.bucket, Key=f"{backend.prefix}/{opaque_id}", ChecksumMode="ENABLED"
        )
        assert (head.get("ChecksumType"), head.get("ChecksumCRC32C")) == (
            "FULL_OBJECT",
            crc32c_b64(payload),
        ), "moto needs the crc32c package: pip install 'moto[server,s3crc32c]'"
        assert await backend.load(opaque_id) == payload


def test_moto_without_crc32c_labels_a_crc32_as_crc32c(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5.2.5's gap, pinned in-process: with the optional ``crc32c`` package
    missing, its CRC32C is a CRC32 (silently), so multipart checksums it serves
    are wrong and a correct client's load of them fails its integrity check."""
    from moto.s3.utils import compute_checksum

    monkeypatch.setitem(sys.modules, "crc32c", None)
    served = compute_checksum(b"123456789", "CRC32C").decode()
    assert served == base64.b64encode(zlib.crc32(b"123456789").to_bytes(4, "big")).decode()
    assert served != crc32c_b64(b"123456789")
