"""How each migration tool is run against an S3 endpoint: its argv and its environment.

The peers are the tools operators reach for today: Debian's ``awscli`` (2.9,
``aws s3 sync``) and ``rclone`` (1.60, ``rclone copy``). Both are run as
installed, from ``/usr/bin``: another ``aws`` (a pyenv shim) may come first on
PATH. Every tool gets an environment built from scratch for it, so no
credential, config file or CA bundle of the developer's can change what it
does: throwaway keys (SeaweedFS with no identities accepts any), and config
files that live in the run's temp dir.

Every tool copies ``DIR/<name>`` to ``<prefix>/<name>``: the same key names
for all three (our S3 backend's key is ``<prefix>/<opaque_id>``), so they
move the same objects. Ours also stores its create-only canaries under the
prefix (``.eden-create-only-check.*``), a few bytes each.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "AWS",
    "RCLONE",
    "TOOLS",
    "Tool",
    "missing_peers",
    "tool_argv",
    "tool_env",
]

AWS = "/usr/bin/aws"
RCLONE = "/usr/bin/rclone"
# rclone's remote, configured through RCLONE_CONFIG_SW_* (the ``:s3,...:``
# command-line form breaks on the ``:`` of an endpoint URL).
REMOTE = "sw"
KEY_ID, SECRET, REGION = "benchmark", "benchmark", "us-east-1"


@dataclass(frozen=True)
class Tool:
    """One way of migrating: ``name`` in the tables, ``ours`` for our command,
    ``defaults`` when the tool runs at its own default concurrency rather than
    at the one given (aws: 10 requests; rclone: 4 transfers, 8 checkers)."""

    name: str
    ours: bool = False
    defaults: bool = False


TOOLS = {
    "ours": Tool("ours", ours=True),
    "aws": Tool("aws"),
    "rclone": Tool("rclone"),
    "aws-default": Tool("aws-default", defaults=True),
    "rclone-default": Tool("rclone-default", defaults=True),
}


def missing_peers() -> list[str]:
    """The peer binaries that are not installed, with the Debian package to install."""
    wanted = {AWS: "awscli", RCLONE: "rclone"}
    return [
        f"{path} (apt-get install -y {pkg})"
        for path, pkg in wanted.items()
        if not Path(path).exists()
    ]


def eden_blob() -> str:
    """Our command, from the interpreter's own environment."""
    beside = Path(sys.executable).parent / "eden-blob"
    return str(beside) if beside.exists() else (shutil.which("eden-blob") or str(beside))


def tool_argv(
    tool: Tool, source: Path, bucket: str, prefix: str, endpoint_url: str, concurrency: int
) -> list[str]:
    """The command that copies every file of ``source`` to ``bucket/prefix``."""
    if tool.ours:
        return [
            eden_blob(), "migrate",
            "--from-blob-backend", "file", "--from-artifact-blob-dir", str(source),
            "--to-blob-backend", "s3", "--to-blob-s3-bucket", bucket,
            "--to-blob-s3-prefix", prefix, "--to-blob-s3-endpoint-url", endpoint_url,
            "--concurrency", str(concurrency),
        ]  # fmt: skip
    if tool.name.startswith("aws"):
        # Concurrency is a config-file setting (s3.max_concurrent_requests), see tool_env.
        return [AWS, "s3", "sync", str(source), f"s3://{bucket}/{prefix}",
                "--endpoint-url", endpoint_url, "--only-show-errors"]  # fmt: skip
    argv = [RCLONE, "copy", str(source), f"{REMOTE}:{bucket}/{prefix}"]
    if not tool.defaults:
        argv += ["--transfers", str(concurrency), "--checkers", str(concurrency)]
    return argv


def tool_env(tool: Tool, endpoint_url: str, scratch: Path, concurrency: int) -> dict[str, str]:
    """The environment ``tool`` runs in: the caller's, less every AWS_*, RCLONE_*
    and EDEN_BLOB_* variable, plus throwaway keys and config files under ``scratch``."""
    scratch.mkdir(parents=True, exist_ok=True)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_", "EDEN_BLOB_"))
    }
    env |= {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}  # fmt: skip
    if tool.name.startswith("aws"):
        config = scratch / f"aws-config-{tool.name}-{concurrency}"
        lines = ["[default]", f"region = {REGION}"]
        if not tool.defaults:
            lines += ["s3 =", f"  max_concurrent_requests = {concurrency}"]
        config.write_text("\n".join(lines) + "\n")
        env |= {
            "AWS_CONFIG_FILE": str(config),
            "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "no-aws-credentials"),
            "AWS_PAGER": "",
        }
    elif tool.name.startswith("rclone"):
        # Keys in the remote's own variables, so rclone reads no AWS_* chain;
        # AWS_CA_BUNDLE (dropped above) would make it refuse to start.
        empty = scratch / "rclone.conf"
        empty.touch()
        prefix = f"RCLONE_CONFIG_{REMOTE.upper()}_"
        env |= {
            "RCLONE_CONFIG": str(empty),
            prefix + "TYPE": "s3",
            prefix + "PROVIDER": "Other",
            prefix + "ENDPOINT": endpoint_url,
            prefix + "REGION": REGION,
            prefix + "ACCESS_KEY_ID": KEY_ID,
            prefix + "SECRET_ACCESS_KEY": SECRET,
        }
    return env
