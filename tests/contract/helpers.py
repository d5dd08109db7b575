"""Payloads for the contract's streaming cases, shared by its modules: big enough to
take the streaming upload paths, cut into pieces that line up with nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

# Crosses S3's 8 MiB multipart threshold (two parts) and GCS's 5 MiB resumable
# one (two pieces), so the streaming upload paths run, not only the buffered ones.
BIG = 11 * 1024 * 1024 + 5
# An awkward piece size: no chunk boundary lines up with a part or a piece.
PIECE = 300_001


def in_pieces(data: bytes) -> list[bytes]:
    return [data[i : i + PIECE] for i in range(0, len(data), PIECE)]


async def async_pieces(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        await asyncio.sleep(0)
        yield piece


async def cancel_and_wait(task: asyncio.Task[None]) -> bool:
    """Cancel a store under way and wait for it; True if it completed all the same."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return False
    return True
