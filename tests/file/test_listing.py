"""``FileArtifactBackend.iter_ids``: a page of directory entries per thread hop, never
on the loop, the directory stream closed however the iteration ends."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from blockbuster import BlockBuster

from eden_storage_async import AccessDenied, BackendClosed, FileArtifactBackend, mint_opaque_id
from eden_storage_async._file import listing


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each page read, one entry per thread hop."""
    sizes: list[int] = []
    real = listing._read_page

    def counted(entries: Any, page_size: int, what: str) -> tuple[list[str], bool]:
        names, more = real(entries, page_size, what)
        sizes.append(len(names))
        return names, more

    monkeypatch.setattr(listing, "_read_page", counted)
    return sizes


async def _stored(backend: FileArtifactBackend, count: int) -> set[str]:
    ids = {mint_opaque_id() for _ in range(count)}
    for opaque_id in ids:
        await backend.store(opaque_id, b"x")
    return ids


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


async def test_the_listing_streams_a_page_per_hop(tmp_path: Path, hops: list[int]) -> None:
    async with FileArtifactBackend(tmp_path) as backend:
        backend._list_page = 3
        stored = await _stored(backend, 7)
        ids = backend.iter_ids()
        first = await anext(ids)
        assert hops == [3]  # one page read, not the whole directory
        rest = [opaque_id async for opaque_id in ids]
        assert sorted([first, *rest]) == sorted(stored)
        # 7 entries in pages of 3, then the hop that finds the end.
        assert hops == [3, 3, 1]


async def test_the_listing_never_blocks_the_event_loop(tmp_path: Path) -> None:
    backend = FileArtifactBackend(tmp_path)
    backend._list_page = 4
    stored = await _stored(backend, 10)
    blockbuster = BlockBuster()
    blockbuster.activate()
    try:
        listed = [opaque_id async for opaque_id in backend.iter_ids()]
    finally:
        blockbuster.deactivate()
        await backend.aclose()
    assert sorted(listed) == sorted(stored)


async def test_an_iteration_closed_early_closes_the_directory_stream(tmp_path: Path) -> None:
    async with FileArtifactBackend(tmp_path) as backend:
        backend._list_page = 1
        await _stored(backend, 3)
        before = await asyncio.to_thread(_open_fds)
        ids = backend.iter_ids()
        await anext(ids)
        assert len(await asyncio.to_thread(_open_fds) - before) == 1  # the stream's own fd
        await ids.aclose()  # type: ignore[attr-defined]
        assert await asyncio.to_thread(_open_fds) - before == set()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Hold the second page read in its thread until released: (reading, release)."""
    reading, release = threading.Event(), threading.Event()
    real = listing._read_page
    calls = 0

    def held(entries: Any, page_size: int, what: str) -> tuple[list[str], bool]:
        nonlocal calls
        calls += 1
        if calls == 2:
            reading.set()
            release.wait(10)
        return real(entries, page_size, what)

    monkeypatch.setattr(listing, "_read_page", held)
    yield reading, release
    release.set()


async def test_aclose_waits_for_a_page_being_read_then_the_iteration_ends(
    tmp_path: Path, gate: tuple[threading.Event, threading.Event]
) -> None:
    reading, release = gate
    backend = FileArtifactBackend(tmp_path)
    backend._list_page = 1
    await _stored(backend, 3)
    ids = backend.iter_ids()
    await anext(ids)
    second = asyncio.ensure_future(anext(ids))
    await asyncio.to_thread(reading.wait, 10)
    closing = asyncio.ensure_future(backend.aclose())
    await asyncio.sleep(0.05)
    assert not closing.done()  # the read pool is not shut under a page read
    release.set()
    await asyncio.wait_for(closing, 10)
    with pytest.raises(BackendClosed):
        await second


async def test_a_refused_directory_is_access_denied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(fd: int) -> Any:
        raise PermissionError(13, "Permission denied")

    async with FileArtifactBackend(tmp_path) as backend:
        monkeypatch.setattr(os, "scandir", refused)
        with pytest.raises(AccessDenied, match="cannot list the artifacts in artifact root"):
            [opaque_id async for opaque_id in backend.iter_ids()]
