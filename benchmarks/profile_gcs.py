"""GCS small-object store speed: ours against google-cloud-storage + threads, and a ceiling.

Run: ``python -m benchmarks.profile_gcs [--rounds 5] [--objects 2000] [--profile]``

It starts fake-gcs-server on 127.0.0.1 and stores ``--objects`` objects of
4 KiB at concurrency 64 with each client, in interleaved rounds (the order
rotates each round), each client into a fresh bucket every round
(fake-gcs-server slows down as a bucket fills). Per client it prints the
median objects/s and the median client CPU per object (``time.process_time``:
every thread of this process, none of the emulator's).

Clients:

* ``ours``: ``GcsBackend.store`` through ``store_many`` (the library's path:
  CRC32C, nonce, ``ifGenerationMatch=0``, retries, the cancel settle);
* ``sdk multipart``: the path ``GcsBackend`` took before, gcloud-aio-storage's
  ``Storage.upload`` with metadata (so multipart) and ``ifGenerationMatch=0``;
* ``raw aiohttp``: the least a client can do, one multipart POST with
  ``ifGenerationMatch=0`` and nothing else: the emulator's ceiling here;
* ``google-cloud-storage + threads``: the benchmark's peer, 64 threads.

``--profile`` then runs one more round of ``ours`` under cProfile and prints
the functions with the most own time.

``--instant`` runs the same rounds against a minimal aiohttp server (in its own
process) that answers every upload at once with a fixed object resource, in
place of the emulator: the client, not the server, is then the limit, so the
objects/s show what each client's own overhead allows.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import io
import json
import pstats
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from eden_storage_async import GcsBackend, mint_opaque_id, store_many

from .clients import _gcs_python

_SIZE = 4096
_CONCURRENCY = 64

Items = list[tuple[str, bytes]]
Store = Callable[[Items], Awaitable[None]]


async def _pool(ops: list[Callable[[], Awaitable[object]]]) -> None:
    queue = iter(ops)

    async def worker() -> None:
        for op in queue:
            await op()

    async with asyncio.TaskGroup() as group:
        for _ in range(_CONCURRENCY):
            group.create_task(worker())


async def _create_bucket(endpoint: str, bucket: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{endpoint}/storage/v1/b", params={"project": "x"}, json={"name": bucket}
        ) as r,
    ):
        r.raise_for_status()


async def _round_ours(endpoint: str, bucket: str, items: Items) -> None:
    async with GcsBackend(
        bucket=bucket, endpoint_url=endpoint, max_concurrency=_CONCURRENCY
    ) as backend:
        await backend.store(mint_opaque_id(), b"warm-up")  # builds the session
        outcomes = await store_many(backend, items, concurrency=_CONCURRENCY)
        assert all(o.ok for o in outcomes), next(o.error for o in outcomes if not o.ok)


async def _round_sdk(endpoint: str, bucket: str, items: Items) -> None:
    from gcloud.aio import storage as gcloud_storage

    sdk: Any = gcloud_storage.Storage
    connector = aiohttp.TCPConnector(limit=_CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        storage: Any = sdk(session=session, api_root=endpoint)

        async def one(key: str, data: bytes) -> None:
            await storage.upload(
                bucket,
                key,
                data,
                content_type="application/octet-stream",
                parameters={"ifGenerationMatch": "0"},
                headers={},
                metadata={"metadata": {"eden-store-nonce": secrets.token_hex(16)}},
                force_resumable_upload=False,
            )

        await one("warm-up", b"warm-up")
        await _pool([functools.partial(one, k, d) for k, d in items])


async def _round_raw(endpoint: str, bucket: str, items: Items) -> None:
    url = f"{endpoint}/upload/storage/v1/b/{bucket}/o?uploadType=multipart&ifGenerationMatch=0"
    connector = aiohttp.TCPConnector(limit=_CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(key: str, data: bytes) -> None:
            boundary = "b0undary"
            body = (
                (
                    f"--{boundary}\r\nContent-Type: application/json\r\n\r\n"
                    f"{json.dumps({'name': key})}\r\n--{boundary}\r\n"
                    "Content-Type: application/octet-stream\r\n\r\n"
                ).encode()
                + data
                + f"\r\n--{boundary}--\r\n".encode()
            )
            headers = {"Content-Type": f"multipart/related; boundary={boundary}"}
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                assert resp.status == 200, resp.status

        await one("warm-up", b"warm-up")
        await _pool([functools.partial(one, k, d) for k, d in items])


async def _round_gcs_python(endpoint: str, bucket: str, items: Items) -> None:
    client = _gcs_python(endpoint, bucket, "p", _CONCURRENCY)
    assert client.store is not None  # None only for a read-only client
    try:
        await client.store([("warm-up", b"warm-up")], 1)
        await client.store(items, _CONCURRENCY)
    finally:
        await client.close()


_CLIENTS: dict[str, Callable[[str, str, Items], Awaitable[None]]] = {
    "ours": _round_ours,
    "sdk multipart": _round_sdk,
    "raw aiohttp": _round_raw,
    "google-cloud-storage + threads": _round_gcs_python,
}


async def _measure(name: str, endpoint: str, objects: int) -> tuple[float, float]:
    """One round of ``name``: (objects/s, client CPU ms per object), warm-up excluded."""
    bucket = f"bench-{secrets.token_hex(6)}"
    await _create_bucket(endpoint, bucket)
    payload = secrets.token_bytes(_SIZE)
    items = [(mint_opaque_id(), payload) for _ in range(objects)]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await _CLIENTS[name](endpoint, bucket, items)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return objects / wall, 1000 * cpu / objects


async def _profile(endpoint: str, objects: int) -> str:
    bucket = f"bench-{secrets.token_hex(6)}"
    await _create_bucket(endpoint, bucket)
    items = [(mint_opaque_id(), secrets.token_bytes(_SIZE)) for _ in range(objects)]
    profiler = cProfile.Profile()
    profiler.enable()
    await _round_ours(endpoint, bucket, items)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    return out.getvalue()


async def _main(args: argparse.Namespace, endpoint: str) -> None:
    # Construction imports the SDK (a one-off of about 0.3 s of CPU): done
    # here, so that no round pays for it.
    GcsBackend(bucket="warm-up", endpoint_url=endpoint)
    names = list(_CLIENTS) if not args.only else args.only
    results: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for round_no in range(args.rounds):
        order = names[round_no % len(names) :] + names[: round_no % len(names)]
        for name in order:
            rate, cpu_ms = await _measure(name, endpoint, args.objects)
            results[name].append((rate, cpu_ms))
            print(f"round {round_no + 1} {name:32s} {rate:8.0f} obj/s {cpu_ms:6.3f} ms CPU/obj")
    print(f"\nmedians over {args.rounds} rounds, {args.objects} x 4 KiB, concurrency 64:")
    medians = {
        n: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v))
        for n, v in results.items()
    }
    for name, (rate, cpu_ms) in medians.items():
        print(f"  {name:32s} {rate:8.0f} obj/s {cpu_ms:6.3f} ms CPU/obj")
    peer = medians.get("google-cloud-storage + threads")
    if peer and "ours" in medians:
        print(f"  ours / google-cloud-storage + threads: {medians['ours'][0] / peer[0]:.2f}x")
    if args.profile:
        print(await _profile(endpoint, args.objects))


_REPLY = b'{"kind":"storage#object","name":"x","bucket":"b","size":"4096","generation":"1"}'


def _serve_instant(port: int) -> None:
    """Answer every upload (and bucket creation) at once: a server that costs nothing."""
    from aiohttp import web

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=_REPLY, content_type="application/json")

    app = web.Application(client_max_size=1 << 26)
    app.router.add_post("/upload/storage/v1/b/{bucket}/o", answer)
    app.router.add_post("/storage/v1/b", answer)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def _instant_server() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [sys.executable, "-m", "benchmarks.profile_gcs", "--serve-instant", str(port)]
    proc = subprocess.Popen(argv)
    for _ in range(100):
        with socket.socket() as attempt:
            if attempt.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the instant server did not start")


def main() -> None:
    """Parse flags, start fake-gcs-server (or the instant server), run the rounds."""
    from tests.support.servers import fake_gcs_server

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--only", nargs="*", choices=list(_CLIENTS))
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--no-uvloop", action="store_true", help="plain asyncio loop")
    parser.add_argument("--instant", action="store_true", help="a server that answers at once")
    parser.add_argument("--serve-instant", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_instant:
        _serve_instant(args.serve_instant)
        return
    runner: Callable[..., Any] = asyncio.run
    if not args.no_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            runner = uvloop.run
    if args.instant:
        proc, endpoint = _instant_server()
        try:
            print(f"instant server at {endpoint}; loop: {runner.__module__}")
            runner(_main(args, endpoint))
        finally:
            proc.terminate()
            proc.wait()
        return
    with fake_gcs_server() as server:
        print(f"fake-gcs-server at {server.endpoint_url}; loop: {runner.__module__}")
        runner(_main(args, server.endpoint_url))


if __name__ == "__main__":
    main()
