"""CRC32C end to end, against ``ScriptedGcs``: sent on every upload, verified on every load.

A body the service refuses for its checksum, a copy stored corrupt, a download
damaged on the way: each is ``IntegrityError`` (or read again), never bad bytes.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp
import pytest

from eden_storage_async import IntegrityError, NotFound, mint_opaque_id

from ..support.gcs_scripted import ScriptedGcs
from .helpers import FAST, PIECE, SMALL_THRESHOLD, backend_for, resuming


@pytest.mark.parametrize(
    ("op", "size"),
    [("multipart", 10), ("put", SMALL_THRESHOLD + 1)],
    ids=["multipart", "resumable"],
)
async def test_a_body_refused_for_its_crc32c_is_integrity_error_and_nothing_is_stored(
    scripted: ScriptedGcs, op: Any, size: int
) -> None:
    opaque_id = mint_opaque_id()
    scripted.script(op, "corrupt")
    async with backend_for(scripted, resumable_threshold=SMALL_THRESHOLD) as backend:
        with pytest.raises(IntegrityError, match="CRC32C") as storing:
            await backend.store(opaque_id, b"s" * size)
        with pytest.raises(NotFound):
            await backend.load(opaque_id)
    assert isinstance(storing.value.__cause__, aiohttp.ClientResponseError)
    assert storing.value.__cause__.status == 400
    assert scripted.count(op) == 1  # not retried


async def test_a_streamed_body_refused_at_its_final_piece_is_integrity_error(
    scripted: ScriptedGcs,
) -> None:
    opaque_id = mint_opaque_id()
    scripted.script("put", None, "corrupt")
    async with resuming(scripted) as backend:
        with pytest.raises(IntegrityError, match="CRC32C"):
            await backend.store_stream(opaque_id, [b"a" * PIECE, b"b" * 1000])
        with pytest.raises(NotFound):
            await backend.load(opaque_id)


async def test_a_server_that_stores_corrupt_bytes_unchecked_is_caught_at_store(
    scripted: ScriptedGcs,
) -> None:
    # fake-gcs-server v1.54.0 ignores the crc32c it is sent; the checksum it
    # reports for what it stored still tells.
    scripted.verify_crc32c = False
    scripted.script("multipart", "corrupt")
    async with backend_for(scripted) as backend:
        with pytest.raises(IntegrityError, match="stored copy is corrupt"):
            await backend.store(mint_opaque_id(), b"sent intact")


async def test_a_corrupt_download_is_integrity_error_and_no_bytes_come_back(
    scripted: ScriptedGcs,
) -> None:
    opaque_id = mint_opaque_id()
    async with backend_for(scripted) as backend:
        await backend.store(opaque_id, b"the original bytes")
        scripted.script("download", "corrupt", "corrupt", "corrupt")
        with pytest.raises(IntegrityError, match="CRC32C mismatch") as loading:
            await backend.load(opaque_id)
        assert loading.value.__context__ is None
        assert scripted.count("download") == FAST.attempts
        assert await backend.load(opaque_id) == b"the original bytes"


async def test_a_body_damaged_on_the_way_is_read_again(scripted: ScriptedGcs) -> None:
    opaque_id = mint_opaque_id()
    async with backend_for(scripted) as backend:
        await backend.store(opaque_id, b"the original bytes")
        scripted.script("download", "corrupt")
        assert await backend.load(opaque_id) == b"the original bytes"
    assert scripted.count("download") == 2


async def test_a_corrupt_stream_raises_integrity_error_at_its_end(scripted: ScriptedGcs) -> None:
    opaque_id = mint_opaque_id()
    payload = os.urandom(3 * 1024 * 1024)
    got = bytearray()
    async with backend_for(scripted) as backend:
        await backend.store(opaque_id, payload)
        scripted.script("download", "corrupt")
        with pytest.raises(IntegrityError, match="CRC32C mismatch"):  # noqa: PT012
            async with backend.load_stream(opaque_id) as stream:
                async for chunk in stream:
                    got += chunk
    # Bytes were handed out as they came; the whole body, then the error.
    assert len(got) == len(payload)
    assert got != payload


async def test_a_download_without_a_checksum_header_is_checked_against_the_resource(
    scripted: ScriptedGcs, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eden_storage_async._gcs import client as _gcs_client

    opaque_id = mint_opaque_id()
    monkeypatch.setattr(_gcs_client, "crc32c_of_hash_header", lambda headers: None)
    async with backend_for(scripted) as backend:
        await backend.store(opaque_id, b"checked anyway")
        assert await backend.load(opaque_id) == b"checked anyway"
        assert scripted.count("metadata") == 1
        scripted.script("download", "corrupt", "corrupt", "corrupt")
        with pytest.raises(IntegrityError):
            await backend.load(opaque_id)


async def test_412_with_our_nonce_but_other_bytes_is_integrity_error(
    scripted: ScriptedGcs, monkeypatch: pytest.MonkeyPatch
) -> None:
    import secrets

    opaque_id = mint_opaque_id()
    monkeypatch.setattr(secrets, "token_hex", lambda n: "f" * 2 * n)
    scripted.put_object(f"unit/{opaque_id}", b"not what we sent", nonce="f" * 32)
    async with backend_for(scripted) as backend:
        with pytest.raises(IntegrityError, match="stored by this store"):
            await backend.store(opaque_id, b"what we sent")
