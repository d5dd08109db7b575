"""Fixtures: the real servers (session-scoped) and the one ``backend`` fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from eden_storage_async import ArtifactBackend

# pytest rewrites asserts only in test and conftest modules. The shared helpers
# (tests/support/, each folder's helpers.py) assert too, and a failure there
# should show the same detail, so mark every other module under tests/ before
# any of them is imported.
_TESTS = Path(__file__).parent
pytest.register_assert_rewrite(
    *sorted(
        ".".join(["tests", *path.relative_to(_TESTS).with_suffix("").parts])
        for path in _TESTS.rglob("*.py")
        if not path.name.startswith("test_") and path.name not in ("conftest.py", "__init__.py")
    )
)

from .support.backends import BACKENDS  # noqa: E402
from .support.servers import RealServer, fake_gcs_server, moto_server, seaweedfs_server  # noqa: E402


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[RealServer]:
    """SeaweedFS S3 on 127.0.0.1, with one bucket."""
    with seaweedfs_server() as server:
        yield server


@pytest.fixture(scope="session")
def moto() -> Iterator[RealServer]:
    """moto server on 127.0.0.1, with one bucket."""
    with moto_server() as server:
        yield server


@pytest.fixture(scope="session")
def fake_gcs() -> Iterator[RealServer]:
    """fake-gcs-server on 127.0.0.1, with one bucket."""
    with fake_gcs_server() as server:
        yield server


@pytest.fixture(params=sorted(BACKENDS))
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ArtifactBackend]:
    """Every backend against every real server: the contract suite's one fixture."""
    async with BACKENDS[request.param](request, tmp_path) as built:
        yield built
