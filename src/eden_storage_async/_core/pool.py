"""A fixed pool of worker tasks, for the bulk paths (``store_many``, ``migrate``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["run_workers"]


async def run_workers(worker: Callable[[], Coroutine[Any, Any, None]], count: int) -> None:
    """Run ``count`` copies of ``worker`` in one task group until all return.

    Per-item errors are the workers' to record, so only what they share (the
    caller's iterator, a listing) can fail one: that exception is raised as
    itself, not wrapped in an ``ExceptionGroup``, once the others are cancelled.
    """
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(count):
                group.create_task(worker())
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
