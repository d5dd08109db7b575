"""The contract, cancellation and close: a cancelled store or stream publishes all of
its payload or nothing, and ``aclose`` waits for the work under way, then refuses
more. Every case runs on every backend of the ``backend`` fixture."""

from __future__ import annotations

import asyncio
import gc
import os
import warnings
from collections.abc import AsyncIterator

import pytest

from eden_storage_async import ArtifactBackend, BackendClosed, NotFound, mint_opaque_id

from .helpers import BIG, cancel_and_wait, in_pieces

pytestmark = pytest.mark.asyncio


# Points at which a store is cancelled: after N loop iterations, or after a
# short wall-clock delay so the write is in flight on the wire or in a thread.
_CANCEL_POINTS = [("ticks", 0), ("ticks", 1), ("ticks", 3), ("ticks", 10),
                  ("seconds", 0.001), ("seconds", 0.005), ("seconds", 0.02)]  # fmt: skip


async def _cancel_then_check_nothing_or_everything(
    backend: ArtifactBackend, task: asyncio.Task[None], opaque_id: str, payload: bytes
) -> None:
    """Cancel a store under way; then the id holds all of ``payload`` or nothing."""
    completed = await cancel_and_wait(task)
    try:
        loaded = await backend.load(opaque_id)
    except NotFound:
        assert not completed, "a store that returned must be loadable"
        # Nothing was published, so the id is still free to take.
        await backend.store(opaque_id, b"after")
        assert await backend.load(opaque_id) == b"after"
    else:
        assert loaded == payload, "a partial object was published"


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
    await _cancel_then_check_nothing_or_everything(backend, task, opaque_id, payload)


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


# While the chunks still flow (a delay in seconds), or right after the last one
# was taken, while the backend commits (fsync + link, CompleteMultipartUpload,
# the final resumable piece).
_STREAM_CANCEL_POINTS = [0.0, 0.01, 0.05, "after last chunk"]


@pytest.mark.parametrize("when", _STREAM_CANCEL_POINTS, ids=str)
async def test_cancelled_stream_leaves_nothing_or_everything(
    backend: ArtifactBackend, when: float | str
) -> None:
    await backend.store(mint_opaque_id(), b"warm-up")
    opaque_id = mint_opaque_id()
    payload = os.urandom(BIG)
    exhausted = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        for piece in in_pieces(payload):
            await asyncio.sleep(0.001)
            yield piece
        exhausted.set()

    task = asyncio.create_task(backend.store_stream(opaque_id, chunks()))
    if isinstance(when, str):
        await exhausted.wait()
    else:
        await asyncio.sleep(when)
    await _cancel_then_check_nothing_or_everything(backend, task, opaque_id, payload)


async def test_close_waits_for_a_load_stream_under_way(backend: ArtifactBackend) -> None:
    opaque_id = mint_opaque_id()
    payload = os.urandom(3 * 1024 * 1024)
    await backend.store(opaque_id, payload)
    async with backend.load_stream(opaque_id) as chunks:
        closing = asyncio.create_task(backend.aclose())
        await asyncio.sleep(0.01)
        assert not closing.done(), "aclose must wait for the open load_stream"
        received = b"".join([chunk async for chunk in chunks])
    await closing
    assert received == payload
    with pytest.raises(BackendClosed):
        await backend.store_stream(mint_opaque_id(), [b"late"])
    with pytest.raises(BackendClosed):
        async with backend.load_stream(opaque_id):
            pass
