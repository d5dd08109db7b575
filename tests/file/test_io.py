"""How FileArtifactBackend does its I/O: never on the event loop, directory fsyncs
shared by group commit, and OS errors turned into clear storage errors."""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from blockbuster import BlockBuster

from eden_storage_async import (
    AccessDenied,
    BackendError,
    BucketNotFound,
    FileArtifactBackend,
    NotFound,
    mint_opaque_id,
)
from eden_storage_async._file.commit import DirSync
from eden_storage_async._file.ops import translate as _translate


async def test_store_and_load_never_block_the_event_loop(tmp_path: Path) -> None:
    """blockbuster raises if a blocking call (os.write, os.fsync, os.link, open,
    os.read...) runs on the event-loop thread while it is active."""
    backend = FileArtifactBackend(tmp_path)  # start-up I/O happens before the check
    blockbuster = BlockBuster()
    blockbuster.activate()
    try:
        ids = [mint_opaque_id() for _ in range(16)]
        await asyncio.gather(*(backend.store(i, i.encode() * 100) for i in ids))
        for opaque_id in ids:
            assert await backend.load(opaque_id) == opaque_id.encode() * 100
        with pytest.raises(NotFound):
            await backend.load(mint_opaque_id())
    finally:
        blockbuster.deactivate()
        await backend.aclose()


def test_blockbuster_really_catches_a_blocking_write(tmp_path: Path) -> None:
    """Guards the test above against passing vacuously."""

    async def blocking() -> None:
        with open(tmp_path / "x", "wb") as handle:  # noqa: ASYNC230 - the point of the test
            handle.write(b"x")

    blockbuster = BlockBuster()
    blockbuster.activate()
    try:
        with pytest.raises(Exception, match=r"[Bb]locking"):
            asyncio.run(blocking())
    finally:
        blockbuster.deactivate()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (PermissionError(13, "Permission denied"), AccessDenied),
        (FileNotFoundError(2, "No such file or directory"), BucketNotFound),
        (OSError(28, "No space left on device"), BackendError),
    ],
)
def test_os_errors_map_to_clear_storage_errors(error: OSError, expected: type) -> None:
    translated = _translate(error, "cannot store artifact x")
    assert type(translated) is expected
    assert not isinstance(translated, NotFound | FileExistsError)
    assert str(error.strerror) in str(translated)


def test_an_unusable_root_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(BackendError, match="cannot open artifact root"):
        FileArtifactBackend(blocker / "root")


# -- group commit of the directory fsync ----------------------------------------


async def test_group_commit_releases_a_waiter_only_after_an_fsync_that_began_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A asks first and gets fsync 1. B and C ask while it runs: their links may
    have missed it, so they are released only by fsync 2, which starts after."""
    started: list[threading.Event] = []
    release: list[threading.Event] = []

    def fake_fsync(fd: int) -> None:
        go = threading.Event()
        started.append(threading.Event())
        release.append(go)
        started[-1].set()
        assert go.wait(timeout=10)

    monkeypatch.setattr(os, "fsync", fake_fsync)
    sync = DirSync(dir_fd=-1, where="test")

    async def until(predicate: Callable[[], bool]) -> None:
        for _ in range(1000):
            if predicate():
                return
            await asyncio.sleep(0.005)
        raise AssertionError("timed out")

    a = asyncio.create_task(sync.sync())
    await until(lambda: len(started) == 1)
    b, c = asyncio.create_task(sync.sync()), asyncio.create_task(sync.sync())
    await asyncio.sleep(0.02)
    assert len(started) == 1  # no second fsync while the first runs
    release[0].set()
    await a
    await until(lambda: len(started) == 2)
    # fsync 1 began before they asked.
    assert not b.done()
    assert not c.done()
    release[1].set()
    await asyncio.gather(b, c)
    assert sync.fsyncs == 2
    await sync.aclose()


async def test_concurrent_stores_share_directory_fsyncs(tmp_path: Path) -> None:
    async with FileArtifactBackend(tmp_path) as backend:
        ids = [mint_opaque_id() for _ in range(64)]
        await asyncio.gather(*(backend.store(i, b"x") for i in ids))
        assert 1 <= backend._dir_sync.fsyncs < len(ids)
        for opaque_id in ids:
            assert await backend.load(opaque_id) == b"x"


async def test_a_failed_directory_fsync_fails_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync

    async with FileArtifactBackend(tmp_path) as backend:

        def broken(fd: int) -> None:
            if fd == backend._dir_fd:
                raise OSError(errno.EIO, "Input/output error")
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", broken)
        with pytest.raises(BackendError, match=r"cannot fsync artifact root.*Input/output error"):
            await backend.store(mint_opaque_id(), b"x")
