"""Bounded retry with capped exponential backoff and full jitter.

Small on purpose: the SDKs already retry transport faults and 5xx themselves;
this covers the cases they do not (S3's 409 ConditionalRequestConflict, which
botocore retries in no mode), with a bound so a caller never waits forever.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Backoff", "retrying"]

_T = TypeVar("_T")


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """How often and how long to retry: ``attempts`` in all, the first included."""

    attempts: int = 4
    base_s: float = 0.05
    cap_s: float = 1.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("Backoff.attempts must be at least 1")
        if self.base_s < 0 or self.cap_s < 0:
            raise ValueError("Backoff delays must not be negative")

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
    """Await ``operation()`` until it succeeds, fails for good, or attempts run out.

    The last exception propagates unchanged when attempts run out, so the
    caller's own error translation still applies to it.
    """
    retry = 0
    while True:
        try:
            return await operation()
        except Exception as exc:
            retry += 1
            if retry >= backoff.attempts or not should_retry(exc):
                raise
        await asyncio.sleep(backoff.delay(retry))
