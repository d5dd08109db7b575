"""The file backend's thread pool (``_file_threads.ThreadPool``): results and
failures reach the awaiting task, threads start on demand up to the bound, and
shutdown lets queued calls finish."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref

import pytest

from eden_storage_async._file.threads import ThreadPool


def _fail() -> None:
    raise KeyError("from the thread")


async def test_results_and_failures_reach_the_awaiting_task() -> None:
    pool = ThreadPool(2, "test")
    try:
        assert await pool.run(int, "42") == 42
        assert await pool.run(lambda a, b: a + b, 1, 2) == 3
        with pytest.raises(KeyError, match="from the thread"):
            await pool.run(_fail)
    finally:
        pool.shutdown()


async def test_threads_start_on_demand_and_never_pass_the_bound() -> None:
    pool = ThreadPool(3, "test")
    try:
        await pool.run(time.sleep, 0)
        assert len(pool._threads) == 1  # one call needed one thread
        gate = threading.Event()
        started = threading.Condition()
        running: list[int] = []

        def blocked(number: int) -> int:
            with started:
                running.append(number)
                started.notify_all()
            gate.wait(5)
            return number

        def three_running_and_no_fourth() -> int:
            with started:
                started.wait_for(lambda: len(running) >= 3, timeout=5)
            time.sleep(0.1)  # room for a fourth thread, were there one
            return len(running)

        calls = [pool.run(blocked, n) for n in range(8)]
        assert await asyncio.to_thread(three_running_and_no_fourth) == 3
        assert len(pool._threads) == 3
        gate.set()
        assert await asyncio.gather(*calls) == list(range(8))
        assert len(pool._threads) == 3
    finally:
        pool.shutdown()


async def test_shutdown_finishes_queued_calls_then_refuses_new_ones() -> None:
    pool = ThreadPool(1, "test")
    done: list[int] = []
    calls = [pool.run(lambda n=n: done.append(n)) for n in range(5)]
    await asyncio.to_thread(pool.shutdown)
    assert done == [0, 1, 2, 3, 4]
    await asyncio.gather(*calls)
    assert not any(thread.is_alive() for thread in pool._threads)
    with pytest.raises(RuntimeError, match="shut down"):
        pool.run(int, "1")


def test_a_pool_serves_one_loop_after_another() -> None:
    pool = ThreadPool(2, "test")
    try:
        assert asyncio.run(_run_one(pool)) == 7
        assert asyncio.run(_run_one(pool)) == 7
    finally:
        pool.shutdown()


async def _run_one(pool: ThreadPool) -> int:
    return await pool.run(int, "7")


def test_a_bound_under_one_is_refused() -> None:
    with pytest.raises(ValueError):
        ThreadPool(0, "test")


class _Payload:
    """Stands in for a caller's large buffer; a weak reference shows when it is freed."""


async def test_an_idle_worker_keeps_nothing_of_its_last_call() -> None:
    # Issue 16: each idle worker held its last call's arguments until its next
    # call, so 16 stores of 32 MiB left 320-384 MiB alive after the caller
    # dropped every payload (tests/memory/ measures the RSS).
    pool = ThreadPool(4, "test")
    try:
        payload = _Payload()
        freed = weakref.ref(payload)
        assert await pool.run(id, payload) == id(payload)
        del payload
        for _ in range(100):  # the worker drops it just after handing the result over
            gc.collect()
            if freed() is None:
                break
            await asyncio.sleep(0.01)
        assert freed() is None, "an idle worker still holds its last call's argument"
    finally:
        pool.shutdown()
