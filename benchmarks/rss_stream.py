"""Peak memory growth of ``store_stream`` and ``load_stream`` for one large artifact.

    python -m benchmarks.rss_stream [--mib 1024] [--targets file,s3,gcs]

Each measurement runs in a fresh child process, so the kernel's high-water
mark (``VmHWM``) belongs to that one operation: the child reads its RSS after
building the backend and warming it up with a small store, streams ``--mib``
MiB of generated 1 MiB chunks (never held whole), and reports ``VmHWM`` minus
that starting RSS. The servers (SeaweedFS, fake-gcs-server) run on 127.0.0.1
in the parent, as in ``python -m benchmarks``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

_CHUNK = 1024 * 1024
# The artifact's contents: one fixed chunk repeated, cheap to make and to check.
_PATTERN = bytes(range(256)) * (_CHUNK // 256)


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _chunks(mib: int) -> Iterator[bytes]:
    for _ in range(mib):
        yield _PATTERN


def _backend(target: str, where: str) -> Any:
    from eden_storage_async import FileArtifactBackend, GcsBackend, S3Backend

    if target == "file":
        return FileArtifactBackend(where)
    if target == "s3":
        return S3Backend(bucket="eden-rss", prefix="rss", endpoint_url=where)
    return GcsBackend(bucket="eden-rss", prefix="rss", endpoint_url=where)


async def _child(target: str, where: str, mib: int, direction: str, opaque_id: str) -> None:
    from eden_storage_async import mint_opaque_id

    async with _backend(target, where) as backend:
        await backend.store(mint_opaque_id(), b"warm-up")  # builds clients and pools
        start_kib = _rss_kib("VmRSS")
        started = time.perf_counter()
        if direction == "store":
            await backend.store_stream(opaque_id, _chunks(mib))
        else:
            size = 0
            async with backend.load_stream(opaque_id) as chunks:
                async for chunk in chunks:
                    size += len(chunk)
            if size != mib * _CHUNK:
                raise RuntimeError(f"loaded {size} bytes, expected {mib * _CHUNK}")
        seconds = time.perf_counter() - started
        peak_kib = _rss_kib("VmHWM")
    print(json.dumps({"growth_mib": (peak_kib - start_kib) / 1024, "seconds": seconds}))


def _measure(target: str, where: str, mib: int, direction: str, opaque_id: str) -> dict[str, Any]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "rss", "AWS_SECRET_ACCESS_KEY": "rss"}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.rss_stream", "--child", target, where,
         str(mib), direction, opaque_id],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Run every target and direction; print one line per measurement."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--targets", default="file,s3,gcs")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        target, where, mib, direction, opaque_id = args.child
        asyncio.run(_child(target, where, int(mib), direction, opaque_id))
        return

    from tests.support.servers import create_gcs_bucket, fake_gcs_server, seaweedfs_server

    for target in args.targets.split(","):
        with tempfile.TemporaryDirectory(prefix="eden-rss-") as tmp:
            if target == "file":
                rows = _run(target, tmp, args.mib)
            elif target == "s3":
                with seaweedfs_server(bucket="eden-rss") as server:
                    rows = _run(target, server.endpoint_url, args.mib)
            else:
                with fake_gcs_server() as server:
                    create_gcs_bucket(server.endpoint_url, "eden-rss")
                    rows = _run(target, server.endpoint_url, args.mib)
        for direction, result in rows:
            print(
                f"{target} {direction} {args.mib} MiB: peak RSS growth "
                f"{result['growth_mib']:.0f} MiB in {result['seconds']:.1f} s"
            )


def _run(target: str, where: str, mib: int) -> list[tuple[str, dict[str, Any]]]:
    from eden_storage_async import mint_opaque_id

    opaque_id = mint_opaque_id()
    return [(d, _measure(target, where, mib, d, opaque_id)) for d in ("store", "load")]


if __name__ == "__main__":
    main()
