"""Client CPU per small S3 object: the lean request path, the aiobotocore client
and obstore, side by side on one SeaweedFS.

    python -m benchmarks.profile_s3                        # starts SeaweedFS itself
    python -m benchmarks.profile_s3 --endpoint http://127.0.0.1:8333 --bucket eden-test
    python -m benchmarks.profile_s3 --profile put          # pyinstrument of the lean PUTs

Each round runs every client once per operation (PUT, then GET of what it
stored), in a rotated order; the report gives medians of objects/s and of
client CPU per object (``time.process_time`` deltas: this process only, the
server is another). The SDK client is configured exactly as ``S3Backend``
configures it. uvloop is used when installed, as the benchmark does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from eden_storage_async._core.checksum import crc32c_b64
from eden_storage_async._s3.client import client_config_kwargs
from eden_storage_async._s3.lean.calls import open_lean_calls

Op = Callable[[str, bytes], Awaitable[object]]
Load = Callable[[str], Awaitable[bytes]]


async def _pool(calls: list[Callable[[], Awaitable[object]]], concurrency: int) -> float:
    """Run ``calls`` on ``concurrency`` workers; return the wall seconds."""
    queue = iter(calls)

    async def worker() -> None:
        for call in queue:
            await call()

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    return time.perf_counter() - started


class _Subject:
    """One client: how it stores one object and loads it back."""

    def __init__(self, name: str, store: Op, load: Load) -> None:
        self.name = name
        self.store = store
        self.load = load


@contextlib.asynccontextmanager
async def _subjects(endpoint: str, bucket: str, concurrency: int) -> AsyncIterator[list[_Subject]]:
    import obstore
    import obstore.store
    from aiobotocore.config import AioConfig
    from aiobotocore.session import AioSession
    from botocore.handlers import add_expect_header

    session = await asyncio.to_thread(AioSession)
    async with session.create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url=endpoint,
        config=AioConfig(**client_config_kwargs(concurrency, 5.0, 30.0)),
    ) as client:
        client.meta.events.unregister("before-call.s3", add_expect_header)
        lean = await open_lean_calls(client, max_concurrency=concurrency)
        tag = os.urandom(4).hex()
        obs = obstore.store.S3Store(
            bucket, prefix=f"{tag}/obstore", endpoint=endpoint, region="us-east-1",
            virtual_hosted_style_request=False,
            client_options={"allow_http": True, "pool_max_idle_per_host": str(concurrency)},
        )  # fmt: skip

        def via(calls: Any, prefix: str) -> _Subject:
            async def store(key: str, data: bytes) -> None:
                # What S3Backend sends: the precondition, a nonce, the checksum.
                await calls.put_object(
                    Bucket=bucket, Key=f"{prefix}/{key}", Body=data, IfNoneMatch="*",
                    Metadata={"eden-write-nonce": key}, ChecksumCRC32C=crc32c_b64(data),
                )  # fmt: skip

            async def load(key: str) -> bytes:
                response = await calls.get_object(
                    Bucket=bucket, Key=f"{prefix}/{key}", ChecksumMode="ENABLED"
                )
                async with response["Body"] as stream:
                    data: bytes = await stream.read()
                return data

            return _Subject(prefix.rsplit("/", 1)[-1], store, load)

        async def obs_store(key: str, data: bytes) -> None:
            await obstore.put_async(obs, key, data, mode="create")

        async def obs_load(key: str) -> bytes:
            result = await obstore.get_async(obs, key)
            return bytes(await result.bytes_async())

        try:
            yield [
                via(lean, f"{tag}/lean"),
                via(client, f"{tag}/sdk"),
                _Subject("obstore", obs_store, obs_load),
            ]
        finally:
            await lean.aclose()


async def _measure(args: argparse.Namespace) -> None:
    payload = os.urandom(args.size)
    figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
    async with _subjects(args.endpoint, args.bucket, args.concurrency) as subjects:
        for number in range(args.rounds + 1):  # round 0 warms up, and is not counted
            shift = number % len(subjects)
            for subject in subjects[shift:] + subjects[:shift]:
                keys = [os.urandom(16).hex() for _ in range(args.objects)]
                for op in ("put", "get"):
                    calls: list[Callable[[], Awaitable[object]]] = [
                        functools.partial(subject.store, k, payload)
                        if op == "put"
                        else functools.partial(subject.load, k)
                        for k in keys
                    ]
                    cpu = time.process_time()
                    wall = await _pool(calls, args.concurrency)
                    cpu = time.process_time() - cpu
                    if number:
                        figures.setdefault((op, subject.name), []).append(
                            (args.objects / wall, cpu / args.objects * 1000)
                        )
    print(f"{args.size} B objects, concurrency {args.concurrency}, {args.objects} per run, "
          f"{args.rounds} rounds, medians")  # fmt: skip
    print(f"{'op':<4} {'client':<8} {'obj/s':>8} {'CPU ms/obj':>11} {'vs obstore obj/s':>17}")
    for op in ("put", "get"):
        peer = statistics.median(r for r, _ in figures[(op, "obstore")])
        for name in ("lean", "sdk", "obstore"):
            rates = [r for r, _ in figures[(op, name)]]
            cpus = [c for _, c in figures[(op, name)]]
            rate = statistics.median(rates)
            print(f"{op:<4} {name:<8} {rate:>8.0f} {statistics.median(cpus):>11.3f} "
                  f"{rate / peer:>16.2f}x")  # fmt: skip


async def _profile(args: argparse.Namespace) -> None:
    from pyinstrument import Profiler

    payload = os.urandom(args.size)
    async with _subjects(args.endpoint, args.bucket, args.concurrency) as subjects:
        subject = next(s for s in subjects if s.name == args.client)
        keys = [os.urandom(16).hex() for _ in range(args.objects)]
        # Warm the pool and the endpoint cache; a GET-only profile needs the
        # objects in place first.
        stored = keys if args.profile == "get" else keys[:64]
        await _pool([functools.partial(subject.store, k, payload) for k in stored], 64)
        profiler = Profiler(interval=0.0002, async_mode="disabled")
        with profiler:
            for op in ("put", "get"):
                if op == args.profile or args.profile == "both":
                    await _pool(
                        [functools.partial(subject.store, k, payload) for k in keys[64:]]
                        if op == "put"
                        else [functools.partial(subject.load, k) for k in keys[64:]],
                        args.concurrency,
                    )
        print(profiler.output_text(unicode=False, color=False, show_all=False))


@contextlib.contextmanager
def _server(args: argparse.Namespace) -> Iterator[None]:
    if args.endpoint:
        yield
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.support.servers import seaweedfs_server

    with seaweedfs_server() as server:
        args.endpoint, args.bucket = server.endpoint_url, server.bucket
        yield


def main() -> None:
    """Parse the flags, start SeaweedFS unless given an endpoint, and measure."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_s3", description=__doc__)
    parser.add_argument("--endpoint", help="an S3 endpoint to use instead of a fresh SeaweedFS")
    parser.add_argument("--bucket", default="eden-test")
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--objects", type=int, default=1024)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", choices=("put", "get", "both"))
    parser.add_argument("--client", default="lean", choices=("lean", "sdk", "obstore"))
    args = parser.parse_args()
    # SeaweedFS without identities accepts any key; the default chain wants one.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "benchmark")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "benchmark")
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    try:
        import uvloop
    except ImportError:
        runner: Callable[[Awaitable[None]], None] = asyncio.run  # type: ignore[assignment]
    else:
        runner = uvloop.run  # type: ignore[assignment]
    with _server(args):
        runner(_profile(args) if args.profile else _measure(args))


if __name__ == "__main__":
    main()
