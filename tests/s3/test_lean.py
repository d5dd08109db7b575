"""The lean S3 request path (``_s3_lean.py``): on the real servers, on a SeaweedFS
that checks signatures, and on scripted ``aiohttp.web`` fakes (servers only: the
lean path's client is ``_http``) for the answers a real server will not give
on demand.

Every test compares with what an aiobotocore client returns or raises: the lean
path must be a drop-in for it, so ``map_s3_errors`` and ``S3Backend`` cannot
tell the two apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    ReadTimeoutError,
)

from eden_storage_async import (
    AccessDenied,
    AlreadyExists,
    BucketNotFound,
    NotFound,
    ServiceUnavailable,
    StorageError,
)
from eden_storage_async._core.checksum import crc32c_b64
from eden_storage_async._core.retry import Backoff
from eden_storage_async._s3.errors import LOAD_CODES, STORE_CODES, map_s3_errors
from eden_storage_async._s3.lean.calls import (
    LeanPathUnsupported,
    LeanRoutedClient,
    LeanS3Calls,
    open_lean_calls,
)

from ..support.s3 import fresh_prefix, use_test_credentials
from ..support.servers import RealServer, seaweedfs_server_with_identity

_NO_SLEEP = Backoff(attempts=3, base_s=0.0, cap_s=0.0)
_BUCKET = "eden-test"
_ACCESS_KEY = "AKIDEDENLEANTEST"
_SECRET = "lean-test-secret-Kx9/zz+QQ"


# The S3 settings S3Backend gives its client that the lean path reads.
_BACKEND_S3_CONFIG = {"payload_signing_enabled": False}


@contextlib.asynccontextmanager
async def sdk_client(server: RealServer, **config: Any) -> AsyncIterator[Any]:
    """An aiobotocore client on ``server`` with ``config`` (an ``AioConfig``'s kwargs)."""
    from aiobotocore.config import AioConfig
    from aiobotocore.session import AioSession

    session = await asyncio.to_thread(AioSession)  # reads config files: off the loop
    async with session.create_client(
        "s3", region_name="us-east-1", endpoint_url=server.endpoint_url, config=AioConfig(**config)
    ) as client:
        yield client


@contextlib.asynccontextmanager
async def lean_on(
    server: RealServer, *, s3_config: Any = _BACKEND_S3_CONFIG, **kwargs: Any
) -> AsyncIterator[tuple[LeanS3Calls, Any]]:
    """The lean calls on ``server``, built from an aiobotocore client configured
    as ``S3Backend`` configures its own; both closed on exit."""
    kwargs.setdefault("max_concurrency", 8)
    async with sdk_client(server, s3=s3_config) as client:
        lean = await open_lean_calls(client, **kwargs)
        try:
            yield lean, client
        finally:
            await lean.aclose()


def _translated(exc: BaseException, codes: Any = None) -> StorageError:
    """What ``map_s3_errors`` (the backend boundary) makes of ``exc``."""
    with pytest.raises(StorageError) as caught, map_s3_errors("op", codes):
        raise exc
    return caught.value


# -- against the real servers ----------------------------------------------------------


@pytest.fixture(params=["seaweedfs", "moto"])
def real(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> RealServer:
    """SeaweedFS and moto, with dummy credentials from the default chain."""
    use_test_credentials(monkeypatch)
    server: RealServer = request.getfixturevalue(request.param)
    return server


@pytest.mark.real_server
async def test_round_trip_with_metadata_and_checksum(real: RealServer) -> None:
    key = f"{fresh_prefix()}/a b+c~d"  # characters botocore percent-encodes
    data = os.urandom(5000)
    async with lean_on(real) as (lean, client):
        put = await lean.put_object(
            Bucket=real.bucket, Key=key, Body=data, IfNoneMatch="*",
            Metadata={"eden-write-nonce": "n1"}, ChecksumCRC32C=crc32c_b64(data),
        )  # fmt: skip
        assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert put["ResponseMetadata"]["RetryAttempts"] == 0
        assert put["ETag"]
        got = await lean.get_object(Bucket=real.bucket, Key=key, ChecksumMode="ENABLED")
        async with got["Body"] as stream:
            first = await stream.read(1000)
            rest = await stream.read()
            assert await stream.read() == b""
        assert first + rest == data
        assert got["ContentLength"] == len(data)
        assert got["Metadata"] == {"eden-write-nonce": "n1"}
        assert got["ETag"] == put["ETag"]
        head = await lean.head_object(Bucket=real.bucket, Key=key, ChecksumMode="ENABLED")
        assert head["ContentLength"] == len(data)
        assert head["Metadata"] == {"eden-write-nonce": "n1"}
        # The same fields as the SDK's own answer.
        sdk_head = await client.head_object(Bucket=real.bucket, Key=key, ChecksumMode="ENABLED")
        for field in ("ContentLength", "Metadata", "ETag", "ChecksumCRC32C"):
            assert head.get(field) == sdk_head.get(field), field


@pytest.mark.real_server
async def test_seaweedfs_keeps_and_returns_the_checksum(
    seaweedfs: RealServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_test_credentials(monkeypatch)
    key = f"{fresh_prefix()}/x"
    data = os.urandom(4096)
    async with lean_on(seaweedfs) as (lean, _):
        put = await lean.put_object(Bucket=seaweedfs.bucket, Key=key, Body=data,
                                    IfNoneMatch="*", ChecksumCRC32C=crc32c_b64(data))  # fmt: skip
        assert put["ChecksumCRC32C"] == crc32c_b64(data)
        got = await lean.get_object(Bucket=seaweedfs.bucket, Key=key, ChecksumMode="ENABLED")
        async with got["Body"] as stream:
            assert await stream.read() == data
        assert got["ChecksumCRC32C"] == crc32c_b64(data)
        head = await lean.head_object(Bucket=seaweedfs.bucket, Key=key)
        assert "ChecksumCRC32C" not in head  # only with ChecksumMode=ENABLED


@pytest.mark.real_server
async def test_seaweedfs_refuses_a_wrong_checksum_with_bad_digest(
    seaweedfs: RealServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_test_credentials(monkeypatch)
    key = f"{fresh_prefix()}/x"
    async with lean_on(seaweedfs) as (lean, _):
        with pytest.raises(ClientError) as caught:
            await lean.put_object(Bucket=seaweedfs.bucket, Key=key, Body=b"hello",
                                  IfNoneMatch="*", ChecksumCRC32C=crc32c_b64(b"hellO"))  # fmt: skip
        assert caught.value.response["Error"]["Code"] == "BadDigest"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        with pytest.raises(ClientError, match="NoSuchKey"):
            await lean.get_object(Bucket=seaweedfs.bucket, Key=key)


@pytest.mark.real_server
async def test_moto_5_2_5_gap_accepts_a_wrong_checksum(
    moto: RealServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pinned emulator gap: moto 5.2.5 stores a body whose x-amz-checksum-crc32c is
    wrong (real S3 and SeaweedFS 4.48 answer 400 BadDigest). The header is sent
    all the same: see test_the_request_carries_exactly_the_contract_headers."""
    use_test_credentials(monkeypatch)
    key = f"{fresh_prefix()}/x"
    async with lean_on(moto) as (lean, _):
        await lean.put_object(Bucket=moto.bucket, Key=key, Body=b"hello",
                              IfNoneMatch="*", ChecksumCRC32C=crc32c_b64(b"hellO"))  # fmt: skip


@pytest.mark.real_server
async def test_reuse_is_412_and_keeps_the_first_bytes(real: RealServer) -> None:
    key = f"{fresh_prefix()}/x"
    async with lean_on(real) as (lean, _):
        await lean.put_object(Bucket=real.bucket, Key=key, Body=b"first", IfNoneMatch="*")
        with pytest.raises(ClientError) as caught:
            await lean.put_object(Bucket=real.bucket, Key=key, Body=b"second", IfNoneMatch="*")
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
        assert caught.value.response["Error"]["Code"] == "PreconditionFailed"
        assert isinstance(_translated(caught.value, STORE_CODES), AlreadyExists)
        got = await lean.get_object(Bucket=real.bucket, Key=key)
        async with got["Body"] as stream:
            assert await stream.read() == b"first"


@pytest.mark.real_server
async def test_missing_key_and_missing_bucket(real: RealServer) -> None:
    key = f"{fresh_prefix()}/absent"
    async with lean_on(real) as (lean, client):
        with pytest.raises(ClientError) as missing_key:
            await lean.get_object(Bucket=real.bucket, Key=key)
        assert missing_key.value.response["Error"]["Code"] == "NoSuchKey"
        assert isinstance(_translated(missing_key.value, LOAD_CODES), NotFound)
        with pytest.raises(ClientError) as missing_bucket:
            await lean.get_object(Bucket="eden-no-such-bucket", Key=key)
        assert missing_bucket.value.response["Error"]["Code"] == "NoSuchBucket"
        assert isinstance(_translated(missing_bucket.value, LOAD_CODES), BucketNotFound)
        with pytest.raises(ClientError) as put_missing_bucket:
            await lean.put_object(Bucket="eden-no-such-bucket", Key=key, Body=b"x")
        assert isinstance(_translated(put_missing_bucket.value, STORE_CODES), BucketNotFound)
        # HEAD has no body: the status is the code, exactly as botocore reports it.
        with pytest.raises(ClientError) as head_missing:
            await lean.head_object(Bucket=real.bucket, Key=key)
        with pytest.raises(ClientError) as sdk_head_missing:
            await client.head_object(Bucket=real.bucket, Key=key)
        assert head_missing.value.response["Error"] == sdk_head_missing.value.response["Error"]
        assert head_missing.value.response["Error"]["Code"] == "404"
        assert not isinstance(_translated(head_missing.value, LOAD_CODES), NotFound)


@pytest.mark.real_server
async def test_lean_and_sdk_read_each_others_objects(real: RealServer) -> None:
    prefix = fresh_prefix()
    async with lean_on(real) as (lean, client):
        await lean.put_object(Bucket=real.bucket, Key=f"{prefix}/lean", Body=b"by lean",
                              IfNoneMatch="*", Metadata={"k": "v1"})  # fmt: skip
        sdk_got = await client.get_object(Bucket=real.bucket, Key=f"{prefix}/lean")
        async with sdk_got["Body"] as stream:
            assert await stream.read() == b"by lean"
        assert sdk_got["Metadata"] == {"k": "v1"}
        await client.put_object(Bucket=real.bucket, Key=f"{prefix}/sdk", Body=b"by sdk",
                                IfNoneMatch="*", Metadata={"k": "v2"})  # fmt: skip
        got = await lean.get_object(Bucket=real.bucket, Key=f"{prefix}/sdk")
        async with got["Body"] as stream:
            assert await stream.read() == b"by sdk"
        assert got["Metadata"] == {"k": "v2"}


@pytest.mark.real_server
async def test_an_empty_object(real: RealServer) -> None:
    key = f"{fresh_prefix()}/empty"
    async with lean_on(real) as (lean, client):
        await lean.put_object(Bucket=real.bucket, Key=key, Body=b"", IfNoneMatch="*")
        got = await lean.get_object(Bucket=real.bucket, Key=key)
        async with got["Body"] as stream:
            assert await stream.read() == b""
        assert got["ContentLength"] == 0
        assert (await client.head_object(Bucket=real.bucket, Key=key))["ContentLength"] == 0


# -- signatures, on a server that checks them ------------------------------------------


@pytest.fixture(scope="module")
def seaweedfs_auth() -> Iterator[RealServer]:
    """SeaweedFS with one identity: it verifies every SigV4 signature."""
    with seaweedfs_server_with_identity(_ACCESS_KEY, _SECRET) as server:
        yield server


def _credentials(monkeypatch: pytest.MonkeyPatch, access_key: str, secret: str) -> None:
    use_test_credentials(monkeypatch)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)


@pytest.mark.real_server
async def test_signed_with_the_right_secret_is_accepted(
    seaweedfs_auth: RealServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _credentials(monkeypatch, _ACCESS_KEY, _SECRET)
    key = f"{fresh_prefix()}/signed a+b"
    async with lean_on(seaweedfs_auth) as (lean, _):
        await lean.put_object(Bucket=seaweedfs_auth.bucket, Key=key, Body=b"ok",
                              IfNoneMatch="*", Metadata={"eden-write-nonce": "n"},
                              ChecksumCRC32C=crc32c_b64(b"ok"))  # fmt: skip
        got = await lean.get_object(Bucket=seaweedfs_auth.bucket, Key=key, ChecksumMode="ENABLED")
        async with got["Body"] as stream:
            assert await stream.read() == b"ok"
        head = await lean.head_object(Bucket=seaweedfs_auth.bucket, Key=key)
        assert head["Metadata"] == {"eden-write-nonce": "n"}


@pytest.mark.real_server
@pytest.mark.parametrize(
    ("access_key", "secret", "code"),
    [(_ACCESS_KEY, "a-wrong-secret", "SignatureDoesNotMatch"),
     ("AKIDUNKNOWN", _SECRET, "InvalidAccessKeyId")],
)  # fmt: skip
async def test_a_wrong_credential_is_refused(
    seaweedfs_auth: RealServer,
    monkeypatch: pytest.MonkeyPatch,
    access_key: str,
    secret: str,
    code: str,
) -> None:
    _credentials(monkeypatch, access_key, secret)
    key = f"{fresh_prefix()}/x"
    async with lean_on(seaweedfs_auth) as (lean, _):
        for call in (
            lean.put_object(Bucket=seaweedfs_auth.bucket, Key=key, Body=b"x", IfNoneMatch="*"),
            lean.get_object(Bucket=seaweedfs_auth.bucket, Key=key),
        ):
            with pytest.raises(ClientError) as caught:
                await call
            assert caught.value.response["Error"]["Code"] == code
            error = _translated(caught.value, STORE_CODES)
            assert isinstance(error, AccessDenied)
            assert secret not in str(error)
            assert secret not in repr(caught.value.response)


# -- scripted fakes ----------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeS3:
    """An ``aiohttp.web`` server on 127.0.0.1 answering from a script.

    ``script`` is a list of handlers, one per request in order; the last one
    answers every request after it. ``requests`` keeps what arrived.
    """

    def __init__(self, *script: Handler) -> None:
        self.script = list(script)
        self.requests: list[web.Request] = []
        self.bodies: list[bytes] = []
        self.peers: list[Any] = []
        self._runner: web.AppRunner | None = None
        self.endpoint_url = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        self.bodies.append(await request.read())
        self.peers.append(
            request.transport.get_extra_info("peername") if request.transport else None
        )
        handler = self.script[min(len(self.requests), len(self.script)) - 1]
        return await handler(request)

    async def __aenter__(self) -> FakeS3:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.endpoint_url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def server(self) -> RealServer:
        return RealServer("fake", self.endpoint_url, _BUCKET, Path(os.devnull))


def error(status: int, code: str | None = None) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        body = b""
        if code is not None:
            body = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
                    f"<Message>scripted {code}</Message></Error>").encode()  # fmt: skip
        return web.Response(status=status, body=body, content_type="application/xml")

    return handler


def ok(body: bytes = b"", headers: dict[str, str] | None = None) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=200, body=body, headers={"ETag": '"e"', **(headers or {})})

    return handler


async def reset(request: web.Request) -> web.StreamResponse:
    """Hang up without an answer, as a reset or a crashed server does."""
    assert request.transport is not None
    request.transport.close()
    await asyncio.sleep(0.5)
    return web.Response(status=200)


def stall(seconds: float) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.Response(status=200)

    return handler


async def truncated(request: web.Request) -> web.StreamResponse:
    """Promise 100 bytes, send 10, hang up."""
    response = web.StreamResponse(status=200, headers={"Content-Length": "100"})
    await response.prepare(request)
    await response.write(b"0123456789")
    assert request.transport is not None
    request.transport.close()
    return response


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    _credentials(monkeypatch, _ACCESS_KEY, _SECRET)


@contextlib.asynccontextmanager
async def lean_fake(*script: Handler, **kwargs: Any) -> AsyncIterator[tuple[LeanS3Calls, FakeS3]]:
    kwargs.setdefault("retry", _NO_SLEEP)
    async with FakeS3(*script) as fake, lean_on(fake.server(), **kwargs) as (lean, _):
        yield lean, fake


@pytest.mark.usefixtures("creds")
async def test_the_request_carries_exactly_the_contract_headers() -> None:
    async with lean_fake(ok(headers={"x-amz-checksum-crc32c": "AAAAAA=="})) as (lean, fake):
        put = await lean.put_object(Bucket=_BUCKET, Key="p/k", Body=b"data", IfNoneMatch="*",
                                    Metadata={"eden-write-nonce": "n"},
                                    ChecksumCRC32C=crc32c_b64(b"data"))  # fmt: skip
        assert put["ChecksumCRC32C"] == "AAAAAA=="
        await lean.get_object(Bucket=_BUCKET, Key="p/k", ChecksumMode="ENABLED")
    sent = fake.requests[0].headers
    assert fake.requests[0].method == "PUT"
    assert fake.requests[0].path == f"/{_BUCKET}/p/k"
    assert fake.bodies[0] == b"data"
    assert sent["If-None-Match"] == "*"
    assert sent["x-amz-meta-eden-write-nonce"] == "n"
    assert sent["x-amz-checksum-crc32c"] == crc32c_b64(b"data")
    assert sent["Content-Length"] == "4"
    # No Expect: 100-continue (SeaweedFS's empty-object gap), no invented type.
    assert "Expect" not in sent
    assert "Content-Type" not in sent
    auth = sent["Authorization"]
    assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={_ACCESS_KEY}/")
    assert "SignedHeaders=host;if-none-match;x-amz-checksum-crc32c;x-amz-content-sha256;" in auth
    assert "x-amz-meta-eden-write-nonce" in auth
    # The same payload-signing rule as the SDK path (payload_signing_enabled=False).
    assert sent["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"
    assert fake.requests[1].headers["x-amz-checksum-mode"] == "ENABLED"
    for request in fake.requests:
        assert all(_SECRET not in value for value in request.headers.values())


@pytest.mark.usefixtures("creds")
async def test_the_payload_signing_rule_is_the_clients_own() -> None:
    """A client left at botocore's default signs the payload over plain HTTP,
    and the lean path then does too: the rule is botocore's, read from the client."""
    async with lean_fake(ok(), s3_config=None) as (lean, fake):
        await lean.put_object(Bucket=_BUCKET, Key="k", Body=b"data", IfNoneMatch="*")
    expected = hashlib.sha256(b"data").hexdigest()
    assert fake.requests[0].headers["X-Amz-Content-SHA256"] == expected


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
    # keep-alive race, tests/test_http.py).
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


async def test_no_credentials_is_no_credentials_error(monkeypatch: pytest.MonkeyPatch) -> None:
    use_test_credentials(monkeypatch)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    async with lean_fake(ok()) as (lean, fake):
        with pytest.raises(NoCredentialsError):
            await lean.put_object(Bucket=_BUCKET, Key="k", Body=b"x", IfNoneMatch="*")
    assert fake.requests == []


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


@pytest.mark.usefixtures("creds")
async def test_credentials_are_frozen_per_request_so_a_refresh_is_seen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with lean_fake(ok()) as (lean, fake):
        await lean.head_object(Bucket=_BUCKET, Key="k")
        # What a refresh does: the credential object's keys change under us.
        credentials = lean._credentials
        monkeypatch.setattr(credentials, "access_key", "AKIDROTATED")
        await lean.head_object(Bucket=_BUCKET, Key="k")
    auths = [request.headers["Authorization"] for request in fake.requests]
    assert f"Credential={_ACCESS_KEY}/" in auths[0]
    assert "Credential=AKIDROTATED/" in auths[1]


@pytest.mark.usefixtures("creds")
async def test_repr_holds_no_credential() -> None:
    async with lean_fake(ok()) as (lean, _):
        assert _SECRET not in repr(lean)
        assert _ACCESS_KEY not in repr(lean)
        assert "endpoint_url" in repr(lean)


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


@pytest.mark.usefixtures("creds")
async def test_the_routed_client_sends_three_calls_lean_and_the_rest_to_the_sdk() -> None:
    async with FakeS3(ok()) as fake, lean_on(fake.server()) as (lean, client):
        routed = LeanRoutedClient(client, lean)
        assert routed.put_object == lean.put_object
        assert routed.get_object == lean.get_object
        assert routed.head_object == lean.head_object
        assert routed.create_multipart_upload == client.create_multipart_upload
        await routed.head_object(Bucket=_BUCKET, Key="k")
    assert fake.requests[0].headers["User-Agent"].startswith("eden-storage-async/")
    assert _SECRET not in repr(routed)


@pytest.mark.usefixtures("creds")
@pytest.mark.parametrize("verify", [True, False])
async def test_tls_settings_are_the_clients_own(verify: bool) -> None:
    async with FakeS3(ok()) as fake, sdk_client(fake.server()) as client:
        client._endpoint.http_session._verify = verify  # as create_client(verify=...) sets it
        lean = await open_lean_calls(client, max_concurrency=1)
        try:
            context = lean._http.ssl_context
            assert context is not None
            assert context.verify_mode == (ssl.CERT_REQUIRED if verify else ssl.CERT_NONE)
            assert context.check_hostname is verify
        finally:
            await lean.aclose()


@pytest.mark.usefixtures("creds")
async def test_a_client_behind_a_proxy_is_refused() -> None:
    async with (
        FakeS3(ok()) as fake,
        sdk_client(
            fake.server(), proxies={"http": "http://127.0.0.1:9", "https": "http://127.0.0.1:9"}
        ) as client,
    ):
        with pytest.raises(LeanPathUnsupported, match="proxy"):
            await open_lean_calls(client, max_concurrency=1)
