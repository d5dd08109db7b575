"""Server test helpers: principals, a recording and a failing backend, the app on loopback.

The route tests run on every backend of the contract ``backend`` fixture, wrapped
in a ``RecordingBackend``; the failure paths a real service cannot be made to
produce use the scripted ``FailingBackend``. ``deposit`` speaks eden's wire as
its client does: one multipart part named ``file``, with a filename.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Iterable
from typing import Any

import aiohttp
from aiohttp import web

from eden_storage_async import (
    ArtifactBackend,
    ArtifactInfo,
    BackendBase,
    CreateOnlyReport,
    create_app,
)
from eden_storage_async._core.attributes import Attributes
from eden_storage_async._core.ranges import ByteRange
from eden_storage_async._core.stream import ChunkSource
from eden_storage_async._server.auth import Principals

EXPERIMENT = "exp-1"
TOKEN = "s3cr3t-test-token-4f9a"
WORKER_A = "wkr_" + "0123456789abcdefghjkmnpqrs"
WORKER_B = "wkr_" + "tvwxyz0123456789abcdefghjk"
SECRET_A = "secret-a-1f2e3d"
SECRET_B = "secret-b-9c8b7a"
PRINCIPALS = Principals.from_secrets({WORKER_A: SECRET_A, WORKER_B: SECRET_B})
BINDING = {"X-Eden-Experiment-Id": EXPERIMENT}
# The shared token authenticates as admin.
AUTH = {"Authorization": f"Bearer {TOKEN}", **BINDING}
AS_A = {"Authorization": f"Bearer {WORKER_A}:{SECRET_A}", **BINDING}
AS_B = {"Authorization": f"Bearer {WORKER_B}:{SECRET_B}", **BINDING}
URI = re.compile(r"eden://artifacts/([0-9a-f]{32})")
PROBLEM_KEYS = {"type", "title", "status", "detail"}


class RecordingBackend(BackendBase):
    """Passes every call through and records it, so a test can prove which ran."""

    def __init__(self, inner: ArtifactBackend) -> None:
        self.inner = inner
        self.stored: list[str] = []
        self.loads: list[str] = []
        self.stats: list[str] = []

    async def _store(self, opaque_id: str, data: memoryview, attributes: Attributes) -> None:
        self.stored.append(opaque_id)
        await self.inner.store(
            opaque_id, data, content_type=attributes.content_type, metadata=attributes.metadata
        )

    async def _load(self, opaque_id: str) -> bytes:
        self.loads.append(opaque_id)
        return await self.inner.load(opaque_id)

    async def _stat(self, opaque_id: str) -> ArtifactInfo:
        self.stats.append(opaque_id)
        return await self.inner.stat(opaque_id)

    @contextlib.asynccontextmanager
    async def _load_stream(self, opaque_id: str) -> AsyncIterator[AsyncIterator[bytes]]:
        self.loads.append(opaque_id)
        async with self.inner.load_stream(opaque_id) as chunks:
            yield chunks

    @contextlib.asynccontextmanager
    async def _load_range_stream(
        self, opaque_id: str, byte_range: ByteRange
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        self.loads.append(opaque_id)
        if byte_range.suffix is not None:
            bounds: tuple[int, int | None] = (-byte_range.suffix, None)
        else:
            bounds = (byte_range.start, byte_range.stop)
        async with self.inner.load_stream(opaque_id, start=bounds[0], end=bounds[1]) as chunks:
            yield chunks

    async def _store_stream(
        self, opaque_id: str, source: ChunkSource, attributes: Attributes
    ) -> None:
        self.stored.append(opaque_id)
        await self.inner.store_stream(
            opaque_id, source, content_type=attributes.content_type, metadata=attributes.metadata
        )

    async def check_create_only(self, paths: Iterable[str] | None = None) -> CreateOnlyReport:
        # The inner backend's own paths: the default would store the canary
        # through inner.store, which refuses a name that is not an id.
        return await self.inner.check_create_only(paths)

    async def _aclose(self) -> None:
        await self.inner.aclose()


class FailingBackend(BackendBase):
    """Every store, load and stat raises ``error``: the paths a healthy server never takes."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def _store(self, opaque_id: str, data: memoryview, attributes: Attributes) -> None:
        raise self.error

    async def _store_stream(
        self, opaque_id: str, source: ChunkSource, attributes: Attributes
    ) -> None:
        async for _ in source:
            pass
        raise self.error

    async def _load(self, opaque_id: str) -> bytes:
        raise self.error

    async def _stat(self, opaque_id: str) -> ArtifactInfo:
        raise self.error


@contextlib.asynccontextmanager
async def serving(
    backend: ArtifactBackend, **settings: Any
) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    """The app on 127.0.0.1, a free port, and a client session; yields (artifacts URL, session).

    ``settings`` go to ``create_app``; by default the shared TOKEN (admin) and
    the two workers of PRINCIPALS, and a 1 MiB limit.
    """
    settings.setdefault("token", TOKEN)
    settings.setdefault("principals", PRINCIPALS)
    settings.setdefault("max_artifact_bytes", 1 << 20)
    app = create_app(backend, **settings)
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


def file_form(
    body: bytes, *, content_type: str = "application/octet-stream", filename: str = "artifact"
) -> aiohttp.FormData:
    """The body eden's client sends: one part named ``file``, a file upload."""
    form = aiohttp.FormData()
    form.add_field("file", body, filename=filename, content_type=content_type)
    return form


async def deposit(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    *,
    content_type: str = "application/octet-stream",
    headers: dict[str, str] | None = None,
) -> str:
    """Deposit ``body``; check the 201 document exactly; return the opaque_id."""
    form = file_form(body, content_type=content_type)
    async with session.post(url, data=form, headers=AUTH if headers is None else headers) as r:
        assert r.status == 201, await r.text()
        assert r.content_type == "application/json"
        document = await r.json()
    assert set(document) == {"artifacts_uri", "size_bytes", "content_type"}, document
    assert document["size_bytes"] == len(body)
    assert type(document["size_bytes"]) is int
    match = URI.fullmatch(document["artifacts_uri"])
    assert match is not None, document
    return match[1]


def artifact(opaque_id: str) -> dict[str, str]:
    """The fetch's query for ``opaque_id``."""
    return {"uri": f"eden://artifacts/{opaque_id}"}


async def expect_problem(
    response: aiohttp.ClientResponse, status: int, problem_type: str
) -> dict[str, Any]:
    """Check that ``response`` is the problem+json answer; return its body."""
    text = await response.text()
    assert response.status == status, text
    assert response.headers["Content-Type"] == "application/problem+json", response.headers
    document: dict[str, Any] = json.loads(text)
    assert set(document) == PROBLEM_KEYS, document
    assert document["type"] == problem_type, document
    assert document["status"] == status
    assert isinstance(document["title"], str)
    assert isinstance(document["detail"], str)
    assert document["title"]
    assert document["detail"]
    assert "Traceback" not in text
    return document
