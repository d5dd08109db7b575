"""store_many over every backend of the contract fixture, plus its edge cases."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator

import pytest

from eden_storage_async import (
    ArtifactBackend,
    InMemoryArtifactBackend,
    StoreOutcome,
    mint_opaque_id,
    store_many,
)
from eden_storage_async._core.attributes import Attributes
from eden_storage_async._core.ids import Payload


async def test_store_many_stores_everything_and_reports_each_item(
    backend: ArtifactBackend,
) -> None:
    taken = mint_opaque_id()
    await backend.store(taken, b"first")
    items: list[tuple[str, Payload]] = [(mint_opaque_id(), os.urandom(512)) for _ in range(40)]
    items.insert(7, (taken, b"second"))
    items.insert(20, ("not-an-id", b"x"))

    outcomes = await store_many(backend, items, concurrency=8)

    assert [o.opaque_id for o in outcomes] == [i for i, _ in items]
    assert outcomes[7].already_exists
    assert isinstance(outcomes[20].error, ValueError)
    assert sum(o.ok for o in outcomes) == 40
    assert all(o.seconds >= 0 for o in outcomes)
    for opaque_id, data in items:
        if opaque_id not in (taken, "not-an-id"):
            assert await backend.load(opaque_id) == data
    assert await backend.load(taken) == b"first"


class _Gauge(InMemoryArtifactBackend):
    """Counts stores in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.peak = 0

    async def _store(self, opaque_id: str, data: memoryview, attributes: Attributes) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(0.001)
        finally:
            self.in_flight -= 1
        await super()._store(opaque_id, data, attributes)


async def test_concurrency_is_bounded_and_items_are_pulled_lazily() -> None:
    backend = _Gauge()
    pulled = 0

    def items() -> Iterator[tuple[str, bytes]]:
        nonlocal pulled
        for _ in range(500):
            pulled += 1
            # Never more than the workers ahead of what has completed.
            assert pulled - sum(1 for _ in backend._objects) <= 16 + 1
            yield mint_opaque_id(), b"x"

    outcomes = await store_many(backend, items(), concurrency=16)
    assert len(outcomes) == 500
    assert all(o.ok for o in outcomes)
    assert backend.peak == 16


async def test_async_iterables_are_accepted() -> None:
    async def items() -> AsyncIterator[tuple[str, bytes]]:
        for n in range(30):
            await asyncio.sleep(0)
            yield mint_opaque_id(), str(n).encode()

    async with InMemoryArtifactBackend() as backend:
        outcomes = await store_many(backend, items(), concurrency=4)
        assert [await backend.load(o.opaque_id) for o in outcomes] == [
            str(n).encode() for n in range(30)
        ]


async def test_cancelling_store_many_cancels_cleanly() -> None:
    backend = _Gauge()
    task = asyncio.create_task(  # noqa: RUF006 - kept, cancelled and awaited below
        store_many(backend, ((mint_opaque_id(), b"x") for _ in range(10_000)), concurrency=8)
    )
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backend.in_flight == 0
    assert 0 < len(backend._objects) < 10_000


async def test_a_failing_source_surfaces_its_own_error() -> None:
    def items() -> Iterator[tuple[str, bytes]]:
        yield mint_opaque_id(), b"x"
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError, match="source broke"):
        await store_many(InMemoryArtifactBackend(), items(), concurrency=2)


async def test_empty_input_and_bad_concurrency() -> None:
    assert await store_many(InMemoryArtifactBackend(), []) == []
    with pytest.raises(ValueError):
        await store_many(InMemoryArtifactBackend(), [], concurrency=0)


async def test_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    items = [(mint_opaque_id(), b"x") for _ in range(10)]
    outcomes = await store_many(InMemoryArtifactBackend(), items, progress=True)
    assert all(isinstance(o, StoreOutcome) and o.ok for o in outcomes)
    assert "store_many" in capsys.readouterr().err


@pytest.mark.parametrize("sync", [True, False], ids=["sync-source", "async-source"])
async def test_a_malformed_item_fails_the_call_and_does_not_end_the_source(sync: bool) -> None:
    """A ``None`` among the items is the caller's bug: raised, never read as the end."""
    backend = InMemoryArtifactBackend()
    good = [(mint_opaque_id(), b"x") for _ in range(3)]
    listed: list[object] = [good[0], None, *good[1:]]

    async def async_items() -> AsyncIterator[object]:
        for item in listed:
            yield item

    with pytest.raises(TypeError):
        await store_many(backend, listed if sync else async_items(), concurrency=1)  # type: ignore[arg-type]
    assert await backend.load(good[0][0]) == b"x"
