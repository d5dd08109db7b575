"""FileArtifactBackend specifics the contract suite cannot see: the layout on
disk, temp-file hygiene, refusing symlinks and special files, crash safety and
never blocking the event loop."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from blockbuster import BlockBuster

from eden_storage_async import (
    AccessDenied,
    BackendError,
    BucketNotFound,
    FileArtifactBackend,
    IntegrityError,
    NotFound,
    UnsafeFileType,
    mint_opaque_id,
)
from eden_storage_async._core.checksum import Crc32c, crc32c_b64
from eden_storage_async._file.commit import DirSync
from eden_storage_async._file.ops import CHECKSUM_XATTR, FileOps
from eden_storage_async._file.ops import translate as _translate

_TMP_PREFIX = ".eden-tmp."


def _temp_files(root: Path) -> list[str]:
    return [p.name for p in root.iterdir() if p.name.startswith(_TMP_PREFIX)]


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(proc.stdout)


async def test_root_is_created_and_objects_are_plain_files(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b"
    async with FileArtifactBackend(root) as backend:
        opaque_id = mint_opaque_id()
        await backend.store(opaque_id, b"payload")
        assert (root / opaque_id).read_bytes() == b"payload"
        assert _temp_files(root) == []
        assert backend.root == root
        assert repr(backend) == f"FileArtifactBackend(root={str(root)!r})"


async def test_no_temp_file_survives_a_refused_store(tmp_path: Path) -> None:
    async with FileArtifactBackend(tmp_path) as backend:
        opaque_id = mint_opaque_id()
        await backend.store(opaque_id, b"one")
        with pytest.raises(FileExistsError):
            await backend.store(opaque_id, b"two")
        assert _temp_files(tmp_path) == []


@pytest.mark.parametrize("ticks", [0, 1, 2, 5])
async def test_no_temp_file_survives_a_cancelled_store(tmp_path: Path, ticks: int) -> None:
    async with FileArtifactBackend(tmp_path) as backend:
        task = asyncio.create_task(backend.store(mint_opaque_id(), os.urandom(4 << 20)))
        for _ in range(ticks):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _temp_files(tmp_path) == []


async def test_load_refuses_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    target.write_bytes(b"not an artifact")
    async with FileArtifactBackend(tmp_path / "blobs") as backend:
        opaque_id = mint_opaque_id()
        (backend.root / opaque_id).symlink_to(target)
        with pytest.raises(UnsafeFileType, match="symlink"):
            await backend.load(opaque_id)


async def test_load_refuses_a_fifo_without_hanging(tmp_path: Path) -> None:
    async with FileArtifactBackend(tmp_path) as backend:
        opaque_id = mint_opaque_id()
        os.mkfifo(tmp_path / opaque_id)
        with pytest.raises(UnsafeFileType, match="not a regular file"):
            await asyncio.wait_for(backend.load(opaque_id), timeout=5)


async def test_load_refuses_a_directory(tmp_path: Path) -> None:
    async with FileArtifactBackend(tmp_path) as backend:
        opaque_id = mint_opaque_id()
        (tmp_path / opaque_id).mkdir()
        with pytest.raises(UnsafeFileType):
            await backend.load(opaque_id)


async def test_store_does_not_follow_a_planted_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched")
    async with FileArtifactBackend(tmp_path / "blobs") as backend:
        opaque_id = mint_opaque_id()
        (backend.root / opaque_id).symlink_to(victim)
        with pytest.raises(FileExistsError):
            await backend.store(opaque_id, b"overwrite?")
    assert victim.read_bytes() == b"untouched"


def test_sweep_removes_only_dead_writers_temp_files(tmp_path: Path) -> None:
    host = socket.gethostname()
    dead = tmp_path / f"{_TMP_PREFIX}{host}.{_dead_pid()}.0011"
    live = tmp_path / f"{_TMP_PREFIX}{host}.{os.getppid()}.0022"
    mine = tmp_path / f"{_TMP_PREFIX}{host}.{os.getpid()}.0033"
    remote_young = tmp_path / f"{_TMP_PREFIX}other.host.1.0044"
    remote_old = tmp_path / f"{_TMP_PREFIX}other.host.1.0055"
    for path in (dead, live, mine, remote_young, remote_old):
        path.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(remote_old, (two_hours_ago, two_hours_ago))
    artifact = tmp_path / mint_opaque_id()
    artifact.write_bytes(b"kept")

    backend = FileArtifactBackend(tmp_path)
    asyncio.run(backend.aclose())

    assert backend.swept_temp_files == 2
    assert not dead.exists()
    assert not remote_old.exists()
    assert live.exists()
    assert mine.exists()
    assert remote_young.exists()
    assert artifact.read_bytes() == b"kept"


def _content_for(opaque_id: str) -> bytes:
    seed = hashlib.sha256(opaque_id.encode()).digest()
    return seed * (256 * 1024 // len(seed))  # 256 KiB, derived from the id


def test_a_killed_writer_leaves_only_whole_objects(tmp_path: Path) -> None:
    """SIGKILL a process mid-stream of stores: every published object is whole,
    and the next backend to open the root sweeps the dead writer's temp files."""
    child = textwrap.dedent(
        f"""
        import asyncio, hashlib, sys
        from eden_storage_async import FileArtifactBackend, mint_opaque_id
        def content(i):
            seed = hashlib.sha256(i.encode()).digest()
            return seed * (256 * 1024 // len(seed))
        async def main():
            async with FileArtifactBackend({str(tmp_path)!r}) as backend:
                print("ready", flush=True)
                while True:
                    ids = [mint_opaque_id() for _ in range(8)]
                    await asyncio.gather(*(backend.store(i, content(i)) for i in ids))
        asyncio.run(main())
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()

    artifacts = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert artifacts, "the writer published nothing in 0.5 s; the test proves nothing"
    for path in artifacts:
        assert path.read_bytes() == _content_for(path.name), f"partial object {path.name}"

    backend = FileArtifactBackend(tmp_path)
    asyncio.run(backend.aclose())
    assert _temp_files(tmp_path) == []


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


# -- integrity: the CRC32C attribute -------------------------------------------


def _flip_byte(path: Path, offset: int) -> None:
    # r+b rewrites in place: the inode, and so its checksum attribute, stays.
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x01]))


async def test_the_checksum_attribute_is_there_right_after_store(tmp_path: Path) -> None:
    data = os.urandom(100_000)
    async with FileArtifactBackend(tmp_path) as backend:
        assert backend.verifies_checksums
        opaque_id = mint_opaque_id()
        await backend.store(opaque_id, data)
        assert os.getxattr(tmp_path / opaque_id, CHECKSUM_XATTR) == crc32c_b64(data).encode()
        streamed = mint_opaque_id()
        await backend.store_stream(streamed, [data[:10], data[10:70_000], data[70_000:]])
        assert os.getxattr(tmp_path / streamed, CHECKSUM_XATTR) == crc32c_b64(data).encode()
        assert (tmp_path / opaque_id).read_bytes() == data  # the file stays the raw bytes


async def test_a_flipped_byte_fails_load(tmp_path: Path) -> None:
    async with FileArtifactBackend(tmp_path) as backend:
        opaque_id = mint_opaque_id()
        await backend.store(opaque_id, os.urandom(4096))
        _flip_byte(tmp_path / opaque_id, 1234)
        with pytest.raises(IntegrityError, match=f"{opaque_id}: CRC32C mismatch"):
            await backend.load(opaque_id)


async def test_a_flipped_byte_fails_load_stream_at_its_end(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # several read chunks
    async with FileArtifactBackend(tmp_path) as backend:
        opaque_id = mint_opaque_id()
        await backend.store(opaque_id, data)
        async with backend.load_stream(opaque_id) as chunks:  # an intact one passes
            assert b"".join([c async for c in chunks]) == data
        _flip_byte(tmp_path / opaque_id, len(data) - 5)
        received = bytearray()

        async def drain() -> None:
            async with backend.load_stream(opaque_id) as chunks:
                async for chunk in chunks:
                    received.extend(chunk)

        with pytest.raises(IntegrityError, match="CRC32C mismatch"):
            await drain()
        # Bytes were handed out as they arrived; the verdict came at the end.
        assert len(received) == len(data)


async def test_an_object_without_the_attribute_loads_unverified(tmp_path: Path) -> None:
    async with FileArtifactBackend(tmp_path) as backend:
        opaque_id = mint_opaque_id()
        (tmp_path / opaque_id).write_bytes(b"written by another tool")
        assert await backend.load(opaque_id) == b"written by another tool"
        async with backend.load_stream(opaque_id) as chunks:
            assert b"".join([c async for c in chunks]) == b"written by another tool"


async def test_a_filesystem_without_user_xattrs_stores_unverified_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOTSUP, "Operation not supported")

    monkeypatch.setattr(os, "setxattr", refuse)
    monkeypatch.setattr(os, "getxattr", refuse)
    with caplog.at_level(logging.WARNING, logger="eden_storage_async"):
        backend = FileArtifactBackend(tmp_path)
        async with backend:
            assert not backend.verifies_checksums
            ids = [mint_opaque_id() for _ in range(8)]
            await asyncio.gather(*(backend.store(i, i.encode()) for i in ids))
            await backend.store_stream(ids[0][::-1], [b"a", b"b"])
            _flip_byte(tmp_path / ids[0], 0)
            # Unverified: the damaged bytes come back, as documented.
            assert await backend.load(ids[0]) != ids[0].encode()
            assert await backend.load(ids[1]) == ids[1].encode()
    warnings = [r for r in caplog.records if "extended attributes" in r.getMessage()]
    assert len(warnings) == 1
    assert str(tmp_path) in warnings[0].getMessage()
    assert _temp_files(tmp_path) == []


async def test_checksums_are_computed_in_worker_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    real_update = Crc32c.update

    def crc(data: memoryview) -> str:
        threads.append(threading.current_thread().name)
        return crc32c_b64(data)

    def update(self: Crc32c, chunk: memoryview) -> None:
        threads.append(threading.current_thread().name)
        real_update(self, chunk)

    monkeypatch.setattr("eden_storage_async._file.ops.crc32c_b64", crc)
    monkeypatch.setattr(Crc32c, "update", update)
    async with FileArtifactBackend(tmp_path) as backend:
        opaque_id, streamed = mint_opaque_id(), mint_opaque_id()
        await backend.store(opaque_id, b"x" * 100_000)
        await backend.store_stream(streamed, [b"y" * 1000] * 3)
        await backend.load(opaque_id)
        async with backend.load_stream(streamed) as chunks:
            _ = [c async for c in chunks]
    # store, 3 stream chunks, load, and at least one load_stream read.
    assert len(threads) >= 6
    assert threading.main_thread().name not in threads, threads


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


async def test_a_truncated_object_fails_load(tmp_path: Path) -> None:
    async with FileArtifactBackend(tmp_path) as backend:
        opaque_id = mint_opaque_id()
        await backend.store(opaque_id, os.urandom(4096))
        os.truncate(tmp_path / opaque_id, 100)
        with pytest.raises(IntegrityError):
            await backend.load(opaque_id)


async def test_a_root_that_refuses_writes_still_serves_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The xattr probe must not turn a read-only root (served for loads) into
    a construction error; stores fail as they always did."""
    opaque_id = mint_opaque_id()
    async with FileArtifactBackend(tmp_path) as writer:
        await writer.store(opaque_id, b"served")

    def refuse(self: FileOps, tmp_name: str) -> int:
        raise AccessDenied("cannot create a temp file: Read-only file system")

    monkeypatch.setattr(FileOps, "create_temp", refuse)
    async with FileArtifactBackend(tmp_path) as reader:
        assert reader.verifies_checksums
        assert await reader.load(opaque_id) == b"served"
        _flip_byte(tmp_path / opaque_id, 0)
        with pytest.raises(IntegrityError):
            await reader.load(opaque_id)
        with pytest.raises(AccessDenied):
            await reader.store(mint_opaque_id(), b"x")
