"""The benchmark's bookkeeping: the grid, the medians and ratios, the report.

Timing itself is never asserted here; only that the figures are computed and
written the way docs/benchmarks.md says.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.report import write_report
from benchmarks.runner import KIB, MIB, Cell, Measurement, plan_cells, summarize


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
