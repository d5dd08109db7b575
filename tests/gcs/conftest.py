"""GCS test fixtures: the scripted fake, and a recording proxy with a backend behind it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from eden_storage_async import GcsBackend

from ..support.gcs import RecordingProxy, gcs_backend_on
from ..support.gcs_scripted import ScriptedGcs
from ..support.servers import RealServer
from .helpers import WIRE_THRESHOLD


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedGcs]:
    async with ScriptedGcs() as server:
        yield server


@pytest.fixture
async def proxy(fake_gcs: RealServer) -> AsyncIterator[RecordingProxy]:
    async with RecordingProxy(fake_gcs.endpoint_url) as recording:
        yield recording


@pytest.fixture
async def backend(proxy: RecordingProxy, fake_gcs: RealServer) -> AsyncIterator[GcsBackend]:
    """A backend behind ``proxy``; under tests/gcs it overrides the contract ``backend``."""
    async with gcs_backend_on(
        proxy.endpoint_url, fake_gcs.bucket, resumable_threshold=WIRE_THRESHOLD
    ) as built:
        yield built
