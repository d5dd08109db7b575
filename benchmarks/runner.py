"""The grid, the interleaved rounds, and the figures of each cell."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

from eden_storage_async import mint_opaque_id

from .clients import Client

__all__ = ["Cell", "Measurement", "plan_cells", "run_cell", "summarize"]

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Cell:
    """One point of the grid: which operation, on what, how big, how parallel."""

    op: str  # "store" or "load"
    target: str  # "s3", "gcs" or "file"
    size: int
    concurrency: int
    objects: int

    @property
    def label(self) -> str:
        return f"{self.op} {self.target} {_size(self.size)} x{self.concurrency}"


@dataclass(frozen=True)
class Measurement:
    """One client's run of one cell in one round."""

    client: str
    ours: bool
    round: int
    objects: int
    wall_s: float
    cpu_s: float
    p50_ms: float
    p99_ms: float

    @property
    def obj_per_s(self) -> float:
        return self.objects / self.wall_s

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"obj_per_s": self.obj_per_s}


def _size(n: int) -> str:
    return f"{n // MIB} MiB" if n >= MIB else f"{n // KIB} KiB"


def _objects(size: int, concurrency: int, budget_bytes: int, cap: int) -> int:
    # Enough objects for several waves at this concurrency, within a byte budget
    # so big objects do not fill the disk or take minutes per round.
    wanted = min(cap, 250 * concurrency, max(budget_bytes // size, 1))
    return max(wanted, min(concurrency, budget_bytes // size), 8)


def plan_cells(quick: bool) -> list[Cell]:
    """The quick grid (the headline cells) or the full one."""
    if quick:
        plan = [
            ("store", "s3", 4 * KIB, 64),
            ("store", "s3", 1 * MIB, 16),
            ("store", "gcs", 4 * KIB, 64),
            ("store", "file", 4 * KIB, 64),
            ("load", "s3", 4 * KIB, 64),
            ("load", "gcs", 4 * KIB, 64),
            ("load", "file", 4 * KIB, 64),
        ]
        return [Cell(op, t, s, c, _objects(s, c, 16 * MIB, 600)) for op, t, s, c in plan]
    cells: list[Cell] = []
    for target in ("s3", "gcs", "file"):
        for size in (1 * KIB, 4 * KIB, 64 * KIB, 1 * MIB, 16 * MIB):
            for concurrency in (1, 8, 16, 64, 256):
                if size * concurrency > 256 * MIB:
                    continue  # one wave alone would exceed the byte budget
                if concurrency == 16 and size not in (1 * MIB,):
                    continue  # 16 is only the 1 MiB headline cell
                cells.append(
                    Cell(
                        "store",
                        target,
                        size,
                        concurrency,
                        _objects(size, concurrency, 64 * MIB, 2000),
                    )
                )
        for size, concurrency in ((4 * KIB, 64), (1 * MIB, 16), (16 * MIB, 4)):
            cells.append(
                Cell("load", target, size, concurrency, _objects(size, concurrency, 64 * MIB, 2000))
            )
    return cells


async def run_cell(
    cell: Cell, client: Client, round_no: int, payload: bytes, stored: dict[str, list[str]]
) -> Measurement:
    """Run one client once over one cell; ``stored`` keeps ids for load cells."""
    if cell.op == "store":
        ids = [mint_opaque_id() for _ in range(cell.objects)]
        items = [(i, payload) for i in ids]
        cpu0, wall0 = time.process_time(), time.perf_counter()
        latencies = await client.store(items, cell.concurrency)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    else:
        assert client.load is not None
        key = f"{client.name}/{cell.target}/{cell.size}"
        ids = stored.get(key, [])
        if len(ids) < cell.objects:
            # Seed the objects to read, outside the timed section.
            extra = [mint_opaque_id() for _ in range(cell.objects - len(ids))]
            await client.store([(i, payload) for i in extra], min(cell.concurrency, 64))
            ids = stored[key] = ids + extra
        cpu0, wall0 = time.process_time(), time.perf_counter()
        latencies = await client.load(ids[: cell.objects], cell.concurrency)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    latencies.sort()
    return Measurement(
        client=client.name,
        ours=client.ours,
        round=round_no,
        objects=cell.objects,
        wall_s=wall,
        cpu_s=cpu,
        p50_ms=1000 * latencies[len(latencies) // 2],
        p99_ms=1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    )


def payload_for(size: int) -> bytes:
    """Random bytes, so no layer can compress or deduplicate them."""
    return os.urandom(size)


def summarize(cell: Cell, runs: list[Measurement]) -> dict[str, Any]:
    """Medians per client over the rounds, and ours/peer ratios."""
    by_client: dict[str, list[Measurement]] = {}
    for run in runs:
        by_client.setdefault(run.client, []).append(run)
    clients: dict[str, dict[str, Any]] = {}
    for name, ms in by_client.items():
        clients[name] = {
            "ours": ms[0].ours,
            "obj_per_s": statistics.median(m.obj_per_s for m in ms),
            "mb_per_s": statistics.median(m.obj_per_s * cell.size / MIB for m in ms),
            "cpu_ms_per_obj": statistics.median(1000 * m.cpu_s / m.objects for m in ms),
            "p50_ms": statistics.median(m.p50_ms for m in ms),
            "p99_ms": statistics.median(m.p99_ms for m in ms),
            "rounds": [m.as_dict() for m in ms],
        }
    ours = [n for n, c in clients.items() if c["ours"]]
    ratios: dict[str, float] = {}
    if ours:
        mine = clients[ours[0]]["obj_per_s"]
        for name, figures in clients.items():
            if not figures["ours"]:
                ratios[name] = mine / figures["obj_per_s"]
    return {"cell": asdict(cell) | {"label": cell.label}, "clients": clients, "ratios": ratios}
