"""FileArtifactBackend's attributes on disk: user xattrs set before the link, read by
``stat``; refused on a filesystem without user xattrs; ranges by ``pread``."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from eden_storage_async import (
    ConfigError,
    FileArtifactBackend,
    IntegrityError,
    NotFound,
    UnsafeFileType,
    mint_opaque_id,
)
from eden_storage_async._file.attrs import CONTENT_TYPE_XATTR, METADATA_XATTR

from .helpers import flip_byte, temp_files


async def test_attributes_are_xattrs_of_the_object_file(tmp_path: Path) -> None:
    async with FileArtifactBackend(tmp_path) as backend:
        opaque_id = mint_opaque_id()
        await backend.store(
            opaque_id, b"x", content_type="text/csv", metadata={"b": "2", "a": "x=y"}
        )
        path = tmp_path / opaque_id
        assert os.getxattr(path, CONTENT_TYPE_XATTR) == b"text/csv"
        assert os.getxattr(path, METADATA_XATTR) == b"a=x=y\nb=2\n"
        bare = mint_opaque_id()
        await backend.store(bare, b"y")
        # Nothing given, nothing written: as an object stored before attributes.
        assert CONTENT_TYPE_XATTR not in os.listxattr(tmp_path / bare)
        assert METADATA_XATTR not in os.listxattr(tmp_path / bare)


async def test_stat_of_a_file_written_by_another_tool(tmp_path: Path) -> None:
    async with FileArtifactBackend(tmp_path) as backend:
        opaque_id = mint_opaque_id()
        (tmp_path / opaque_id).write_bytes(b"by hand")
        info = await backend.stat(opaque_id)
        assert (info.size, info.crc32c, info.content_type) == (7, None, "application/octet-stream")
        assert dict(info.metadata) == {}


async def test_stat_refuses_a_symlink_as_load_does(tmp_path: Path) -> None:
    async with FileArtifactBackend(tmp_path / "root") as backend:
        target = tmp_path / "elsewhere"
        target.write_bytes(b"secret")
        opaque_id = mint_opaque_id()
        (tmp_path / "root" / opaque_id).symlink_to(target)
        with pytest.raises(UnsafeFileType, match="symlink"):
            await backend.stat(opaque_id)
        with pytest.raises(UnsafeFileType, match="symlink"):
            await backend.load_range(opaque_id, 0, 3)


async def test_without_user_xattrs_a_store_with_attributes_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOTSUP, "Operation not supported")

    monkeypatch.setattr(os, "setxattr", refuse)
    monkeypatch.setattr(os, "getxattr", refuse)
    async with FileArtifactBackend(tmp_path) as backend:
        opaque_id = mint_opaque_id()
        with pytest.raises(ConfigError, match="extended attributes"):
            await backend.store(opaque_id, b"x", content_type="text/plain")
        with pytest.raises(ConfigError, match=str(tmp_path)):
            await backend.store_stream(opaque_id, [b"x"], metadata={"k": "v"})
        with pytest.raises(NotFound):
            await backend.stat(opaque_id)
        assert temp_files(tmp_path) == []
        # Without attributes it stores as before, and stat has defaults.
        await backend.store(opaque_id, b"plain")
        info = await backend.stat(opaque_id)
        assert (info.crc32c, info.content_type) == (None, "application/octet-stream")


async def test_a_range_that_is_the_whole_object_is_verified(tmp_path: Path) -> None:
    async with FileArtifactBackend(tmp_path) as backend:
        opaque_id = mint_opaque_id()
        data = os.urandom(3 * 1024 * 1024)
        await backend.store(opaque_id, data)
        flip_byte(tmp_path / opaque_id, 10)
        # A strict slice cannot be checked, and is handed back as it is on disk.
        assert (await backend.load_range(opaque_id, 100, 200)) == data[100:200]
        # A slice that is the whole object can, on both paths.
        with pytest.raises(IntegrityError):
            await backend.load_range(opaque_id, -len(data) - 5)
        with pytest.raises(IntegrityError):
            await _read_all(backend, opaque_id, 0, len(data) + 1)


async def _read_all(backend: FileArtifactBackend, opaque_id: str, start: int, end: int) -> bytes:
    async with backend.load_stream(opaque_id, start=start, end=end) as chunks:
        return b"".join([chunk async for chunk in chunks])


async def test_a_ranged_stream_reads_bounded_pieces(tmp_path: Path) -> None:
    async with FileArtifactBackend(tmp_path) as backend:
        opaque_id = mint_opaque_id()
        data = os.urandom(5 * 1024 * 1024 + 7)
        await backend.store(opaque_id, data)
        async with backend.load_stream(opaque_id, start=1000, end=-1000) as chunks:
            pieces = [chunk async for chunk in chunks]
        assert b"".join(pieces) == data[1000:-1000]
        assert max(len(piece) for piece in pieces) <= 1024 * 1024
