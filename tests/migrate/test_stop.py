"""``migrate`` under load and when stopped: bounded concurrency, a streamed
listing, a stop request that lets copies finish, a cancel that leaves nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from eden_storage_async import FileArtifactBackend, InMemoryArtifactBackend, migrate

from .helpers import Scripted, fill


async def test_at_most_concurrency_copies_run_at_once() -> None:
    async with InMemoryArtifactBackend() as source, Scripted(store_delay=0.01) as target:
        await fill(source, 40)
        report = await migrate(source, target, concurrency=5)
        assert report.copied == 40
        # Bounded, and the bound is used: five stores really ran side by side.
        assert target.max_in_flight == 5


async def test_a_stop_request_lets_the_copies_in_flight_finish_and_a_rerun_carries_on() -> None:
    stop = asyncio.Event()
    async with Scripted() as source, Scripted(store_delay=0.02) as target:
        stored = await fill(source, 30)

        def stop_at_the_sixth(opaque_id: str) -> None:
            if target.calls["store_stream"] == 6:
                stop.set()

        target.on_store = stop_at_the_sixth
        first = await migrate(source, target, concurrency=3, stop=stop)

        # The sixth store set the stop; it and the two beside it finished, and
        # no seventh began.
        assert first.interrupted
        assert not first.ok
        assert first.copied == len(target.stored_ids) == target.calls["store_stream"] == 6
        for opaque_id in target.stored_ids:
            assert await target.load(opaque_id) == stored[opaque_id]

        target.on_store = None
        source.calls.clear()
        second = await migrate(source, target, concurrency=3)

        assert (second.already_present, second.copied) == (first.copied, 30 - first.copied)
        assert second.ok
        assert not second.interrupted
        # What was there was found by stat: the source streamed only the rest.
        assert source.calls["load_stream"] == 30 - first.copied


async def test_the_listing_is_pulled_as_workers_free_up_never_all_at_once() -> None:
    pulled = 0
    stop = asyncio.Event()

    class Endless(InMemoryArtifactBackend):
        def iter_ids(self) -> AsyncIterator[str]:
            return self._ids()

        async def _ids(self) -> AsyncIterator[str]:
            nonlocal pulled
            while pulled < 10_000:  # an eager listing fails here, not by hanging
                pulled += 1
                if pulled == 50:
                    stop.set()
                yield f"{pulled:032x}"

        async def stat(self, opaque_id: str):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0)
            return await super().stat("0" * 32)

    async with Endless() as source, InMemoryArtifactBackend() as target:
        await source.store("0" * 32, b"one artifact, listed for ever")
        report = await migrate(source, target, concurrency=4, stop=stop)
    # Memory is bounded by the workers, not by the listing: an endless one stops.
    assert report.interrupted
    assert pulled == 50


async def test_a_cancelled_migration_leaves_no_partial_object(tmp_path: Path) -> None:
    started = asyncio.Event()

    class Slow(InMemoryArtifactBackend):
        @contextlib.asynccontextmanager
        async def _load_stream(self, opaque_id: str) -> AsyncIterator[AsyncIterator[bytes]]:
            async def chunks() -> AsyncIterator[bytes]:
                yield b"first half "
                started.set()
                await asyncio.sleep(30)
                yield b"second half"

            yield chunks()

    async with Slow() as source, FileArtifactBackend(tmp_path) as target:
        await fill(source, 1)
        task = asyncio.create_task(migrate(source, target))
        await asyncio.wait_for(started.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert [i async for i in target.iter_ids()] == []
    # Only the create-only check's canaries: no temp file of the abandoned copy.
    assert all(name.startswith(".eden-create-only") for name in map(str, _names(tmp_path)))


def _names(root: Path) -> list[str]:
    return sorted(path.name for path in root.iterdir())


async def test_progress_shows_a_bar_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    async with InMemoryArtifactBackend() as source, InMemoryArtifactBackend() as target:
        await fill(source, 3)
        await migrate(source, target, progress=True)
        await migrate(source, target)
    err = capsys.readouterr().err
    assert "migrate: 3obj" in err
    assert "copied=3 present=0 conflicts=0 failed=0" in err
    # Without progress=True, nothing: the second run would show present=3.
    assert "present=3" not in err
