"""FileArtifactBackend on disk, where the contract suite cannot see: the layout,
temp-file hygiene, refusing symlinks and special files, and crash safety."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from eden_storage_async import FileArtifactBackend, UnsafeFileType, mint_opaque_id

from .helpers import TMP_PREFIX, temp_files


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
        assert temp_files(root) == []
        assert backend.root == root
        assert repr(backend) == f"FileArtifactBackend(root={str(root)!r})"


async def test_no_temp_file_survives_a_refused_store(tmp_path: Path) -> None:
    async with FileArtifactBackend(tmp_path) as backend:
        opaque_id = mint_opaque_id()
        await backend.store(opaque_id, b"one")
        with pytest.raises(FileExistsError):
            await backend.store(opaque_id, b"two")
        assert temp_files(tmp_path) == []


@pytest.mark.parametrize("ticks", [0, 1, 2, 5])
async def test_no_temp_file_survives_a_cancelled_store(tmp_path: Path, ticks: int) -> None:
    async with FileArtifactBackend(tmp_path) as backend:
        task = asyncio.create_task(backend.store(mint_opaque_id(), os.urandom(4 << 20)))
        for _ in range(ticks):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert temp_files(tmp_path) == []


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
    dead = tmp_path / f"{TMP_PREFIX}{host}.{_dead_pid()}.0011"
    live = tmp_path / f"{TMP_PREFIX}{host}.{os.getppid()}.0022"
    mine = tmp_path / f"{TMP_PREFIX}{host}.{os.getpid()}.0033"
    remote_young = tmp_path / f"{TMP_PREFIX}other.host.1.0044"
    remote_old = tmp_path / f"{TMP_PREFIX}other.host.1.0055"
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
    assert temp_files(tmp_path) == []
