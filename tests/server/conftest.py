"""Fixtures for the server tests: the contract ``backend`` recorded, and served on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from eden_storage_async import ArtifactBackend

from .helpers import RecordingBackend, serving


@pytest.fixture
async def recorded(backend: ArtifactBackend) -> RecordingBackend:
    return RecordingBackend(backend)


@pytest.fixture
async def server(
    recorded: RecordingBackend,
) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    async with serving(recorded) as served:
        yield served
