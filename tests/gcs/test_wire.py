"""What ``GcsBackend`` puts on the wire, recorded by a loopback proxy in front of fake-gcs-server.

The emulator is not trusted to prove create-only: fake-gcs-server v1.54.0
honours ``ifGenerationMatch`` on multipart uploads only. So these tests assert
that the precondition is *sent* on every upload path the backend uses, and
check the enforced behaviour (412 → ``AlreadyExists``, one winner among
racers) on the multipart path, the one the emulator honours. The resumable
path's 412 handling is covered against a scripted fake in ``test_gcs_unit.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from eden_storage_async import AlreadyExists, GcsBackend, mint_opaque_id

from ..support.gcs import RecordingProxy, crc32c_of, emulator_version, gcs_backend_on
from ..support.servers import RealServer

pytestmark = [pytest.mark.asyncio, pytest.mark.real_server]

# Small enough that a test can cross it cheaply; the default (5 MiB) is
# exercised by the 8 MiB case below and by the contract suite.
_THRESHOLD = 256 * 1024


@pytest.fixture
async def proxy(fake_gcs: RealServer) -> AsyncIterator[RecordingProxy]:
    async with RecordingProxy(fake_gcs.endpoint_url) as recording:
        yield recording


@pytest.fixture
async def backend(proxy: RecordingProxy, fake_gcs: RealServer) -> AsyncIterator[GcsBackend]:
    async with gcs_backend_on(
        proxy.endpoint_url, fake_gcs.bucket, resumable_threshold=_THRESHOLD
    ) as built:
        yield built


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
    payload = os.urandom(_THRESHOLD + 1)
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
    sizes = [0, 1, _THRESHOLD - 1, _THRESHOLD, _THRESHOLD + 1, 2 * _THRESHOLD]
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


# --- What fake-gcs-server v1.54.0 does with the precondition it ignores ------
# These pin the emulator's known gaps, so that an emulator upgrade fails here
# loudly instead of silently changing what the suite proves. Real GCS enforces
# ifGenerationMatch=0 on every upload type; the backend's handling of the 412
# on the resumable path is tested against the scripted fake in test_gcs_unit.py.


async def test_emulator_gap_resumable_reuse_is_not_refused_by_v1_54(
    backend: GcsBackend, proxy: RecordingProxy
) -> None:
    # fake-gcs-server v1.54.0 ignores ifGenerationMatch on resumable uploads,
    # at initiation and at the final PUT (fixed upstream: fsouza/fake-gcs-server
    # PR #2260). Real GCS answers 412, which the backend turns into AlreadyExists.
    assert emulator_version().startswith("v1.54.0"), "emulator changed: recheck this gap"
    opaque_id = mint_opaque_id()
    first, second = os.urandom(_THRESHOLD + 1), os.urandom(_THRESHOLD + 1)
    await backend.store(opaque_id, first)
    await backend.store(opaque_id, second)  # real GCS: AlreadyExists
    initiations = proxy.uploads()
    assert [(u.query["uploadType"], u.query["ifGenerationMatch"]) for u in initiations] == [
        ("resumable", "0"),
        ("resumable", "0"),
    ]
    puts = [r for r in proxy.requests if r.method == "PUT"]
    assert [p.status for p in puts] == [200, 200]
    assert await backend.load(opaque_id) == second


async def test_emulator_gap_media_upload_ignores_the_precondition_in_v1_54(
    proxy: RecordingProxy, fake_gcs: RealServer
) -> None:
    # Why the backend never uses uploadType=media: fake-gcs-server v1.54.0
    # ignores ifGenerationMatch there (fixed upstream: fsouza/fake-gcs-server
    # PR #2308), so a media upload could not be tested for create-only here.
    assert emulator_version().startswith("v1.54.0"), "emulator changed: recheck this gap"
    url = f"{proxy.endpoint_url}/upload/storage/v1/b/{fake_gcs.bucket}/o"
    params = {"uploadType": "media", "name": f"gap/{mint_opaque_id()}", "ifGenerationMatch": "0"}
    async with aiohttp.ClientSession() as session:
        for body in (b"first", b"second"):
            async with session.post(url, params=params, data=body) as resp:
                await resp.read()
    assert [u.status for u in proxy.uploads()] == [200, 200]  # real GCS: [200, 412]


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


async def test_emulator_gap_streamed_resumable_reuse_is_not_refused_by_v1_54(
    backend: GcsBackend, proxy: RecordingProxy
) -> None:
    # The same gap as above, on store_stream's path: fake-gcs-server v1.54.0
    # ignores ifGenerationMatch=0 on resumable uploads (fixed upstream in PR
    # #2260), so the contract suite's stream-reuse case reuses an id with a
    # stream below the threshold, where the emulator does enforce it. Real GCS
    # answers 412 here; the backend's 412 handling on this path is tested
    # against the scripted fake in test_gcs_unit.py.
    assert emulator_version().startswith("v1.54.0"), "emulator changed: recheck this gap"
    opaque_id = mint_opaque_id()
    first, second = os.urandom(_THRESHOLD + 1), os.urandom(_THRESHOLD + 1)
    await backend.store_stream(opaque_id, [first])
    await backend.store_stream(opaque_id, [second])  # real GCS: AlreadyExists
    assert [u.query["ifGenerationMatch"] for u in proxy.uploads()] == ["0", "0"]
    assert await backend.load(opaque_id) == second


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
    payload = os.urandom(_THRESHOLD + 1)
    await backend.store(mint_opaque_id(), payload)
    [initiation] = proxy.uploads()
    resource = initiation.resource()
    assert resource["crc32c"] == crc32c_of(payload)
    assert resource["metadata"]["eden-crc32c"] == crc32c_of(payload)


async def test_a_streamed_upload_sends_its_crc32c_on_the_final_piece_only(
    backend: GcsBackend, proxy: RecordingProxy
) -> None:
    backend._stream_piece = _THRESHOLD
    payload = os.urandom(3 * _THRESHOLD + 5)
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


# --- What fake-gcs-server v1.54.0 does with a wrong CRC32C and a status query --
# Real GCS answers 400 to a body that does not match the crc32c it is sent (on
# every path), and a status query (PUT, empty body, Content-Range bytes */N)
# only reports the bytes held. These pin what v1.54.0 does instead.


def _multipart(resource: dict[str, Any], data: bytes) -> tuple[bytes, str]:
    boundary = "eden-gap"
    body = (
        (
            f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{json.dumps(resource)}\r\n"
            f"--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/related; boundary={boundary}"


async def _initiate(
    session: aiohttp.ClientSession, server: RealServer, resource: dict[str, Any]
) -> str:
    url = f"{server.endpoint_url}/upload/storage/v1/b/{server.bucket}/o"
    params = {"uploadType": "resumable", "name": resource["name"], "ifGenerationMatch": "0"}
    async with session.post(url, params=params, json=resource) as resp:
        assert resp.status == 200
        return resp.headers["Location"]


async def test_emulator_gap_a_wrong_crc32c_is_accepted_on_every_path_by_v1_54(
    fake_gcs: RealServer,
) -> None:
    assert emulator_version().startswith("v1.54.0"), "emulator changed: recheck this gap"
    wrong = crc32c_of(b"something else")
    data = b"the body"
    statuses = []
    async with aiohttp.ClientSession() as session:
        body, content_type = _multipart({"name": f"gap/{mint_opaque_id()}", "crc32c": wrong}, data)
        url = f"{fake_gcs.endpoint_url}/upload/storage/v1/b/{fake_gcs.bucket}/o"
        params = {"uploadType": "multipart", "ifGenerationMatch": "0"}
        async with session.post(
            url, params=params, data=body, headers={"Content-Type": content_type}
        ) as resp:
            statuses.append(resp.status)  # multipart, crc32c in the resource
        uri = await _initiate(
            session, fake_gcs, {"name": f"gap/{mint_opaque_id()}", "crc32c": wrong}
        )
        async with session.put(uri, data=data) as resp:
            statuses.append(resp.status)  # resumable, crc32c at initiation
        uri = await _initiate(session, fake_gcs, {"name": f"gap/{mint_opaque_id()}"})
        headers = {
            "Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}",
            "X-Goog-Hash": f"crc32c={wrong}",
        }
        async with session.put(uri, data=data, headers=headers) as resp:
            statuses.append(resp.status)  # streamed, X-Goog-Hash on the final piece
            stored = await resp.json()
    assert statuses == [200, 200, 200]  # real GCS: [400, 400, 400]
    # It stores the body with the checksum it computes itself.
    assert stored["crc32c"] == crc32c_of(data)


async def test_emulator_gap_a_status_query_completes_the_upload_in_v1_54(
    fake_gcs: RealServer,
) -> None:
    # Why GcsBackend does not resume a failed piece against an emulator: the
    # status query real GCS answers with 308 and the bytes held, v1.54.0
    # answers by publishing those bytes as the object.
    assert emulator_version().startswith("v1.54.0"), "emulator changed: recheck this gap"
    name = f"gap/{mint_opaque_id()}"
    piece = os.urandom(256 * 1024)
    async with aiohttp.ClientSession() as session:
        uri = await _initiate(session, fake_gcs, {"name": name})
        range_ = {"Content-Range": f"bytes 0-{len(piece) - 1}/*"}
        async with session.put(uri, data=piece, headers=range_) as resp:
            assert resp.status == 308  # real GCS: the same
        query = {"Content-Range": "bytes */*", "Content-Length": "0"}
        async with session.put(uri, headers=query) as resp:
            status = resp.status
            published = await resp.json()
    assert status == 200  # real GCS: 308, Range: bytes=0-262143
    assert published["name"] == name
    assert published["size"] == str(len(piece))


async def test_emulator_gap_a_finished_session_answers_404_in_v1_54(
    fake_gcs: RealServer,
) -> None:
    # Real GCS answers a finished session's status query with 200 and the
    # object; v1.54.0 has forgotten the session. GcsBackend reads both as "ask
    # the object's nonce whether the upload landed".
    assert emulator_version().startswith("v1.54.0"), "emulator changed: recheck this gap"
    data = b"whole"
    async with aiohttp.ClientSession() as session:
        uri = await _initiate(session, fake_gcs, {"name": f"gap/{mint_opaque_id()}"})
        final = {"Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"}
        async with session.put(uri, data=data, headers=final) as resp:
            assert resp.status == 200
        query = {"Content-Range": f"bytes */{len(data)}", "Content-Length": "0"}
        async with session.put(uri, headers=query) as resp:
            assert resp.status == 404  # real GCS: 200
