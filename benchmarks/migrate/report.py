"""Medians per tool over the rounds, ours/peer ratios, and the results files."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .data import MIB, Dataset

__all__ = ["Run", "summarize", "write_report"]


@dataclass(frozen=True)
class Run:
    """One tool's migration of one dataset in one round."""

    tool: str
    ours: bool
    round: int
    objects: int
    bytes: int
    wall_s: float
    # user + system CPU of the tool's process tree (``RUSAGE_CHILDREN``); the
    # server is not counted, it runs until the end.
    cpu_s: float
    # The 1-minute load average before and after: the machine is shared, and
    # a run that other work slowed down should be visible as such.
    load_before: float
    load_after: float

    @property
    def obj_per_s(self) -> float:
        return self.objects / self.wall_s

    @property
    def mb_per_s(self) -> float:
        return self.bytes / MIB / self.wall_s


def summarize(dataset: Dataset, runs: list[Run]) -> dict[str, Any]:
    """Per tool: median objects/s, MB/s (MiB/s, as in docs/benchmarks.md), CPU
    seconds and wall seconds over the rounds; and ours / peer for each peer."""
    by_tool: dict[str, list[Run]] = {}
    for run in runs:
        by_tool.setdefault(run.tool, []).append(run)
    tools: dict[str, dict[str, Any]] = {
        name: {
            "ours": rs[0].ours,
            "obj_per_s": statistics.median(r.obj_per_s for r in rs),
            "mb_per_s": statistics.median(r.mb_per_s for r in rs),
            "wall_s": statistics.median(r.wall_s for r in rs),
            "cpu_s": statistics.median(r.cpu_s for r in rs),
            "obj_per_s_range": [min(r.obj_per_s for r in rs), max(r.obj_per_s for r in rs)],
            "rounds": [asdict(r) | {"obj_per_s": r.obj_per_s, "mb_per_s": r.mb_per_s} for r in rs],
        }
        for name, rs in by_tool.items()
    }
    ours = [name for name, t in tools.items() if t["ours"]]
    ratios, paired = {}, {}
    if ours:
        # The same objects and bytes for every tool: the MB/s ratio is the same.
        mine = {r.round: r.obj_per_s for r in by_tool[ours[0]]}
        for name, t in tools.items():
            if t["ours"]:
                continue
            ratios[name] = tools[ours[0]]["obj_per_s"] / t["obj_per_s"]
            # Also the median of each round's own ratio: a burst of other work
            # on the shared machine slows the tools of one round together, so
            # the ratio within a round moves less than either figure.
            paired[name] = statistics.median(
                mine[r.round] / r.obj_per_s for r in by_tool[name] if r.round in mine
            )
    return {
        "dataset": asdict(dataset) | {"label": dataset.label},
        "tools": tools,
        "ratios": ratios,
        "paired_ratios": paired,
    }


def _table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| data | tool | obj/s | MB/s | wall s | CPU s | obj/s min-max | ours / tool "
        "| per-round ours / tool |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        label = result["dataset"]["label"]
        for name, t in result["tools"].items():
            ratio = result["ratios"].get(name)
            shown = f"**{ratio:.2f}x**" if ratio is not None else "—"
            per_round = result.get("paired_ratios", {}).get(name)
            paired = f"{per_round:.2f}x" if per_round is not None else "—"
            low, high = t["obj_per_s_range"]
            lines.append(
                f"| {label} | {name} | {t['obj_per_s']:,.1f} | {t['mb_per_s']:,.1f} | "
                f"{t['wall_s']:.2f} | {t['cpu_s']:.2f} | {low:,.1f}-{high:,.1f} | {shown} "
                f"| {paired} |"
            )
    return "\n".join(lines)


def write_report(out: Path, meta: dict[str, Any], results: list[dict[str, Any]]) -> str:
    """Write ``results.json`` and ``results.md`` into ``out``; return the markdown."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    rounds = ", ".join(f"{name} {n}" for name, n in meta["rounds"].items())
    header = (
        f"Machine: {meta['machine']}. Date: {meta['date']} {meta['started']}-{meta['ended']} UTC. "
        f"Interleaved rounds ({rounds}), order rotated per round, medians; each run into a "
        f"fresh prefix. Concurrency {meta['concurrency']}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
        + f".\n\nCommand: `{meta['command']}`"
    )
    markdown = header + "\n\n" + _table(results) + "\n"
    (out / "results.md").write_text(markdown)
    return markdown
