"""Temp-file names of ``FileArtifactBackend``, and sweeping those a crash left.

A store writes ``.eden-tmp.<host>.<pid>.<random>`` before it links the object
into place; a process killed in between leaves that file behind. The sweep at
start-up removes it once its writer is known to be gone.
"""

from __future__ import annotations

import os
import socket
import time

__all__ = ["sweep_stale_temp_files", "temp_tag"]

# Temp names start with a dot, and an opaque id never does, so the two can
# never collide. The host and pid let a sweep tell a crashed writer's debris
# from a live writer's file.
_TMP_PREFIX = ".eden-tmp."
# A temp file from another host (shared volume) is only swept when it is this
# old: no single store takes an hour, so nobody can still be writing it.
_STALE_AFTER_S = 3600.0


def temp_tag() -> str:
    """The start of this process's temp names; a random suffix completes each."""
    return f"{_TMP_PREFIX}{socket.gethostname()}.{os.getpid()}."


def sweep_stale_temp_files(dir_fd: int) -> int:
    """Remove temp files whose writer is gone; return how many were removed."""
    host = socket.gethostname()
    now = time.time()
    removed = 0
    for name in os.listdir(dir_fd):
        if not name.startswith(_TMP_PREFIX):
            continue
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue  # its writer finished meanwhile
        if _writer_is_gone(name[len(_TMP_PREFIX) :], host) or now - st.st_mtime > _STALE_AFTER_S:
            try:
                os.unlink(name, dir_fd=dir_fd)
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def _writer_is_gone(tag: str, host: str) -> bool:
    """True when the temp file's writer was a process on this host that has exited."""
    # tag is "<host>.<pid>.<random>"; a host name may itself contain dots.
    writer_host, _, rest = tag.rpartition(".")[0].rpartition(".")
    pid_text = rest
    if writer_host != host or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # another backend in this very process may be writing it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, owned by someone else
    return False
