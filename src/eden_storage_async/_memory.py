"""``InMemoryArtifactBackend``: a dict, for tests and NON-DURABLE development."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass

from ._core.attributes import ArtifactInfo, Attributes
from ._core.base import BackendBase
from ._core.checksum import crc32c_b64
from ._core.errors import AlreadyExists, NotFound
from ._core.ranges import ByteRange

__all__ = ["InMemoryArtifactBackend"]


@dataclass(frozen=True)
class _Stored:
    data: bytes
    info: ArtifactInfo


class InMemoryArtifactBackend(BackendBase):
    """Keeps artifacts in process memory. Everything is lost when the process exits.

    ``store`` and ``load`` never await between their check and their write, so
    on one event loop they are atomic without a lock.
    """

    # Ids per listing page; tests make it small to cross pages.
    _list_page = 1000

    def __init__(self) -> None:
        self._objects: dict[str, _Stored] = {}

    def __repr__(self) -> str:
        return f"InMemoryArtifactBackend(objects={len(self._objects)})"

    async def _store(self, opaque_id: str, data: memoryview, attributes: Attributes) -> None:
        if opaque_id in self._objects:
            raise AlreadyExists(f"artifact {opaque_id} already exists in memory")
        # A copy: a caller that later mutates its bytearray must not change ours.
        payload = data.tobytes()
        info = ArtifactInfo(
            size=len(payload),
            crc32c=crc32c_b64(payload),
            content_type=attributes.effective_content_type,
            metadata=attributes.metadata,
        )
        self._objects[opaque_id] = _Stored(payload, info)

    def _get(self, opaque_id: str) -> _Stored:
        try:
            return self._objects[opaque_id]
        except KeyError:
            raise NotFound(f"artifact {opaque_id} not found in memory") from None

    async def _load(self, opaque_id: str) -> bytes:
        return self._get(opaque_id).data

    async def _stat(self, opaque_id: str) -> ArtifactInfo:
        return self._get(opaque_id).info

    async def _load_range(self, opaque_id: str, byte_range: ByteRange) -> bytes:
        data = self._get(opaque_id).data
        first, stop = byte_range.bounds(len(data))
        return data[first:stop]

    async def _id_pages(self) -> AsyncGenerator[Sequence[str], None]:
        # A snapshot of the keys: a store during the iteration must not make
        # the dict change size under it. Memory already holds every artifact,
        # so the list costs a fraction of what it names. In pages, as every
        # backend lists, so aclose() is seen between them.
        names = list(self._objects)
        for start in range(0, len(names), self._list_page):
            yield names[start : start + self._list_page]

    async def _aclose(self) -> None:
        self._objects.clear()
