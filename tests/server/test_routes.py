"""Deposit and fetch through the reference server, on every backend of the
contract ``backend`` fixture, with a real HTTP client over loopback: the
wire's happy paths and their headers, exactly."""

from __future__ import annotations

import asyncio
import os

import aiohttp
import pytest
from blockbuster import BlockBuster

from eden_storage_async import mint_opaque_id

from .helpers import (
    AUTH,
    BINDING,
    EXPERIMENT,
    RecordingBackend,
    artifact,
    deposit,
    expect_problem,
    file_form,
)


async def test_deposit_then_fetch_round_trip(
    server: tuple[str, aiohttp.ClientSession], recorded: RecordingBackend
) -> None:
    url, session = server
    payload = bytes(range(256)) * 400 + os.urandom(1000)
    opaque_id = await deposit(session, url, payload)
    assert recorded.stored == [opaque_id]
    # The stored bytes are the file's, not its multipart framing.
    assert await recorded.inner.load(opaque_id) == payload
    info = await recorded.inner.stat(opaque_id)
    assert info.content_type == "application/octet-stream"
    assert info.metadata == {"eden-depositor": "admin"}
    async with session.get(url, params=artifact(opaque_id), headers=AUTH) as response:
        assert response.status == 200
        assert await response.read() == payload
        headers = response.headers
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Length"] == str(len(payload))
    assert headers["Content-Disposition"] == (
        f"attachment; filename=\"{opaque_id}\"; filename*=UTF-8''{opaque_id}"
    )
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "private, max-age=31536000, immutable"
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["ETag"] == f'"{info.crc32c}"' if info.crc32c else "ETag" not in headers


@pytest.mark.parametrize(
    ("declared", "recorded_type"),
    [
        ("text/plain", "text/plain"),
        ("text/csv; charset=latin-1", "text/csv; charset=latin-1"),
        ("application/json", "application/json"),
        # Control characters and bytes past ASCII are stripped, as eden does.
        ("text/pl\tain\xe9", "text/plain"),
        ("text/pl\x01ain\x7f", "text/plain"),
        ("\x00text/\x1bplain", "text/plain"),
        ("  image/png  ", "image/png"),
        ("\t\xff\x01", "application/octet-stream"),
    ],
)
async def test_the_content_type_is_recorded_and_served_exactly(
    server: tuple[str, aiohttp.ClientSession], declared: str, recorded_type: str
) -> None:
    url, session = server
    # aiohttp's client refuses control characters in a header it writes:
    # build the part by hand so the server sees them.
    body, boundary = _raw_form(b"typed", declared.encode("latin-1"))
    headers = {**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    async with session.post(url, data=body, headers=headers) as response:
        assert response.status == 201, await response.text()
        document = await response.json()
    assert document["content_type"] == recorded_type
    params = {"uri": document["artifacts_uri"]}
    async with session.get(url, params=params, headers=AUTH) as response:
        # No charset added to a text type, nothing else changed.
        assert response.headers["Content-Type"] == recorded_type
        assert await response.read() == b"typed"


async def test_a_part_without_a_content_type_is_octet_stream(
    server: tuple[str, aiohttp.ClientSession],
) -> None:
    url, session = server
    body, boundary = _raw_form(b"untyped", None)
    headers = {**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    async with session.post(url, data=body, headers=headers) as response:
        assert response.status == 201, await response.text()
        assert (await response.json())["content_type"] == "application/octet-stream"


async def test_fetch_by_opaque_id_path_serves_the_same_artifact(
    server: tuple[str, aiohttp.ClientSession],
) -> None:
    url, session = server
    opaque_id = await deposit(session, url, b"by path", content_type="text/plain")
    async with session.get(f"{url}/{opaque_id}", headers=AUTH) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain"
        assert await response.read() == b"by path"
    async with session.get(f"{url}/{'A' * 32}", headers=AUTH) as response:
        await expect_problem(response, 404, "eden://error/not-found")


async def test_serving_never_blocks_the_event_loop(
    server: tuple[str, aiohttp.ClientSession],
) -> None:
    url, session = server
    # Warm up first: a backend may build its client on first use, once.
    await deposit(session, url, b"warm-up")
    blockbuster = BlockBuster()
    blockbuster.activate()
    try:
        opaque_id = await deposit(session, url, b"checked")
        async with session.get(url, params=artifact(opaque_id), headers=AUTH) as response:
            assert await response.read() == b"checked"
        async with session.post(url, data=file_form(b"x"), headers=BINDING) as response:
            assert response.status == 401
    finally:
        blockbuster.deactivate()


async def test_empty_file_is_an_empty_artifact(
    server: tuple[str, aiohttp.ClientSession], recorded: RecordingBackend
) -> None:
    url, session = server
    opaque_id = await deposit(session, url, b"")
    assert await recorded.inner.load(opaque_id) == b""
    async with session.get(url, params=artifact(opaque_id), headers=AUTH) as response:
        assert response.status == 200
        assert response.headers["Content-Length"] == "0"
        assert await response.read() == b""


async def test_fetch_of_an_absent_artifact_is_404(
    server: tuple[str, aiohttp.ClientSession],
) -> None:
    url, session = server
    async with session.get(url, params=artifact(mint_opaque_id()), headers=AUTH) as response:
        await expect_problem(response, 404, "eden://error/not-found")


async def test_a_burst_of_concurrent_deposits(
    server: tuple[str, aiohttp.ClientSession],
) -> None:
    url, session = server
    payloads = [os.urandom(512) + str(i).encode() for i in range(20)]
    ids = await asyncio.gather(*(deposit(session, url, p) for p in payloads))
    assert len(set(ids)) == 20

    async def fetch(opaque_id: str) -> bytes:
        async with session.get(url, params=artifact(opaque_id), headers=AUTH) as response:
            assert response.status == 200
            return await response.read()

    assert await asyncio.gather(*(fetch(i) for i in ids)) == payloads


def _raw_form(content: bytes, part_type: bytes | None) -> tuple[bytes, str]:
    boundary = "eden-test-boundary-7c1f"
    head = b'Content-Disposition: form-data; name="file"; filename="a"\r\n'
    if part_type is not None:
        head += b"Content-Type: " + part_type + b"\r\n"
    body = b"--%s\r\n%s\r\n%s\r\n--%s--\r\n" % (boundary.encode(), head, content, boundary.encode())
    return body, boundary


__all__ = ["EXPERIMENT"]
