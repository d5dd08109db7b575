"""What the server checks before the backend sees a byte: the bearer token, the
``uri`` and experiment id, and the size limit. A refused request stores nothing.

Runs on every backend of the contract ``backend`` fixture, through a real HTTP
client over loopback.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator

import aiohttp
import pytest
from yarl import URL

from eden_storage_async import mint_opaque_id

from .helpers import AUTH, EXPERIMENT, TOKEN, RecordingBackend, deposit, serving


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer wrong",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        f"Basic {TOKEN}",
        TOKEN,
    ],
)
async def test_missing_or_wrong_token_is_401_and_nothing_is_stored(
    server: tuple[str, aiohttp.ClientSession],
    recorded: RecordingBackend,
    authorization: str | None,
) -> None:
    url, session = server
    headers = {} if authorization is None else {"Authorization": authorization}
    async with session.post(url, data=b"x", headers=headers) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        # The body of a refused deposit is not read: the connection is closed.
        assert response.headers.get("Connection", "").lower() == "close"
        assert TOKEN not in await response.text()
    uri = f"eden://artifacts/{mint_opaque_id()}"
    async with session.get(url, params={"uri": uri}, headers=headers) as response:
        assert response.status == 401
    assert recorded.stored == []


@pytest.mark.parametrize(
    "query",
    [
        [],
        [("uri", "")],
        [("uri", "eden://artifacts/")],
        [("uri", "eden://artifacts/" + "A" * 32)],
        [("uri", "eden://artifacts/" + "a" * 31)],
        [("uri", "eden://artifacts/" + "a" * 32 + "/x")],
        [("uri", "eden://artifacts/" + "a" * 32 + "\n")],
        [("uri", "s3://bucket/" + "a" * 32)],
        [("uri", "file:///etc/passwd")],
        [("uri", "eden://artifacts/../" + "a" * 29)],
        [("uri", "eden://artifacts/" + "a" * 32), ("uri", "eden://artifacts/" + "b" * 32)],
    ],
    ids=repr,
)
async def test_malformed_uri_is_400(
    server: tuple[str, aiohttp.ClientSession], query: list[tuple[str, str]]
) -> None:
    url, session = server
    async with session.get(url, params=query, headers=AUTH) as response:
        assert response.status == 400
        assert "uri must be" in (await response.json())["error"]


@pytest.mark.parametrize(
    "experiment_id", ["..", ".hidden", "-x", "x" * 129, "a%20b", "a%2Fb", "caf%C3%A9", "a;b"]
)
async def test_malformed_experiment_id_is_400_and_nothing_is_stored(
    server: tuple[str, aiohttp.ClientSession], recorded: RecordingBackend, experiment_id: str
) -> None:
    url, session = server
    bad = url.replace(f"/{EXPERIMENT}/", f"/{experiment_id}/")
    # encoded=True: the id reaches the server exactly as written here.
    async with session.post(yarl_url(bad), data=b"x", headers=AUTH) as response:
        assert response.status == 400
        assert "experiment_id" in (await response.json())["error"]
    uri = f"eden://artifacts/{mint_opaque_id()}"
    async with session.get(yarl_url(bad + "?uri=" + uri), headers=AUTH) as response:
        assert response.status == 400
    assert recorded.stored == []


@pytest.mark.parametrize("experiment_id", ["x" * 128, "A.b_c-9", "0"])
async def test_well_formed_experiment_ids_are_accepted(
    server: tuple[str, aiohttp.ClientSession], experiment_id: str
) -> None:
    url, session = server
    opaque_id = await deposit(session, url.replace(f"/{EXPERIMENT}/", f"/{experiment_id}/"), b"y")
    assert opaque_id


async def test_declared_length_over_the_limit_is_413_and_nothing_is_stored(
    recorded: RecordingBackend,
) -> None:
    async with serving(recorded, max_artifact_bytes=1024) as (url, session):
        async with session.post(url, data=b"z" * 1025, headers=AUTH) as response:
            assert response.status == 413
            assert response.headers.get("Connection", "").lower() == "close"
            assert "1024" in (await response.json())["error"]
        # The limit is inclusive: exactly 1024 bytes is stored.
        opaque_id = await deposit(session, url, b"z" * 1024)
    assert recorded.stored == [opaque_id]


async def test_declared_length_is_refused_before_the_body_is_read(
    recorded: RecordingBackend,
) -> None:
    # A raw request that declares 1 GiB and sends nothing: only a check of the
    # header, before reading, can answer; a server that reads first would hang.
    async with serving(recorded, max_artifact_bytes=1024) as (url, _):
        target = URL(url)
        assert target.host is not None
        assert target.port is not None
        reader, writer = await asyncio.open_connection(target.host, target.port)
        try:
            writer.write(
                f"POST {target.path} HTTP/1.1\r\nHost: {target.host}\r\n"
                f"Authorization: Bearer {TOKEN}\r\nContent-Length: {1 << 30}\r\n\r\n".encode()
            )
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), timeout=10)
        finally:
            writer.close()
            await writer.wait_closed()
    assert status_line.split()[1] == b"413"
    assert recorded.stored == []


async def test_chunked_body_over_the_limit_is_413_and_nothing_is_stored(
    recorded: RecordingBackend,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"c" * 256

    async with (
        serving(recorded, max_artifact_bytes=1024) as (url, session),
        session.post(url, data=chunks(), headers=AUTH) as response,
    ):
        assert response.request_info.headers.get("Transfer-Encoding") == "chunked"
        assert response.status == 413
    assert recorded.stored == []


async def test_compressed_body_is_limited_by_its_inflated_size(
    recorded: RecordingBackend,
) -> None:
    # 64 KiB of zeros compress to well under the 1 KiB limit, so only the
    # running count while reading can catch it.
    body = gzip.compress(bytes(64 * 1024))
    assert len(body) < 1024
    headers = {**AUTH, "Content-Encoding": "gzip"}
    async with (
        serving(recorded, max_artifact_bytes=1024) as (url, session),
        session.post(url, data=body, headers=headers) as response,
    ):
        assert response.status == 413
    assert recorded.stored == []


def yarl_url(text: str) -> URL:
    """``text`` as a URL that aiohttp sends byte for byte, without re-quoting."""
    return URL(text, encoded=True)
