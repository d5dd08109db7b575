"""The contract through ``SyncArtifactBackend``: an async view of the sync facade.

Every call goes to a worker thread (``asyncio.to_thread``) and from there into
the facade, so the contract's concurrent cases (16 racing stores, a burst of
streams) call the facade from many threads at once. A cancelled call waits
for its thread, as the file backend's do, so the facade's outcome is settled
when the cancel lands and the contract's all-or-nothing checks hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

from eden_storage_async import (
    ArtifactBackend,
    ArtifactInfo,
    CreateOnlyReport,
    Payload,
    SyncArtifactBackend,
)
from eden_storage_async._core.settle import settle

_T = TypeVar("_T")


def _pulled(chunks: AsyncIterable[Payload], loop: asyncio.AbstractEventLoop) -> Iterator[Payload]:
    """A sync iterator over ``chunks``, for a worker thread, each chunk from ``loop``."""
    iterator = aiter(chunks)

    async def pull() -> tuple[bool, Payload]:
        try:
            return True, await anext(iterator)
        except StopAsyncIteration:
            return False, b""

    while True:
        more, chunk = asyncio.run_coroutine_threadsafe(pull(), loop).result()
        if not more:
            return
        yield chunk


class ThreadedFacade:
    """An ``ArtifactBackend`` whose every call crosses a thread into a facade."""

    def __init__(self, inner: ArtifactBackend) -> None:
        self.facade = SyncArtifactBackend(inner)
        # Calls started here and not yet answered. An async backend counts a
        # store as under way from its first step, so aclose() waits for these;
        # otherwise a call still on its way to a worker thread would meet the
        # closed facade and fail, where the contract wants it to finish.
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def __repr__(self) -> str:
        return f"ThreadedFacade({self.facade!r})"

    async def _in_thread(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        self._inflight += 1
        self._idle.clear()
        try:
            return await settle(asyncio.to_thread(functools.partial(fn, *args, **kwargs)))
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()

    async def store(
        self,
        opaque_id: str,
        data: Payload,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        await self._in_thread(
            self.facade.store, opaque_id, data, content_type=content_type, metadata=metadata
        )

    async def load(self, opaque_id: str) -> bytes:
        return await self._in_thread(self.facade.load, opaque_id)

    async def stat(self, opaque_id: str) -> ArtifactInfo:
        return await self._in_thread(self.facade.stat, opaque_id)

    async def load_range(self, opaque_id: str, start: int, end: int | None = None) -> bytes:
        return await self._in_thread(self.facade.load_range, opaque_id, start, end)

    async def check_create_only(self, paths: Iterable[str] | None = None) -> CreateOnlyReport:
        return await self._in_thread(self.facade.check_create_only, paths)

    async def store_stream(
        self,
        opaque_id: str,
        chunks: AsyncIterable[Payload] | Iterable[Payload],
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(chunks, AsyncIterable):
            # The facade takes sync iterables: pull each async chunk from this
            # loop only when the facade asks, so its checks still come first.
            chunks = _pulled(chunks, asyncio.get_running_loop())
        await self._in_thread(
            self.facade.store_stream,
            opaque_id,
            chunks,
            content_type=content_type,
            metadata=metadata,
        )

    def load_stream(
        self, opaque_id: str, *, start: int = 0, end: int | None = None
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[bytes]]:
        # Checked here, synchronously, as every backend does.
        manager = self.facade.load_stream(opaque_id, start=start, end=end)
        return self._streamed(manager)

    @contextlib.asynccontextmanager
    async def _streamed(
        self, manager: contextlib.AbstractContextManager[Iterator[bytes]]
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        chunks = await self._in_thread(manager.__enter__)
        try:
            yield self._async_chunks(chunks)
        except BaseException as exc:
            if not await self._in_thread(manager.__exit__, type(exc), exc, exc.__traceback__):
                raise
        else:
            await self._in_thread(manager.__exit__, None, None, None)

    async def _async_chunks(self, chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
        while (chunk := await self._in_thread(next, chunks, None)) is not None:
            yield chunk

    async def iter_ids(self) -> AsyncIterator[str]:
        # One id per thread hop, so the facade's own check between ids is what
        # the contract sees; the facade itself still fetches in batches.
        ids = await self._in_thread(self.facade.iter_ids)
        try:
            while (opaque_id := await self._in_thread(next, ids, None)) is not None:
                yield opaque_id
        finally:
            await self._in_thread(ids.close)

    async def aclose(self) -> None:
        await self._idle.wait()
        await settle(asyncio.to_thread(self.facade.close))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
