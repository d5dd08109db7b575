"""The clients the benchmark runs side by side: ours and the peers.

Every client stores create-only, the way it would in production: ours through
``store_many``; obstore with ``mode="create"``; boto3 with ``IfNoneMatch="*"``
on a thread pool (how the original sync backend ran); google-cloud-storage
with ``if_generation_match=0`` on a thread pool. Each runs a batch at a given
concurrency and returns per-operation latencies; the runner times the batch.
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

__all__ = ["Client", "make_clients"]

Items = list[tuple[str, bytes]]


@dataclass
class Client:
    """One client under test. ``ours`` marks this library's backends."""

    name: str
    target: str  # "s3", "gcs" or "file"
    ours: bool
    store: Callable[[Items, int], Awaitable[list[float]]]
    load: Callable[[list[str], int], Awaitable[list[float]]] | None
    close: Callable[[], Awaitable[None]] = field(default=lambda: _nothing())


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


def _ours(name: str, target: str, backend: ArtifactBackend, *, ours: bool = True) -> Client:
    async def store(items: Items, concurrency: int) -> list[float]:
        outcomes = await store_many(backend, items, concurrency=concurrency)
        failed = [o for o in outcomes if not o.ok]
        if failed:
            raise RuntimeError(f"{name}: {len(failed)} stores failed, first: {failed[0].error!r}")
        return [o.seconds for o in outcomes]

    async def load(ids: list[str], concurrency: int) -> list[float]:
        return await _async_pool([functools.partial(backend.load, i) for i in ids], concurrency)

    return Client(name, target, ours, store, load, backend.aclose)


def _obstore(name: str, target: str, store_obj: Any) -> Client:
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

    return Client(name, target, False, store, load)


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

    async def close() -> None:
        pool.shutdown()
        client.close()

    return Client("boto3 + threads", "s3", False, store, load, close)


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

    async def close() -> None:
        pool.shutdown()
        client.close()

    return Client("google-cloud-storage + threads", "gcs", False, store, load, close)


def make_clients(
    target: str,
    *,
    endpoint_url: str,
    bucket_for: Callable[[str], str],
    file_root: Path,
    tag: str,
    max_concurrency: int,
) -> list[Client]:
    """Fresh clients for one cell of ``target``. ``bucket_for(client)`` names the
    bucket each client writes to; keys never collide, as each client also
    writes under its own prefix."""
    import obstore.store

    if target == "s3":
        bucket = bucket_for("s3")
        return [
            _ours("ours: S3Backend", "s3", S3Backend(
                bucket=bucket, prefix=f"{tag}/ours", endpoint_url=endpoint_url,
                max_concurrency=max_concurrency)),
            # Our own backend with the lean path switched off: not a peer, but
            # its ratio is what the lean request path buys, in the same run.
            _ours("S3Backend request_path='sdk'", "s3", S3Backend(
                bucket=bucket, prefix=f"{tag}/sdk", endpoint_url=endpoint_url,
                max_concurrency=max_concurrency, request_path="sdk"), ours=False),
            _obstore("obstore", "s3", obstore.store.S3Store(
                bucket, prefix=f"{tag}/obstore", endpoint=endpoint_url, region="us-east-1",
                virtual_hosted_style_request=False,
                client_options={"allow_http": True,
                                "pool_max_idle_per_host": str(max_concurrency)})),
            _boto3(endpoint_url, bucket, f"{tag}/boto3", max_concurrency),
        ]  # fmt: skip
    if target == "gcs":
        return [
            _ours("ours: GcsBackend", "gcs", GcsBackend(
                bucket=bucket_for("ours"), prefix=tag, endpoint_url=endpoint_url,
                max_concurrency=max_concurrency)),
            _gcs_python(endpoint_url, bucket_for("gcs-python"), tag, max_concurrency),
        ]  # fmt: skip
    (file_root / tag / "obstore").mkdir(parents=True)
    return [
        _ours("ours: FileArtifactBackend", "file", FileArtifactBackend(file_root / tag / "ours")),
        _obstore("obstore LocalStore (no fsync)", "file",
                 obstore.store.LocalStore(file_root / tag / "obstore")),
    ]  # fmt: skip
