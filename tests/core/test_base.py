"""BackendBase: checks run before any I/O; close waits; helpers behave."""

from __future__ import annotations

import asyncio
import threading

import pytest

from eden_storage_async import ArtifactInfo, BackendBase, mint_opaque_id
from eden_storage_async._core.attributes import DEFAULT_CONTENT_TYPE, Attributes
from eden_storage_async._core.retry import Backoff, retrying
from eden_storage_async._core.settle import run_to_completion, settle


class _SpyBackend(BackendBase):
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def _store(self, opaque_id: str, data: memoryview, attributes: Attributes) -> None:
        self.calls.append("store")

    async def _load(self, opaque_id: str) -> bytes:
        self.calls.append("load")
        return b""

    async def _stat(self, opaque_id: str) -> ArtifactInfo:
        self.calls.append("stat")
        return ArtifactInfo(0, None, DEFAULT_CONTENT_TYPE, {})


@pytest.mark.parametrize("bad_id", ["", "A" * 32, "../" + "a" * 29, "a" * 33])
async def test_malformed_id_is_rejected_before_any_io(bad_id: str) -> None:
    spy = _SpyBackend()
    with pytest.raises(ValueError):
        await spy.store(bad_id, b"x")
    with pytest.raises(ValueError):
        await spy.load(bad_id)
    assert spy.calls == []


async def test_bad_payload_is_rejected_before_any_io() -> None:
    spy = _SpyBackend()
    with pytest.raises(TypeError):
        await spy.store(mint_opaque_id(), "text")  # type: ignore[arg-type]
    assert spy.calls == []


async def test_run_to_completion_finishes_the_thread_before_the_cancel_lands() -> None:
    release = threading.Event()
    finished = threading.Event()

    def work() -> None:
        release.wait(5)
        finished.set()

    task = asyncio.create_task(run_to_completion(work))
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.sleep(0.01)
    assert not task.done(), "the cancel must wait for the thread"
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished.is_set()


async def test_run_to_completion_passes_results_and_errors() -> None:
    assert await run_to_completion(lambda: 42) == 42

    def boom() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        await run_to_completion(boom)


async def test_retrying_stops_at_the_bound_and_reraises_the_last_error() -> None:
    attempts = 0

    async def always_conflicts() -> None:
        nonlocal attempts
        attempts += 1
        raise RuntimeError(f"conflict {attempts}")

    with pytest.raises(RuntimeError, match="conflict 3"):
        await retrying(always_conflicts, should_retry=lambda e: True,
                       backoff=Backoff(attempts=3, base_s=0.001))  # fmt: skip
    assert attempts == 3


async def test_retrying_never_retries_what_it_should_not() -> None:
    attempts = 0

    async def fails() -> None:
        nonlocal attempts
        attempts += 1
        raise ValueError("permanent")

    with pytest.raises(ValueError):
        await retrying(fails, should_retry=lambda e: False, backoff=Backoff(attempts=5))
    assert attempts == 1


def test_backoff_delays_are_capped_and_jittered() -> None:
    backoff = Backoff(attempts=10, base_s=0.1, cap_s=0.5)
    delays = [backoff.delay(n) for n in range(1, 10) for _ in range(50)]
    assert all(0 <= d <= 0.5 for d in delays)
    assert len(set(delays)) > 1
    with pytest.raises(ValueError):
        Backoff(attempts=0)


async def test_settle_lets_an_awaitable_finish_before_the_cancel_lands() -> None:
    finished = asyncio.Event()

    async def operation() -> str:
        await asyncio.sleep(0.05)
        finished.set()
        return "done"

    task = asyncio.create_task(settle(operation()))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished.is_set()
    assert await settle(operation()) == "done"


async def test_settle_returns_the_result_and_raises_the_failure_unchanged() -> None:
    async def fails() -> None:
        raise KeyError("boom")

    assert await settle(asyncio.sleep(0, "ok")) == "ok"
    with pytest.raises(KeyError, match="boom"):
        await settle(fails())
    loop = asyncio.get_running_loop()
    assert await settle(loop.run_in_executor(None, int, "7")) == 7


async def test_settle_outlasts_repeated_cancels_and_reraises_one_after_a_failure() -> None:
    steps: list[str] = []

    async def operation() -> None:
        await asyncio.sleep(0.05)
        steps.append("finished")
        raise KeyError("late failure")

    task = asyncio.create_task(settle(operation()))
    for _ in range(3):
        await asyncio.sleep(0.005)
        task.cancel()
    # The cancellation wins over the operation's own failure, after it ended.
    with pytest.raises(asyncio.CancelledError):
        await task
    assert steps == ["finished"]


async def test_settle_raises_at_once_when_the_operation_itself_is_cancelled() -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    task = asyncio.create_task(settle(future))
    await asyncio.sleep(0)
    future.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_settle_marks_a_failure_retrieved_when_the_cancel_wins() -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    task = asyncio.create_task(settle(future))
    await asyncio.sleep(0)
    # The operation fails and the caller is cancelled in the same loop step.
    future.set_exception(KeyError("lost"))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # asyncio's own flag for "Future exception was never retrieved", which it
    # would log when the future is collected.
    assert not future._log_traceback
