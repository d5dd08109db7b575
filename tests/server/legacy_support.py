"""Helpers of the legacy unit tests: read a legacy file whole, count open descriptors."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from eden_storage_async._server.legacy import open_legacy


async def read(root: Path, rel_path: str, **kwargs: Any) -> bytes:
    async with open_legacy(root, rel_path, **kwargs) as opened:
        return b"".join([chunk async for chunk in opened.chunks()])


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def fds_settle_at(expected: int) -> int:
    """The open descriptor count once it reaches ``expected``, or after 5 s."""
    for _ in range(100):
        if open_fds() == expected:
            break
        await asyncio.sleep(0.05)
    return open_fds()
