"""``store_many``: bounded, streaming bulk uploads through any ArtifactBackend."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ._core.errors import MissingDependency
from ._core.ids import Payload
from ._core.pool import run_workers
from ._core.protocol import ArtifactBackend
from ._core.stream import aiterate

__all__ = ["StoreOutcome", "store_many"]

Item = tuple[str, Payload]


@dataclass(frozen=True, slots=True)
class StoreOutcome:
    """What happened to one item of a ``store_many`` call."""

    opaque_id: str
    #: ``None`` when the store succeeded, else the exception it raised.
    error: Exception | None
    #: Wall-clock seconds the store took.
    seconds: float

    @property
    def ok(self) -> bool:
        """The object was created by this call."""
        return self.error is None

    @property
    def already_exists(self) -> bool:
        """The id was taken (``FileExistsError``); the stored object is untouched."""
        return isinstance(self.error, FileExistsError)


async def store_many(
    backend: ArtifactBackend,
    items: Iterable[Item] | AsyncIterable[Item],
    *,
    concurrency: int = 64,
    progress: bool = False,
) -> list[StoreOutcome]:
    """Store every ``(opaque_id, data)`` of ``items`` with at most ``concurrency``
    stores in flight; return one outcome per item, in input order.

    Items are pulled as workers free up, so a generator of a million items is
    never materialized and no task is created per item: ``concurrency`` workers
    share one iterator. One item's failure (a taken id, a bad id, an outage) is
    recorded in its outcome and does not stop the others. Cancelling the call
    cancels the stores in flight and raises ``CancelledError``; stores already
    finished stay stored. ``progress=True`` shows a tqdm bar on stderr.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    bar = _progress_bar() if progress else None
    outcomes: dict[int, StoreOutcome] = {}
    if isinstance(items, AsyncIterable):
        source: AsyncGenerator[tuple[int, Item], None] | None = _numbered(items)
        numbered: Iterator[tuple[int, Item]] = iter(())
    else:
        # A sync iterable is pulled without an await, so workers cannot
        # interleave inside it: no lock and no async generator per item.
        source = None
        numbered = enumerate(items)
    # A lock only for async sources: pulling from them awaits, and two workers
    # must not be inside one async generator at once.
    pull_lock = asyncio.Lock()

    async def worker() -> None:
        while True:
            if source is None:
                pulled = next(numbered, None)  # (index, item): never None itself
                if pulled is None:
                    return
                index, (opaque_id, data) = pulled
            else:
                async with pull_lock:
                    try:
                        index, (opaque_id, data) = await anext(source)
                    except StopAsyncIteration:
                        return
            started = time.perf_counter()
            error: Exception | None = None
            try:
                await backend.store(opaque_id, data)
            except Exception as exc:  # recorded per item, by design
                error = exc
            outcomes[index] = StoreOutcome(opaque_id, error, time.perf_counter() - started)
            if bar is not None:
                bar.update(1)

    try:
        await run_workers(worker, concurrency)
    finally:
        if source is not None:
            await source.aclose()
        if bar is not None:
            bar.close()
    return [outcomes[i] for i in range(len(outcomes))]


async def _numbered(
    items: Iterable[Item] | AsyncIterable[Item],
) -> AsyncGenerator[tuple[int, Item], None]:
    index = 0
    async for item in aiterate(items):
        yield index, item
        index += 1


def _progress_bar() -> Any:
    try:
        from tqdm import tqdm
    except ImportError as exc:
        raise MissingDependency(
            "store_many(progress=True) needs tqdm: pip install 'eden-storage-async[progress]'"
        ) from exc
    return tqdm(unit="obj", desc="store_many", leave=False)
