"""Writing the results: results.json, results.md and PNG charts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["write_report"]


def _table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| cell | client | obj/s | MB/s | CPU ms/obj | p50 ms | p99 ms | ours / peer |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        label = result["cell"]["label"]
        for name, c in result["clients"].items():
            ratio = result["ratios"].get(name)
            shown = f"**{ratio:.2f}x**" if ratio is not None else "—"
            # A stat moves no payload: no MB/s to show.
            mb_per_s = "—" if c["mb_per_s"] is None else f"{c['mb_per_s']:,.1f}"
            lines.append(
                f"| {label} | {name} | {c['obj_per_s']:,.0f} | {mb_per_s} | "
                f"{c['cpu_ms_per_obj']:.2f} | {c['p50_ms']:.1f} | {c['p99_ms']:.1f} | {shown} |"
            )
    return "\n".join(lines)


def _chart(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = [
        (r["cell"]["label"], peer, ratio) for r in results for peer, ratio in r["ratios"].items()
    ]
    if not bars:
        return
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(bars) + 1.5))
    labels = [f"{cell} vs {peer}" for cell, peer, _ in bars]
    values = [ratio for _, _, ratio in bars]
    colors = ["tab:green" if v >= 1 else "tab:red" for v in values]
    ax.barh(labels, values, color=colors)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xlabel("ours / peer, objects per second (median of interleaved rounds)")
    ax.invert_yaxis()
    for y, value in enumerate(values):
        ax.text(value, y, f" {value:.2f}x", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(out: Path, meta: dict[str, Any], results: list[dict[str, Any]]) -> str:
    """Write every artifact into ``out``; return the markdown."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    header = (
        f"Machine: {meta['machine']}. Date: {meta['date']}. Mode: {meta['mode']}, "
        f"{meta['rounds']} interleaved rounds, medians. Versions: "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
        + "."
    )
    markdown = header + "\n\n" + _table(results) + "\n"
    (out / "results.md").write_text(markdown)
    _chart(results, out / "ratios.png")
    return markdown
