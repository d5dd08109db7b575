"""The user's own files for ``eden-blob``: the input it stores, the output it
writes (atomically), and the bearer token the server reads."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

from .._core.errors import ConfigError

# Read when --token-file is not given.
TOKEN_ENV = "EDEN_BLOB_TOKEN"


class LocalFileError(Exception):
    """A file of the user's (input, output, token) could not be read or written."""


def read_input(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise LocalFileError(f"cannot read {name!r}: {exc.strerror or exc}") from None


def write_atomically(target: Path, data: bytes) -> None:
    # A temp file in the same directory, then rename: a reader of FILE sees the
    # old content or the whole new one, never a partial artifact.
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or "."
        )
    except OSError as exc:
        raise LocalFileError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from None
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
            # mkstemp makes the file 0600; give it what a plain open() would.
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
        finally:
            os.close(fd)
        os.replace(tmp_name, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError):
            raise LocalFileError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from None
        raise


def write_all(fd: int, data: bytes) -> None:
    # Not a buffered file object: CPython's BufferedWriter.write can return a
    # short count without raising (a reader that went away, a full disk), and
    # the command would then exit 0 with a truncated artifact.
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def read_token(token_file: str | None) -> str | None:
    # Never from argv: a command line is visible to every user via ps.
    if token_file is not None:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError(f"cannot read --token-file {token_file!r}: {reason}") from None
        if not token:
            raise ConfigError(f"--token-file {token_file!r} is empty")
        return token
    return os.environ.get(TOKEN_ENV, "").strip() or None
