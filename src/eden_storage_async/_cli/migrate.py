"""``eden-blob migrate``: copy every artifact from one backend to another, create-only.

A thin layer over ``migrate()``: the ``--from-*``/``--to-*`` storage flags,
the signals, the summary line and the exit code.

Exit codes:

* 0: every artifact was copied or was already present (a dry run: nothing
  conflicts).
* 1: any conflict or failure (the summary and ``--report`` name them), or a
  storage failure outside one artifact (the listing, the create-only check
  could not run).
* 2: a usage or configuration error, before any I/O, or a target that does
  not enforce create-only (``check_create_only``).
* 130 (SIGINT) or 143 (SIGTERM): stopped by a signal before the listing ended,
  with no conflict or failure so far (those give 1). A second run carries on.

The first SIGINT or SIGTERM stops taking new artifacts and lets the copies in
flight finish; a second one abandons them, which leaves nothing at the target
(the store contract), and exits at once.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from .._config.flags import (
    add_side_blob_arguments,
    check_distinct,
    check_side_settings,
    side_backend_from_args,
    side_settings_from_args,
    with_env_hint,
)
from .._core.errors import ConfigError, PreconditionNotSupported
from .._migrate import MigrationReport, migrate
from .local_files import write_atomically
from .loop import run
from .numbers import positive_int
from .serve import CheckFailed

__all__ = ["add_migrate_command"]

_PREFIX = "eden-blob migrate"
# Conflicts and failures each get a line on stderr, up to this many; the rest
# are in --report, so a run with a million of them does not flood a terminal.
_SHOWN = 20


def add_migrate_command(commands: Any) -> argparse.ArgumentParser:
    """Register ``migrate`` on the ``eden-blob`` subcommands; return its parser."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "migrate",
        help="copy every artifact to another backend, create-only and verified",
        description=_migrate.__doc__,
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=32,
        metavar="N",
        help="artifacts copied at once (default: 32)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="list and compare, write nothing (not even the create-only check's canary)",
    )
    parser.add_argument(
        "--report", metavar="FILE", help="write the report here as JSON (atomically)"
    )
    add_side_blob_arguments(parser, "from", "source")
    add_side_blob_arguments(parser, "to", "target")
    parser.set_defaults(handler=_migrate)
    return parser


def _migrate(args: argparse.Namespace) -> int:
    """Copy every artifact of the --from-* backend that the --to-* backend lacks.

    Never overwrites: an id the target holds with the same size and CRC32C is
    already present; with anything else it is a conflict, reported and left
    alone. Every copy streams with its attributes and is checked by CRC32C end
    to end. Progress shows on stderr (a terminal only), then one summary line.
    Safe to stop (SIGINT, SIGTERM) and run again: what is there is skipped by
    stat. Exit 0 all copied or present, 1 a conflict or failure, 2 a
    configuration error, 130/143 stopped by SIGINT/SIGTERM.
    """
    _check_flags(args)
    stop = _Stop()
    report = run(stop.run(_migration(args, stop.event)))
    if report is None:
        print(
            f"{_PREFIX}: abandoned by a second {stop.name}: the copies in flight left "
            "nothing at the target; run it again to carry on",
            file=sys.stderr,
        )
        return 128 + (stop.signal or signal.SIGINT)
    _print_problems(report)
    print(f"{_PREFIX}: {report.summary()}", file=sys.stderr, flush=True)
    if args.report is not None:
        write_atomically(Path(args.report), report.to_json().encode())
    if report.conflicts or report.failed:
        return 1
    if report.interrupted:
        return 128 + (stop.signal or signal.SIGINT)
    return 0


def _check_flags(args: argparse.Namespace) -> None:
    # Every configuration error before either backend is built, so a bad
    # target flag never leaves a half-opened source behind.
    # Both sides' problems in one line, as check_settings names all of one side's.
    sides, problems = {}, []
    for side in ("from", "to"):
        settings, from_env = side_settings_from_args(args, side)
        try:
            check_side_settings(settings, side)
        except ConfigError as exc:
            problems.append(str(with_env_hint(exc, from_env)))
        sides[side] = settings
    if problems:
        raise ConfigError("; ".join(problems))
    check_distinct(sides["from"], sides["to"])
    source_dir = sides["from"]["artifact_blob_dir"]
    if source_dir and not Path(source_dir).is_dir():
        # FileArtifactBackend creates a missing root, and a mistyped source
        # would then "migrate" nothing and exit 0, as if all were done.
        raise ConfigError(f"--from-artifact-blob-dir {source_dir!r} is not a directory")


async def _migration(args: argparse.Namespace, stop: asyncio.Event) -> MigrationReport:
    async with (
        side_backend_from_args(args, "from") as source,
        side_backend_from_args(args, "to") as target,
    ):
        try:
            return await migrate(
                source,
                target,
                concurrency=args.concurrency,
                dry_run=args.dry_run,
                progress=sys.stderr.isatty(),
                stop=stop,
            )
        except PreconditionNotSupported as exc:
            raise CheckFailed(f"{_PREFIX}: refusing to copy anything: {exc}", 2) from None
        except NotImplementedError:
            # A third-party backend without iter_ids: a configuration error,
            # one line, not a traceback.
            raise ConfigError(f"{source!r} cannot list its artifacts (no iter_ids)") from None


class _Stop:
    """SIGINT and SIGTERM while the migration runs: the first sets ``event``
    (no new artifact starts), the second cancels the run."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.signal: int | None = None
        self._task: asyncio.Task[MigrationReport] | None = None
        self._abandoned = False

    @property
    def name(self) -> str:
        return signal.Signals(self.signal or signal.SIGINT).name

    async def run(self, work: Coroutine[Any, Any, MigrationReport]) -> MigrationReport | None:
        """``work``'s report, or None when a second signal abandoned it."""
        loop = asyncio.get_running_loop()
        self._task = asyncio.ensure_future(work)
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            return await self._task
        except asyncio.CancelledError:
            # Our own cancel of the inner task, not one of this coroutine.
            if self._abandoned and self._task.cancelled():
                return None
            raise
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    def _on_signal(self, signum: int) -> None:
        if self.signal is None:
            self.signal = signum
            self.event.set()
            print(
                f"{_PREFIX}: {signal.Signals(signum).name}: no new artifacts; finishing "
                "the copies in flight (a second signal abandons them)",
                file=sys.stderr,
                flush=True,
            )
        elif self._task is not None and not self._abandoned:
            self._abandoned = True
            self._task.cancel()


def _print_problems(report: MigrationReport) -> None:
    lines = [f"conflict {key}: {why}" for key, why in sorted(report.conflicts.items())]
    lines += [f"failed {key}: {why}" for key, why in sorted(report.failed.items())]
    for line in lines[:_SHOWN]:
        print(f"{_PREFIX}: {line}".replace("\r", " ").replace("\n", " "), file=sys.stderr)
    if len(lines) > _SHOWN:
        print(f"{_PREFIX}: ... and {len(lines) - _SHOWN} more (see --report)", file=sys.stderr)
