"""Shared by the GCS tests: backends on ``ScriptedGcs``, their retry and sizes, the wire threshold.

The scripted fake answers on 127.0.0.1 like the GCS JSON API, with a fault
queued per call: a status, a lost reply (the write is done, the connection is
dropped before the answer), a racer that creates the object first, a stall.
"""

from __future__ import annotations

from typing import Any

from eden_storage_async import GcsBackend
from eden_storage_async._core.retry import Backoff

from ..support.gcs_scripted import ScriptedGcs

__all__ = ["FAST", "PIECE", "SMALL_THRESHOLD", "WIRE_THRESHOLD", "backend_for", "resuming"]

FAST = Backoff(attempts=3, base_s=0)
SMALL_THRESHOLD = 1024
PIECE = 256 * 1024
# Small enough that a test can cross it cheaply; the default (5 MiB) is
# exercised by the 8 MiB case in test_wire.py and by the contract suite.
WIRE_THRESHOLD = 256 * 1024


def backend_for(server: ScriptedGcs, **kwargs: Any) -> GcsBackend:
    kwargs.setdefault("retry", FAST)
    return GcsBackend(
        bucket=server.bucket, prefix="unit", endpoint_url=server.endpoint_url, **kwargs
    )


def resuming(server: ScriptedGcs, **kwargs: Any) -> GcsBackend:
    """A backend streaming in 256 KiB pieces that resumes failed pieces, as it
    does against real GCS (the scripted fake is reached as an emulator would be)."""
    backend = backend_for(server, resumable_threshold=SMALL_THRESHOLD, **kwargs)
    backend._stream_piece = PIECE
    backend._resume_streams = True
    return backend
