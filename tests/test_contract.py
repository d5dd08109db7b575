"""The contract: every case runs on every backend of the ``backend`` fixture."""

from __future__ import annotations

import asyncio
import gc
import os
import warnings

import pytest
from hypothesis import HealthCheck, given, settings

from eden_storage_async import (
    ArtifactBackend,
    BackendClosed,
    NotFound,
    mint_opaque_id,
)

from .strategies import MALFORMED_IDS, malformed_ids

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


@pytest.mark.parametrize("bad_id", MALFORMED_IDS, ids=repr)
async def test_named_malformed_ids_raise_value_error(
    backend: ArtifactBackend, bad_id: object
) -> None:
    with pytest.raises(ValueError):
        await backend.store(bad_id, b"x")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await backend.load(bad_id)  # type: ignore[arg-type]


@settings(
    max_examples=40,
    deadline=None,
    # The backend is shared across examples on purpose: a rejected id never writes.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(bad_id=malformed_ids())
async def test_generated_malformed_ids_raise_value_error(
    backend: ArtifactBackend, bad_id: str
) -> None:
    with pytest.raises(ValueError):
        await backend.store(bad_id, b"x")
    with pytest.raises(ValueError):
        await backend.load(bad_id)


@pytest.mark.parametrize("bad_payload", ["text", 42, None, [1, 2]], ids=repr)
async def test_non_bytes_payload_raises_type_error(
    backend: ArtifactBackend, bad_payload: object
) -> None:
    opaque_id = mint_opaque_id()
    with pytest.raises(TypeError):
        await backend.store(opaque_id, bad_payload)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await backend.load(opaque_id)


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


# Points at which a store is cancelled: after N loop iterations, or after a
# short wall-clock delay so the write is in flight on the wire or in a thread.
_CANCEL_POINTS = [("ticks", 0), ("ticks", 1), ("ticks", 3), ("ticks", 10),
                  ("seconds", 0.001), ("seconds", 0.005), ("seconds", 0.02)]  # fmt: skip


@pytest.mark.parametrize(("unit", "amount"), _CANCEL_POINTS)
async def test_cancelled_store_leaves_nothing_or_everything(
    backend: ArtifactBackend, unit: str, amount: float
) -> None:
    # One store first, so lazily built clients and pools exist and the cancel
    # lands on the wire (or in the thread), not while a client is being built.
    await backend.store(mint_opaque_id(), b"warm-up")
    opaque_id = mint_opaque_id()
    payload = os.urandom(2 * 1024 * 1024)
    task = asyncio.create_task(backend.store(opaque_id, payload))
    if unit == "ticks":
        for _ in range(int(amount)):
            await asyncio.sleep(0)
    else:
        await asyncio.sleep(amount)
    task.cancel()
    try:
        await task
        completed = True
    except asyncio.CancelledError:
        completed = False
    try:
        loaded = await backend.load(opaque_id)
    except NotFound:
        assert not completed, "a store that returned must be loadable"
        # Nothing was published, so the id is still free to take.
        await backend.store(opaque_id, b"after")
        assert await backend.load(opaque_id) == b"after"
    else:
        assert loaded == payload, "a partial object was published"


async def test_close_is_clean_and_idempotent(backend: ArtifactBackend) -> None:
    opaque_id = mint_opaque_id()
    await backend.store(opaque_id, b"data")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        await backend.aclose()
        await backend.aclose()
        gc.collect()
    with pytest.raises(BackendClosed):
        await backend.load(opaque_id)
    with pytest.raises(BackendClosed):
        await backend.store(mint_opaque_id(), b"data")


async def test_close_waits_for_stores_under_way(backend: ArtifactBackend) -> None:
    ids = [mint_opaque_id() for _ in range(8)]
    payload = os.urandom(64 * 1024)
    stores = [asyncio.create_task(backend.store(i, payload)) for i in ids]
    await asyncio.sleep(0)
    await backend.aclose()
    results = await asyncio.gather(*stores, return_exceptions=True)
    assert all(r is None for r in results), results
