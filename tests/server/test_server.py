"""The reference deposit server, through a real HTTP client over loopback.

The route tests run on every backend of the contract ``backend`` fixture; the
failure paths a real service cannot be made to produce use a scripted backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Self

import aiohttp
import pytest
from aiohttp import web
from blockbuster import BlockBuster
from yarl import URL

from eden_storage_async import (
    AccessDenied,
    ArtifactBackend,
    ConfigError,
    NotFound,
    Payload,
    ServiceUnavailable,
    create_app,
    mint_opaque_id,
)
from eden_storage_async._server.app import check_listen_policy

TOKEN = "s3cr3t-test-token-4f9a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXPERIMENT = "exp-1"
URI = re.compile(r"eden://artifacts/([0-9a-f]{32})")


class RecordingBackend:
    """Passes every call through and remembers each store, so a test can prove none ran."""

    def __init__(self, inner: ArtifactBackend) -> None:
        self.inner = inner
        self.stored: list[str] = []

    async def store(self, opaque_id: str, data: Payload) -> None:
        self.stored.append(opaque_id)
        await self.inner.store(opaque_id, data)

    async def load(self, opaque_id: str) -> bytes:
        return await self.inner.load(opaque_id)

    async def store_stream(
        self, opaque_id: str, chunks: AsyncIterable[Payload] | Iterable[Payload]
    ) -> None:
        self.stored.append(opaque_id)
        await self.inner.store_stream(opaque_id, chunks)

    def load_stream(self, opaque_id: str) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        return self.inner.load_stream(opaque_id)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class FailingBackend:
    """Every store and load raises ``error``: the paths a healthy server never takes."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def store(self, opaque_id: str, data: Payload) -> None:
        raise self.error

    async def load(self, opaque_id: str) -> bytes:
        raise self.error

    async def store_stream(
        self, opaque_id: str, chunks: AsyncIterable[Payload] | Iterable[Payload]
    ) -> None:
        raise self.error

    def load_stream(self, opaque_id: str) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        raise self.error

    async def aclose(self) -> None:
        pass

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pass


@contextlib.asynccontextmanager
async def serving(
    backend: ArtifactBackend, *, token: str | None = TOKEN, max_artifact_bytes: int = 1 << 20
) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    """The app on 127.0.0.1, a free port, and a client session; yields (artifacts URL, session)."""
    app = create_app(backend, token=token, max_artifact_bytes=max_artifact_bytes)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        async with aiohttp.ClientSession() as session:
            yield f"http://{host}:{port}/v0/experiments/{EXPERIMENT}/artifacts", session
    finally:
        await runner.cleanup()


@pytest.fixture
async def recorded(backend: ArtifactBackend) -> RecordingBackend:
    return RecordingBackend(backend)


@pytest.fixture
async def server(
    recorded: RecordingBackend,
) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    async with serving(recorded) as served:
        yield served


async def deposit(session: aiohttp.ClientSession, url: str, body: bytes) -> str:
    async with session.post(url, data=body, headers=AUTH) as response:
        assert response.status == 201, await response.text()
        assert response.content_type == "application/json"
        document = await response.json()
    assert set(document) == {"artifacts_uri"}
    match = URI.fullmatch(document["artifacts_uri"])
    assert match is not None, document
    return match[1]


# --- on every backend -----------------------------------------------------------------


async def test_deposit_then_fetch_round_trip(
    server: tuple[str, aiohttp.ClientSession], recorded: RecordingBackend
) -> None:
    url, session = server
    payload = bytes(range(256)) * 400 + os.urandom(1000)
    opaque_id = await deposit(session, url, payload)
    assert recorded.stored == [opaque_id]
    # It really is in the backend, under the id the server announced.
    assert await recorded.inner.load(opaque_id) == payload
    uri = f"eden://artifacts/{opaque_id}"
    async with session.get(url, params={"uri": uri}, headers=AUTH) as response:
        assert response.status == 200
        assert response.content_type == "application/octet-stream"
        assert await response.read() == payload


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
        params = {"uri": f"eden://artifacts/{opaque_id}"}
        async with session.get(url, params=params, headers=AUTH) as response:
            assert await response.read() == b"checked"
        async with session.post(url, data=b"x") as response:
            assert response.status == 401
    finally:
        blockbuster.deactivate()


async def test_empty_body_is_an_empty_artifact(
    server: tuple[str, aiohttp.ClientSession], recorded: RecordingBackend
) -> None:
    url, session = server
    opaque_id = await deposit(session, url, b"")
    assert await recorded.inner.load(opaque_id) == b""


async def test_fetch_of_an_absent_artifact_is_404(
    server: tuple[str, aiohttp.ClientSession],
) -> None:
    url, session = server
    uri = f"eden://artifacts/{mint_opaque_id()}"
    async with session.get(url, params={"uri": uri}, headers=AUTH) as response:
        assert response.status == 404
        assert (await response.json()) == {"error": "artifact not found"}


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


async def test_a_burst_of_concurrent_deposits(
    server: tuple[str, aiohttp.ClientSession],
) -> None:
    url, session = server
    payloads = [os.urandom(512) + str(i).encode() for i in range(50)]
    ids = await asyncio.gather(*(deposit(session, url, p) for p in payloads))
    assert len(set(ids)) == 50

    async def fetch(opaque_id: str) -> bytes:
        params = {"uri": f"eden://artifacts/{opaque_id}"}
        async with session.get(url, params=params, headers=AUTH) as response:
            assert response.status == 200
            return await response.read()

    assert await asyncio.gather(*(fetch(i) for i in ids)) == payloads


# --- scripted failures and settings ---------------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ServiceUnavailable("s3 said 503 for key=AKIAEXAMPLESECRET"), "ServiceUnavailable"),
        (AccessDenied("403 for AKIAEXAMPLESECRET"), "AccessDenied"),
        (RuntimeError("bug with AKIAEXAMPLESECRET"), "BackendError"),
    ],
)
async def test_backend_failure_is_503_json_without_traceback(
    error: Exception, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="eden_storage_async"):
        async with serving(FailingBackend(error)) as (url, session):
            async with session.post(url, data=b"x", headers=AUTH) as response:
                assert response.status == 503
                assert response.content_type == "application/json"
                text = await response.text()
                assert (await response.json())["kind"] == kind
            uri = f"eden://artifacts/{mint_opaque_id()}"
            async with session.get(url, params={"uri": uri}, headers=AUTH) as response:
                assert response.status == 503
                text += await response.text()
    assert "Traceback" not in text
    assert "AKIAEXAMPLESECRET" not in text  # the message stays in the server's log
    assert "AKIAEXAMPLESECRET" in caplog.text
    assert caplog.records, "a backend failure must be logged"


async def test_not_found_from_store_is_not_a_404() -> None:
    # NotFound means "absent" only for load; anywhere else it is a failure.
    async with (
        serving(FailingBackend(NotFound("bucket gone"))) as (url, session),
        session.post(url, data=b"x", headers=AUTH) as response,
    ):
        assert response.status == 503


async def test_the_token_never_reaches_a_log(
    recorded: RecordingBackend, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        async with serving(recorded) as (url, session):
            await deposit(session, url, b"x")
            async with session.post(url, data=b"x", headers={"Authorization": "Bearer no"}):
                pass
    assert caplog.records, "the access log should have recorded the requests"
    assert TOKEN not in caplog.text


async def test_without_a_token_no_authorization_is_needed(recorded: RecordingBackend) -> None:
    async with (
        serving(recorded, token=None) as (url, session),
        session.post(url, data=b"open") as response,
    ):
        assert response.status == 201


async def test_head_is_not_served(server: tuple[str, aiohttp.ClientSession]) -> None:
    url, session = server
    async with session.head(url, params={"uri": "eden://artifacts/" + "a" * 32}) as response:
        assert response.status == 405


@pytest.mark.parametrize("token", ["", "has space", "tab\there", "naïve", "line\n"])
def test_create_app_refuses_an_unsendable_token(token: str) -> None:
    with pytest.raises(ConfigError, match="bearer token"):
        create_app(FailingBackend(RuntimeError()), token=token)


def test_create_app_refuses_a_negative_limit() -> None:
    with pytest.raises(ConfigError, match="max_artifact_bytes"):
        create_app(FailingBackend(RuntimeError()), max_artifact_bytes=-1)


def test_create_app_without_aiohttp_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['aiohttp'] = None\n"
        "import eden_storage_async as e\n"
        "try:\n"
        "    e.create_app(e.InMemoryArtifactBackend())\n"
        "except e.MissingDependency as exc:\n"
        "    assert isinstance(exc, ImportError)\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "pip install 'eden-storage-async[server]'" in result.stdout


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_no_token(host: str) -> None:
    check_listen_policy(host, None)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "", "::", "192.168.1.10", "example.com", "::ffff:127.0.0.1"]
)
def test_beyond_loopback_a_token_is_required(host: str) -> None:
    with pytest.raises(ConfigError, match="without a bearer token"):
        check_listen_policy(host, None)
    check_listen_policy(host, TOKEN)


def yarl_url(text: str) -> URL:
    """``text`` as a URL that aiohttp sends byte for byte, without re-quoting."""
    return URL(text, encoded=True)
