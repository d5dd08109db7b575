"""The child process of the memory tests: one burst on one backend, figures as JSON.

Run as ``python tests/memory/burst.py SPEC`` with ``SPEC`` a JSON object:
``backend`` (``memory``, ``file``, ``s3`` or ``gcs``), ``scenario`` (``burst`` or
``stream``), and ``root``, ``endpoint_url``, ``bucket``, ``request_path`` as the
backend needs (no secret: the S3 keys come from the environment).

Why a fresh process: RSS is the whole process's, and whatever other tests
allocated (and the allocator kept) would hide or fake a retention. Here the
only large buffers are the burst's own.

* ``burst``: 16 concurrent ``store`` calls of 32 MiB, each payload made inside
  its task and dropped when the store returns (as a server handler does), then
  16 concurrent ``load`` calls whose results are dropped. RSS is read after a
  warm-up, after the stores and after the loads.
* ``stream``: 512 MiB (``stream_mib``) through ``store_stream`` in fresh 1 MiB ``bytes`` chunks
  (as chunks from a network are), then back through ``load_stream``; the
  highest RSS seen during both, and RSS after.

RSS is resident pages from ``/proc/self/statm``, read after ``gc.collect()``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time
from typing import Any

from eden_storage_async import (
    ArtifactBackend,
    FileArtifactBackend,
    GcsBackend,
    InMemoryArtifactBackend,
    S3Backend,
    mint_opaque_id,
)

MIB = 1024 * 1024
OBJECTS = 16
OBJECT_MIB = 32
STREAM_MIB = 512  # the default; fresh 1 MiB chunks
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_now() -> float:
    """Resident set size in MiB, now."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE / MIB


async def rss_mib() -> float:
    """Resident set size in MiB, settled: after a moment and a full collection."""
    # A worker thread drops its last result just after handing it to the loop,
    # so a reading taken at once may still count it: give the threads a moment.
    await asyncio.sleep(0.2)
    gc.collect()
    return rss_now()


def build(spec: dict[str, Any]) -> ArtifactBackend:
    kind = spec["backend"]
    if kind == "memory":
        return InMemoryArtifactBackend()
    if kind == "file":
        return FileArtifactBackend(spec["root"])
    if kind == "s3":
        return S3Backend(
            bucket=spec["bucket"],
            prefix=spec["prefix"],
            endpoint_url=spec["endpoint_url"],
            request_path=spec["request_path"],
            read_timeout=120.0,
        )
    if kind == "gcs":
        return GcsBackend(
            bucket=spec["bucket"],
            prefix=spec["prefix"],
            endpoint_url=spec["endpoint_url"],
            timeout=120.0,
        )
    raise ValueError(f"unknown backend {kind!r}")


async def warm_up(backend: ArtifactBackend) -> None:
    # Connections, clients and lazy imports exist before the first reading, so
    # only the burst's own memory is measured. Small objects only: large ones
    # here would already be retained at the start and hide a retention.
    warm = mint_opaque_id()
    await backend.store(warm, os.urandom(64 * 1024))
    await backend.load(warm)
    streamed = mint_opaque_id()
    await backend.store_stream(streamed, [os.urandom(64 * 1024) for _ in range(2)])
    async with backend.load_stream(streamed) as chunks:
        async for _ in chunks:
            pass


async def burst(backend: ArtifactBackend) -> dict[str, float]:
    ids = [mint_opaque_id() for _ in range(OBJECTS)]
    start = await rss_mib()

    async def store(opaque_id: str) -> None:
        await backend.store(opaque_id, os.urandom(OBJECT_MIB * MIB))

    await asyncio.gather(*(store(i) for i in ids))
    after_stores = await rss_mib()

    async def load(opaque_id: str) -> None:
        got = await backend.load(opaque_id)
        assert len(got) == OBJECT_MIB * MIB

    await asyncio.gather(*(load(i) for i in ids))
    return {"start": start, "after_stores": after_stores, "after_loads": await rss_mib()}


async def stream(backend: ArtifactBackend, total_mib: int) -> dict[str, float]:
    opaque_id = mint_opaque_id()
    start = await rss_mib()
    peak = start

    def chunks() -> Any:
        nonlocal peak
        for index in range(total_mib):
            if index % 32 == 0:
                peak = max(peak, rss_now())
            yield os.urandom(MIB)

    await backend.store_stream(opaque_id, chunks())
    after_store = await rss_mib()
    peak = max(peak, after_store)
    count = 0
    async with backend.load_stream(opaque_id) as received:
        async for chunk in received:
            count += len(chunk)
            if count % (32 * MIB) < len(chunk):
                peak = max(peak, rss_now())
    assert count == total_mib * MIB, count
    end = await rss_mib()
    return {"start": start, "after_store": after_store, "peak": max(peak, end), "end": end}


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    async with build(spec) as backend:
        await warm_up(backend)
        started = time.monotonic()
        if spec["scenario"] == "burst":
            figures = await burst(backend)
        else:
            figures = await stream(backend, spec.get("stream_mib", STREAM_MIB))
        seconds = time.monotonic() - started
    return {**{k: round(v, 1) for k, v in figures.items()}, "seconds": round(seconds, 1)}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
