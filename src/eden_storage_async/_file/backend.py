"""``FileArtifactBackend``: one file per artifact under a root directory (POSIX).

A store writes a unique temp file in the root, sets its CRC32C attribute,
fsyncs it, publishes it with an exclusive ``link`` (the kernel refuses an
existing name, so create-only holds across processes without a
check-then-write), removes the temp name, and returns once a directory fsync
that began after its link has completed, so the new name survives a crash.
docs/file.md has the durability argument and the measurements.

Why one thread hop per operation and not aiofiles: aiofiles sends every call
(open, write, fsync, close, link, unlink) to the executor on its own, six loop
round trips per store. Running the whole sequence as one function in one
thread was about 2x faster per store on this project's 2-core machines
(``python benchmarks/file_io_choice.py`` measures both, side by side) and
makes cancellation simple: the thread runs to the end, so a cancelled store
leaves either the whole object or nothing, and never a temp file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

from .._core.attributes import ArtifactInfo, Attributes
from .._core.base import BackendBase
from .._core.checksum import Crc32c, verify_crc32c
from .._core.create_only import CanaryPath
from .._core.errors import ConfigError
from .._core.ranges import ByteRange
from .._core.settle import settle
from .._core.stream import ChunkSource
from .commit import DirSync
from .listing import PAGE, id_pages
from .ops import READ_CHUNK, FileOps, translate
from .sweep import sweep_stale_temp_files, temp_tag
from .threads import ThreadPool

__all__ = ["FileArtifactBackend"]

_T = TypeVar("_T")
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class FileArtifactBackend(BackendBase):
    """Stores each artifact as ``<root>/<opaque_id>``; durable, create-only, checksummed.

    ``root`` is created if missing. Temp files left by a crashed process are
    swept here, so construct the backend at start-up, not inside a hot handler.
    Each object carries its CRC32C in the ``user.eden.crc32c`` extended
    attribute and every load verifies it (``IntegrityError`` on a mismatch);
    objects without the attribute, and every object on a filesystem that
    refuses user xattrs (logged once, here), load unverified. A content type
    and metadata live in user xattrs too, so on such a filesystem a store that
    gives them is refused (``ConfigError``) and stores nothing. Reads refuse
    symlinks and non-regular files. POSIX only.
    """

    # Store threads per backend. A store spends most of its time in fsync, which
    # holds no GIL; asyncio's default pool (min(32, cpus + 4) = 6 on 2 cores) let
    # only 6 fsyncs overlap, and the disk merges concurrent flushes, so more
    # threads give more fsyncs per second (5,204/s at 64 threads vs 3,222 at 4
    # here). 64 matches store_many's default concurrency; docs/file.md has the
    # measurements.
    _THREADS = 64
    # Load threads: loads wait on no flush, they are CPU work under the GIL, and
    # more threads only add GIL hand-offs (loads on 64 threads were about 0.7x
    # as fast as on 6). asyncio's default executor size, in a pool of our own.
    _READ_THREADS = min(32, (os.cpu_count() or 1) + 4)
    # Directory entries read per listing hop (``listing.py``); tests make it small.
    _list_page = PAGE

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = Path(root)
        try:
            self._root.mkdir(parents=True, exist_ok=True)
            # Every operation is relative to this descriptor: the root cannot be
            # swapped for a symlink under us, and paths are not re-resolved.
            self._dir_fd = os.open(self._root, os.O_RDONLY | os.O_DIRECTORY | _O_CLOEXEC)
        except OSError as exc:
            raise translate(exc, f"cannot open artifact root {str(self._root)!r}") from exc
        try:
            self.swept_temp_files = sweep_stale_temp_files(self._dir_fd)
            self._ops = FileOps(self._root, self._dir_fd, temp_tag())
        except BaseException:
            os.close(self._dir_fd)
            raise
        self._pool = ThreadPool(self._THREADS, "eden-file")
        self._read_pool = ThreadPool(self._READ_THREADS, "eden-file-read")
        self._dir_sync = DirSync(self._dir_fd, self._ops.where)

    @property
    def root(self) -> Path:
        """The directory holding the artifacts."""
        return self._root

    @property
    def verifies_checksums(self) -> bool:
        """False when the root's filesystem refuses user xattrs: loads are then unverified."""
        return self._ops.checksums

    def __repr__(self) -> str:
        return f"FileArtifactBackend(root={str(self._root)!r})"

    async def _in_thread(self, fn: Callable[..., _T], *args: object) -> _T:
        """Run a store step in this backend's pool; a cancel waits for the thread to end."""
        return await settle(self._pool.run(fn, *args))

    async def _in_read_thread(self, fn: Callable[..., _T], *args: object) -> _T:
        """Run a load step in this backend's read pool; a cancel waits for the thread."""
        return await settle(self._read_pool.run(fn, *args))

    def _check_attributes_fit(self, attributes: Attributes) -> None:
        if attributes and not self._ops.checksums:
            raise ConfigError(
                f"{self._ops.where} is on a filesystem without user extended attributes, "
                "where FileArtifactBackend keeps content_type and metadata: store "
                "without them, or move the root to a filesystem that has them"
            )

    async def _store(self, opaque_id: str, data: memoryview, attributes: Attributes) -> None:
        self._check_attributes_fit(attributes)
        await self._in_thread(self._ops.store, self._tmp_name(), opaque_id, data, attributes)
        await self._dir_sync.sync()

    async def _load(self, opaque_id: str) -> bytes:
        return await self._in_read_thread(self._ops.read, opaque_id)

    async def _stat(self, opaque_id: str) -> ArtifactInfo:
        return await self._in_read_thread(self._ops.stat, opaque_id)

    async def _load_range(self, opaque_id: str, byte_range: ByteRange) -> bytes:
        return await self._in_read_thread(self._ops.read_range, opaque_id, byte_range)

    @contextlib.asynccontextmanager
    async def _load_range_stream(
        self, opaque_id: str, byte_range: ByteRange
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        fd, size, expected = await self._in_read_thread(self._ops.open_for_read, opaque_id)
        try:
            first, stop = byte_range.bounds(size)
            # A range that is the whole object can still be verified.
            whole = expected if (first, stop) == (0, size) else None
            yield self._read_chunks(fd, opaque_id, first, stop, whole)
        finally:
            await asyncio.shield(asyncio.to_thread(os.close, fd))

    async def _read_chunks(
        self, fd: int, opaque_id: str, first: int, stop: int, expected: str | None
    ) -> AsyncIterator[bytes]:
        # Chunks are handed out as they arrive; the checksum can only be judged
        # at the end, so a stream is verified once it ends without an error.
        # Objects are immutable, so the stream stops at the size fstat gave.
        crc = Crc32c() if expected is not None else None
        offset = first
        while offset < stop:
            length = min(READ_CHUNK, stop - offset)
            chunk = await self._in_read_thread(
                self._ops.read_at, fd, offset, length, opaque_id, crc
            )
            if not chunk:
                break
            offset += len(chunk)
            yield chunk
        if crc is not None and expected is not None:
            verify_crc32c(self._ops.what(opaque_id), expected, crc.b64())

    async def _store_stream(
        self, opaque_id: str, source: ChunkSource, attributes: Attributes
    ) -> None:
        self._check_attributes_fit(attributes)
        # One thread hop per chunk. Each hop runs to completion, and any failure
        # or cancellation between hops (the caller's iterable included) lands in
        # the except below, which removes the temp file before re-raising.
        ops = self._ops
        tmp_name = self._tmp_name()
        opening = self._pool.run(ops.create_temp, tmp_name)
        try:
            fd = await settle(opening)
        except asyncio.CancelledError:
            # Cancelled while the thread created the file: it exists now, so remove it.
            if not opening.cancelled() and opening.exception() is None:
                await self._in_thread(ops.discard, opening.result(), tmp_name)
            raise
        crc = Crc32c() if ops.checksums else None
        chunks = aiter(source)
        try:
            async for chunk in chunks:
                await self._in_thread(ops.write, fd, chunk, opaque_id, crc)
        except BaseException:
            await self._in_thread(ops.discard, fd, tmp_name)
            raise
        finally:
            await chunks.aclose()
        crc_b64 = crc.b64() if crc else ""
        await self._in_thread(ops.publish, fd, tmp_name, opaque_id, crc_b64, attributes)
        await self._dir_sync.sync()

    @contextlib.asynccontextmanager
    async def _load_stream(self, opaque_id: str) -> AsyncIterator[AsyncIterator[bytes]]:
        fd, size, expected = await self._in_read_thread(self._ops.open_for_read, opaque_id)
        try:
            yield self._read_chunks(fd, opaque_id, 0, size, expected)
        finally:
            # The close is quick, but under a cancellation it must still happen.
            await asyncio.shield(asyncio.to_thread(os.close, fd))

    def _id_pages(self) -> AsyncGenerator[list[str], None]:
        return id_pages(self._in_read_thread, self._dir_fd, self._ops.where, self._list_page)

    def _canary_paths(self) -> list[CanaryPath]:
        """The upload paths ``check_create_only`` tries (``canary.py`` says which)."""
        from .canary import canary_paths

        return canary_paths(self)

    async def _aclose(self) -> None:
        await self._dir_sync.aclose()
        await asyncio.to_thread(self._pool.shutdown)
        await asyncio.to_thread(self._read_pool.shutdown)
        os.close(self._dir_fd)

    def _tmp_name(self) -> str:
        return self._ops.tmp_tag + secrets.token_hex(8)
