"""``MigrationReport``: its JSON (the fields ``--report`` promises) and its summary line."""

from __future__ import annotations

import json
from types import MappingProxyType

from eden_storage_async import InMemoryArtifactBackend, MigrationReport, migrate

from .helpers import fill

_A, _B = "a" * 32, "b" * 32


def test_the_json_holds_every_promised_field() -> None:
    report = MigrationReport(
        copied=3,
        already_present=2,
        conflicts=MappingProxyType({_B: "the target holds 1 B", _A: "the target holds 2 B"}),
        failed=MappingProxyType({_A: "ServiceUnavailable: outage"}),
        bytes_copied=3072,
        seconds=1.23456,
    )
    fields = json.loads(report.to_json())
    assert fields["copied"] == 3
    assert fields["already_present"] == 2
    assert fields["conflicts"] == [_A, _B]  # sorted, so reports diff cleanly
    assert fields["conflict_details"][_B] == "the target holds 1 B"
    assert fields["failed"] == {_A: "ServiceUnavailable: outage"}
    assert fields["bytes"] == 3072
    assert fields["seconds"] == 1.235
    assert fields["listed"] == 3 + 2 + 2 + 1
    assert (fields["ok"], fields["dry_run"], fields["interrupted"]) == (False, False, False)


def test_the_summary_is_one_line_with_every_count() -> None:
    line = MigrationReport(
        copied=2, already_present=5, bytes_copied=3 << 20, seconds=2.04
    ).summary()
    assert line == ("copied 2 (3.0 MiB), already present 5, conflicts 0, failed 0, in 2.0 s")
    stopped = MigrationReport(would_copy=4, bytes_copied=10, dry_run=True, interrupted=True)
    assert stopped.summary().startswith("dry run: would copy 4 (10 B), already present 0")
    assert stopped.summary().endswith("INTERRUPTED: run it again to carry on")
    assert "\n" not in stopped.summary()


async def test_a_run_names_both_backends_and_is_ok() -> None:
    async with InMemoryArtifactBackend() as source, InMemoryArtifactBackend() as target:
        await fill(source, 2)
        report = await migrate(source, target)
    fields = json.loads(report.to_json())
    assert fields["ok"] is True
    assert fields["source"].startswith("InMemoryArtifactBackend(")
    assert fields["target"].startswith("InMemoryArtifactBackend(")
    assert fields["seconds"] >= 0
