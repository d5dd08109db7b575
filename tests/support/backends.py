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
}
