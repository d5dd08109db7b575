"""The clients the benchmark runs side by side: ours and the peers.

Every client stores create-only, the way it would in production: ours through
``store_many``; obstore with ``mode="create"``; boto3 with ``IfNoneMatch="*"``
on a thread pool (how the original sync backend ran); google-cloud-storage
with ``if_generation_match=0`` on a thread pool. Each runs a batch at a given
concurrency and returns per-operation latencies; the runner times the batch.

The read cells (``stat``, ``range``) read objects ours stored, so each client
also has ``Reads``: ours ``stat`` and ``load_range``; obstore ``head_async`` and
``get_range_async``; boto3 ``head_object`` and a ranged ``get_object``;
google-cloud-storage ``bucket.get_blob`` and a ranged ``download_as_bytes``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eden_storage_async import (
    ArtifactBackend,
    FileArtifactBackend,
    GcsBackend,
    S3Backend,
    store_many,
)

__all__ = ["Client", "Reads", "client_count", "make_clients"]

Items = list[tuple[str, bytes]]


@dataclass
class Reads:
    """A client's reads of objects ours stored, by opaque id.

    ``stat_size`` (the size the client reports) and ``get_range`` (the bytes
    ``[start:end]``) answer one object, so the runner can check each client's
    answers before the rounds; the batches, at a concurrency, are what the
    rounds time, and return per-operation latencies as ``store`` does.
    """

    stat_size: Callable[[str], Awaitable[int]]
    get_range: Callable[[str, int, int], Awaitable[bytes]]
    stat_batch: Callable[[list[str], int], Awaitable[list[float]]]
    range_batch: Callable[[list[str], int, int, int], Awaitable[list[float]]]


@dataclass
class Client:
    """One client under test. ``ours`` marks this library's backends."""

    name: str
    target: str  # "s3", "gcs" or "file"
    ours: bool
    # None for a client that only reads (obstore on GCS, see make_clients).
    store: Callable[[Items, int], Awaitable[list[float]]] | None
    load: Callable[[list[str], int], Awaitable[list[float]]] | None
    close: Callable[[], Awaitable[None]] = field(default=lambda: _nothing())
    reads: Reads | None = None


async def _nothing() -> None:
    return None


async def _async_pool(ops: list[Callable[[], Awaitable[object]]], concurrency: int) -> list[float]:
    """Run ``ops`` with ``concurrency`` workers; return each op's seconds."""
    latencies: list[float] = []
    queue = iter(ops)

    async def worker() -> None:
        for op in queue:
            started = time.perf_counter()
            await op()
            latencies.append(time.perf_counter() - started)

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    return latencies


async def _thread_pool(
    pool: concurrent.futures.ThreadPoolExecutor, ops: list[Callable[[], object]]
) -> list[float]:
    def timed(op: Callable[[], object]) -> float:
        started = time.perf_counter()
        op()
        return time.perf_counter() - started

    return await asyncio.to_thread(lambda: list(pool.map(timed, ops)))


def _async_reads(
    stat_size: Callable[[str], Awaitable[int]],
    get_range: Callable[[str, int, int], Awaitable[bytes]],
) -> Reads:
    async def stat_batch(ids: list[str], concurrency: int) -> list[float]:
        ops: list[Callable[[], Awaitable[object]]] = [functools.partial(stat_size, i) for i in ids]
        return await _async_pool(ops, concurrency)

    async def range_batch(ids: list[str], start: int, end: int, concurrency: int) -> list[float]:
        ops: list[Callable[[], Awaitable[object]]] = [
            functools.partial(get_range, i, start, end) for i in ids
        ]
        return await _async_pool(ops, concurrency)

    return Reads(stat_size, get_range, stat_batch, range_batch)


def _thread_reads(
    pool: concurrent.futures.ThreadPoolExecutor,
    stat_size: Callable[[str], int],
    get_range: Callable[[str, int, int], bytes],
) -> Reads:
    # The batches run on the pool as the stores do (one hop into a pool.map);
    # the single answers go through the same pool, so the check before the
    # rounds, run at the cell's concurrency, opens as many connections as the
    # rounds will use.
    async def one_stat(key: str) -> int:
        return await asyncio.get_running_loop().run_in_executor(pool, stat_size, key)

    async def one_range(key: str, start: int, end: int) -> bytes:
        return await asyncio.get_running_loop().run_in_executor(pool, get_range, key, start, end)

    async def stat_batch(ids: list[str], concurrency: int) -> list[float]:
        return await _thread_pool(pool, [functools.partial(stat_size, i) for i in ids])

    async def range_batch(ids: list[str], start: int, end: int, concurrency: int) -> list[float]:
        return await _thread_pool(pool, [functools.partial(get_range, i, start, end) for i in ids])

    return Reads(one_stat, one_range, stat_batch, range_batch)


def _ours(name: str, target: str, backend: ArtifactBackend, *, ours: bool = True) -> Client:
    async def store(items: Items, concurrency: int) -> list[float]:
        outcomes = await store_many(backend, items, concurrency=concurrency)
        failed = [o for o in outcomes if not o.ok]
        if failed:
            raise RuntimeError(f"{name}: {len(failed)} stores failed, first: {failed[0].error!r}")
        return [o.seconds for o in outcomes]

    async def load(ids: list[str], concurrency: int) -> list[float]:
        return await _async_pool([functools.partial(backend.load, i) for i in ids], concurrency)

    async def stat_size(opaque_id: str) -> int:
        return (await backend.stat(opaque_id)).size

    reads = _async_reads(stat_size, backend.load_range)
    return Client(name, target, ours, store, load, backend.aclose, reads)


def _obstore(name: str, target: str, store_obj: Any, *, writes: bool = True) -> Client:
    import obstore

    async def store(items: Items, concurrency: int) -> list[float]:
        return await _async_pool(
            [
                functools.partial(obstore.put_async, store_obj, k, d, mode="create")
                for k, d in items
            ],
            concurrency,
        )

    async def load(ids: list[str], concurrency: int) -> list[float]:
        async def one(key: str) -> bytes:
            result = await obstore.get_async(store_obj, key)
            return bytes(await result.bytes_async())

        return await _async_pool([functools.partial(one, k) for k in ids], concurrency)

    async def stat_size(key: str) -> int:
        return int((await obstore.head_async(store_obj, key))["size"])

    async def get_range(key: str, start: int, end: int) -> bytes:
        # bytes(), as load does above: every client hands back Python bytes, as
        # ours does, so each pays for the same result.
        return bytes(await obstore.get_range_async(store_obj, key, start=start, end=end))

    reads = _async_reads(stat_size, get_range)
    if not writes:
        return Client(name, target, False, None, None, reads=reads)
    return Client(name, target, False, store, load, reads=reads)


def _boto3(endpoint_url: str, bucket: str, prefix: str, concurrency: int) -> Client:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        config=Config(max_pool_connections=max(concurrency, 10)),
    )
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=concurrency)

    async def store(items: Items, concurrency: int) -> list[float]:
        return await _thread_pool(
            pool,
            [
                functools.partial(
                    client.put_object, Bucket=bucket, Key=f"{prefix}/{k}", Body=d, IfNoneMatch="*"
                )
                for k, d in items
            ],
        )

    async def load(ids: list[str], concurrency: int) -> list[float]:
        def one(key: str) -> bytes:
            body = client.get_object(Bucket=bucket, Key=f"{prefix}/{key}")["Body"]
            with body:
                data: bytes = body.read()
                return data

        return await _thread_pool(pool, [functools.partial(one, k) for k in ids])

    def stat_size(key: str) -> int:
        return int(client.head_object(Bucket=bucket, Key=f"{prefix}/{key}")["ContentLength"])

    def get_range(key: str, start: int, end: int) -> bytes:
        # HTTP ranges are inclusive at both ends.
        answer = client.get_object(
            Bucket=bucket, Key=f"{prefix}/{key}", Range=f"bytes={start}-{end - 1}"
        )
        with answer["Body"] as body:
            data: bytes = body.read()
            return data

    async def close() -> None:
        pool.shutdown()
        client.close()

    reads = _thread_reads(pool, stat_size, get_range)
    return Client("boto3 + threads", "s3", False, store, load, close, reads)


def _gcs_python(endpoint_url: str, bucket: str, prefix: str, concurrency: int) -> Client:
    import requests.adapters
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(
        project="bench",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": endpoint_url},
    )
    # requests keeps 10 connections per host by default; give the peer as many
    # as it has threads, as we do for ours.
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=concurrency)
    client._http.mount("http://", adapter)
    handle = client.bucket(bucket)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=concurrency)

    async def store(items: Items, concurrency: int) -> list[float]:
        return await _thread_pool(
            pool,
            [
                functools.partial(
                    handle.blob(f"{prefix}/{k}").upload_from_string, d, if_generation_match=0
                )
                for k, d in items
            ],
        )

    async def load(ids: list[str], concurrency: int) -> list[float]:
        return await _thread_pool(
            pool, [handle.blob(f"{prefix}/{k}").download_as_bytes for k in ids]
        )

    def stat_size(key: str) -> int:
        # get_blob is one GET of the object's JSON resource, as blob.reload() is.
        blob = handle.get_blob(f"{prefix}/{key}")
        if blob is None:
            raise FileNotFoundError(f"{prefix}/{key}")
        return int(blob.size)

    def get_range(key: str, start: int, end: int) -> bytes:
        # download_as_bytes takes an inclusive end, as HTTP ranges do.
        data: bytes = handle.blob(f"{prefix}/{key}").download_as_bytes(start=start, end=end - 1)
        return data

    async def close() -> None:
        pool.shutdown()
        client.close()

    reads = _thread_reads(pool, stat_size, get_range)
    return Client("google-cloud-storage + threads", "gcs", False, store, load, close, reads)


def client_count(target: str, *, reads: bool) -> int:
    """How many clients ``make_clients`` builds for a cell (for the progress bar)."""
    # S3: ours, ours on the SDK path, obstore, boto3. GCS: ours, the Python
    # SDK, and obstore in the read cells only. File: ours, obstore.
    return {"s3": 4, "gcs": 3 if reads else 2, "file": 2}[target]


def make_clients(
    target: str,
    *,
    endpoint_url: str,
    bucket_for: Callable[[str], str],
    file_root: Path,
    tag: str,
    max_concurrency: int,
    reads: bool = False,
) -> list[Client]:
    """Fresh clients for one cell of ``target``. ``bucket_for(client)`` names the
    bucket each client writes to; keys never collide, as each client also
    writes under its own prefix.

    With ``reads`` (the stat and range cells) every client addresses the one
    place ours stores to instead, ``<prefix>/<opaque_id>`` (``<root>/<opaque_id>``
    for files), so every client reads the very objects ours stored; and
    obstore joins on GCS, where it can read the emulator without credentials
    (``skip_signature``) but not write to it: its put still asks the metadata
    server for a token (obstore 0.12.1).
    """
    import obstore.store

    def own(name: str) -> str:
        return "ours" if reads else name

    if target == "s3":
        bucket = bucket_for("s3")
        return [
            _ours("ours: S3Backend", "s3", S3Backend(
                bucket=bucket, prefix=f"{tag}/ours", endpoint_url=endpoint_url,
                max_concurrency=max_concurrency)),
            # Our own backend with the lean path switched off: not a peer, but
            # its ratio is what the lean request path buys, in the same run.
            _ours("S3Backend request_path='sdk'", "s3", S3Backend(
                bucket=bucket, prefix=f"{tag}/{own('sdk')}", endpoint_url=endpoint_url,
                max_concurrency=max_concurrency, request_path="sdk"), ours=False),
            _obstore("obstore", "s3", obstore.store.S3Store(
                bucket, prefix=f"{tag}/{own('obstore')}", endpoint=endpoint_url,
                region="us-east-1", virtual_hosted_style_request=False,
                client_options={"allow_http": True,
                                "pool_max_idle_per_host": str(max_concurrency)})),
            _boto3(endpoint_url, bucket, f"{tag}/{own('boto3')}", max_concurrency),
        ]  # fmt: skip
    if target == "gcs":
        ours_bucket = bucket_for("ours")
        clients = [
            _ours("ours: GcsBackend", "gcs", GcsBackend(
                bucket=ours_bucket, prefix=tag, endpoint_url=endpoint_url,
                max_concurrency=max_concurrency)),
            _gcs_python(endpoint_url, ours_bucket if reads else bucket_for("gcs-python"), tag,
                        max_concurrency),
        ]  # fmt: skip
        if reads:
            reader = obstore.store.GCSStore(
                ours_bucket, prefix=tag, base_url=endpoint_url, skip_signature=True,
                client_options={"allow_http": True,
                                "pool_max_idle_per_host": str(max_concurrency)},
            )  # fmt: skip
            clients.append(_obstore("obstore", "gcs", reader, writes=False))
        return clients
    ours_root = file_root / tag / "ours"
    obstore_root = ours_root if reads else file_root / tag / "obstore"
    # LocalStore wants its root to exist; ours makes its own.
    obstore_root.mkdir(parents=True, exist_ok=True)
    return [
        _ours("ours: FileArtifactBackend", "file", FileArtifactBackend(ours_root)),
        _obstore("obstore LocalStore (no fsync)", "file", obstore.store.LocalStore(obstore_root)),
    ]  # fmt: skip
