"""FileArtifactBackend integrity: the CRC32C kept in an extended attribute, checked
on every load, and what happens where the attribute cannot be written or read."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import threading
from pathlib import Path

import pytest

from eden_storage_async import AccessDenied, FileArtifactBackend, IntegrityError, mint_opaque_id
from eden_storage_async._core.checksum import Crc32c, crc32c_b64
from eden_storage_async._file.ops import CHECKSUM_XATTR, FileOps

from .helpers import flip_byte, temp_files


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
        flip_byte(tmp_path / opaque_id, 1234)
        with pytest.raises(IntegrityError, match=f"{opaque_id}: CRC32C mismatch"):
            await backend.load(opaque_id)


async def test_a_flipped_byte_fails_load_stream_at_its_end(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # several read chunks
    async with FileArtifactBackend(tmp_path) as backend:
        opaque_id = mint_opaque_id()
        await backend.store(opaque_id, data)
        async with backend.load_stream(opaque_id) as chunks:  # an intact one passes
            assert b"".join([c async for c in chunks]) == data
        flip_byte(tmp_path / opaque_id, len(data) - 5)
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
            flip_byte(tmp_path / ids[0], 0)
            # Unverified: the damaged bytes come back, as documented.
            assert await backend.load(ids[0]) != ids[0].encode()
            assert await backend.load(ids[1]) == ids[1].encode()
    warnings = [r for r in caplog.records if "extended attributes" in r.getMessage()]
    assert len(warnings) == 1
    assert str(tmp_path) in warnings[0].getMessage()
    assert temp_files(tmp_path) == []


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
        flip_byte(tmp_path / opaque_id, 0)
        with pytest.raises(IntegrityError):
            await reader.load(opaque_id)
        with pytest.raises(AccessDenied):
            await reader.store(mint_opaque_id(), b"x")
