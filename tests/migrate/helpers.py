"""Scripted backends for the migrate tests: a memory backend that counts its
calls and can be slowed, failed, raced or made to lie about an artifact."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from eden_storage_async import (
    ArtifactBackend,
    FileArtifactBackend,
    InMemoryArtifactBackend,
    ServiceUnavailable,
    mint_opaque_id,
)
from eden_storage_async._core.attributes import ArtifactInfo, Attributes
from eden_storage_async._core.stream import ChunkSource

__all__ = ["Scripted", "fill", "make_backend"]


class Scripted(InMemoryArtifactBackend):
    """``InMemoryArtifactBackend`` with hooks the tests script.

    ``calls`` counts each hook; ``max_in_flight`` is the most ``store_stream``
    calls that ever ran at once. ``lies`` replaces what ``stat`` says about an
    id; ``fail`` makes ``store_stream`` of those ids raise ``ServiceUnavailable``;
    ``race`` stores those bytes under the id just before ``store_stream`` runs,
    as a concurrent writer would; ``on_store`` runs when a store starts.
    """

    def __init__(self, *, store_delay: float = 0.0) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()
        self.store_delay = store_delay
        self.in_flight = 0
        self.max_in_flight = 0
        self.lies: dict[str, Callable[[ArtifactInfo], ArtifactInfo]] = {}
        self.fail: set[str] = set()
        self.race: dict[str, bytes] = {}
        self.on_store: Callable[[str], None] | None = None
        self.stored_ids: list[str] = []

    async def _stat(self, opaque_id: str) -> ArtifactInfo:
        self.calls["stat"] += 1
        info = await super()._stat(opaque_id)
        lie = self.lies.get(opaque_id)
        return info if lie is None else lie(info)

    async def _load(self, opaque_id: str) -> bytes:
        self.calls["load"] += 1
        return await super()._load(opaque_id)

    @contextlib.asynccontextmanager
    async def _load_stream(self, opaque_id: str) -> AsyncIterator[AsyncIterator[bytes]]:
        self.calls["load_stream"] += 1
        async with super()._load_stream(opaque_id) as chunks:
            yield chunks

    async def _store_stream(
        self, opaque_id: str, source: ChunkSource, attributes: Attributes
    ) -> None:
        self.calls["store_stream"] += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.on_store is not None:
                self.on_store(opaque_id)
            if self.store_delay:
                await asyncio.sleep(self.store_delay)
            if opaque_id in self.fail:
                raise ServiceUnavailable(f"scripted outage storing {opaque_id}")
            if opaque_id in self.race:
                await super()._store(opaque_id, memoryview(self.race[opaque_id]), Attributes())
            await super()._store_stream(opaque_id, source, attributes)
            self.stored_ids.append(opaque_id)
        finally:
            self.in_flight -= 1


def crc_lie(crc32c: str | None) -> Callable[[ArtifactInfo], ArtifactInfo]:
    """A ``lies`` entry: ``stat`` reports ``crc32c`` in place of the real one."""
    return lambda info: dataclasses.replace(info, crc32c=crc32c)


@contextlib.asynccontextmanager
async def make_backend(kind: str, root: Path) -> AsyncIterator[ArtifactBackend]:
    """``memory`` (a ``Scripted``) or ``file`` (a ``FileArtifactBackend`` in ``root``)."""
    if kind == "memory":
        async with Scripted() as memory:
            yield memory
    else:
        # FileArtifactBackend makes its root.
        async with FileArtifactBackend(root) as files:
            yield files


async def fill(backend: ArtifactBackend, count: int, size: int = 100) -> dict[str, bytes]:
    """Store ``count`` artifacts of distinct bytes, with attributes; return them by id."""
    stored = {}
    for index in range(count):
        opaque_id = mint_opaque_id()
        data = index.to_bytes(4, "big") * (size // 4)
        await backend.store(
            opaque_id, data, content_type="text/x-test", metadata={"index": str(index)}
        )
        stored[opaque_id] = data
    return stored
