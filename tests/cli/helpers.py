"""Running ``eden-blob`` in a subprocess, shared by the CLI tests: a clean environment,
one run, and the one stderr line a failed run must print."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any EDEN_*, AWS_* or GOOGLE_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EDEN_", "AWS_", "GOOGLE_"))}
    env.update(extra)
    return env


def cli(
    *args: str | Path, stdin: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "eden_storage_async._cli.main", *map(str, args)],
        input=stdin,
        capture_output=True,
        env=clean_env() if env is None else env,
        timeout=60,
    )


def one_error_line(result: subprocess.CompletedProcess[bytes]) -> str:
    """The single stderr line of a failed run; fails the test on anything else."""
    text = result.stderr.decode()
    assert "Traceback" not in text, text
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("eden-blob"), text
    return lines[0]
