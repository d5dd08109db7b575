"""What users expect of a server for immutable files: ``Range``, ``ETag`` and
``If-None-Match``, ``HEAD`` from ``stat`` alone, ``Content-Length`` always.

Ranged answers come from each backend's own ranged ``load_stream``, so these run
on every backend of the contract ``backend`` fixture.
"""

from __future__ import annotations

import aiohttp

from .helpers import AUTH, RecordingBackend, artifact, deposit, expect_problem

PAYLOAD = bytes(range(256)) * 40  # 10240 bytes
SIZE = len(PAYLOAD)

# Range header -> (status, the bytes served, Content-Range)
SERVED = {
    "bytes=0-0": (206, PAYLOAD[0:1], f"bytes 0-0/{SIZE}"),
    "bytes=10-19": (206, PAYLOAD[10:20], f"bytes 10-19/{SIZE}"),
    "bytes=10240-": (416, b"", f"bytes */{SIZE}"),
    "bytes=10000-": (206, PAYLOAD[10000:], f"bytes 10000-10239/{SIZE}"),
    "bytes=10000-99999": (206, PAYLOAD[10000:], f"bytes 10000-10239/{SIZE}"),
    "bytes=-100": (206, PAYLOAD[-100:], f"bytes 10140-10239/{SIZE}"),
    "bytes=-99999": (206, PAYLOAD, f"bytes 0-10239/{SIZE}"),
    "bytes=-0": (416, b"", f"bytes */{SIZE}"),
    "bytes=99999-100000": (416, b"", f"bytes */{SIZE}"),
    # Not served as a range: the whole artifact, 200 (RFC 9110 section 14.2).
    "bytes=0-1,5-6": (200, PAYLOAD, None),
    "bytes=5-1": (200, PAYLOAD, None),
    "items=0-1": (200, PAYLOAD, None),
    "bytes=abc": (200, PAYLOAD, None),
    "bytes=" + "9" * 40 + "-": (200, PAYLOAD, None),
}


async def test_ranges_are_206_416_or_the_whole_artifact(
    server: tuple[str, aiohttp.ClientSession],
) -> None:
    url, session = server
    opaque_id = await deposit(session, url, PAYLOAD)
    for header, (status, body, content_range) in SERVED.items():
        headers = {**AUTH, "Range": header}
        async with session.get(url, params=artifact(opaque_id), headers=headers) as response:
            if status == 416:
                await expect_problem(response, 416, "eden://reference-error/range-not-satisfiable")
            else:
                assert response.status == status, header
                assert await response.read() == body, header
                assert response.headers["Content-Length"] == str(len(body)), header
                assert response.headers["Content-Type"] == "application/octet-stream"
            assert response.headers.get("Content-Range") == content_range, header


async def test_if_range_serves_the_range_only_for_our_etag(
    server: tuple[str, aiohttp.ClientSession], recorded: RecordingBackend
) -> None:
    url, session = server
    opaque_id = await deposit(session, url, PAYLOAD)
    etag = f'"{(await recorded.inner.stat(opaque_id)).crc32c}"'
    for if_range, status in ((etag, 206), ('"AAAAAA=="', 200), ("W/" + etag, 200)):
        headers = {**AUTH, "Range": "bytes=0-9", "If-Range": if_range}
        async with session.get(url, params=artifact(opaque_id), headers=headers) as response:
            assert response.status == status, if_range
            assert len(await response.read()) == (10 if status == 206 else SIZE)


async def test_if_none_match_is_304_without_a_load(
    server: tuple[str, aiohttp.ClientSession], recorded: RecordingBackend
) -> None:
    url, session = server
    opaque_id = await deposit(session, url, PAYLOAD)
    async with session.get(url, params=artifact(opaque_id), headers=AUTH) as response:
        etag = response.headers["ETag"]
        await response.read()
    recorded.loads.clear()
    for presented in (etag, "*", f'"other", {etag}', "W/" + etag):
        headers = {**AUTH, "If-None-Match": presented, "Range": "bytes=0-1"}
        async with session.get(url, params=artifact(opaque_id), headers=headers) as response:
            assert response.status == 304, presented
            assert await response.read() == b""
            assert response.headers["ETag"] == etag
            assert response.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    assert recorded.loads == []
    headers = {**AUTH, "If-None-Match": '"not-it"'}
    async with session.get(url, params=artifact(opaque_id), headers=headers) as response:
        assert response.status == 200
        assert await response.read() == PAYLOAD


async def test_the_etag_is_the_strong_crc32c(
    server: tuple[str, aiohttp.ClientSession], recorded: RecordingBackend
) -> None:
    url, session = server
    opaque_id = await deposit(session, url, PAYLOAD)
    crc32c = (await recorded.inner.stat(opaque_id)).crc32c
    async with session.get(url, params=artifact(opaque_id), headers=AUTH) as response:
        await response.read()
        assert response.headers["ETag"] == f'"{crc32c}"'


async def test_head_is_served_from_stat_without_a_load(
    server: tuple[str, aiohttp.ClientSession], recorded: RecordingBackend
) -> None:
    url, session = server
    opaque_id = await deposit(session, url, PAYLOAD, content_type="text/plain")
    async with session.get(url, params=artifact(opaque_id), headers=AUTH) as response:
        expected = response.headers.copy()
        await response.read()
    recorded.loads.clear()
    recorded.stats.clear()
    async with session.head(url, params=artifact(opaque_id), headers=AUTH) as response:
        assert response.status == 200
        assert await response.read() == b""
        for name in (
            "Content-Type",
            "Content-Length",
            "Content-Disposition",
            "ETag",
            "Cache-Control",
            "X-Content-Type-Options",
            "Accept-Ranges",
        ):
            assert response.headers[name] == expected[name], name
    assert response.headers["Content-Type"] == "text/plain"
    assert response.headers["Content-Length"] == str(SIZE)
    headers = {**AUTH, "Range": "bytes=-10"}
    async with session.head(url, params=artifact(opaque_id), headers=headers) as response:
        assert response.status == 206
        assert response.headers["Content-Length"] == "10"
        assert response.headers["Content-Range"] == f"bytes {SIZE - 10}-{SIZE - 1}/{SIZE}"
    assert recorded.stats == [opaque_id, opaque_id]
    assert recorded.loads == []


async def test_an_empty_artifact_has_no_range_to_give(
    server: tuple[str, aiohttp.ClientSession],
) -> None:
    url, session = server
    opaque_id = await deposit(session, url, b"")
    for header in ("bytes=0-", "bytes=-1"):
        headers = {**AUTH, "Range": header}
        async with session.get(url, params=artifact(opaque_id), headers=headers) as response:
            await expect_problem(response, 416, "eden://reference-error/range-not-satisfiable")
            assert response.headers["Content-Range"] == "bytes */0"
