"""Running the peer tools on one object whose name is already taken at the target.

A case is one source file and one object already at the target under the same
name, with different bytes: a different size, or the same size with the
source file's mtime before, after or equal to what the tool compares it with.
Each tool runs once per case, on that one file, into a prefix of its own, and
the test reads back what the target holds afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.migrate.tools import (
    AWS,
    RCLONE,
    REMOTE,
    TOOLS,
    missing_peers,
    tool_argv,
    tool_env,
)

from eden_storage_async import FileArtifactBackend, S3Backend, mint_opaque_id

from ..support.s3 import fresh_prefix
from ..support.servers import RealServer

__all__ = ["Case", "Outcome", "require_peers", "run_case"]

# Bounded: a peer that hangs fails its test in seconds, not at the suite timeout.
_TOOL_TIMEOUT_S = 60.0
HOUR = 3600.0


@dataclass(frozen=True)
class Case:
    """A taken name: ``target`` bytes are there, ``source`` bytes are to be copied.

    ``mtime``: where the source file's mtime stands against the target's time:
    ``"older"`` or ``"newer"`` by an hour, or ``"equal"`` to the mtime rclone
    recorded when an earlier ``rclone copy`` placed the target (``placed_by``).
    """

    source: bytes
    target: bytes
    mtime: str
    # "put": a plain PutObject; "rclone": an earlier rclone copy; "ours": an
    # S3Backend store (the object carries its CRC32C).
    placed_by: str = "put"


@dataclass(frozen=True)
class Outcome:
    """What a tool did: its exit code, its output, and the bytes left at the target;
    for ours, its ``--report`` JSON too."""

    exit_code: int
    output: str
    target_now: bytes
    report: dict[str, Any] | None = None

    def overwritten(self, case: Case) -> bool:
        assert self.target_now in (case.source, case.target), self.target_now
        return self.target_now == case.source


def require_peers() -> None:
    """Fail, loudly and by name, when a peer is not installed: never skip. CI
    installs both (scripts/test-all)."""
    import pytest

    missing = missing_peers()
    if missing:
        pytest.fail(f"peer tools not installed: {', '.join(missing)}", pytrace=False)


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=_TOOL_TIMEOUT_S,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def _rclone_env(server: RealServer, scratch: Path) -> dict[str, str]:
    return tool_env(TOOLS["rclone"], server.endpoint_url, scratch, 4)


async def _store_with(backend: FileArtifactBackend | S3Backend, name: str, data: bytes) -> None:
    async with backend:
        await backend.store(name, data)


def _place(case: Case, s3: Any, server: RealServer, key: str, scratch: Path, at: float) -> None:
    if case.placed_by == "put":
        s3.put_object(Bucket=server.bucket, Key=key, Body=case.target)
        return
    prefix, name = key.rsplit("/", 1)
    if case.placed_by == "ours":
        # Its keys come from the environment (conftest's use_test_credentials).
        target = S3Backend(bucket=server.bucket, prefix=prefix, endpoint_url=server.endpoint_url)
        asyncio.run(_store_with(target, name, case.target))
        return
    # An earlier rclone copy, from a file whose mtime rclone records in the
    # object's metadata (X-Amz-Meta-Mtime) and compares on the next run.
    earlier = scratch / "earlier"
    earlier.mkdir()
    path = earlier / name
    path.write_bytes(case.target)
    os.utime(path, (at, at))
    done = _run([RCLONE, "copy", str(earlier), f"{REMOTE}:{server.bucket}/{prefix}"],
                _rclone_env(server, scratch))  # fmt: skip
    assert done.returncode == 0, done.stderr


def run_case(
    tool: str, flags: list[str], case: Case, server: RealServer, s3: Any, scratch: Path
) -> Outcome:
    """Place ``case.target``, then run ``tool`` (``"aws"`` for ``aws s3 sync``,
    ``"rclone"`` for ``rclone copy``, ``"ours"`` for ``eden-blob migrate``) with
    ``flags`` on a source holding ``case.source``: a plain file for the peers, a
    ``FileArtifactBackend`` root for ours (the file then carries its CRC32C)."""
    name, prefix = mint_opaque_id(), fresh_prefix()
    key = f"{prefix}/{name}"
    # Whole seconds: rclone keeps sub-second mtimes, a file system may not.
    placed_at = float(int(time.time()) - 2 * HOUR)
    _place(case, s3, server, key, scratch, placed_at)
    # The time the tool compares against: the mtime rclone recorded, or the
    # object's LastModified (which is what aws compares, and rclone too when
    # no mtime was recorded).
    last_modified = s3.head_object(Bucket=server.bucket, Key=key)["LastModified"].timestamp()
    reference = placed_at if case.placed_by == "rclone" else last_modified
    source = scratch / "source"
    source.mkdir()
    if tool == "ours":
        asyncio.run(_store_with(FileArtifactBackend(source), name, case.source))
    else:
        (source / name).write_bytes(case.source)
    mtime = {"older": reference - HOUR, "newer": reference + HOUR, "equal": reference}[case.mtime]
    os.utime(source / name, (mtime, mtime))
    report = scratch / "report.json"
    if tool == "aws":
        argv = [AWS, "s3", "sync", str(source), f"s3://{server.bucket}/{prefix}",
                "--endpoint-url", server.endpoint_url, *flags]  # fmt: skip
        env = tool_env(TOOLS["aws"], server.endpoint_url, scratch, 4)
    elif tool == "ours":
        argv = [*tool_argv(TOOLS["ours"], source, server.bucket, prefix, server.endpoint_url, 4),
                "--report", str(report), *flags]  # fmt: skip
        env = tool_env(TOOLS["ours"], server.endpoint_url, scratch, 4)
    else:
        argv = [RCLONE, "copy", str(source), f"{REMOTE}:{server.bucket}/{prefix}", *flags]
        env = _rclone_env(server, scratch)
    done = _run(argv, env)
    body = s3.get_object(Bucket=server.bucket, Key=key)["Body"]
    try:
        target_now = body.read()
    finally:
        body.close()
    written = json.loads(report.read_text()) if tool == "ours" else None
    return Outcome(done.returncode, done.stdout + done.stderr, target_now, written)
