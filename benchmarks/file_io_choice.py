"""Why FileArtifactBackend makes one thread hop per store instead of one
aiofiles call per syscall: both strategies, same disk, interleaved rounds.

    python benchmarks/file_io_choice.py [--objects 2000] [--rounds 5]

Both do the same durable sequence: create a temp file, write, fsync, close,
exclusive link, fsync the directory, unlink the temp name. Ours also sets the
CRC32C attribute and shares directory fsyncs between concurrent stores (group
commit, docs/file.md); ``python -m benchmarks.file_speed`` measures those.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiofiles
import aiofiles.os

from eden_storage_async import FileArtifactBackend, mint_opaque_id


async def _store_with(backend: FileArtifactBackend, data: bytes, opaque_id: str) -> None:
    await backend.store(opaque_id, data)


async def _aiofiles_store(root: Path, dir_fd: int, opaque_id: str, *, data: bytes) -> None:
    tmp = root / f".tmp-{opaque_id}"
    async with aiofiles.open(tmp, "xb") as handle:
        await handle.write(data)
        await handle.flush()
        await asyncio.to_thread(os.fsync, handle.fileno())
    try:
        await aiofiles.os.link(tmp, root / opaque_id)
        await asyncio.to_thread(os.fsync, dir_fd)
    finally:
        await aiofiles.os.unlink(tmp)


async def _bounded(n: int, concurrency: int, store: Callable[[str], Awaitable[None]]) -> float:
    ids = [mint_opaque_id() for _ in range(n)]
    semaphore = asyncio.Semaphore(concurrency)

    async def one(opaque_id: str) -> None:
        async with semaphore:
            await store(opaque_id)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in ids))
    return n / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    data = os.urandom(args.size)
    rates: dict[str, list[float]] = {"one thread hop": [], "aiofiles per call": []}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        for round_no in range(args.rounds):
            hop_root = Path(tmp, f"hop{round_no}")
            async with FileArtifactBackend(hop_root) as backend:
                rates["one thread hop"].append(
                    await _bounded(
                        args.objects,
                        args.concurrency,
                        functools.partial(_store_with, backend, data),
                    )
                )
            aio_root = Path(tmp, f"aio{round_no}")
            os.mkdir(aio_root)
            dir_fd = os.open(aio_root, os.O_RDONLY | os.O_DIRECTORY)
            try:
                rates["aiofiles per call"].append(
                    await _bounded(
                        args.objects,
                        args.concurrency,
                        functools.partial(_aiofiles_store, aio_root, dir_fd, data=data),
                    )
                )
            finally:
                os.close(dir_fd)
    hop = statistics.median(rates["one thread hop"])
    aio = statistics.median(rates["aiofiles per call"])
    print(
        f"{args.size} B objects, concurrency {args.concurrency}, {args.rounds} interleaved rounds"
    )
    for name, values in rates.items():
        print(
            f"  {name:18} median {statistics.median(values):8.0f} obj/s  "
            f"(min {min(values):.0f}, max {max(values):.0f})"
        )
    print(f"  ratio one-hop / aiofiles: {hop / aio:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
