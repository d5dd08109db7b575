"""How ``eden-blob`` is invoked: usage and config errors (exit 2, one line, no
echoed values), ``--help``, the console script, and the event loop it runs on."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eden_storage_async._cli.main import main

from .helpers import clean_env, cli, one_error_line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "required"),
        (["frobnicate"], "invalid choice"),
        (["get"], "required"),
        (["get", "not-an-id", "--artifact-blob-dir", "{tmp}"], "32 lowercase hex"),
        (["put", "--blob-backend", "azure"], "--blob-backend must be one of file, s3, gcs"),
        (["put", "--blob-backend", "s3"], "--blob-s3-bucket is required with --blob-backend s3"),
        (["get", "a" * 32, "--blob-backend", "gcs"], "--blob-gcs-bucket is required"),
        (["put", "--blob-s3-bucket", "b"], "--blob-s3-bucket requires --blob-backend s3"),
        (["put", "--blob-backend", "s3", "--blob-s3-bucket", "b", "--artifact-blob-dir", "{tmp}"],
         "--artifact-blob-dir requires --blob-backend file"),
        (["put", "--artifact-blob-dir", "{tmp}", "--artifacts-dir", "{tmp}"], "must differ"),
        (["put"], "needs a durable backend"),
        (["get", "a" * 32], "needs a durable backend"),
        (["serve", "--token", "abc"], "unrecognized arguments: --token"),
        (["serve", "--port", "70000"], "not a TCP port"),
        (["serve", "--max-artifact-bytes", "-1"], "must not be negative"),
        (["put", "--no-such-flag"], "unrecognized arguments"),
    ],
)  # fmt: skip
def test_usage_and_config_errors_exit_2_with_one_line(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    result = cli(*(a.replace("{tmp}", str(tmp_path)) for a in args), stdin=b"data")
    assert result.returncode == 2, result.stderr
    assert result.stdout == b""
    assert expected in one_error_line(result)
    assert os.listdir(tmp_path) == [], "a refused command must not touch storage"


def test_unrecognized_values_are_not_echoed() -> None:
    result = cli("serve", "--token", "pasted-secret-789", "stray-value")
    assert result.returncode == 2
    line = one_error_line(result)
    assert "unrecognized arguments: --token" in line
    assert "pasted-secret-789" not in line
    assert "stray-value" not in line


def test_an_env_var_in_a_config_error_is_named(tmp_path: Path) -> None:
    env = clean_env(EDEN_BLOB_S3_BUCKET="inherited", EDEN_ARTIFACT_BLOB_DIR=str(tmp_path))
    result = cli("put", stdin=b"x", env=env)
    assert result.returncode == 2
    line = one_error_line(result)
    assert "--blob-s3-bucket requires --blob-backend s3" in line
    assert "EDEN_BLOB_S3_BUCKET" in line
    assert "inherited" not in line


def test_help_exits_0() -> None:
    result = cli("serve", "--help")
    assert result.returncode == 0
    for flag in ("--blob-backend", "--blob-s3-bucket", "--token-file", "EDEN_BLOB_GCS_BUCKET"):
        assert flag in result.stdout.decode()


def test_the_cli_runs_on_uvloop_without_installing_a_policy() -> None:
    # uvloop comes with the dev extra (through bench); the library must not
    # import it, and the CLI must use it as a loop factory, not as a policy.
    code = (
        "import asyncio, sys\n"
        "import eden_storage_async\n"
        "assert 'uvloop' not in sys.modules\n"
        "from eden_storage_async._cli.loop import run\n"
        "async def loop_module():\n"
        "    return type(asyncio.get_running_loop()).__module__\n"
        "print(run(loop_module()))\n"
        "print(type(asyncio.get_event_loop_policy()).__module__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["uvloop", "asyncio.unix_events"]


def test_the_console_script_is_main() -> None:
    (entry,) = importlib.metadata.entry_points(group="console_scripts", name="eden-blob")
    assert entry.load() is main
