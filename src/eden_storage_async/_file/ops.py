"""The blocking half of ``FileArtifactBackend``: every syscall, run in worker threads.

Nothing here runs on the event loop; ``_file/backend.py`` sends each function to a
thread whole. Every path is relative to the root's directory descriptor.

Integrity: the object file holds the raw bytes (users and tools read them
directly), and its CRC32C travels in the extended attribute
``user.eden.crc32c`` (base64 of the 4 big-endian bytes, the form S3 and GCS
use). The attribute is set on the temp file *before* the fsync and the
exclusive link, so an object is published with its checksum or not at all.
A load reads it and verifies the bytes; an object without it (written by
another tool or an older version, or on a filesystem without user xattrs)
loads unverified.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import stat
from pathlib import Path
from types import MappingProxyType

from .._core.attributes import DEFAULT_CONTENT_TYPE, ArtifactInfo, Attributes
from .._core.checksum import Crc32c, crc32c_b64, verify_crc32c
from .._core.errors import (
    AccessDenied,
    AlreadyExists,
    BackendError,
    BucketNotFound,
    NotFound,
    UnsafeFileType,
)
from .._core.ranges import ByteRange
from .attrs import read_attributes, write_attributes

__all__ = ["CHECKSUM_XATTR", "FileOps", "translate"]

CHECKSUM_XATTR = "user.eden.crc32c"
_NONE: MappingProxyType[str, str] = MappingProxyType({})

_log = logging.getLogger("eden_storage_async.file")
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# load_stream reads this much per thread hop.
READ_CHUNK = 1024 * 1024
# What a filesystem without user xattrs answers (tmpfs before Linux 6.6, NFS
# before v4.2, some FUSE mounts): ENOTSUP (== EOPNOTSUPP on Linux), or EPERM.
_NO_XATTRS = frozenset({errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM})
# An object that simply has no checksum attribute answers ENODATA.
_NO_ATTR = _NO_XATTRS | {getattr(errno, "ENODATA", errno.ENOENT)}


class FileOps:
    """The syscalls of one artifact root, each sequence meant for one thread hop."""

    def __init__(self, root: Path, dir_fd: int, tmp_tag: str) -> None:
        self.root = root
        self.dir_fd = dir_fd
        self.tmp_tag = tmp_tag
        #: False when the filesystem refuses user xattrs: stores then carry no
        #: checksum and loads are unverified (one warning, at construction).
        self.checksums = self._probe_xattrs()

    def _probe_xattrs(self) -> bool:
        # Probed once, at start-up, on a throwaway temp file. Refusing the root
        # instead would break deployments on older tmpfs and NFS that worked
        # before checksums existed; the durability and create-only guarantees do
        # not depend on the checksum, so those roots keep working, unverified,
        # and the operator is told once, where start-up logs are read.
        name = self.tmp_tag + "xattr-probe-" + secrets.token_hex(4)
        try:
            fd = self.create_temp(name)
        except BackendError:
            # A root we cannot write (a read-only mount served for loads) still
            # opens: loads read the attribute where it exists, and stores fail
            # with this same error when they try.
            return True
        try:
            os.setxattr(fd, CHECKSUM_XATTR, b"probe")
        except OSError as exc:
            if exc.errno not in _NO_XATTRS:
                raise translate(exc, f"cannot probe extended attributes in {self.where}") from exc
            _log.warning(
                "%s refuses user extended attributes (%s): artifacts stored there carry"
                " no CRC32C and load unverified",
                self.where,
                exc.strerror,
            )
            return False
        finally:
            self.discard(fd, name)
        return True

    @property
    def where(self) -> str:
        return f"artifact root {str(self.root)!r}"

    # -- store ---------------------------------------------------------------

    def create_temp(self, tmp_name: str) -> int:
        try:
            return os.open(
                tmp_name,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _O_CLOEXEC,
                0o644,
                dir_fd=self.dir_fd,
            )
        except OSError as exc:
            raise translate(exc, f"cannot create a temp file in {str(self.root)!r}") from exc

    def write(self, fd: int, chunk: memoryview, opaque_id: str, crc: Crc32c | None = None) -> None:
        """Write all of ``chunk``; fold it into ``crc`` here, in the worker thread."""
        if crc is not None:
            crc.update(chunk)
        try:
            written = 0
            while written < len(chunk):
                written += os.write(fd, chunk[written:])
        except OSError as exc:
            raise translate(exc, f"cannot store artifact {opaque_id}") from exc

    def discard(self, fd: int, tmp_name: str) -> None:
        with contextlib.suppress(OSError):
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name, dir_fd=self.dir_fd)

    def publish(
        self, fd: int, tmp_name: str, opaque_id: str, crc_b64: str, attributes: Attributes
    ) -> None:
        """Checksum and attributes, fsync, close, exclusive link; the temp name is removed.

        The directory fsync that makes the new name durable is the caller's
        (``DirSync``), so one fsync can cover many links. Closes ``fd`` and
        removes the temp name whatever happens.
        """
        dir_fd = self.dir_fd
        try:
            try:
                if self.checksums:
                    os.setxattr(fd, CHECKSUM_XATTR, crc_b64.encode("ascii"))
                if attributes:
                    write_attributes(fd, attributes)
                # fsync, not fdatasync: the attributes and the size must be durable too.
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp_name, opaque_id, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except FileExistsError:
                raise AlreadyExists(
                    f"artifact {opaque_id} already exists in {str(self.root)!r}"
                ) from None
        except AlreadyExists:
            raise  # a FileExistsError, so an OSError: keep it out of the catch-all below
        except OSError as exc:
            raise translate(exc, f"cannot store artifact {opaque_id}") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name, dir_fd=dir_fd)

    def store(
        self, tmp_name: str, opaque_id: str, data: memoryview, attributes: Attributes
    ) -> None:
        """A whole store in one thread hop, but for the directory fsync."""
        # Here and not on the loop: a 1 GiB payload takes about 0.1 s to checksum.
        crc_b64 = crc32c_b64(data) if self.checksums else ""
        fd = self.create_temp(tmp_name)
        try:
            self.write(fd, data, opaque_id)
        except BaseException:
            self.discard(fd, tmp_name)
            raise
        self.publish(fd, tmp_name, opaque_id, crc_b64, attributes)

    # -- load ----------------------------------------------------------------

    def open_for_read(self, opaque_id: str) -> tuple[int, int, str | None]:
        """``(fd, size, stored CRC32C or None)`` of the regular file ``opaque_id``.

        Never a symlink, a FIFO or a device.
        """
        try:
            # O_NONBLOCK: opening a FIFO planted at the path must not hang the
            # thread waiting for a writer; it has no effect on regular files.
            fd = os.open(
                opaque_id,
                os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _O_CLOEXEC,
                dir_fd=self.dir_fd,
            )
        except FileNotFoundError:
            raise NotFound(f"artifact {opaque_id} not found in {str(self.root)!r}") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafeFileType(
                    f"refusing to read artifact {opaque_id}: it is a symlink"
                ) from exc
            raise translate(exc, f"cannot read artifact {opaque_id}") from exc
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise UnsafeFileType(
                    f"refusing to read artifact {opaque_id}: it is not a regular file"
                )
            return fd, st.st_size, self._stored_crc(fd, opaque_id)
        except BaseException:
            os.close(fd)
            raise

    def _stored_crc(self, fd: int, opaque_id: str) -> str | None:
        if not self.checksums:
            return None
        try:
            return os.getxattr(fd, CHECKSUM_XATTR).decode("ascii", "replace")
        except OSError as exc:
            if exc.errno in _NO_ATTR:
                return None  # written by another tool or version: loads unverified
            raise translate(exc, f"cannot read artifact {opaque_id}") from exc

    def read(self, opaque_id: str) -> bytes:
        """The whole object, verified against its stored CRC32C when it has one."""
        fd, size, expected = self.open_for_read(opaque_id)
        try:
            # Objects are immutable, so stop at the size fstat gave instead of
            # paying one more read to see the end; a file cut short ends the
            # read early, and the checksum judges what was read either way.
            data = self.read_at(fd, 0, size, opaque_id)
        finally:
            os.close(fd)
        if expected is not None:
            verify_crc32c(self.what(opaque_id), expected, crc32c_b64(data))
        return data

    def stat(self, opaque_id: str) -> ArtifactInfo:
        """Size, stored CRC32C and attributes of ``opaque_id``, from its descriptor."""
        fd, size, crc_b64 = self.open_for_read(opaque_id)
        try:
            content_type, metadata = read_attributes(fd) if self.checksums else (None, _NONE)
        except OSError as exc:
            raise translate(exc, f"cannot stat artifact {opaque_id}") from exc
        finally:
            os.close(fd)
        return ArtifactInfo(size, crc_b64, content_type or DEFAULT_CONTENT_TYPE, metadata)

    def read_range(self, opaque_id: str, byte_range: ByteRange) -> bytes:
        """``byte_range`` of the object, by ``pread``; verified when it is the whole object."""
        fd, size, expected = self.open_for_read(opaque_id)
        try:
            first, stop = byte_range.bounds(size)
            data = self.read_at(fd, first, stop - first, opaque_id)
        finally:
            os.close(fd)
        if expected is not None and first == 0 and len(data) == size:
            verify_crc32c(self.what(opaque_id), expected, crc32c_b64(data))
        return data

    def read_at(
        self, fd: int, offset: int, length: int, opaque_id: str, crc: Crc32c | None = None
    ) -> bytes:
        """Up to ``length`` bytes from ``offset``; short only where the file is.

        Folded into ``crc`` here, in the worker thread, for a stream's checksum.
        """
        pieces: list[bytes] = []
        got = 0
        try:
            while got < length:
                piece = os.pread(fd, length - got, offset + got)
                if not piece:
                    break
                pieces.append(piece)
                got += len(piece)
        except OSError as exc:
            raise translate(exc, f"cannot read artifact {opaque_id}") from exc
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        if crc is not None:
            crc.update(data)
        return data

    def what(self, opaque_id: str) -> str:
        """How an IntegrityError names the object."""
        return f"FileArtifactBackend({str(self.root)!r}) artifact {opaque_id}"


def translate(exc: OSError, what: str) -> BackendError:
    """Map an OSError to the library's errors; the OS message is kept."""
    detail = f"{what}: {exc.strerror or exc}"
    if isinstance(exc, PermissionError):
        return AccessDenied(detail)
    if isinstance(exc, FileNotFoundError):
        return BucketNotFound(detail)
    return BackendError(detail)
