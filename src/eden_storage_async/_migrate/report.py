"""``MigrationReport``: what one ``migrate`` run did, artifact by artifact class.

The counts are the whole story for a healthy run; the ids are kept only for the
artifacts that need an operator (conflicts and failures), so a run over
millions of artifacts holds a few integers, not a list of everything it saw.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["MigrationReport", "Tally"]


@dataclass(frozen=True, kw_only=True)
class MigrationReport:
    """What ``migrate`` did; ``ok`` is true when every artifact is now at the target.

    ``copied``: artifacts this run stored at the target (in a dry run, 0;
    ``would_copy`` counts them instead). ``already_present``: the target held
    the id with the same size and CRC32C, so nothing was written.
    ``conflicts``: ids the target holds with other bytes, mapped to what
    differs; never overwritten. ``failed``: ids whose copy failed, mapped to
    the error's type and message (never a credential; nothing was left at the
    target). ``bytes_copied``: bytes stored by this run (in a dry run, the bytes
    it would store). ``interrupted``: a stop request ended the run before the
    listing did, so a second run has more to do.
    """

    copied: int = 0
    already_present: int = 0
    would_copy: int = 0
    conflicts: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    failed: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    bytes_copied: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    interrupted: bool = False
    source: str = ""
    target: str = ""

    @property
    def listed(self) -> int:
        """How many artifacts of the source this run looked at."""
        handled = self.copied + self.already_present + self.would_copy
        return handled + len(self.conflicts) + len(self.failed)

    @property
    def ok(self) -> bool:
        """No conflict, no failure and not interrupted: the target holds everything."""
        return not (self.conflicts or self.failed or self.interrupted)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON types; ids sorted, so two reports diff cleanly."""
        return {
            "copied": self.copied,
            "already_present": self.already_present,
            "would_copy": self.would_copy,
            "conflicts": sorted(self.conflicts),
            "conflict_details": dict(sorted(self.conflicts.items())),
            "failed": dict(sorted(self.failed.items())),
            "bytes": self.bytes_copied,
            "seconds": round(self.seconds, 3),
            "listed": self.listed,
            "dry_run": self.dry_run,
            "interrupted": self.interrupted,
            "ok": self.ok,
            "source": self.source,
            "target": self.target,
        }

    def to_json(self) -> str:
        """``to_dict`` as indented JSON text, newline-terminated."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def summary(self) -> str:
        """One line for a terminal or a log."""
        size = _size(self.bytes_copied)
        if self.dry_run:
            head = f"dry run: would copy {self.would_copy} ({size})"
        else:
            head = f"copied {self.copied} ({size})"
        line = (
            f"{head}, already present {self.already_present}, "
            f"conflicts {len(self.conflicts)}, failed {len(self.failed)}, "
            f"in {self.seconds:.1f} s"
        )
        if self.interrupted:
            line += "; INTERRUPTED: run it again to carry on"
        return line


@dataclass
class Tally:
    """The mutable counts while a run is under way; ``freeze`` makes the report."""

    copied: int = 0
    already_present: int = 0
    would_copy: int = 0
    bytes_copied: int = 0
    conflicts: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def freeze(
        self, *, seconds: float, dry_run: bool, interrupted: bool, source: str, target: str
    ) -> MigrationReport:
        return MigrationReport(
            copied=self.copied,
            already_present=self.already_present,
            would_copy=self.would_copy,
            conflicts=MappingProxyType(dict(self.conflicts)),
            failed=MappingProxyType(dict(self.failed)),
            bytes_copied=self.bytes_copied,
            seconds=seconds,
            dry_run=dry_run,
            interrupted=interrupted,
            source=source,
            target=target,
        )


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    value, units = count / 1024, ["KiB", "MiB", "GiB", "TiB"]
    while value >= 1024 and len(units) > 1:
        value /= 1024
        units.pop(0)
    return f"{value:.1f} {units[0]}"
