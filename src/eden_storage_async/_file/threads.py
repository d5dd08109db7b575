"""The file backend's thread pool: blocking calls run on threads, results go
straight back to the event loop.

Why not ``loop.run_in_executor`` on a ``ThreadPoolExecutor``: per call that
path builds a ``concurrent.futures.Future`` and a work item under the
executor's locks, checks the callable is not a coroutine function (through
``inspect``), and chains the concurrent future to an asyncio one
(``wrap_future``). Profiled on the event loop's thread for 4 KiB stores at
concurrency 64, that plumbing was about a third of the loop's own time, and the
loop thread is the one every store passes through. Here a call is a tuple on a
``queue.SimpleQueue``, and the worker hands the outcome to the loop with one
``call_soon_threadsafe``. docs/file.md has the measurements.

Threads start on demand, up to ``max_threads``, and stay until ``shutdown``.
They are daemon threads: an interpreter that exits without closing the backend
is not held up by them, and a store cut off that way is a crash, which the
store protocol already survives (a temp file for the next sweep, never a
partial object).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["ThreadPool"]

_T = TypeVar("_T")

_STOP = None  # the queue item that ends one worker
_Call = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


def _deliver(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # cancelled by its owner meanwhile; nobody reads it
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class ThreadPool:
    """At most ``max_threads`` threads running blocking calls for one event loop."""

    def __init__(self, max_threads: int, name: str) -> None:
        if max_threads < 1:
            raise ValueError("max_threads must be at least 1")
        self._max = max_threads
        self._name = name
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()  # guards _threads and _closed
        self._closed = False

    def __repr__(self) -> str:
        return f"ThreadPool({self._name!r}, threads={len(self._threads)}/{self._max})"

    def run(self, fn: Callable[..., _T], *args: Any) -> asyncio.Future[_T]:
        """Queue ``fn(*args)``; its result (or exception) arrives on the returned future.

        The call always runs to its end once queued: cancelling the future
        does not stop the thread (callers wrap it in ``settle``).
        """
        if self._closed:
            raise RuntimeError(f"the {self._name} thread pool is shut down")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()
        self._calls.put((loop, future, fn, args))
        # A call still queued means no thread was idle to take it: add one.
        # A thread about to take it may be counted as busy, which at worst
        # starts a thread early, never more than max_threads.
        if self._calls.qsize() and len(self._threads) < self._max:
            self._start_thread()
        return future

    def _start_thread(self) -> None:
        with self._lock:
            if self._closed or len(self._threads) >= self._max:
                return
            thread = threading.Thread(
                target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        get = self._calls.get
        while True:
            item = get()
            if item is _STOP:
                return
            loop, future, fn, args = item
            try:
                result, error = fn(*args), None
            except BaseException as exc:  # handed to the awaiting task, whatever it is
                result, error = None, exc
            # A closed loop raises RuntimeError: nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_deliver, future, result, error)
            # An idle worker must not keep its last call alive: its arguments
            # may be a caller's 32 MiB payload, held until the next call comes.
            del item, loop, future, fn, args, result, error

    def shutdown(self) -> None:
        """Let the queued calls finish, then stop every thread (blocking)."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._calls.put(_STOP)
        for thread in threads:
            thread.join()
