"""Letting an operation finish when its caller is cancelled.

A store in flight cannot be cut in half: a thread cannot be interrupted, and a
request the server already has may still commit. If the caller were released
at once, it would see the cancellation while the object might still appear
later, or a temp file be left behind. Waiting for the operation keeps a
store's outcome whole ("nothing" or "everything") and observable; then the
cancellation is re-raised. Native ``task.cancel()`` is honoured, not swallowed.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

__all__ = ["run_to_completion", "settle"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


async def settle(operation: Awaitable[_T]) -> _T:
    """Await ``operation`` to its end even if cancelled, then re-raise the cancellation."""
    future = asyncio.ensure_future(operation)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            result = await asyncio.shield(future)
        except asyncio.CancelledError as exc:
            if not future.done():
                cancelled = exc
                continue
            raise
        except BaseException:
            if cancelled is not None:
                raise cancelled from None
            raise
        if cancelled is not None:
            raise cancelled
        return result


async def run_to_completion(fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run ``fn`` in the loop's default executor; a cancel waits for the thread."""
    loop = asyncio.get_running_loop()
    return await settle(loop.run_in_executor(None, functools.partial(fn, *args, **kwargs)))
