"""``InMemoryArtifactBackend``: a dict, for tests and NON-DURABLE development."""

from __future__ import annotations

from ._core.base import BackendBase
from ._core.errors import AlreadyExists, NotFound

__all__ = ["InMemoryArtifactBackend"]


class InMemoryArtifactBackend(BackendBase):
    """Keeps artifacts in process memory. Everything is lost when the process exits.

    ``store`` and ``load`` never await between their check and their write, so
    on one event loop they are atomic without a lock.
    """

    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return f"InMemoryArtifactBackend(objects={len(self._objects)})"

    async def _store(self, opaque_id: str, data: memoryview) -> None:
        if opaque_id in self._objects:
            raise AlreadyExists(f"artifact {opaque_id} already exists in memory")
        # A copy: a caller that later mutates its bytearray must not change ours.
        self._objects[opaque_id] = data.tobytes()

    async def _load(self, opaque_id: str) -> bytes:
        try:
            return self._objects[opaque_id]
        except KeyError:
            raise NotFound(f"artifact {opaque_id} not found in memory") from None

    async def _aclose(self) -> None:
        self._objects.clear()
