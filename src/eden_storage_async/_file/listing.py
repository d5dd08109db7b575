"""Listing ``FileArtifactBackend``'s ids: ``os.scandir`` on the root, a page per thread hop.

Objects live flat in the root, one file per artifact named by its id (no
fan-out directories), so one directory stream sees them all. Reading that
stream blocks, so each page of up to ``page_size`` names is read in one hop
to the backend's read threads, and the stream stays open between pages: the
whole listing is never held, whatever the number of files.

Skipped here: anything that is not a regular file (a directory, a symlink, a
socket: ``load`` refuses them all) and every name that is not an id, which
covers the ``.eden-tmp.`` temp files (``sweep.py``), the
``.eden-create-only-check.`` canaries (``canary.py``) and stray files. A file
created or removed during a listing may or may not be seen, as with
``readdir(3)``; every file present throughout is seen exactly once.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from .._core.ids import is_opaque_id
from .ops import translate

__all__ = ["PAGE", "id_pages"]

# Names per thread hop: a hop costs tens of microseconds, a name well under one.
PAGE = 1000

# The backend's read-pool runner: the call runs to its end even if cancelled.
Runner = Callable[..., Awaitable[Any]]


async def id_pages(
    run: Runner, dir_fd: int, where: str, page_size: int = PAGE
) -> AsyncGenerator[list[str], None]:
    """The ids in the directory ``dir_fd``, ``page_size`` entries read per hop."""
    what = f"cannot list the artifacts in {where}"
    entries = await run(_open, dir_fd, what)
    try:
        while True:
            names, more = await run(_read_page, entries, page_size, what)
            if names:
                yield names
            if not more:
                return
    finally:
        # closedir(3) only: no I/O to wait for, and it must happen even when the
        # backend's threads are gone (an iteration finalized after aclose()).
        entries.close()


def _open(dir_fd: int, what: str) -> Any:
    try:
        # On a descriptor scandir reads a duplicate of it: closing the
        # backend's own does not cut a listing off under its feet.
        return os.scandir(dir_fd)
    except OSError as exc:
        raise translate(exc, what) from exc


def _read_page(entries: Any, page_size: int, what: str) -> tuple[list[str], bool]:
    """The ids among the next ``page_size`` entries, and whether the stream may hold more."""
    names: list[str] = []
    read = 0
    try:
        for entry in entries:
            # d_type from the directory itself: no stat per name, except on a
            # filesystem that does not fill it in.
            if is_opaque_id(entry.name) and entry.is_file(follow_symlinks=False):
                names.append(entry.name)
            read += 1
            if read == page_size:
                return names, True
    except OSError as exc:
        raise translate(exc, what) from exc
    return names, False
