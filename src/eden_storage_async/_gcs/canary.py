"""The upload paths ``GcsBackend.check_create_only`` tries, on the code stores use.

``GcsBackend`` uploads three ways, each with ``ifGenerationMatch=0``, and a
server may honour one and ignore another (fake-gcs-server v1.54 honours
multipart only; tests/gcs/test_create_only_check.py pins it):

* ``multipart``: ``store`` and ``store_stream`` at or below ``resumable_threshold``;
* ``resumable``: ``store`` above it, one PUT of known size;
* ``resumable-stream``: ``store_stream`` above it, pieces then a final PUT.

Each canary goes through ``GcsBackend._store`` or ``_store_stream`` itself;
only the choice of path is forced (``resumable=``, ``threshold=0``), so the
canary stays a few bytes where the real choice would need a body over the
threshold (5 MiB by default, twice per path at every start). A media upload is
never used by the backend, so it is not checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._core.attributes import check_attributes
from .._core.create_only import CANARY_NAME, CanaryPath
from .._core.stream import ChunkSource

if TYPE_CHECKING:
    from .backend import GcsBackend

__all__ = ["canary_paths"]


def canary_paths(backend: GcsBackend) -> list[CanaryPath]:
    """The backend's three upload paths, each under its own reserved name."""

    async def multipart(name: str, body: bytes) -> None:
        await backend._store(name, memoryview(body), check_attributes(), resumable=False)

    async def resumable(name: str, body: bytes) -> None:
        await backend._store(name, memoryview(body), check_attributes(), resumable=True)

    async def resumable_stream(name: str, body: bytes) -> None:
        await backend._store_stream(name, ChunkSource([body]), check_attributes(), threshold=0)

    stores = {"multipart": multipart, "resumable": resumable, "resumable-stream": resumable_stream}
    return [
        CanaryPath(path, f"{CANARY_NAME}/{path}", store, backend._load)
        for path, store in stores.items()
    ]
