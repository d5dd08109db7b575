"""Shared by the ``test_lean_*`` modules: the lean calls on a server, built from an
aiobotocore client configured as ``S3Backend`` configures its own; what
``map_s3_errors`` makes of an error; the test credentials; and ``FakeS3``, a scripted
``aiohttp.web`` server (servers only: the lean path's client is ``_http``) for the
answers a real server will not give on demand, with ``backend_on_fake`` to put a whole
``S3Backend`` in front of it on either request path.

Every lean test compares with what an aiobotocore client returns or raises: the
lean path must be a drop-in for it, so ``map_s3_errors`` and ``S3Backend`` cannot
tell the two apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

import pytest
from aiohttp import web

from eden_storage_async import S3Backend, StorageError
from eden_storage_async._core.retry import Backoff
from eden_storage_async._s3.errors import map_s3_errors
from eden_storage_async._s3.lean.calls import LeanS3Calls, open_lean_calls

from ..support.loopback import LoopbackApp
from ..support.s3 import use_test_credentials
from ..support.servers import RealServer

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


def _credentials(monkeypatch: pytest.MonkeyPatch, access_key: str, secret: str) -> None:
    use_test_credentials(monkeypatch)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)


# -- scripted fakes ----------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeS3(LoopbackApp):
    """An ``aiohttp.web`` server on 127.0.0.1 answering from a script.

    ``script`` is a list of handlers, one per request in order; the last one
    answers every request after it. ``requests`` keeps what arrived.
    """

    def __init__(self, *script: Handler) -> None:
        self.script = list(script)
        self.requests: list[web.Request] = []
        self.bodies: list[bytes] = []
        self.peers: list[Any] = []

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        self.bodies.append(await request.read())
        self.peers.append(
            request.transport.get_extra_info("peername") if request.transport else None
        )
        handler = self.script[min(len(self.requests), len(self.script)) - 1]
        return await handler(request)

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


def answer(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Handler:
    """Any answer, exactly as given (a 206 with its Content-Range, a bare 404...)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=body, headers=headers)

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


@contextlib.asynccontextmanager
async def lean_fake(*script: Handler, **kwargs: Any) -> AsyncIterator[tuple[LeanS3Calls, FakeS3]]:
    kwargs.setdefault("retry", _NO_SLEEP)
    async with FakeS3(*script) as fake, lean_on(fake.server(), **kwargs) as (lean, _):
        yield lean, fake


@contextlib.asynccontextmanager
async def backend_on_fake(
    fake: FakeS3, request_path: Literal["lean", "sdk"], **kwargs: Any
) -> AsyncIterator[S3Backend]:
    """An ``S3Backend`` on ``fake``, on either request path, retrying without sleeps."""
    kwargs.setdefault("retry", _NO_SLEEP)
    async with S3Backend(
        bucket=_BUCKET, endpoint_url=fake.endpoint_url, request_path=request_path, **kwargs
    ) as backend:
        yield backend
