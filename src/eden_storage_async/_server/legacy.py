"""Legacy ``file://`` rows: read-only files under ``--artifacts-dir``, served safely.

Before opaque-id deposits, eden recorded artifacts as ``file://`` paths under
one directory, and its server kept serving them through the reference route
``GET /_reference/experiments/{E}/artifacts/{path}``, whatever the blob backend.
We do the same, with the original's rules:

- ``path`` is split on ``/``; an empty, ``.`` or ``..`` segment or a NUL is
  refused before any filesystem call (400).
- The walk goes by directory descriptor: each segment is opened with
  ``O_NOFOLLOW`` relative to the previous one's descriptor, so a symlink at
  any segment is refused (403) and a directory renamed or swapped for a
  symlink mid-walk cannot lead outside the root. Nothing is checked first and
  opened later: the checks read the opened descriptor.
- Only a regular file is served (anything else is 404), and only up to a size
  cap (413). The operator's root itself is trusted, ancestors included, but
  its last component must not be a symlink.

Every filesystem call runs in a worker thread, never on the event loop. The
exceptions carry their HTTP status and problem type and a detail safe to send:
no root path, no errno (those stay in ``__cause__`` for the log).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

from .._core.errors import ConfigError, NotFound, StorageError

__all__ = [
    "DEFAULT_LEGACY_MAX_BYTES",
    "LEGACY_ROUTE",
    "LegacyFile",
    "LegacyForbidden",
    "LegacyInvalidPath",
    "LegacyNotFound",
    "LegacyRefused",
    "LegacyServingDisabled",
    "LegacyTooLarge",
    "LegacyUnavailable",
    "check_legacy_root",
    "open_legacy",
]

LEGACY_ROUTE = "/_reference/experiments/{experiment_id}/artifacts/{path:.+}"
# The original's cap on this route.
DEFAULT_LEGACY_MAX_BYTES = 1024 * 1024
_CHUNK_BYTES = 64 * 1024
_REFUSED_SEGMENTS = frozenset({"", ".", ".."})
# O_RDONLY rather than O_PATH (which Python does not expose everywhere): the
# descriptor is only ever a dir_fd for the next open.
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer and
# hold a thread forever; the fstat that follows refuses it anyway.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
# "No such file" in every shape a walk can meet; any other error is the server's.
_ABSENT_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG})

_T = TypeVar("_T")


class LegacyRefused(StorageError):
    """A legacy artifact cannot be served; ``status`` and ``problem_type`` say why."""

    status = 503
    problem_type = "eden://reference-error/legacy-artifacts-unavailable"
    title = "Legacy Artifacts Unavailable"


class LegacyInvalidPath(LegacyRefused, ValueError):
    """The path has an empty, ``.`` or ``..`` segment, or a NUL (400)."""

    status = 400
    problem_type = "eden://reference-error/invalid-path"
    title = "Invalid Path"


class LegacyForbidden(LegacyRefused):
    """A symlink stands at some segment of the path (403)."""

    status = 403
    problem_type = "eden://error/forbidden"
    title = "Forbidden"


class LegacyNotFound(LegacyRefused, NotFound):
    """Nothing, or not a regular file, at the path (404)."""

    status = 404
    problem_type = "eden://error/not-found"
    title = "Not Found"


class LegacyTooLarge(LegacyRefused):
    """The file is larger than the cap (413)."""

    status = 413
    problem_type = "eden://reference-error/artifact-too-large"
    title = "Artifact Too Large"


class LegacyUnavailable(LegacyRefused):
    """The filesystem failed (EACCES, EIO, EMFILE, the root gone...) (503)."""

    status = 503


class LegacyServingDisabled(LegacyRefused):
    """The server was started without ``--artifacts-dir`` (503, as the original)."""

    status = 503
    problem_type = "eden://reference-error/artifact-serving-disabled"
    title = "Artifact Serving Disabled"


def check_legacy_root(root: str | os.PathLike[str]) -> Path:
    """Return ``root`` as a ``Path`` if it can be walked; else raise ``ConfigError``.

    For startup, so a wrong ``--artifacts-dir`` fails there instead of as 503s.
    Blocking. The path is not resolved: resolving would follow a symlink at
    its last component, which the walk refuses.
    """
    try:
        fd = os.open(root, _DIR_FLAGS)
    except OSError as exc:
        raise ConfigError(
            f"--artifacts-dir {os.fspath(root)!r} is not a directory we can open "
            f"(a symlink there is refused): {exc.strerror}"
        ) from None
    os.close(fd)
    return Path(root)


class LegacyFile:
    """An opened legacy artifact: its ``size``, its ``name``, and its bytes in chunks."""

    def __init__(self, fd: int, size: int, name: str) -> None:
        self.size = size
        self.name = name
        self._fd = fd
        self._reading: asyncio.Future[bytes] | None = None
        self._closed = False

    async def chunks(self, chunk_size: int = _CHUNK_BYTES) -> AsyncIterator[bytes]:
        """Yield exactly ``size`` bytes, each chunk read in a worker thread.

        A file that shrinks under us raises ``LegacyUnavailable`` part way; one
        that grows is served as it was when opened (``size`` bytes).
        """
        offset = 0
        while offset < self.size:
            wanted = min(chunk_size, self.size - offset)
            reading = _in_thread(os.pread, self._fd, wanted, offset)
            # Left set if we are cancelled mid-read, so close() waits for it.
            self._reading = reading
            try:
                data = await asyncio.shield(reading)
            except OSError as exc:
                raise LegacyUnavailable("the legacy artifact could not be read") from exc
            self._reading = None
            if not data:
                raise LegacyUnavailable("the legacy artifact changed while it was read")
            offset += len(data)
            yield data

    def close(self) -> None:
        """Close the descriptor, after a read still running in its thread, if any."""
        if self._closed:
            return
        self._closed = True
        reading = self._reading
        if reading is not None and not reading.done():
            # A cancelled fetch leaves its pread running: closing now could
            # hand the descriptor number to another open while it reads.
            reading.add_done_callback(functools.partial(_close_after, self._fd))
        else:
            os.close(self._fd)


@contextlib.asynccontextmanager
async def open_legacy(
    root: str | os.PathLike[str], rel_path: str, *, max_bytes: int = DEFAULT_LEGACY_MAX_BYTES
) -> AsyncIterator[LegacyFile]:
    """Open ``rel_path`` under ``root`` for reading, as an async context manager.

    Raises on entry: ``LegacyInvalidPath`` (400), ``LegacyForbidden`` (403),
    ``LegacyNotFound`` (404), ``LegacyTooLarge`` (413) or ``LegacyUnavailable``
    (503). The descriptor is closed on exit.
    """
    if max_bytes < 0:
        raise ValueError(f"max_bytes must not be negative (got {max_bytes})")
    segments = _segments(rel_path)
    opening = _in_thread(_open_regular_file, Path(root), segments, max_bytes)
    try:
        fd, size = await asyncio.shield(opening)
    except asyncio.CancelledError:
        # The thread runs on; whatever it opens must still be closed.
        opening.add_done_callback(_close_opened)
        raise
    legacy = LegacyFile(fd, size, segments[-1])
    try:
        yield legacy
    finally:
        legacy.close()


def _segments(rel_path: str) -> list[str]:
    segments = rel_path.split("/")
    if any(segment in _REFUSED_SEGMENTS for segment in segments):
        raise LegacyInvalidPath("the path has an empty, '.' or '..' segment")
    if "\0" in rel_path:
        raise LegacyInvalidPath("the path holds a NUL byte")
    return segments


def _open_regular_file(root: Path, segments: list[str], max_bytes: int) -> tuple[int, int]:
    """The walk itself, in a worker thread: return ``(fd, size)`` of a regular file."""
    try:
        dir_fd = os.open(root, _DIR_FLAGS)
    except OSError as exc:
        raise LegacyUnavailable("the legacy artifacts directory cannot be opened") from exc
    try:
        for segment in segments[:-1]:
            next_fd = _open_segment(segment, dir_fd, _DIR_FLAGS)
            os.close(dir_fd)
            dir_fd = next_fd
        fd = _open_segment(segments[-1], dir_fd, _FILE_FLAGS)
    finally:
        os.close(dir_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise LegacyNotFound("legacy artifact not found")
        if info.st_size > max_bytes:
            raise LegacyTooLarge(f"the legacy artifact is larger than {max_bytes} bytes")
    except BaseException:
        os.close(fd)
        raise
    return fd, info.st_size


def _open_segment(segment: str, dir_fd: int, flags: int) -> int:
    try:
        return os.open(segment, flags, dir_fd=dir_fd)
    except OSError as exc:
        # O_NOFOLLOW refuses a symlink with ELOOP, but with O_DIRECTORY the
        # refusal is ENOTDIR (Linux and macOS), the same as for a plain file
        # where a directory should be. A look at the entry, after the open was
        # refused and so opening no window, tells the two apart: 403 or 404.
        if exc.errno == errno.ELOOP or (
            exc.errno == errno.ENOTDIR and _is_symlink(segment, dir_fd)
        ):
            raise LegacyForbidden("a symlink in the path is not followed") from exc
        if exc.errno in _ABSENT_ERRNOS:
            raise LegacyNotFound("legacy artifact not found") from exc
        raise LegacyUnavailable("the legacy artifact cannot be opened") from exc


def _is_symlink(segment: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(segment, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


def _in_thread(function: Callable[..., _T], *args: object) -> asyncio.Future[_T]:
    loop = asyncio.get_running_loop()
    return loop.run_in_executor(None, functools.partial(function, *args))


def _close_after(fd: int, reading: asyncio.Future[bytes]) -> None:
    if not reading.cancelled():
        reading.exception()  # retrieved, so asyncio does not log it as lost
    os.close(fd)


def _close_opened(opening: asyncio.Future[tuple[int, int]]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        os.close(opening.result()[0])
