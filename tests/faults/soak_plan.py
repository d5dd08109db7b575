"""The soak's plan and plumbing: sizes, bounded workers, caps, and RSS readings.

``EDEN_FAULT_STORES`` (every target's store count; see ``stores_for``), ``EDEN_FAULT_SECONDS`` (the
wall-time cap of the store and of the load phase, default 180),
``EDEN_FAULT_SEED`` and ``EDEN_SOAK_CONCURRENCY`` (default 64) size the soak.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from eden_storage_async import mint_opaque_id

from .helpers import _LARGE

# Stores per target: 10,000 on every one (issue 16). ``EDEN_FAULT_STORES``
# sets another count for every target (a quick local run).
_STORES = int(os.environ.get("EDEN_FAULT_STORES", "10000"))


def stores_for(target: str) -> int:
    """How many stores the soak makes on ``target``."""
    return _STORES


# fake-gcs-server v1.54.0 slows in proportion to the objects already in a
# bucket (docs/testing.md: 424 obj/s empty, 147 after 2,000): in one bucket
# only 6,591 and 9,619 of 10,000 stores ran within the phase cap. So its
# stores are dealt round-robin over this many fresh buckets, 2,000 each:
# the same server, the same faults, the same counts, kept at the rate of a
# bucket that is not yet full.
_BUCKETS = {"gcs-fake-gcs-server": 5}


def buckets_for(target: str) -> int:
    """How many fresh buckets the soak deals ``target``'s stores over (1: the server's own)."""
    return _BUCKETS.get(target, 1)


# A safety cap, not the plan: every phase is sized to end well before it, and
# the test asserts that every planned store ran.
PHASE_CAP_S = float(os.environ.get("EDEN_FAULT_SECONDS", "180"))
SEED = int(os.environ.get("EDEN_FAULT_SEED", "20261127"))
CONCURRENCY = int(os.environ.get("EDEN_SOAK_CONCURRENCY", "64"))
# No single operation may take longer: a caller hung past it is a violation.
OP_CAP_S = 60.0
# 1% large stores (S3 multipart above _LARGE, GCS resumable) and 1% streamed:
# 100 of each in 10,000, enough to meet every fault on those paths, while the
# small ones (exponential around 4 KiB) make the count.
LARGE_SHARE = 0.01
STREAM_SHARE = 0.01
# Loads: every large or streamed id, and one small id in LOAD_ONE_IN.
LOAD_ONE_IN = 10
# After the soak, with its backends and proxies closed and glibc's free heap
# given back (malloc_trim, here in the test), RSS may stay this much above
# where it started, read the same way. What stays is no live object: after
# 1,200 GCS stores tracemalloc counted 1.3 MiB more live Python memory than
# at the start (26.7 MiB at the peak). It is the high-water mark of 64
# operations in flight, kept by the allocators: +54 MiB untrimmed after 1,500
# stores and +66 after 10,000 on s3-seaweedfs, nearly constant in the count.
# A leak of each store's payload (about 14 KiB on average) would add some
# 140 MiB at 10,000 stores, past this bound.
RSS_BOUND_MIB = 64.0

_T = TypeVar("_T")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib(trim: bool = False) -> float:
    """Resident set size after a full collection, in MiB (``/proc/self/statm``).

    ``trim`` first asks glibc to give its free heap back (``malloc_trim(0)``),
    so that what is left is memory in use, or held by Python's own arenas.
    """
    gc.collect()
    if trim:
        _malloc_trim()
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE / (1024 * 1024)


def _malloc_trim() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to trim
        return
    libc.malloc_trim(0)


@dataclass(frozen=True)
class Plan:
    opaque_id: str
    size: int
    stream: bool
    seed: int

    def payload(self) -> bytes:
        return random.Random(self.seed).randbytes(self.size)

    @property
    def large(self) -> bool:
        return self.size > _LARGE

    @property
    def loaded(self) -> bool:
        """Whether the load phase reads this id back."""
        return self.stream or self.large or self.seed % LOAD_ONE_IN == 0

    @property
    def load_stream(self) -> bool:
        """A quarter of the loads go through ``load_stream``."""
        return (self.seed >> 8) % 4 == 0


def plans(count: int, seed: int) -> list[Plan]:
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        roll = rng.random()
        large = roll >= 1 - LARGE_SHARE - STREAM_SHARE
        size = rng.randrange(_LARGE + 1, 3 * _LARGE) if large else int(rng.expovariate(1 / 4096))
        made.append(Plan(mint_opaque_id(), size, roll >= 1 - STREAM_SHARE, rng.getrandbits(64)))
    return made


def pieces(payload: bytes, size: int = 64 * 1024) -> list[bytes]:
    return [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]


async def bounded(
    items: list[Plan], op: Callable[[Plan], Awaitable[None]], cap_s: float | None
) -> int:
    """Run ``op`` on ``items`` with ``CONCURRENCY`` workers; stop starting at the cap."""
    loop = asyncio.get_running_loop()
    deadline = None if cap_s is None else loop.time() + cap_s
    pending = iter(items)
    started = 0

    async def worker() -> None:
        nonlocal started
        for item in pending:
            if deadline is not None and loop.time() > deadline:
                return
            started += 1
            await op(item)

    async with asyncio.TaskGroup() as group:
        for _ in range(CONCURRENCY):
            group.create_task(worker())
    return started


def outcome(exc: BaseException | None, samples: dict[str, list[str]] | None = None) -> str:
    if exc is None:
        return "ok"
    name = type(exc).__name__
    if samples is not None and len(kept := samples.setdefault(name, [])) < 3:
        kept.append(str(exc)[:300])
    return name


class Hung(Exception):
    """An operation outlived ``OP_CAP_S``."""


async def capped(operation: Awaitable[_T]) -> Any:
    """Await ``operation``; a caller hung past ``OP_CAP_S`` raises ``Hung``."""
    timeout = asyncio.timeout(OP_CAP_S)
    try:
        async with timeout:
            return await operation
    except TimeoutError:
        if timeout.expired():
            raise Hung from None
        raise
