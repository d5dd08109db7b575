"""The contract, store and load: the round trip, refusing reuse of an id, an absent
id, and payload sizes. Every case runs on every backend of the ``backend`` fixture."""

from __future__ import annotations

import asyncio
import os

import pytest

from eden_storage_async import ArtifactBackend, NotFound, mint_opaque_id

pytestmark = pytest.mark.asyncio


async def test_is_an_artifact_backend(backend: ArtifactBackend) -> None:
    assert isinstance(backend, ArtifactBackend)


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
async def test_round_trip(backend: ArtifactBackend, kind: type) -> None:
    opaque_id = mint_opaque_id()
    payload = os.urandom(1000)
    await backend.store(opaque_id, kind(payload))
    loaded = await backend.load(opaque_id)
    assert type(loaded) is bytes
    assert loaded == payload


async def test_reuse_raises_file_exists_and_keeps_original(backend: ArtifactBackend) -> None:
    opaque_id = mint_opaque_id()
    await backend.store(opaque_id, b"first")
    with pytest.raises(FileExistsError):
        await backend.store(opaque_id, b"second")
    assert await backend.load(opaque_id) == b"first"


async def test_absent_id_raises_not_found(backend: ArtifactBackend) -> None:
    with pytest.raises(NotFound):
        await backend.load(mint_opaque_id())


async def test_empty_payload(backend: ArtifactBackend) -> None:
    opaque_id = mint_opaque_id()
    await backend.store(opaque_id, b"")
    assert await backend.load(opaque_id) == b""
    with pytest.raises(FileExistsError):
        await backend.store(opaque_id, b"")


async def test_eight_mib_payload(backend: ArtifactBackend) -> None:
    opaque_id = mint_opaque_id()
    payload = os.urandom(8 * 1024 * 1024)
    await backend.store(opaque_id, payload)
    assert await backend.load(opaque_id) == payload


async def test_concurrent_stores_of_one_id_have_exactly_one_winner(
    backend: ArtifactBackend,
) -> None:
    opaque_id = mint_opaque_id()
    payloads = [f"racer-{i}".encode() * 100 for i in range(16)]
    results = await asyncio.gather(
        *(backend.store(opaque_id, p) for p in payloads), return_exceptions=True
    )
    winners = [i for i, r in enumerate(results) if r is None]
    losers = [r for r in results if r is not None]
    assert len(winners) == 1, results
    assert all(isinstance(r, FileExistsError) for r in losers), losers
    assert await backend.load(opaque_id) == payloads[winners[0]]
