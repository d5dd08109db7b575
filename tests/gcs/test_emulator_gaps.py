"""What fake-gcs-server v1.54.0 does that real GCS does not, each gap pinned by a test.

These pin the emulator's known gaps, so that an emulator upgrade fails here
loudly instead of silently changing what the suite proves. Each test says what
real GCS does instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from eden_storage_async import GcsBackend, mint_opaque_id, store_many

from ..support.gcs import RecordingProxy, crc32c_of, emulator_version
from ..support.servers import RealServer
from .helpers import WIRE_THRESHOLD

pytestmark = [pytest.mark.asyncio, pytest.mark.real_server]


# --- What fake-gcs-server v1.54.0 does with the precondition it ignores ------
# Real GCS enforces ifGenerationMatch=0 on every upload type; the backend's
# handling of the 412 on the resumable path is tested against the scripted fake
# in test_create_only.py.


async def test_emulator_gap_resumable_reuse_is_not_refused_by_v1_54(
    backend: GcsBackend, proxy: RecordingProxy
) -> None:
    # fake-gcs-server v1.54.0 ignores ifGenerationMatch on resumable uploads,
    # at initiation and at the final PUT (fixed upstream: fsouza/fake-gcs-server
    # PR #2260). Real GCS answers 412, which the backend turns into AlreadyExists.
    assert emulator_version().startswith("v1.54.0"), "emulator changed: recheck this gap"
    opaque_id = mint_opaque_id()
    first, second = os.urandom(WIRE_THRESHOLD + 1), os.urandom(WIRE_THRESHOLD + 1)
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


async def test_emulator_gap_streamed_resumable_reuse_is_not_refused_by_v1_54(
    backend: GcsBackend, proxy: RecordingProxy
) -> None:
    # The same gap as above, on store_stream's path: fake-gcs-server v1.54.0
    # ignores ifGenerationMatch=0 on resumable uploads (fixed upstream in PR
    # #2260), so the contract suite's stream-reuse case reuses an id with a
    # stream below the threshold, where the emulator does enforce it. Real GCS
    # answers 412 here; the backend's 412 handling on this path is tested
    # against the scripted fake in test_create_only.py.
    assert emulator_version().startswith("v1.54.0"), "emulator changed: recheck this gap"
    opaque_id = mint_opaque_id()
    first, second = os.urandom(WIRE_THRESHOLD + 1), os.urandom(WIRE_THRESHOLD + 1)
    await backend.store_stream(opaque_id, [first])
    await backend.store_stream(opaque_id, [second])  # real GCS: AlreadyExists
    assert [u.query["ifGenerationMatch"] for u in proxy.uploads()] == ["0", "0"]
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


# --- What fake-gcs-server v1.54.0 does with a wrong CRC32C and a status query --
# Real GCS answers 400 to a body that does not match the crc32c it is sent (on
# every path), and a status query (PUT, empty body, Content-Range bytes */N)
# only reports the bytes held. These pin what v1.54.0 does instead.


def _multipart(
    resource: dict[str, Any], data: bytes, media_type: str = "application/octet-stream"
) -> tuple[bytes, str]:
    boundary = "eden-gap"
    body = (
        (
            f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{json.dumps(resource)}\r\n"
            f"--{boundary}\r\nContent-Type: {media_type}\r\n\r\n"
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


# --- What fake-gcs-server v1.54.0 does with content types and ranges ---------
# The backend names one content type everywhere (resource, media part, every
# PUT), so both of the first two gaps store what the caller gave; the range
# gaps are absorbed by GcsBackend's checks (_gcs/reads.py).


async def _stored_type(session: aiohttp.ClientSession, server: RealServer, name: str) -> str:
    url = f"{server.endpoint_url}/storage/v1/b/{server.bucket}/o/{quote(name, safe='')}"
    async with session.get(url) as resp:
        content_type: str = (await resp.json())["contentType"]
    return content_type


async def test_emulator_gap_the_media_parts_content_type_wins_in_multipart_v1_54(
    fake_gcs: RealServer,
) -> None:
    # The object resource is the object's metadata, contentType included;
    # v1.54.0 stores the media part's Content-Type over it. (Which one real GCS
    # keeps when the two differ is not verified here: the backend never lets
    # them differ.)
    assert emulator_version().startswith("v1.54.0"), "emulator changed: recheck this gap"
    name = f"gap/{mint_opaque_id()}"
    body, content_type = _multipart({"name": name, "contentType": "text/csv"}, b"a,b", "image/png")
    url = f"{fake_gcs.endpoint_url}/upload/storage/v1/b/{fake_gcs.bucket}/o"
    async with aiohttp.ClientSession() as session:
        async with session.post(
            url,
            params={"uploadType": "multipart", "ifGenerationMatch": "0"},
            data=body,
            headers={"Content-Type": content_type},
        ) as resp:
            assert resp.status == 200
        assert (
            await _stored_type(session, fake_gcs, name) == "image/png"
        )  # the resource said text/csv


async def test_emulator_gap_the_final_puts_content_type_wins_in_resumable_v1_54(
    fake_gcs: RealServer,
) -> None:
    # The initiation's resource names the type; v1.54.0 stores the final PUT's
    # Content-Type over it (and the resource's only when the PUT has none).
    # Real GCS is not verified here either: the backend sends the same type.
    assert emulator_version().startswith("v1.54.0"), "emulator changed: recheck this gap"
    name = f"gap/{mint_opaque_id()}"
    async with aiohttp.ClientSession() as session:
        uri = await _initiate(session, fake_gcs, {"name": name, "contentType": "text/csv"})
        headers = {"Content-Type": "application/octet-stream"}
        async with session.put(uri, data=b"a,b", headers=headers) as resp:
            assert resp.status == 200
        stored = await _stored_type(session, fake_gcs, name)
    assert stored == "application/octet-stream"  # the resource said text/csv


async def _ranged(
    server: RealServer, name: str, data: bytes, range_: str
) -> aiohttp.ClientResponse:
    async with aiohttp.ClientSession() as session:
        body, content_type = _multipart({"name": name}, data)
        url = f"{server.endpoint_url}/upload/storage/v1/b/{server.bucket}/o"
        params = {"uploadType": "multipart", "ifGenerationMatch": "0"}
        headers = {"Content-Type": content_type}
        async with session.post(url, params=params, data=body, headers=headers) as resp:
            assert resp.status == 200
        media = f"{server.endpoint_url}/storage/v1/b/{server.bucket}/o/{quote(name, safe='')}"
        async with session.get(media, params={"alt": "media"}, headers={"Range": range_}) as resp:
            await resp.read()
            return resp


async def test_emulator_gap_a_suffix_of_an_empty_object_is_a_malformed_206_in_v1_54(
    fake_gcs: RealServer,
) -> None:
    # RFC 9110: a range of an empty representation is unsatisfiable (416).
    # v1.54.0 answers 206 with "bytes 0--1/0", which no range can be; GcsBackend
    # reads a 206 that declares a total of 0 as the whole, empty object and
    # checks its CRC32C (test_real_ranges.py's empty-object case).
    assert emulator_version().startswith("v1.54.0"), "emulator changed: recheck this gap"
    resp = await _ranged(fake_gcs, f"gap/{mint_opaque_id()}", b"", "bytes=-3")
    assert (resp.status, resp.headers["Content-Range"]) == (206, "bytes 0--1/0")


async def test_emulator_gap_a_416_states_no_size_in_v1_54(fake_gcs: RealServer) -> None:
    # RFC 9110: a 416 to a byte range SHOULD carry "Content-Range: bytes */N".
    # v1.54.0 sends none, so GcsBackend's check that such a range is really
    # empty (test_ranges.py, "wrong-416") cannot run against it.
    assert emulator_version().startswith("v1.54.0"), "emulator changed: recheck this gap"
    resp = await _ranged(fake_gcs, f"gap/{mint_opaque_id()}", b"0123456789", "bytes=10-")
    assert resp.status == 416
    assert "Content-Range" not in resp.headers


# --- What fake-gcs-server v1.54.0 costs as a bucket fills -------------------


async def test_fake_gcs_server_1_54_gap_uploads_slow_down_as_a_bucket_fills(
    fake_gcs: RealServer,
) -> None:
    """Emulator gap, v1.54.0 (memory backend): an upload costs time in proportion
    to the objects already in its bucket, so throughput falls as a bucket fills
    (measured: 424 obj/s into an empty bucket, 147 after 2,000 objects, 31 after
    12,000). Real GCS has no such cost. The benchmark gives every client an empty
    bucket per round because of it (benchmarks/__main__.py); if this test fails,
    the emulator was fixed and that can go. Its own two buckets keep the shared
    one fast for the other tests."""
    from ..support.servers import create_gcs_bucket

    tag = os.urandom(4).hex()
    full, empty = f"eden-fill-{tag}", f"eden-empty-{tag}"
    await asyncio.to_thread(create_gcs_bucket, fake_gcs.endpoint_url, full)
    await asyncio.to_thread(create_gcs_bucket, fake_gcs.endpoint_url, empty)
    async with (
        GcsBackend(bucket=full, endpoint_url=fake_gcs.endpoint_url) as filled,
        GcsBackend(bucket=empty, endpoint_url=fake_gcs.endpoint_url) as unfilled,
    ):
        outcomes = await store_many(filled, [(mint_opaque_id(), b"x") for _ in range(1500)])
        assert all(outcome.ok for outcome in outcomes)
        seconds: dict[str, list[float]] = {"full": [], "empty": []}
        for _ in range(30):  # interleaved, one at a time: latency, not throughput
            for name, backend in (("full", filled), ("empty", unfilled)):
                started = time.perf_counter()
                await backend.store(mint_opaque_id(), b"x")
                seconds[name].append(time.perf_counter() - started)
    full_s, empty_s = statistics.median(seconds["full"]), statistics.median(seconds["empty"])
    assert full_s > 2 * empty_s, (full_s, empty_s)
