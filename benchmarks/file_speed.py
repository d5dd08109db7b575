"""FileArtifactBackend against obstore's LocalStore, side by side, same directory.

    python -m benchmarks.file_speed [--dir DIR] [--objects 2000] [--rounds 7]
                                    [--threads 6,16,64] [--per-store-dirsync]

Every client stores create-only and loads the same way the main benchmark
drives them (``benchmarks/clients.py``: ours through ``store_many``, obstore
with ``put_async(mode="create")``), in interleaved rounds (A B C, A B C, ...),
under uvloop when it is installed. Ours fsyncs each file and its new name
before ``store`` returns; LocalStore fsyncs nothing. Figures are medians:
objects/s and client CPU per object (user + system, this process only).

``--threads`` adds ours with other store-pool sizes (loads always use the
loop's default executor, so their load rows differ only by noise);
``--per-store-dirsync`` adds ours with the group commit of the directory fsync
turned off (one directory fsync per store, the old behaviour), with 64 and
with 6 store threads, so each choice is measured in one run.

``--floor`` adds two rows that are not stores at all: each object is only
``open(O_CREAT|O_EXCL)``, ``write``, ``close`` in a pool of 64 threads, with
and without an ``fsync`` before the close (no temp name, no link, no
directory fsync, no checksum, no event loop per object). The first is the
fastest any store that fsyncs each file can go on this disk; the second shows
what the same loop does without the flush, next to LocalStore.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import functools
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from eden_storage_async import FileArtifactBackend

from .clients import Client, _obstore, _ours, _thread_pool
from .runner import KIB, Cell, Measurement, run_cell


class _PerStoreDirSync:
    """The behaviour before group commit: every store fsyncs the directory itself."""

    def __init__(self, backend: FileArtifactBackend) -> None:
        self._backend = backend

    async def sync(self) -> None:
        await self._backend._in_thread(os.fsync, self._backend._dir_fd)

    async def aclose(self) -> None:
        return None


def _sized(threads: int) -> type[FileArtifactBackend]:
    class Sized(FileArtifactBackend):
        _THREADS = threads

    return Sized


def _ours_variant(threads: int | None, per_store_dirsync: bool) -> Callable[[Path], Client]:
    def make(root: Path) -> Client:
        backend = FileArtifactBackend(root) if threads is None else _sized(threads)(root)
        if per_store_dirsync:
            old = backend._dir_sync
            backend._dir_sync = _PerStoreDirSync(backend)  # type: ignore[assignment]
            asyncio.get_running_loop().create_task(old.aclose())
        name = "ours"
        if threads is not None:
            name += f", {threads} threads"
        if per_store_dirsync:
            name += ", dir fsync per store"
        return _ours(name, "file", backend)

    return make


def _obstore_local(root: Path) -> Client:
    import obstore.store

    root.mkdir(parents=True)
    return _obstore("obstore LocalStore (no fsync)", "file", obstore.store.LocalStore(root))


def _floor(fsync: bool) -> Callable[[Path], Client]:
    def make(root: Path) -> Client:
        root.mkdir(parents=True)
        pool = concurrent.futures.ThreadPoolExecutor(64)

        def write(opaque_id: str, data: bytes) -> None:
            fd = os.open(root / opaque_id, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.write(fd, data)
                if fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)

        async def store(items: list[tuple[str, bytes]], concurrency: int) -> list[float]:
            ops: list[Callable[[], object]] = [
                functools.partial(write, opaque_id, data) for opaque_id, data in items
            ]
            return await _thread_pool(pool, ops)

        async def load(ids: list[str], concurrency: int) -> list[float]:
            ops: list[Callable[[], object]] = [(root / opaque_id).read_bytes for opaque_id in ids]
            return await _thread_pool(pool, ops)

        async def close() -> None:
            pool.shutdown()

        name = "floor: create+write" + ("+fsync" if fsync else "") + ", 64 threads"
        return Client(name, "file", False, store, load, close)

    return make


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _measure(args: argparse.Namespace, base: Path) -> None:
    makers: list[Callable[[Path], Client]] = [_ours_variant(None, False), _obstore_local]
    for threads in args.threads:
        makers.append(_ours_variant(threads, False))
    if args.per_store_dirsync:
        makers.append(_ours_variant(None, True))
        makers.append(_ours_variant(6, True))
    if args.floor:
        makers += [_floor(True), _floor(False)]
    payload = os.urandom(args.size)
    runs: dict[tuple[str, str], list[Measurement]] = {}
    for round_no in range(args.rounds):
        for index, make in enumerate(makers):
            client = make(base / f"r{round_no}c{index}")
            stored: dict[str, list[str]] = {}
            try:
                for op in ("store", "load"):
                    cell = Cell(op, "file", args.size, args.concurrency, args.objects)
                    cpu0 = _cpu()
                    measured = await run_cell(cell, client, round_no, payload, stored)
                    # run_cell reads process_time; keep its figure but cross-check
                    # it against getrusage, which also counts exited threads.
                    measured = Measurement(**{**measured.__dict__, "cpu_s": _cpu() - cpu0})
                    runs.setdefault((op, client.name), []).append(measured)
            finally:
                await client.close()
    obstore_name = "obstore LocalStore (no fsync)"
    print(
        f"{args.size} B objects x {args.objects}, concurrency {args.concurrency},"
        f" {args.rounds} interleaved rounds, dir {base}"
    )
    for op in ("store", "load"):
        peer = statistics.median(m.obj_per_s for m in runs[(op, obstore_name)])
        for (kind, name), ms in runs.items():
            if kind != op:
                continue
            rate = statistics.median(m.obj_per_s for m in ms)
            cpu = statistics.median(1000 * m.cpu_s / m.objects for m in ms)
            p50 = statistics.median(m.p50_ms for m in ms)
            print(
                f"  {op:5} {name:42} {rate:7.0f} obj/s  CPU {cpu:.3f} ms/obj"
                f"  p50 {p50:6.2f} ms  vs obstore {rate / peer:.2f}x"
                f"  (rounds {', '.join(f'{m.obj_per_s:.0f}' for m in ms)})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", default=None, help="parent of the temp dir (default: $TMPDIR)")
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--size", type=int, default=4 * KIB)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--threads",
        type=lambda v: [int(t) for t in v.split(",") if t],
        default=[],
        help="also run ours with these pool sizes, e.g. 6,16,32",
    )
    parser.add_argument("--per-store-dirsync", action="store_true")
    parser.add_argument(
        "--floor", action="store_true", help="also the bare create+write(+fsync) loop"
    )
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    with tempfile.TemporaryDirectory(prefix="eden-file-speed-", dir=args.dir) as tmp:
        started = time.perf_counter()
        runner(_measure(args, Path(tmp)))
        print(f"  ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
