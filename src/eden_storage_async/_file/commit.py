"""Group commit of the artifact root's directory fsync.

A new name is durable once the directory holding it is fsynced, and one
directory fsync makes durable every link made before it *started*. So when
many stores link at once, one fsync can serve them all instead of one each:
each store, once its link is done, asks for "the next fsync"; the first asker
starts one, and everyone who asks while it runs waits for the one after it,
which starts as soon as it ends (its link may have missed the running one).
Every store still returns only after an fsync that began after its own link
completed, so durability is exactly that of one fsync per store.

The fsyncs run on their own single thread, so they never queue behind the
stores' writes and data fsyncs in the main pool.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from .._core.settle import settle
from .ops import translate

__all__ = ["DirSync"]


class DirSync:
    """Batches ``fsync(dir_fd)`` for concurrent stores of one event loop."""

    def __init__(self, dir_fd: int, where: str) -> None:
        self._dir_fd = dir_fd
        self._where = where
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="eden-file-dirsync")
        # The fsync every new asker waits for; it starts when the running one ends.
        self._next: asyncio.Future[None] | None = None
        self._committer: asyncio.Task[None] | None = None
        #: How many directory fsyncs ran, for tests and benchmarks.
        self.fsyncs = 0

    async def sync(self) -> None:
        """Return once an fsync that started after this call has completed.

        A cancelled caller still waits for that fsync (``settle``): a store's
        outcome is settled when its cancellation lands.
        """
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            if self._committer is None or self._committer.done():
                self._committer = asyncio.create_task(self._commit())
        await settle(self._next)

    async def _commit(self) -> None:
        loop = asyncio.get_running_loop()
        while (batch := self._next) is not None:
            self._next = None
            try:
                await settle(loop.run_in_executor(self._thread, os.fsync, self._dir_fd))
            except OSError as exc:
                batch.set_exception(translate(exc, f"cannot fsync {self._where}"))
            except BaseException:
                # Only a cancellation of the loop's own shutdown lands here;
                # the fsync itself ended (settle), but its waiters must not hang.
                batch.cancel()
                raise
            else:
                self.fsyncs += 1
                batch.set_result(None)

    async def aclose(self) -> None:
        """Wait for a commit still winding down, then stop the thread."""
        if self._committer is not None:
            await asyncio.shield(self._committer)
        await asyncio.to_thread(self._thread.shutdown)
