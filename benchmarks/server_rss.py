"""Memory growth of ``eden-blob serve`` under concurrent large deposits and fetches.

    python -m benchmarks.server_rss [--mib 64] [--concurrency 16] [--targets file,s3]
    python -m benchmarks.server_rss --targets s3 --s3-request-path sdk
    PYTHONPATH=/tmp/old/src python -m benchmarks.server_rss --server-path /tmp/old/src

The server runs as a child process (``python -m eden_storage_async._cli.main
serve``, the code ``eden-blob`` runs), over a file backend in a temp dir or S3
on a SeaweedFS started on 127.0.0.1. After a small warm-up deposit and fetch
(which build the backend's clients and pools) the server's ``VmRSS`` is the
baseline. Then ``--concurrency`` deposits of ``--mib`` MiB each stream in at
once, each a multipart body with one ``file`` part generated 1 MiB at a time
(never held whole on this side), and then as many fetches read them back at
once. The kernel's high-water mark ``VmHWM`` is reset between the phases
(``/proc/PID/clear_refs``) so each phase reports its own peak; ``VmRSS`` is
also sampled every 20 ms as a cross-check. ``--server-path`` runs the server
from another source tree, to measure a version before a change.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_CHUNK = 1024 * 1024
# One fixed chunk repeated: cheap to make, and the size is all we check.
_PATTERN = bytes(range(256)) * (_CHUNK // 256)
_EXPERIMENT = "rss-bench"
_BOUNDARY = "eden-rss-boundary-7f3a"
_SAMPLE_S = 0.02


@dataclass
class Phase:
    """One phase's figures, in MiB and seconds."""

    name: str
    baseline_mib: float
    hwm_mib: float
    sampled_max_mib: float
    seconds: float
    moved_mib: float

    @property
    def growth_mib(self) -> float:
        return max(self.hwm_mib, self.sampled_max_mib) - self.baseline_mib


def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def _reset_hwm(pid: int) -> bool:
    # "5" resets the peak RSS (Linux >= 4.0); without the right, the sampled
    # VmRSS maximum is the figure that counts.
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def _sample_max(pid: int, stop: asyncio.Event) -> int:
    peak = 0
    while not stop.is_set():
        peak = max(peak, _status_kib(pid, "VmRSS"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), _SAMPLE_S)
    return max(peak, _status_kib(pid, "VmRSS"))


def _multipart_head(content_type: str) -> bytes:
    return (
        f"--{_BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="artifact.bin"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()


async def _body(mib: int) -> AsyncIterator[bytes]:
    yield _multipart_head("application/octet-stream")
    for _ in range(mib):
        yield _PATTERN
    yield f"\r\n--{_BOUNDARY}--\r\n".encode()


async def _deposit(session: Any, url: str, mib: int) -> tuple[str, int | None]:
    headers = {
        "Content-Type": f"multipart/form-data; boundary={_BOUNDARY}",
        "X-Eden-Experiment-Id": _EXPERIMENT,
    }
    async with session.post(url, data=_body(mib), headers=headers) as response:
        reply = await response.json(content_type=None)
        if response.status != 201:
            raise RuntimeError(f"deposit answered {response.status}: {reply}")
    # A server before eden's wire stored the multipart framing too and named no size.
    size: int | None = reply.get("size_bytes")
    if size is not None and size != mib * _CHUNK:
        raise RuntimeError(f"the server stored {size} bytes of {mib * _CHUNK}")
    return reply["artifacts_uri"], size


async def _fetch(session: Any, url: str, uri: str) -> int:
    headers = {"X-Eden-Experiment-Id": _EXPERIMENT}
    size = 0
    async with session.get(url, params={"uri": uri}, headers=headers) as response:
        if response.status != 200:
            raise RuntimeError(f"fetch answered {response.status}")
        async for chunk in response.content.iter_chunked(_CHUNK):
            size += len(chunk)
    return size


async def _phase(name: str, pid: int, work: Any) -> tuple[Phase, Any]:
    baseline = _status_kib(pid, "VmRSS")
    hwm_reset = _reset_hwm(pid)
    stop = asyncio.Event()
    sampler = asyncio.ensure_future(_sample_max(pid, stop))
    started = time.perf_counter()
    try:
        result, moved = await work
    finally:
        stop.set()
        sampled = await sampler
    seconds = time.perf_counter() - started
    hwm = _status_kib(pid, "VmHWM") if hwm_reset else sampled
    phase = Phase(name, baseline / 1024, hwm / 1024, sampled / 1024, seconds, moved / _CHUNK)
    return phase, result


async def _measure(base_url: str, pid: int, mib: int, concurrency: int) -> list[Phase]:
    import aiohttp

    url = f"{base_url}/v0/experiments/{_EXPERIMENT}/artifacts"
    connector = aiohttp.TCPConnector(limit=concurrency + 1)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        warm, _ = await _deposit(session, url, 1)
        await _fetch(session, url, warm)
        await asyncio.sleep(0.5)

        async def deposits() -> tuple[list[tuple[str, int | None]], int]:
            done = await asyncio.gather(*(_deposit(session, url, mib) for _ in range(concurrency)))
            return list(done), concurrency * mib * _CHUNK

        deposit_phase, deposited = await _phase("deposit", pid, deposits())
        await asyncio.sleep(0.5)

        async def fetches() -> tuple[list[int], int]:
            sizes = await asyncio.gather(*(_fetch(session, url, uri) for uri, _ in deposited))
            wrong = [
                (got, size)
                for got, (_, size) in zip(sizes, deposited, strict=True)
                if got != size and (size is not None or got < mib * _CHUNK)
            ]
            if wrong:
                raise RuntimeError(f"fetched sizes differ from the deposits: {wrong}")
            return list(sizes), sum(sizes)

        fetch_phase, _ = await _phase("fetch", pid, fetches())
    return [deposit_phase, fetch_phase]


@contextlib.contextmanager
def _server(argv: list[str], env: dict[str, str]) -> Iterator[tuple[str, int]]:
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("EDEN_BLOB_LISTENING "):
                yield line.split()[1], process.pid
                break
        else:
            raise RuntimeError(f"the server exited with {process.wait()} before listening")
    finally:
        process.terminate()
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _serve_argv(max_bytes: int) -> list[str]:
    return [
        sys.executable, "-m", "eden_storage_async._cli.main", "serve",
        "--host", "127.0.0.1", "--port", "0", "--max-artifact-bytes", str(max_bytes),
    ]  # fmt: skip


def _run_target(target: str, args: argparse.Namespace) -> list[Phase]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "rss", "AWS_SECRET_ACCESS_KEY": "rss"}
    if args.server_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.server_path, env.get("PYTHONPATH")]))
    argv = _serve_argv(2 * args.mib * _CHUNK)
    with tempfile.TemporaryDirectory(prefix="eden-server-rss-") as tmp:
        if target == "file":
            argv += ["--blob-backend", "file", "--artifact-blob-dir", tmp]
            with _server(argv, env) as (url, pid):
                return asyncio.run(_measure(url, pid, args.mib, args.concurrency))
        from tests.support.servers import seaweedfs_server

        with seaweedfs_server(bucket="eden-rss") as weed:
            argv += [
                "--blob-backend", "s3", "--blob-s3-bucket", "eden-rss",
                "--blob-s3-endpoint-url", weed.endpoint_url, "--blob-s3-region", "us-east-1",
                "--blob-s3-request-path", args.s3_request_path,
            ]  # fmt: skip
            with _server(argv, env) as (url, pid):
                return asyncio.run(_measure(url, pid, args.mib, args.concurrency))


def main() -> None:
    """Measure every target; print one table row per target and phase."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=64, help="size of each artifact")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--targets", default="file", help="comma-separated: file,s3")
    parser.add_argument("--s3-request-path", default="lean", choices=("lean", "sdk"))
    parser.add_argument("--server-path", help="run the server from this source tree's src/")
    args = parser.parse_args()
    print(
        f"{args.concurrency} concurrent x {args.mib} MiB\n"
        "| target | phase | baseline MiB | peak VmHWM MiB | peak sampled VmRSS MiB "
        "| growth MiB | growth since start MiB | seconds | MiB/s |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    for target in args.targets.split(","):
        phases = _run_target(target, args)
        # The fetch phase starts where the deposits left the heap; the last
        # column counts from the warm server, before either phase.
        start = phases[0].baseline_mib
        for phase in phases:
            peak = max(phase.hwm_mib, phase.sampled_max_mib)
            print(
                f"| {target} | {phase.name} | {phase.baseline_mib:.0f} | {phase.hwm_mib:.0f} "
                f"| {phase.sampled_max_mib:.0f} | {phase.growth_mib:.0f} | {peak - start:.0f} "
                f"| {phase.seconds:.1f} | {phase.moved_mib / phase.seconds:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
