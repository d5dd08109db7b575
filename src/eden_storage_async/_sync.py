"""``SyncArtifactBackend``: any ``ArtifactBackend`` for synchronous code.

The original eden backends, and the server that calls them, are synchronous;
so are scripts and sync web frameworks. This facade runs the async backend on
an event loop of its own in a private thread, and every method hands its call
to that loop and waits. Many threads may call it at once: each call is one
task on the loop, so concurrent callers overlap their I/O as async callers do.

A call from the facade's own loop thread would wait for itself; it raises
``RuntimeError`` at once instead. Calling it from another running event loop
works, but blocks that loop for the call's length: there, await the backend.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Iterator,
    Mapping,
)
from types import TracebackType
from typing import Any, Self, TypeVar

from ._core.attributes import ArtifactInfo, check_attributes
from ._core.create_only import CreateOnlyReport
from ._core.errors import BackendClosed
from ._core.ids import Payload, as_payload, validate_opaque_id
from ._core.protocol import ArtifactBackend
from ._core.stream import check_chunks

__all__ = ["SyncArtifactBackend"]

_T = TypeVar("_T")
_END = object()
# A hop to the loop and back costs tens of microseconds; an id in a list, bytes.
_LIST_BATCH = 1000


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _Failed:
    """The caller's iterable raised: the store must fail with it, leaving nothing."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class SyncArtifactBackend:
    """A thread-safe synchronous facade over an ``ArtifactBackend``.

    A drop-in for the original sync backends: ``store`` raises
    ``FileExistsError`` on reuse, ``load`` raises ``NotFound`` when absent,
    and a malformed id raises ``ValueError`` whose message starts "invalid
    opaque artifact id". The facade owns ``backend`` from here on:
    ``close()`` (or leaving a ``with`` block) closes it, then stops the loop.
    ``loop_factory`` makes the loop, ``asyncio.new_event_loop`` by default
    (``uvloop.new_event_loop`` works too).
    """

    def __init__(
        self,
        backend: ArtifactBackend,
        *,
        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
    ) -> None:
        self._backend = backend
        self._loop = (loop_factory or asyncio.new_event_loop)()
        self._closed = False
        # Ids per hop to the loop in iter_ids; tests make it small.
        self._list_batch = _LIST_BATCH
        # Held while a call is handed to the loop, so close() cannot stop the
        # loop between a caller's check and its hand-off (it would wait forever).
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="eden-sync-backend", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"SyncArtifactBackend({self._backend!r})"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
            self._loop.close()

    # -- handing calls to the loop -------------------------------------------

    def _submit(
        self, coro: Coroutine[Any, Any, _T], *, internal: bool = False
    ) -> concurrent.futures.Future[_T]:
        # The running loop, not the thread's ident: once the loop thread has
        # ended, the system may hand its ident to another thread (a to_thread
        # worker calling us after close() saw this), which must get
        # BackendClosed, not this error.
        if _running_loop() is self._loop:
            coro.close()
            raise RuntimeError(
                "SyncArtifactBackend was called from its own event loop, where it would "
                "wait for itself: await the backend directly there"
            )
        with self._lock:
            # An operation already under way (a store_stream's chunks, an open
            # load_stream's reads) goes on while close() waits for it; only
            # new calls are refused.
            if self._closed and not internal:
                coro.close()
                raise BackendClosed(f"{self!r} is closed")
            return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def _wait(self, future: concurrent.futures.Future[_T]) -> _T:
        try:
            return future.result()
        except BaseException:
            # KeyboardInterrupt and friends land here while the call runs:
            # cancel it, and the backend's own cancel rules apply (all or nothing).
            future.cancel()
            raise

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return self._wait(self._submit(coro))

    # -- the backend's methods -----------------------------------------------

    def store(
        self,
        opaque_id: str,
        data: Payload,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Create ``opaque_id`` holding ``data``; ``FileExistsError`` if it exists."""
        self._call(
            self._backend.store(opaque_id, data, content_type=content_type, metadata=metadata)
        )

    def load(self, opaque_id: str) -> bytes:
        """The bytes of ``opaque_id``, verified; ``NotFound`` if it is absent."""
        return self._call(self._backend.load(opaque_id))

    def stat(self, opaque_id: str) -> ArtifactInfo:
        """Size, CRC32C, content type and metadata of ``opaque_id``, without its bytes."""
        return self._call(self._backend.stat(opaque_id))

    def load_range(self, opaque_id: str, start: int, end: int | None = None) -> bytes:
        """Exactly ``data[start:end]`` of ``opaque_id``."""
        return self._call(self._backend.load_range(opaque_id, start, end))

    def check_create_only(self, paths: Iterable[str] | None = None) -> CreateOnlyReport:
        """Prove the service refuses a second store on each upload path, or raise
        ``PreconditionNotSupported``; the backend's ``check_create_only``, waited for."""
        return self._call(self._backend.check_create_only(paths))

    def store_stream(
        self,
        opaque_id: str,
        chunks: Iterable[Payload],
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Create ``opaque_id`` from a sync iterable of chunks, with ``store``'s contract.

        ``chunks`` is read in the calling thread, never on the loop, so a slow
        or blocking iterable (a file, a socket) holds up no other caller. An
        exception from it fails the store, which leaves nothing behind, and
        is raised here.
        """
        # All of store_stream's checks, here: nothing may touch ``chunks`` before them.
        validate_opaque_id(opaque_id)
        check_chunks(chunks)
        check_attributes(content_type, metadata)
        queue: asyncio.Queue[object] = self._call(_make_queue())
        storing = self._submit(
            self._backend.store_stream(
                opaque_id, _drain(queue), content_type=content_type, metadata=metadata
            )
        )
        try:
            for chunk in chunks:
                # bytes are immutable; a bytearray or memoryview the caller may
                # reuse for its next chunk is copied before it is handed over.
                view = as_payload(chunk)
                item = chunk if isinstance(chunk, bytes) else view.tobytes()
                if not self._feed(queue, item, storing):
                    break
            else:
                self._feed(queue, _END, storing)
        except BaseException as exc:
            self._feed(queue, _Failed(exc), storing)
            with contextlib.suppress(BaseException):
                storing.result()
            raise
        self._wait(storing)

    def _feed(
        self,
        queue: asyncio.Queue[object],
        item: object,
        storing: concurrent.futures.Future[None],
    ) -> bool:
        """Hand one item to the store; False if the store has already ended."""
        put = self._submit(queue.put(item), internal=True)
        concurrent.futures.wait([put, storing], return_when=concurrent.futures.FIRST_COMPLETED)
        if put.done():
            return True
        put.cancel()
        return False

    def load_stream(
        self, opaque_id: str, *, start: int = 0, end: int | None = None
    ) -> contextlib.AbstractContextManager[Iterator[bytes]]:
        """``with facade.load_stream(id) as chunks: for chunk in chunks: ...``

        A malformed id or bound raises here; entering raises ``NotFound`` when
        the object is absent; the whole object's stream raises
        ``IntegrityError`` at its end on a mismatch.
        """
        # The backend checks the id and the bounds now, as the async call does.
        return self._streamed(self._backend.load_stream(opaque_id, start=start, end=end))

    @contextlib.contextmanager
    def _streamed(
        self, manager: contextlib.AbstractAsyncContextManager[AsyncIterator[bytes]]
    ) -> Iterator[Iterator[bytes]]:
        chunks = self._call(_enter(manager))
        # From here the stream is an operation under way: close() waits for
        # it, so its reads and its exit must still reach the loop.
        try:
            yield self._chunks_of(chunks)
        except BaseException as exc:
            if not self._wait(self._submit(_exit(manager, exc), internal=True)):
                raise
        else:
            self._wait(self._submit(_exit(manager, None), internal=True))

    def _chunks_of(self, chunks: AsyncIterator[bytes]) -> Iterator[bytes]:
        while True:
            more, chunk = self._wait(self._submit(_next(chunks), internal=True))
            if not more:
                return
            yield chunk

    def iter_ids(self) -> Generator[str, None, None]:
        """``for opaque_id in facade.iter_ids(): ...``: the backend's ``iter_ids``, in sync.

        A closed facade raises ``BackendClosed`` here. Ids come from the loop
        in batches, so each hop carries many of them and at most one batch is
        held. ``close()`` ends an iteration: its next step raises
        ``BackendClosed``. Leave the loop early with the iterator's
        ``close()`` (or let it go): the listing is then closed on the loop.
        """
        ids = self._call(_open_ids(self._backend))
        return self._ids_of(ids)

    def _ids_of(self, ids: AsyncIterator[str]) -> Generator[str, None, None]:
        try:
            while True:
                batch = self._call(_take(ids, self._list_batch))
                if not batch:
                    return
                for opaque_id in batch:
                    # As the async iteration: nothing more once closed.
                    if self._closed:
                        raise BackendClosed(f"{self!r} is closed")
                    yield opaque_id
        finally:
            # Closing the listing frees what it holds (a directory stream) now,
            # not when the loop stops. Once the facade is closed, or from its
            # own loop thread (a generator collected there), the loop's own
            # shutdown_asyncgens closes it instead.
            with contextlib.suppress(BackendClosed, RuntimeError):
                self._call(_aclose_ids(ids))

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        """Close the backend (it waits for calls under way), then stop the loop.

        Safe to call more than once; later calls raise ``BackendClosed``.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self._wait(self._submit(self._backend.aclose(), internal=True))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def _make_queue() -> asyncio.Queue[object]:
    # One chunk in hand and one waiting: the caller's thread stays at most a
    # chunk ahead of the upload, so memory is bounded by two chunks.
    return asyncio.Queue(maxsize=1)


async def _drain(queue: asyncio.Queue[object]) -> AsyncIterator[Payload]:
    while True:
        item = await queue.get()
        if item is _END:
            return
        if isinstance(item, _Failed):
            raise item.error
        assert isinstance(item, bytes)
        yield item


async def _enter(manager: contextlib.AbstractAsyncContextManager[_T]) -> _T:
    return await manager.__aenter__()


async def _exit(
    manager: contextlib.AbstractAsyncContextManager[Any], exc: BaseException | None
) -> bool | None:
    if exc is None:
        return await manager.__aexit__(None, None, None)
    return await manager.__aexit__(type(exc), exc, exc.__traceback__)


async def _next(chunks: AsyncIterator[bytes]) -> tuple[bool, bytes]:
    # StopAsyncIteration cannot cross a Future, so it becomes a flag.
    try:
        return True, await anext(chunks)
    except StopAsyncIteration:
        return False, b""


async def _open_ids(backend: ArtifactBackend) -> AsyncIterator[str]:
    # On the loop: the backend checks it is open here, as an async caller sees.
    return backend.iter_ids()


async def _take(ids: AsyncIterator[str], count: int) -> list[str]:
    batch: list[str] = []
    async for opaque_id in ids:
        batch.append(opaque_id)
        if len(batch) == count:
            break
    return batch


async def _aclose_ids(ids: AsyncIterator[str]) -> None:
    aclose = getattr(ids, "aclose", None)
    if aclose is not None:
        await aclose()
