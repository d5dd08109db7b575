"""The benchmark's bookkeeping: the grid, the medians and ratios, the report.

Timing itself is never asserted here; only that the figures are computed and
written the way docs/benchmarks.md says.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pytest
from benchmarks.__main__ import _choices
from benchmarks.clients import Client, _ours, client_count, make_clients
from benchmarks.report import write_report
from benchmarks.runner import (
    KIB,
    MIB,
    RANGE_OBJECT,
    RANGE_SPAN,
    Cell,
    Measurement,
    check_reads,
    plan_cells,
    read_plan,
    run_read_cell,
    seed_reads,
    summarize,
    wrong_answers,
)

from eden_storage_async import InMemoryArtifactBackend


def _run(client: str, ours: bool, round_no: int, wall_s: float) -> Measurement:
    return Measurement(client, ours, round_no, objects=100, wall_s=wall_s, cpu_s=0.05,
                       p50_ms=1.0, p99_ms=2.0)  # fmt: skip


def test_quick_grid_holds_the_headline_cells() -> None:
    labels = {c.label for c in plan_cells(quick=True)}
    assert {"store s3 4 KiB x64", "store s3 1 MiB x16", "store gcs 4 KiB x64",
            "store file 4 KiB x64"} <= labels  # fmt: skip
    assert any(label.startswith("load") for label in labels)


def test_full_grid_covers_the_sizes_and_concurrencies_within_the_byte_budget() -> None:
    cells = [c for c in plan_cells(quick=False) if c.op == "store"]
    assert {c.size for c in cells} == {1 * KIB, 4 * KIB, 64 * KIB, 1 * MIB, 16 * MIB}
    assert {c.concurrency for c in cells} == {1, 8, 16, 64, 256}
    assert all(c.size * c.concurrency <= 256 * MIB for c in cells)
    assert all(c.objects >= min(c.concurrency, 8) for c in cells)


def test_summary_uses_medians_and_ours_over_peer_ratios() -> None:
    cell = Cell("store", "s3", 4 * KIB, 64, 100)
    runs = [_run("ours", True, r, w) for r, w in enumerate([1.0, 0.5, 2.0])]
    runs += [_run("peer", False, r, w) for r, w in enumerate([1.0, 1.0, 4.0])]
    summary = summarize(cell, runs)
    assert summary["clients"]["ours"]["obj_per_s"] == 100.0  # median of 100, 200, 50
    assert summary["clients"]["peer"]["obj_per_s"] == 100.0
    assert summary["clients"]["ours"]["cpu_ms_per_obj"] == 0.5
    assert summary["ratios"] == {"peer": 1.0}


def test_report_writes_json_markdown_and_chart(tmp_path: Path) -> None:
    cell = Cell("store", "file", 4 * KIB, 64, 100)
    runs = [_run("ours", True, 0, 0.5), _run("peer", False, 0, 1.0)]
    meta = {"machine": "test", "date": "2026-11-27", "mode": "quick", "rounds": 1,
            "versions": {"python": "3"}}  # fmt: skip
    markdown = write_report(tmp_path, meta, [summarize(cell, runs)])
    assert "| store file 4 KiB x64 | peer | 100 |" in markdown
    assert "**2.00x**" in markdown
    assert json.loads((tmp_path / "results.json").read_text())["results"][0]["ratios"] == {
        "peer": 2.0
    }
    assert (tmp_path / "ratios.png").read_bytes().startswith(b"\x89PNG")


def test_quick_and_full_grids_hold_stat_and_range_on_every_target() -> None:
    for quick in (True, False):
        cells = plan_cells(quick)
        for op in ("stat", "range"):
            assert {c.target for c in cells if c.op == op} == {"s3", "gcs", "file"}
    quick_labels = {c.label for c in plan_cells(quick=True)}
    assert {"stat s3 x64", "range s3 1 MiB of 64 MiB x16"} <= quick_labels


def test_range_cell_reads_one_mib_out_of_the_middle_of_64_mib() -> None:
    cell = next(c for c in plan_cells(quick=True) if c.op == "range")
    assert (cell.size, cell.op_bytes) == (RANGE_OBJECT, RANGE_SPAN) == (64 * MIB, 1 * MIB)
    start, end = cell.bounds
    assert end - start == 1 * MIB
    assert start - 0 == cell.size - end == 32 * MIB - 512 * KIB  # centred
    assert cell.distinct == 4
    assert Cell("stat", "s3", 4 * KIB, 64, 5000).distinct == 1000
    assert Cell("store", "s3", 4 * KIB, 64, 100).op_bytes == 4 * KIB


def test_read_plan_goes_round_the_stored_objects() -> None:
    cell = Cell("range", "s3", 64 * MIB, 16, 10)
    assert read_plan(cell, ["a", "b", "c", "d"]) == ["a", "b", "c", "d"] * 2 + ["a", "b"]


def test_wrong_answers_catch_a_wrong_size_and_wrong_or_short_bytes() -> None:
    stat = Cell("stat", "s3", 4 * KIB, 64, 2)
    assert wrong_answers(stat, {"a": b"", "b": b""}, [("a", 4 * KIB), ("b", 4 * KIB)]) == []
    assert len(wrong_answers(stat, {"a": b""}, [("a", 4 * KIB - 1)])) == 1
    ranged = Cell("range", "s3", 8, 1, 1)
    assert wrong_answers(ranged, {"a": b"cd"}, [("a", b"cd")]) == []
    assert len(wrong_answers(ranged, {"a": b"cd"}, [("a", b"c")])) == 1
    assert len(wrong_answers(ranged, {"a": b"cd"}, [("a", b"de")])) == 1
    assert len(wrong_answers(ranged, {"a": b"cd"}, [("a", 2)])) == 1  # a size is not bytes


def test_range_mb_per_s_counts_the_range_and_a_stat_shows_none(tmp_path: Path) -> None:
    ranged = Cell("range", "s3", 64 * MIB, 16, 100)
    stat = Cell("stat", "s3", 4 * KIB, 64, 100)
    runs = [_run("ours", True, 0, 1.0), _run("peer", False, 0, 2.0)]
    ranged_summary, stat_summary = summarize(ranged, runs), summarize(stat, runs)
    assert ranged_summary["clients"]["ours"]["mb_per_s"] == 100.0  # 100 x 1 MiB in 1 s
    assert stat_summary["clients"]["ours"]["mb_per_s"] is None
    assert stat_summary["ratios"] == {"peer": 2.0}
    meta = {"machine": "test", "date": "2026-12-01", "mode": "quick", "rounds": 1,
            "versions": {"python": "3"}}  # fmt: skip
    markdown = write_report(tmp_path, meta, [ranged_summary, stat_summary])
    assert "| range s3 1 MiB of 64 MiB x16 | ours | 100 | 100.0 |" in markdown
    assert "| stat s3 x64 | ours | 100 | — |" in markdown


def test_ops_and_targets_flags_take_a_checked_subset() -> None:
    parse = _choices(("store", "load", "stat", "range"))
    assert parse("stat,range") == ["stat", "range"]
    for bad in ("stat,rnage", ",", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(bad)


def _memory_client() -> Client:
    return _ours("ours: memory", "memory", InMemoryArtifactBackend())


async def test_read_cells_store_once_check_every_answer_and_run_every_operation() -> None:
    ours = _memory_client()
    for cell in (Cell("stat", "memory", 4 * KIB, 8, 20), Cell("range", "memory", 4 * MIB, 4, 10)):
        expected = await seed_reads(cell, ours)
        assert len(expected) == cell.distinct
        await check_reads(cell, ours, expected)
        run = await run_read_cell(cell, ours, 0, expected)
        assert (run.objects, run.ours) == (cell.objects, True)


async def test_a_client_that_answers_wrong_is_refused_before_the_rounds() -> None:
    ours = _memory_client()
    assert ours.reads is not None
    reads = ours.reads
    cell = Cell("range", "memory", 4 * MIB, 2, 4)
    expected = await seed_reads(cell, ours)

    async def off_by_one(opaque_id: str, start: int, end: int) -> bytes:
        return await reads.get_range(opaque_id, start + 1, end + 1)

    async def stat_size(opaque_id: str) -> int:
        return 1

    broken = dataclasses.replace(
        ours, name="broken", reads=dataclasses.replace(
            reads, get_range=off_by_one, stat_size=stat_size)
    )  # fmt: skip
    with pytest.raises(RuntimeError, match="broken answered range"):
        await check_reads(cell, broken, expected)
    stat_cell = Cell("stat", "memory", 4 * KIB, 2, 4)
    with pytest.raises(RuntimeError, match="broken answered stat"):
        await check_reads(stat_cell, broken, await seed_reads(stat_cell, ours))


async def test_read_clients_read_the_objects_ours_stored(tmp_path: Path) -> None:
    # The file target needs no server: ours and obstore LocalStore share one
    # root, and obstore finds ours' objects at <root>/<opaque_id>.
    clients = make_clients(
        "file", endpoint_url="", bucket_for=str, file_root=tmp_path, tag="t",
        max_concurrency=4, reads=True,
    )  # fmt: skip
    try:
        assert len(clients) == client_count("file", reads=True)
        for cell in (Cell("stat", "file", 4 * KIB, 4, 8), Cell("range", "file", 4 * MIB, 4, 8)):
            expected = await seed_reads(cell, clients[0])
            for client in clients:
                await check_reads(cell, client, expected)
    finally:
        for client in clients:
            await client.close()


@pytest.mark.parametrize("reads", [False, True])
@pytest.mark.parametrize("target", ["s3", "gcs", "file"])
async def test_client_count_is_what_make_clients_builds(
    tmp_path: Path, target: str, reads: bool
) -> None:
    # Building a client opens no connection, so no server is needed.
    clients = make_clients(
        target, endpoint_url="http://127.0.0.1:9", bucket_for=lambda c: f"bench-{c}",
        file_root=tmp_path, tag="t", max_concurrency=4, reads=reads,
    )  # fmt: skip
    try:
        assert len(clients) == client_count(target, reads=reads)
        assert [c.ours for c in clients].count(True) == 1
        assert all(c.reads is not None for c in clients)
    finally:
        for client in clients:
            await client.close()
