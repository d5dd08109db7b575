"""How the contract suite builds each backend. A new backend is one entry here.

Each entry is an async context manager factory taking the pytest ``request``
(to reach session-scoped server fixtures) and a fresh temp dir. The backend is
closed when the test ends, so a leaked session fails the test
(``filterwarnings = ["error"]``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from eden_storage_async import ArtifactBackend, FileArtifactBackend, InMemoryArtifactBackend

from .gcs import gcs_on_fake_gcs_server
from .s3 import s3_on_moto, s3_on_seaweedfs, s3_sdk_on_moto, s3_sdk_on_seaweedfs
from .sync_facade import ThreadedFacade

BackendFactory = Callable[
    [pytest.FixtureRequest, Path], contextlib.AbstractAsyncContextManager[Any]
]


@contextlib.asynccontextmanager
async def _memory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ArtifactBackend]:
    async with InMemoryArtifactBackend() as backend:
        yield backend


@contextlib.asynccontextmanager
async def _file(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ArtifactBackend]:
    async with FileArtifactBackend(tmp_path / "blobs") as backend:
        yield backend


def _through_the_sync_facade(inner: BackendFactory) -> BackendFactory:
    """``inner``'s backend behind ``SyncArtifactBackend``, called from many threads."""

    @contextlib.asynccontextmanager
    async def factory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
        async with inner(request, tmp_path) as backend, ThreadedFacade(backend) as facade:
            yield facade

    return factory


BACKENDS: dict[str, BackendFactory] = {
    "memory": _memory,
    "file": _file,
    "s3-seaweedfs": s3_on_seaweedfs,
    "s3-moto": s3_on_moto,
    # The same servers with the lean request path switched off (issue 8's rule:
    # the whole contract on both paths).
    "s3-sdk-seaweedfs": s3_sdk_on_seaweedfs,
    "s3-sdk-moto": s3_sdk_on_moto,
    "gcs-fake-gcs-server": gcs_on_fake_gcs_server,
    # The whole contract again through the sync facade, on its own loop in its
    # own thread, from worker threads (issue 15).
    "sync-facade-memory": _through_the_sync_facade(_memory),
    "sync-facade-file": _through_the_sync_facade(_file),
    "sync-facade-s3-seaweedfs": _through_the_sync_facade(s3_on_seaweedfs),
}
