"""The client ``S3Backend`` builds, on the real servers: one pool of at most
``max_concurrency`` connections (counted by a loopback proxy), timeouts that turn a
hung server into ``ServiceUnavailable`` in bounded time, and ``request_path``
deciding who sends the hot calls."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from eden_storage_async import ConfigError, S3Backend, ServiceUnavailable, mint_opaque_id
from eden_storage_async._core.retry import Backoff

from ..support.s3 import LoopbackProxy, fresh_prefix, s3_backend_on, use_test_credentials
from ..support.servers import RealServer

pytestmark = pytest.mark.real_server


# --- the connection pool ------------------------------------------------------


async def test_many_tasks_share_one_pool_of_max_concurrency_connections(
    seaweedfs: RealServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_test_credentials(monkeypatch)
    payloads = {mint_opaque_id(): os.urandom(4096) for _ in range(200)}
    async with LoopbackProxy(seaweedfs.endpoint_url) as proxy:
        async with S3Backend(
            bucket=seaweedfs.bucket,
            prefix=fresh_prefix(),
            endpoint_url=proxy.endpoint_url,
            max_concurrency=64,
        ) as backend:
            async with asyncio.timeout(120):
                await asyncio.gather(*(backend.store(i, p) for i, p in payloads.items()))
                loaded = await asyncio.gather(*(backend.load(i) for i in payloads))
        assert loaded == list(payloads.values())
        # botocore's default pool is 10; well past it shows the pool was sized,
        # and never past 64 shows the bound holds.
        assert 10 < proxy.peak <= 64, proxy.peak


async def test_max_concurrency_bounds_the_connections(
    seaweedfs: RealServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_test_credentials(monkeypatch)
    async with (
        LoopbackProxy(seaweedfs.endpoint_url) as proxy,
        S3Backend(
            bucket=seaweedfs.bucket,
            prefix=fresh_prefix(),
            endpoint_url=proxy.endpoint_url,
            max_concurrency=4,
        ) as backend,
    ):
        await asyncio.gather(*(backend.store(mint_opaque_id(), b"x" * 4096) for _ in range(40)))
    assert 1 <= proxy.peak <= 4, proxy.peak


# --- timeouts: a hung server never hangs a caller -------------------------------


@contextlib.asynccontextmanager
async def _stalled_server() -> AsyncIterator[str]:
    """A loopback server that accepts every connection and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()


async def _one(backend: S3Backend, operation: str) -> None:
    if operation == "store":
        await backend.store(mint_opaque_id(), b"data")
    elif operation == "load":
        await backend.load(mint_opaque_id())
    else:
        async with backend.load_stream(mint_opaque_id()):
            pass


@pytest.mark.parametrize("operation", ["store", "load", "load_stream"])
async def test_a_stalled_server_gives_service_unavailable_within_the_timeouts(
    monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    use_test_credentials(monkeypatch)
    async with (
        _stalled_server() as endpoint,
        S3Backend(
            bucket="eden-test",
            endpoint_url=endpoint,
            connect_timeout=1.0,
            read_timeout=0.5,
            retry=Backoff(attempts=2, base_s=0.0, cap_s=0.0, deadline_s=10.0),
        ) as backend,
    ):
        await backend._get_client()  # build the client first: time only the requests
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable, match="ReadTimeout"):
            await _one(backend, operation)
        elapsed = time.monotonic() - started
    # Two attempts of one 0.5 s read timeout each, and nothing like forever.
    assert 0.9 <= elapsed < 5.0, elapsed


# --- request_path: the lean path or the SDK -----------------------------------


@pytest.mark.parametrize(("request_path", "lean"), [("lean", True), ("sdk", False)])
async def test_request_path_decides_who_sends_the_hot_calls(
    seaweedfs: RealServer, monkeypatch: pytest.MonkeyPatch, request_path: str, lean: bool
) -> None:
    # The lean path is the default and "sdk" really switches it off: a GetObject
    # that botocore sends fires its before-call event, a lean one does not.
    use_test_credentials(monkeypatch)
    seen: list[str] = []
    async with s3_backend_on(seaweedfs, request_path=request_path) as backend:
        opaque_id = mint_opaque_id()
        await backend.store(opaque_id, b"which path")
        client: Any = await backend._get_client()
        client.meta.events.register("before-call.s3.GetObject", lambda **kwargs: seen.append("sdk"))
        assert await backend.load(opaque_id) == b"which path"
    assert seen == ([] if lean else ["sdk"])


def test_request_path_is_checked_at_construction() -> None:
    with pytest.raises(ConfigError, match="request_path"):
        S3Backend(bucket="b", request_path="fast")  # type: ignore[arg-type]
