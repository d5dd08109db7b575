"""What ``GcsBackend`` puts on the wire, recorded by a loopback proxy in front of fake-gcs-server.

The emulator is not trusted to prove create-only: fake-gcs-server v1.54.0
honours ``ifGenerationMatch`` on multipart uploads only. So these tests assert
that the precondition is *sent* on every upload path the backend uses, and
check the enforced behaviour (412 → ``AlreadyExists``, one winner among
racers) on the multipart path, the one the emulator honours. The resumable
path's 412 handling is covered against a scripted fake in ``test_create_only.py``,
and the emulator's own gaps are pinned in ``test_emulator_gaps.py``.
"""

from __future__ import annotations

import asyncio
import os
from urllib.parse import quote

import aiohttp
import pytest

from eden_storage_async import AlreadyExists, GcsBackend, mint_opaque_id

from ..support.gcs import RecordingProxy, crc32c_of, gcs_backend_on
from ..support.servers import RealServer
from .helpers import WIRE_THRESHOLD

pytestmark = [pytest.mark.asyncio, pytest.mark.real_server]


async def test_small_store_is_a_multipart_upload_with_the_precondition(
    backend: GcsBackend, proxy: RecordingProxy
) -> None:
    await backend.store(mint_opaque_id(), b"small")
    [upload] = proxy.uploads()
    assert upload.query["uploadType"] == "multipart"
    assert upload.query["ifGenerationMatch"] == "0"
    assert upload.status == 200


async def test_large_store_initiates_a_resumable_upload_with_the_precondition(
    backend: GcsBackend, proxy: RecordingProxy
) -> None:
    opaque_id = mint_opaque_id()
    payload = os.urandom(WIRE_THRESHOLD + 1)
    await backend.store(opaque_id, payload)
    [initiation] = proxy.uploads()
    assert initiation.query["uploadType"] == "resumable"
    assert initiation.query["ifGenerationMatch"] == "0"
    assert initiation.query["name"] == backend.object_name(opaque_id)
    # The one PUT to the session URI carries the whole body, unchunked.
    [put] = [r for r in proxy.requests if r.method == "PUT"]
    assert put.headers["Content-Length"] == str(len(payload))
    assert "Transfer-Encoding" not in put.headers
    assert put.status == 200
    assert await backend.load(opaque_id) == payload


async def test_default_threshold_sends_eight_mib_resumable_with_the_precondition(
    proxy: RecordingProxy, fake_gcs: RealServer
) -> None:
    async with gcs_backend_on(proxy.endpoint_url, fake_gcs.bucket) as backend:
        await backend.store(mint_opaque_id(), os.urandom(8 * 1024 * 1024))
    [initiation] = proxy.uploads()
    assert (initiation.query["uploadType"], initiation.query["ifGenerationMatch"]) == (
        "resumable",
        "0",
    )


async def test_every_upload_carries_the_precondition_and_none_is_media(
    backend: GcsBackend, proxy: RecordingProxy
) -> None:
    sizes = [0, 1, WIRE_THRESHOLD - 1, WIRE_THRESHOLD, WIRE_THRESHOLD + 1, 2 * WIRE_THRESHOLD]
    for size in sizes:
        await backend.store(mint_opaque_id(), os.urandom(size))
    uploads = proxy.uploads()
    assert len(uploads) == len(sizes)
    assert [u.query["uploadType"] for u in uploads] == ["multipart"] * 4 + ["resumable"] * 2
    assert all(u.query.get("ifGenerationMatch") == "0" for u in uploads), uploads
    # No credentials are ever sent to an emulator endpoint.
    assert not any("Authorization" in r.headers for r in proxy.requests)


async def test_reuse_on_the_multipart_path_is_refused_by_the_emulator(
    backend: GcsBackend, proxy: RecordingProxy
) -> None:
    opaque_id = mint_opaque_id()
    await backend.store(opaque_id, b"first")
    with pytest.raises(AlreadyExists):
        await backend.store(opaque_id, b"second")
    assert [u.status for u in proxy.uploads()] == [200, 412]
    assert await backend.load(opaque_id) == b"first"


async def test_racers_on_the_multipart_path_have_exactly_one_winner(
    backend: GcsBackend, proxy: RecordingProxy
) -> None:
    opaque_id = mint_opaque_id()
    payloads = [f"racer-{i}".encode() * 50 for i in range(16)]
    results = await asyncio.gather(
        *(backend.store(opaque_id, p) for p in payloads), return_exceptions=True
    )
    winners = [i for i, r in enumerate(results) if r is None]
    assert len(winners) == 1, results
    assert all(isinstance(r, AlreadyExists) for r in results if r is not None), results
    statuses = sorted(u.status for u in proxy.uploads())
    assert statuses == [200] + [412] * 15
    assert all(u.query["ifGenerationMatch"] == "0" for u in proxy.uploads())
    assert await backend.load(opaque_id) == payloads[winners[0]]


# --- store_stream: one resumable upload of unknown length, sent in pieces ----

_STREAM_PIECE = 8 * 1024 * 1024  # _gcs_client.STREAM_PIECE


async def test_large_stream_is_a_resumable_upload_with_the_precondition_in_pieces(
    backend: GcsBackend, proxy: RecordingProxy
) -> None:
    opaque_id = mint_opaque_id()
    payload = os.urandom(_STREAM_PIECE + 1000)
    await backend.store_stream(
        opaque_id, (payload[i : i + 65536] for i in range(0, len(payload), 65536))
    )
    [initiation] = proxy.uploads()
    assert initiation.query["uploadType"] == "resumable"
    assert initiation.query["ifGenerationMatch"] == "0"
    puts = [r for r in proxy.requests if r.method == "PUT"]
    ranges = [p.headers.get("Content-Range") for p in puts]
    total = len(payload)
    assert ranges == [
        f"bytes 0-{_STREAM_PIECE - 1}/*",
        f"bytes {_STREAM_PIECE}-{total - 1}/{total}",
    ]
    assert [p.status for p in puts] == [308, 200]
    assert await backend.load(opaque_id) == payload


# --- integrity: the CRC32C is sent on every upload path ----------------------


async def test_a_multipart_upload_sends_its_crc32c_and_our_copy(
    backend: GcsBackend, proxy: RecordingProxy
) -> None:
    payload = os.urandom(1000)
    await backend.store(mint_opaque_id(), payload)
    [upload] = proxy.uploads()
    resource = upload.resource()
    assert resource["crc32c"] == crc32c_of(payload)
    assert resource["metadata"]["eden-crc32c"] == crc32c_of(payload)


async def test_a_resumable_upload_sends_its_crc32c_at_initiation(
    backend: GcsBackend, proxy: RecordingProxy
) -> None:
    payload = os.urandom(WIRE_THRESHOLD + 1)
    await backend.store(mint_opaque_id(), payload)
    [initiation] = proxy.uploads()
    resource = initiation.resource()
    assert resource["crc32c"] == crc32c_of(payload)
    assert resource["metadata"]["eden-crc32c"] == crc32c_of(payload)


async def test_a_streamed_upload_sends_its_crc32c_on_the_final_piece_only(
    backend: GcsBackend, proxy: RecordingProxy
) -> None:
    backend._stream_piece = WIRE_THRESHOLD
    payload = os.urandom(3 * WIRE_THRESHOLD + 5)
    opaque_id = mint_opaque_id()
    await backend.store_stream(
        opaque_id, (payload[i : i + 10_000] for i in range(0, len(payload), 10_000))
    )
    [initiation] = proxy.uploads()
    assert "crc32c" not in initiation.resource()  # unknown when the upload starts
    puts = [r for r in proxy.requests if r.method == "PUT"]
    assert [p.headers.get("X-Goog-Hash") for p in puts] == [
        None,
        None,
        None,
        f"crc32c={crc32c_of(payload)}",
    ]
    assert await backend.load(opaque_id) == payload


async def test_the_emulator_hands_back_both_checksums_on_a_download(
    backend: GcsBackend, fake_gcs: RealServer
) -> None:
    # What load verifies against fake-gcs-server: the service's X-Goog-Hash and
    # our own copy, sent back as X-Goog-Meta-eden-crc32c.
    opaque_id = mint_opaque_id()
    await backend.store(opaque_id, b"both checksums")
    name = quote(backend.object_name(opaque_id), safe="")
    url = f"{fake_gcs.endpoint_url}/storage/v1/b/{fake_gcs.bucket}/o/{name}"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, params={"alt": "media"}) as resp,
    ):
        assert resp.status == 200
        assert f"crc32c={crc32c_of(b'both checksums')}" in resp.headers["X-Goog-Hash"]
        assert resp.headers["X-Goog-Meta-Eden-Crc32c"] == crc32c_of(b"both checksums")
