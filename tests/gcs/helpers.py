"""Shared by the GCS tests: backends on ``ScriptedGcs``, their retry and sizes, the wire threshold.

The scripted fake answers on 127.0.0.1 like the GCS JSON API, with a fault
queued per call: a status, a lost reply (the write is done, the connection is
dropped before the answer), a racer that creates the object first, a stall.
"""

from __future__ import annotations

from typing import Any

from eden_storage_async import GcsBackend
from eden_storage_async._core.retry import Backoff

from ..support.gcs_scripted import Fault, ScriptedGcs

__all__ = [
    "FAST",
    "PIECE",
    "SLICES",
    "SMALL_THRESHOLD",
    "WIRE_THRESHOLD",
    "backend_for",
    "every_attempt",
    "read_stream",
    "resuming",
]

FAST = Backoff(attempts=3, base_s=0)
SMALL_THRESHOLD = 1024
PIECE = 256 * 1024
# Small enough that a test can cross it cheaply; the default (5 MiB) is
# exercised by the 8 MiB case in test_wire.py and by the contract suite.
WIRE_THRESHOLD = 256 * 1024
# Every shape of slice of a 1000-byte object: planned straight into a Range
# (``[a:b]``, ``[a:]``, ``[-n:]``), resolved by a stat first, or empty.
SLICES: list[tuple[int, int | None]] = [
    (10, 20),
    (10, None),
    (-5, None),
    (-2000, None),
    (990, 2000),
    (0, 1000),
    (0, 1),
    (999, 1000),
    (1000, None),
    (2000, 3000),
    (5, 5),
    (-10, -5),
    (10, -10),
    (-10, 995),
    (-5, -10),
]


def backend_for(server: ScriptedGcs, **kwargs: Any) -> GcsBackend:
    kwargs.setdefault("retry", FAST)
    return GcsBackend(
        bucket=server.bucket, prefix="unit", endpoint_url=server.endpoint_url, **kwargs
    )


def every_attempt(fault: Fault) -> list[Fault]:
    """``fault`` for each of ``FAST``'s attempts: a call that fails on every retry."""
    return [fault] * FAST.attempts


def resuming(server: ScriptedGcs, **kwargs: Any) -> GcsBackend:
    """A backend streaming in 256 KiB pieces that resumes failed pieces, as it
    does against real GCS (the scripted fake is reached as an emulator would be)."""
    backend = backend_for(server, resumable_threshold=SMALL_THRESHOLD, **kwargs)
    backend._stream_piece = PIECE
    backend._resume_streams = True
    return backend


async def read_stream(
    backend: GcsBackend,
    opaque_id: str,
    start: int,
    end: int | None,
    into: list[bytes] | None = None,
) -> bytes:
    """``load_stream(opaque_id, start=start, end=end)`` joined; ``into`` collects
    the chunks as they come, so a test sees what was handed out before an error."""
    received = [] if into is None else into
    async with backend.load_stream(opaque_id, start=start, end=end) as chunks:
        async for chunk in chunks:
            received.append(chunk)
    return b"".join(received)
