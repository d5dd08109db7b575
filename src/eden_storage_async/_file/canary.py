"""The store paths ``FileArtifactBackend.check_create_only`` tries.

Both end in the same exclusive ``link(2)`` (``FileOps.publish``), which the
kernel refuses on an existing name; the check still runs each, through the
backend's own ``_store`` and ``_store_stream``, so a change to either that lost
the exclusive link would be caught. The canaries are plain files in the root,
named ``.eden-create-only-check.<path>``: never an opaque id, and not the
``.eden-tmp.`` prefix that the start-up sweep removes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._core.attributes import check_attributes
from .._core.create_only import CANARY_NAME, CanaryPath
from .._core.stream import ChunkSource

if TYPE_CHECKING:
    from .backend import FileArtifactBackend

__all__ = ["canary_paths"]


def canary_paths(backend: FileArtifactBackend) -> list[CanaryPath]:
    """``store`` (one thread hop) and ``store-stream`` (a hop per chunk)."""

    async def store(name: str, body: bytes) -> None:
        await backend._store(name, memoryview(body), check_attributes())

    async def store_stream(name: str, body: bytes) -> None:
        await backend._store_stream(name, ChunkSource([body]), check_attributes())

    return [
        CanaryPath("store", f"{CANARY_NAME}.store", store, backend._load),
        CanaryPath("store-stream", f"{CANARY_NAME}.store-stream", store_stream, backend._load),
    ]
