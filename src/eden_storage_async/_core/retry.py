"""Bounded retry with capped exponential backoff, full jitter and a deadline.

Written here rather than taken from tenacity or backoff: the whole policy is
the 40 lines below, the retry *decision* is always our own narrow error
classification (a 409 ConditionalRequestConflict, a transient 5xx, a reset),
and a create-only store needs the nonce check after the loop, which no retry
library knows about. A dependency would add a second vocabulary for the same
three numbers. The SDKs' own transport retries stay on where they exist
(botocore's ``standard`` mode); this loop covers what they do not.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Backoff", "retrying"]

_T = TypeVar("_T")


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """How often and how long to retry.

    ``attempts`` counts every try, the first included. ``deadline_s``, when
    set, bounds the whole loop: no retry starts whose sleep would end past it,
    so a caller waits at most about ``deadline_s`` plus one attempt's own
    timeout.
    """

    attempts: int = 4
    base_s: float = 0.05
    cap_s: float = 1.0
    deadline_s: float | None = None

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("Backoff.attempts must be at least 1")
        if self.base_s < 0 or self.cap_s < 0:
            raise ValueError("Backoff delays must not be negative")
        if self.deadline_s is not None and self.deadline_s <= 0:
            raise ValueError("Backoff.deadline_s must be positive")

    def delay(self, retry: int) -> float:
        """Seconds to sleep before retry number ``retry`` (1-based); full jitter
        spreads racers apart so they do not collide again in lockstep."""
        return random.uniform(0, min(self.cap_s, self.base_s * 2 ** (retry - 1)))


async def retrying(
    operation: Callable[[], Awaitable[_T]],
    *,
    should_retry: Callable[[BaseException], bool],
    backoff: Backoff,
) -> _T:
    """Await ``operation()`` until it succeeds, fails for good, or the bound is hit.

    The last exception propagates unchanged when attempts or the deadline run
    out, so the caller's own error translation still applies to it.
    """
    started = time.monotonic()
    retry = 0
    while True:
        try:
            return await operation()
        except Exception as exc:
            retry += 1
            if retry >= backoff.attempts or not should_retry(exc):
                raise
            delay = backoff.delay(retry)
            deadline = backoff.deadline_s
            if deadline is not None and time.monotonic() - started + delay > deadline:
                raise
        await asyncio.sleep(delay)
