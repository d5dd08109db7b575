"""Server test helpers: the token, a recording and a failing backend, the app on loopback.

The route tests run on every backend of the contract ``backend`` fixture, wrapped
in a ``RecordingBackend``; the failure paths a real service cannot be made to
produce use the scripted ``FailingBackend``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Iterable

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
from eden_storage_async._core.stream import ChunkSource

TOKEN = "s3cr3t-test-token-4f9a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXPERIMENT = "exp-1"
URI = re.compile(r"eden://artifacts/([0-9a-f]{32})")


class RecordingBackend(BackendBase):
    """Passes every call through and remembers each store, so a test can prove none ran."""

    def __init__(self, inner: ArtifactBackend) -> None:
        self.inner = inner
        self.stored: list[str] = []

    async def _store(self, opaque_id: str, data: memoryview, attributes: Attributes) -> None:
        self.stored.append(opaque_id)
        await self.inner.store(
            opaque_id, data, content_type=attributes.content_type, metadata=attributes.metadata
        )

    async def _load(self, opaque_id: str) -> bytes:
        return await self.inner.load(opaque_id)

    async def _stat(self, opaque_id: str) -> ArtifactInfo:
        return await self.inner.stat(opaque_id)

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
    """Every store and load raises ``error``: the paths a healthy server never takes."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def _store(self, opaque_id: str, data: memoryview, attributes: Attributes) -> None:
        raise self.error

    async def _load(self, opaque_id: str) -> bytes:
        raise self.error

    async def _stat(self, opaque_id: str) -> ArtifactInfo:
        raise self.error


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


async def deposit(session: aiohttp.ClientSession, url: str, body: bytes) -> str:
    async with session.post(url, data=body, headers=AUTH) as response:
        assert response.status == 201, await response.text()
        assert response.content_type == "application/json"
        document = await response.json()
    assert set(document) == {"artifacts_uri"}
    match = URI.fullmatch(document["artifacts_uri"])
    assert match is not None, document
    return match[1]
