"""``GcsBackend`` against fake-gcs-server: bucket vs object, name layout, concurrency."""

from __future__ import annotations

import asyncio
import json
import os

import aiohttp
import pytest
from blockbuster import BlockBuster

from eden_storage_async import (
    AlreadyExists,
    BucketNotFound,
    GcsBackend,
    IntegrityError,
    NotFound,
    mint_opaque_id,
)
from eden_storage_async._core.retry import Backoff

from ..support.gcs import crc32c_of, fresh_prefix, gcs_backend_on
from ..support.servers import RealServer

pytestmark = [pytest.mark.asyncio, pytest.mark.real_server]


async def _object_names(server: RealServer, prefix: str) -> list[str]:
    """The names under ``prefix``, listed with a plain HTTP call, not the backend."""
    url = f"{server.endpoint_url}/storage/v1/b/{server.bucket}/o"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, params={"prefix": prefix}) as resp,
    ):
        resp.raise_for_status()
        listing = await resp.json()
    return sorted(item["name"] for item in listing.get("items", []))


async def test_missing_bucket_is_bucket_not_found_on_load_and_store(fake_gcs: RealServer) -> None:
    async with GcsBackend(
        bucket="eden-no-such-bucket", endpoint_url=fake_gcs.endpoint_url
    ) as backend:
        with pytest.raises(BucketNotFound) as loading:
            await backend.load(mint_opaque_id())
        assert not isinstance(loading.value, NotFound)
        with pytest.raises(BucketNotFound):
            await backend.store(mint_opaque_id(), b"data")


async def test_absent_object_in_existing_bucket_is_not_found(fake_gcs: RealServer) -> None:
    async with gcs_backend_on(fake_gcs.endpoint_url, fake_gcs.bucket) as backend:
        with pytest.raises(NotFound):
            await backend.load(mint_opaque_id())


@pytest.mark.parametrize(
    ("given", "layout"),
    [("{p}", "{p}/{id}"), ("{p}/", "{p}/{id}"), ("/{p}/runs/", "{p}/runs/{id}")],
)
async def test_objects_are_named_prefix_slash_id(
    fake_gcs: RealServer, given: str, layout: str
) -> None:
    unique = fresh_prefix()
    opaque_id = mint_opaque_id()
    async with gcs_backend_on(
        fake_gcs.endpoint_url, fake_gcs.bucket, prefix=given.format(p=unique)
    ) as backend:
        await backend.store(opaque_id, b"layout")
    assert await _object_names(fake_gcs, unique) == [layout.format(p=unique, id=opaque_id)]


async def test_empty_prefix_puts_the_id_at_the_bucket_root(fake_gcs: RealServer) -> None:
    opaque_id = mint_opaque_id()
    async with gcs_backend_on(fake_gcs.endpoint_url, fake_gcs.bucket, prefix="") as backend:
        await backend.store(opaque_id, b"root")
    assert await _object_names(fake_gcs, opaque_id) == [opaque_id]


async def test_two_hundred_concurrent_stores_at_concurrency_64(fake_gcs: RealServer) -> None:
    prefix = fresh_prefix()
    payloads = {mint_opaque_id(): os.urandom(4096) for _ in range(200)}
    async with gcs_backend_on(
        fake_gcs.endpoint_url, fake_gcs.bucket, prefix=prefix, max_concurrency=64
    ) as backend:
        await asyncio.gather(*(backend.store(i, p) for i, p in payloads.items()))
        loaded = await asyncio.gather(*(backend.load(i) for i in payloads))
    assert loaded == list(payloads.values())
    assert len(await _object_names(fake_gcs, prefix)) == 200


async def test_store_and_load_through_storage_emulator_host(
    fake_gcs: RealServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The variable is often set without a scheme; the SDK would warn about that.
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs.endpoint_url.removeprefix("http://"))
    opaque_id = mint_opaque_id()
    async with GcsBackend(bucket=fake_gcs.bucket, prefix=fresh_prefix()) as backend:
        assert fake_gcs.endpoint_url in repr(backend)
        # An inherited variable must not silently redirect a production backend.
        assert "STORAGE_EMULATOR_HOST is set" in caplog.text
        await backend.store(opaque_id, b"via env")
        assert await backend.load(opaque_id) == b"via env"


async def test_store_and_load_never_block_the_event_loop(fake_gcs: RealServer) -> None:
    """blockbuster raises on a blocking call on the loop thread, first use included."""
    # Built before the check: construction imports the SDK, and importing it
    # reads package metadata from disk (once per process).
    backend = GcsBackend(
        bucket=fake_gcs.bucket,
        prefix=fresh_prefix(),
        endpoint_url=fake_gcs.endpoint_url,
        resumable_threshold=64 * 1024,
    )
    blockbuster = BlockBuster()
    blockbuster.activate()
    try:
        small, large = mint_opaque_id(), mint_opaque_id()
        await asyncio.gather(
            backend.store(small, b"small"), backend.store(large, os.urandom(128 * 1024))
        )
        assert await backend.load(small) == b"small"
        assert len(await backend.load(large)) == 128 * 1024
        with pytest.raises(AlreadyExists):
            await backend.store(small, b"again")
        with pytest.raises(NotFound):
            await backend.load(mint_opaque_id())
    finally:
        blockbuster.deactivate()
        await backend.aclose()


async def _plant(server: RealServer, name: str, data: bytes, metadata: dict[str, str]) -> None:
    """Write ``name`` with a raw multipart request, past the backend."""
    boundary = "eden-plant"
    resource = json.dumps({"name": name, "metadata": metadata})
    body = (
        (
            f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{resource}\r\n"
            f"--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    url = f"{server.endpoint_url}/upload/storage/v1/b/{server.bucket}/o"
    headers = {"Content-Type": f"multipart/related; boundary={boundary}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, params={"uploadType": "multipart"}, data=body, headers=headers) as resp,
    ):
        assert resp.status == 200, await resp.text()


async def test_a_tampered_object_raises_integrity_error_on_load_and_load_stream(
    fake_gcs: RealServer,
) -> None:
    # Our metadata (the CRC32C of the bytes we stored) over other bytes: the
    # emulator's own X-Goog-Hash matches the body it holds, our copy does not.
    original, tampered = b"the artifact as stored" * 100, b"the artifact, altered" * 100
    opaque_id = mint_opaque_id()
    quick = Backoff(attempts=2, base_s=0)
    async with gcs_backend_on(fake_gcs.endpoint_url, fake_gcs.bucket, retry=quick) as backend:
        metadata = {"eden-store-nonce": "0" * 32, "eden-crc32c": crc32c_of(original)}
        await _plant(fake_gcs, backend.object_name(opaque_id), tampered, metadata)
        with pytest.raises(IntegrityError, match="CRC32C mismatch"):
            await backend.load(opaque_id)
        with pytest.raises(IntegrityError, match="CRC32C mismatch"):  # noqa: PT012
            async with backend.load_stream(opaque_id) as stream:
                async for _ in stream:
                    pass
        # The same bytes with their own checksum load fine.
        other = mint_opaque_id()
        metadata["eden-crc32c"] = crc32c_of(tampered)
        await _plant(fake_gcs, backend.object_name(other), tampered, metadata)
        assert await backend.load(other) == tampered


async def test_objects_of_every_upload_path_load_back_verified(fake_gcs: RealServer) -> None:
    payloads = {
        "multipart": os.urandom(4096),
        "resumable": os.urandom(300 * 1024),
    }
    streamed = os.urandom(600 * 1024)
    async with gcs_backend_on(
        fake_gcs.endpoint_url, fake_gcs.bucket, resumable_threshold=256 * 1024
    ) as backend:
        ids = {kind: mint_opaque_id() for kind in (*payloads, "streamed")}
        for kind, data in payloads.items():
            await backend.store(ids[kind], data)
        await backend.store_stream(ids["streamed"], [streamed[:100_000], streamed[100_000:]])
        for kind, data in (*payloads.items(), ("streamed", streamed)):
            assert await backend.load(ids[kind]) == data
            async with backend.load_stream(ids[kind]) as stream:
                assert b"".join([chunk async for chunk in stream]) == data
