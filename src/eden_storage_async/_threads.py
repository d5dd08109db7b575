"""Running blocking work off the event loop."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

__all__ = ["run_to_completion"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


async def run_to_completion(fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run ``fn`` in the loop's default executor and wait for it even if cancelled.

    A thread cannot be interrupted. If the awaiting task were released at once,
    the caller would see the cancellation while the thread might still publish
    the object or leave its temp file behind. Waiting for the thread keeps a
    store's outcome whole ("nothing" or "everything"), then the cancellation is
    re-raised. Native ``task.cancel()`` is honoured, not swallowed.
    """
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))
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
