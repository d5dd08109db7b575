"""How the lean path fails, retries and treats its connections, on scripted fakes
(``lean_helpers.py``): the statuses it retries and those it leaves to the backend,
resets, a stall past the read timeout, truncated and half-read bodies (their
connections dropped), a refused connection, an error document that arrives in
pieces, and a pool of at most ``max_concurrency`` connections."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from aiohttp import web
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
)

from eden_storage_async import AccessDenied, NotFound, ServiceUnavailable
from eden_storage_async._core.retry import Backoff
from eden_storage_async._s3.errors import LOAD_CODES, STORE_CODES

from .lean_helpers import (
    _ACCESS_KEY,
    _BUCKET,
    _NO_SLEEP,
    _SECRET,
    FakeS3,
    Handler,
    _credentials,
    _translated,
    error,
    lean_fake,
    lean_on,
    ok,
    reset,
    stall,
    truncated,
)


@pytest.mark.usefixtures("creds")
async def test_403_is_raised_at_once_and_is_access_denied() -> None:
    async with lean_fake(error(403, "AccessDenied")) as (lean, fake):
        with pytest.raises(ClientError) as caught:
            await lean.put_object(Bucket=_BUCKET, Key="k", Body=b"x", IfNoneMatch="*")
    assert len(fake.requests) == 1
    assert caught.value.response["Error"]["Code"] == "AccessDenied"
    assert isinstance(_translated(caught.value, STORE_CODES), AccessDenied)


@pytest.mark.usefixtures("creds")
@pytest.mark.parametrize(
    ("status", "code"), [(409, "ConditionalRequestConflict"), (412, None), (404, "NoSuchKey")]
)
async def test_409_412_and_404_are_the_backends_to_handle_never_retried(
    status: int, code: str | None
) -> None:
    async with lean_fake(error(status, code)) as (lean, fake):
        with pytest.raises(ClientError) as caught:
            await lean.put_object(Bucket=_BUCKET, Key="k", Body=b"x", IfNoneMatch="*")
    assert len(fake.requests) == 1
    assert caught.value.response["Error"]["Code"] == (code or str(status))
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


@pytest.mark.usefixtures("creds")
async def test_500_is_retried_then_succeeds() -> None:
    async with lean_fake(error(500, "InternalError"), ok()) as (lean, fake):
        put = await lean.put_object(Bucket=_BUCKET, Key="k", Body=b"x", IfNoneMatch="*")
    assert len(fake.requests) == 2
    assert put["ResponseMetadata"]["RetryAttempts"] == 1
    # Each attempt is signed afresh.
    assert fake.bodies == [b"x", b"x"]


@pytest.mark.usefixtures("creds")
@pytest.mark.parametrize("handler", [error(503, "SlowDown"), error(503), reset])
async def test_transient_failures_past_the_bound_raise(handler: Handler) -> None:
    async with lean_fake(handler) as (lean, fake):
        with pytest.raises((ClientError, ConnectionClosedError)) as caught:
            await lean.get_object(Bucket=_BUCKET, Key="k")
    # A reset on a fresh connection is one attempt: the transport re-sends on
    # its own only when a pooled connection drops before any answer (the
    # keep-alive race, tests/http/test_connections.py).
    assert len(fake.requests) == _NO_SLEEP.attempts
    assert isinstance(_translated(caught.value, LOAD_CODES), ServiceUnavailable)


@pytest.mark.usefixtures("creds")
async def test_a_reset_is_retried_then_succeeds() -> None:
    async with lean_fake(reset, ok(b"whole")) as (lean, fake):
        got = await lean.get_object(Bucket=_BUCKET, Key="k")
        async with got["Body"] as stream:
            assert await stream.read() == b"whole"
    assert len(fake.requests) == 2
    assert got["ResponseMetadata"]["RetryAttempts"] == 1  # our retry, counted


@pytest.mark.usefixtures("creds")
async def test_a_stall_past_the_read_timeout_fails_in_bounded_time() -> None:
    async with lean_fake(
        stall(30), read_timeout=0.3, retry=Backoff(attempts=2, base_s=0.0, cap_s=0.0)
    ) as (lean, fake):
        started = time.monotonic()
        with pytest.raises(ReadTimeoutError) as caught:
            await lean.put_object(Bucket=_BUCKET, Key="k", Body=b"x", IfNoneMatch="*")
        elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 5, elapsed  # two attempts of 0.3 s each
    assert len(fake.requests) == 2
    assert isinstance(_translated(caught.value, STORE_CODES), ServiceUnavailable)


@pytest.mark.usefixtures("creds")
async def test_a_truncated_body_raises_and_drops_the_connection() -> None:
    async with lean_fake(truncated, ok(b"next")) as (lean, fake):
        got = await lean.get_object(Bucket=_BUCKET, Key="k")
        with pytest.raises(HTTPClientError) as caught:
            async with got["Body"] as stream:
                await stream.read()
        assert isinstance(_translated(caught.value, LOAD_CODES), ServiceUnavailable)
        again = await lean.get_object(Bucket=_BUCKET, Key="k")
        async with again["Body"] as stream:
            assert await stream.read() == b"next"
    assert fake.peers[0] != fake.peers[1]  # a new connection, not the broken one


@pytest.mark.usefixtures("creds")
async def test_a_body_left_half_read_is_not_reused() -> None:
    # One connection: a body that kept its connection would block the next call.
    async with (
        lean_fake(ok(b"x" * 200_000), max_concurrency=1) as (lean, fake),
        asyncio.timeout(10),
    ):
        got = await lean.get_object(Bucket=_BUCKET, Key="k")
        with contextlib.suppress(RuntimeError):
            async with got["Body"] as stream:
                assert len(await stream.read(10)) == 10
                raise RuntimeError("the caller gave up")
        again = await lean.get_object(Bucket=_BUCKET, Key="k")
        async with again["Body"] as stream:
            assert len(await stream.read()) == 200_000
        third = await lean.get_object(Bucket=_BUCKET, Key="k")
        async with third["Body"] as stream:
            await stream.read()
    assert fake.peers[0] != fake.peers[1]  # the half-read one was closed
    assert fake.peers[1] == fake.peers[2]  # a whole read goes back to the pool


async def test_a_refused_connection_is_endpoint_connection_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _credentials(monkeypatch, _ACCESS_KEY, _SECRET)
    async with FakeS3(ok()) as fake:
        server = fake.server()
    # The fake is gone: its port now refuses connections.
    async with lean_on(server, retry=_NO_SLEEP) as (lean, _):
        with pytest.raises(EndpointConnectionError) as caught:
            await lean.head_object(Bucket=_BUCKET, Key="k")
    assert isinstance(_translated(caught.value, LOAD_CODES), ServiceUnavailable)


@pytest.mark.usefixtures("creds")
async def test_the_pool_holds_at_most_max_concurrency_connections() -> None:
    active = peak = 0

    async def slow(request: web.Request) -> web.StreamResponse:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.05)
        active -= 1
        return web.Response(status=200, body=b"x")

    async with lean_fake(slow, max_concurrency=2) as (lean, fake):
        await asyncio.gather(*(lean.head_object(Bucket=_BUCKET, Key=f"k{i}") for i in range(8)))
    assert len(fake.requests) == 8
    assert peak == 2
    assert len({peer for peer in fake.peers}) <= 2


async def _no_such_key_in_pieces(request: web.Request) -> web.StreamResponse:
    document = b"<?xml version='1.0'?><Error><Code>NoSuchKey</Code><Message>gone</Message></Error>"
    response = web.StreamResponse(status=404, headers={"Content-Length": str(len(document))})
    await response.prepare(request)
    await response.write(document[:20])
    await asyncio.sleep(0.1)
    await response.write(document[20:])
    return response


@pytest.mark.usefixtures("creds")
async def test_an_error_document_arriving_in_pieces_is_read_whole() -> None:
    async with lean_fake(_no_such_key_in_pieces) as (lean, _):
        with pytest.raises(ClientError) as caught:
            await lean.get_object(Bucket=_BUCKET, Key="k")
    assert caught.value.response["Error"] == {"Code": "NoSuchKey", "Message": "gone"}
    assert isinstance(_translated(caught.value, LOAD_CODES), NotFound)
