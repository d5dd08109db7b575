"""The grid, the interleaved rounds, and the figures of each cell."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

from eden_storage_async import mint_opaque_id

from .clients import Client, Reads

__all__ = [
    "OPS",
    "READ_OPS",
    "Cell",
    "Measurement",
    "check_reads",
    "plan_cells",
    "read_plan",
    "run_cell",
    "run_read_cell",
    "seed_reads",
    "summarize",
    "wrong_answers",
]

KIB = 1024
MIB = 1024 * KIB

OPS = ("store", "load", "stat", "range")
# The cells that read objects stored once, by ours, before their rounds.
READ_OPS = ("stat", "range")

# A range cell reads RANGE_SPAN bytes out of the middle of RANGE_OBJECT-byte
# objects: big enough that reading the whole object instead would cost 64x the
# bytes (so a client that fetched it all and sliced could not hide), and far
# from either end, so the server must seek to it rather than stream from the
# start; 1 MiB is a typical read of a columnar file's row group or an archive
# member. RANGE_OBJECTS objects are stored, each with its own random
# bytes, so the reads do not all hit one object (and no layer could serve one
# from another by content), while the set-up stays a few seconds per target.
RANGE_OBJECT = 64 * MIB
RANGE_SPAN = 1 * MIB
RANGE_OBJECTS = 4
# A stat's cost does not depend on the object's size. Up to STAT_OBJECTS
# objects, so most stats of a round are of an object not asked for just
# before; a round with more stats goes round them.
STAT_SIZE = 4 * KIB
STAT_OBJECTS = 1000


@dataclass(frozen=True)
class Cell:
    """One point of the grid: which operation, on what, how big, how parallel."""

    op: str  # one of OPS
    target: str  # "s3", "gcs" or "file"
    size: int  # each object's size
    concurrency: int
    objects: int  # operations per client per round

    @property
    def label(self) -> str:
        if self.op == "range":
            return (
                f"range {self.target} {_size(RANGE_SPAN)} of {_size(self.size)} x{self.concurrency}"
            )
        if self.op == "stat":
            return f"stat {self.target} x{self.concurrency}"
        return f"{self.op} {self.target} {_size(self.size)} x{self.concurrency}"

    @property
    def op_bytes(self) -> int:
        """The payload bytes one operation moves: none for a stat, the range for a range."""
        return {"stat": 0, "range": min(RANGE_SPAN, self.size)}.get(self.op, self.size)

    @property
    def bounds(self) -> tuple[int, int]:
        """A range cell's ``[start, end)``: RANGE_SPAN bytes centred in the object."""
        span = min(RANGE_SPAN, self.size)
        start = (self.size - span) // 2
        return start, start + span

    @property
    def distinct(self) -> int:
        """How many objects a read cell stores before its rounds; a round's
        operations go round them (``read_plan``)."""
        return min(RANGE_OBJECTS if self.op == "range" else STAT_OBJECTS, self.objects)


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


def _read_cells(target: str, quick: bool) -> list[Cell]:
    # Stats at the 4 KiB load cell's concurrency (a listing's worth of HEADs),
    # ranges at the 1 MiB one; the full grid adds one stream of each, where a
    # request's own latency is the figure. Local files answer from the page
    # cache 5-10x faster than the servers on loopback (measured: 16,000 to
    # 40,000 stats/s against 2,000 to 4,500), so they get 5x the operations: a
    # round of 40 ms would be mostly scheduling noise.
    scale = 5 if target == "file" else 1
    if quick:
        return [
            Cell("stat", target, STAT_SIZE, 64, 1000 * scale),
            Cell("range", target, RANGE_OBJECT, 16, 256 * scale),
        ]
    return [
        Cell("stat", target, STAT_SIZE, 1, 300 * scale),
        Cell("stat", target, STAT_SIZE, 64, 2000 * scale),
        Cell("range", target, RANGE_OBJECT, 1, 64 * scale),
        Cell("range", target, RANGE_OBJECT, 16, 512 * scale),
    ]


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
        cells = [Cell(op, t, s, c, _objects(s, c, 16 * MIB, 600)) for op, t, s, c in plan]
        return cells + [c for t in ("s3", "gcs", "file") for c in _read_cells(t, quick)]
    cells = []
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
        cells += _read_cells(target, quick)
    return cells


async def run_cell(
    cell: Cell, client: Client, round_no: int, payload: bytes, stored: dict[str, list[str]]
) -> Measurement:
    """Run one client once over one cell; ``stored`` keeps ids for load cells."""
    assert client.store is not None, f"{client.name} cannot store"
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
    return _measurement(cell, client, round_no, wall, cpu, latencies)


def _measurement(
    cell: Cell, client: Client, round_no: int, wall: float, cpu: float, latencies: list[float]
) -> Measurement:
    if len(latencies) != cell.objects:
        raise RuntimeError(f"{client.name}: {len(latencies)} operations ran, not {cell.objects}")
    latencies = sorted(latencies)
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


async def seed_reads(cell: Cell, ours: Client) -> dict[str, bytes]:
    """Store a read cell's objects once, with ours, outside any timing; return
    what each must answer: its id and the bytes of ``cell.bounds`` (empty for a
    stat cell, where only the size is checked)."""
    assert ours.ours
    assert ours.store is not None
    start, end = cell.bounds
    expected: dict[str, bytes] = {}
    items = []
    for _ in range(cell.distinct):
        opaque_id, data = mint_opaque_id(), payload_for(cell.size)
        items.append((opaque_id, data))
        expected[opaque_id] = data[start:end] if cell.op == "range" else b""
    await ours.store(items, min(len(items), 64))
    return expected


def read_plan(cell: Cell, ids: list[str]) -> list[str]:
    """The ids one round reads, in order: ``cell.objects`` of them, going round ``ids``."""
    return [ids[n % len(ids)] for n in range(cell.objects)]


def wrong_answers(
    cell: Cell, expected: dict[str, bytes], answers: list[tuple[str, int | bytes]]
) -> list[str]:
    """What is wrong with a client's answers (``(id, size)`` for a stat cell,
    ``(id, bytes)`` for a range cell); empty when every one is right."""
    wrong = []
    for opaque_id, answer in answers:
        if cell.op == "stat":
            if answer != cell.size:
                wrong.append(f"{opaque_id}: size {answer!r}, not {cell.size}")
        elif not isinstance(answer, bytes) or answer != expected[opaque_id]:
            got = len(answer) if isinstance(answer, bytes) else answer
            wrong.append(
                f"{opaque_id}: {got!r} bytes that are not bytes {cell.bounds[0]}:"
                f"{cell.bounds[1]} of the object"
            )
    return wrong


def _reads(client: Client) -> Reads:
    if client.reads is None:
        raise RuntimeError(f"{client.name} has no reads")
    return client.reads


async def check_reads(cell: Cell, client: Client, expected: dict[str, bytes]) -> None:
    """Check ``client``'s answers once, untimed, before the rounds, so a client
    that answers wrong cannot post a fast figure. The first ``concurrency``
    reads of a round go at once: every client opens as many connections as the
    rounds use before round 0, as ours did storing the objects."""
    reads = _reads(client)
    sample = read_plan(cell, list(expected))[: cell.concurrency]
    answers: list[int | bytes]
    if cell.op == "stat":
        answers = list(await asyncio.gather(*(reads.stat_size(i) for i in sample)))
    else:
        start, end = cell.bounds
        answers = list(await asyncio.gather(*(reads.get_range(i, start, end) for i in sample)))
    wrong = wrong_answers(cell, expected, list(zip(sample, answers, strict=True)))
    if wrong:
        raise RuntimeError(f"{client.name} answered {cell.label} wrong: {'; '.join(wrong[:3])}")


async def run_read_cell(
    cell: Cell, client: Client, round_no: int, expected: dict[str, bytes]
) -> Measurement:
    """Run one client once over a stat or range cell, on the objects ``seed_reads`` stored."""
    reads = _reads(client)
    plan = read_plan(cell, list(expected))
    start, end = cell.bounds
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if cell.op == "stat":
        latencies = await reads.stat_batch(plan, cell.concurrency)
    else:
        latencies = await reads.range_batch(plan, start, end, cell.concurrency)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return _measurement(cell, client, round_no, wall, cpu, latencies)


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
            # None for a stat cell, which moves no payload.
            "mb_per_s": statistics.median(m.obj_per_s * cell.op_bytes / MIB for m in ms)
            if cell.op_bytes
            else None,
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
