"""Building ``S3Backend`` against the real servers: contract factories and raw clients."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from eden_storage_async import S3Backend

from .loopback import LoopbackServer
from .servers import RealServer

__all__ = [
    "S3_TEST_ENV",
    "LoopbackProxy",
    "fresh_prefix",
    "raw_client",
    "s3_backend_on",
    "s3_on_moto",
    "s3_on_seaweedfs",
    "s3_sdk_on_moto",
    "s3_sdk_on_seaweedfs",
    "use_test_credentials",
]

# Dummy keys: both servers accept any. They reach the backend the only way real
# ones do, through the default chain (here, the environment).
S3_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "eden-test-key",
    "AWS_SECRET_ACCESS_KEY": "eden-test-secret",
    # Never wait on an instance-metadata endpoint, never read the developer's files.
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/nonexistent/eden-test-aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/eden-test-aws-credentials",
}
_CLEARED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION",
            "AWS_REGION", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3", "AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS")  # fmt: skip


def use_test_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point botocore's default chain at dummy env credentials and nothing else."""
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in S3_TEST_ENV.items():
        monkeypatch.setenv(name, value)


def fresh_prefix() -> str:
    """A prefix no other test uses, so tests sharing a bucket never see each other."""
    return f"eden-{secrets.token_hex(6)}"


@contextlib.asynccontextmanager
async def s3_backend_on(server: RealServer, **kwargs: Any) -> AsyncIterator[S3Backend]:
    """An ``S3Backend`` on ``server``'s bucket (override with ``bucket=``), closed on exit."""
    kwargs.setdefault("bucket", server.bucket)
    kwargs.setdefault("prefix", fresh_prefix())
    async with S3Backend(endpoint_url=server.endpoint_url, **kwargs) as backend:
        yield backend


@contextlib.asynccontextmanager
async def raw_client(server: RealServer) -> AsyncIterator[Any]:
    """A plain aiobotocore S3 client on ``server``, to check what the backend really did."""
    from aiobotocore.session import AioSession

    def warmed_session() -> Any:
        # Off the loop, as S3Backend does: reading config files and the S3
        # model is blocking I/O.
        session = AioSession()
        session.get_config_variable("ca_bundle")
        warm_up = getattr(session, "warm_up_loader_caches", None)  # aiobotocore >= 3.7
        if warm_up is not None:
            warm_up("s3")
        return session

    session = await asyncio.to_thread(warmed_session)
    async with session.create_client(
        "s3", region_name="us-east-1", endpoint_url=server.endpoint_url
    ) as client:
        yield client


def _contract_factory(
    server_fixture: str, **kwargs: Any
) -> Callable[[pytest.FixtureRequest, Path], contextlib.AbstractAsyncContextManager[S3Backend]]:
    """A contract factory: ``S3Backend(**kwargs)`` on the session's ``server_fixture``,
    with test credentials from the environment and a fresh prefix."""

    @contextlib.asynccontextmanager
    async def factory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[S3Backend]:
        server: RealServer = request.getfixturevalue(server_fixture)
        use_test_credentials(request.getfixturevalue("monkeypatch"))
        async with s3_backend_on(server, **kwargs) as backend:
            yield backend

    return factory


# The lean request path is S3Backend's default; "sdk" switches it off (issue 8's
# rule: the whole contract on both paths, on both servers).
s3_on_seaweedfs = _contract_factory("seaweedfs")
s3_on_moto = _contract_factory("moto")
s3_sdk_on_seaweedfs = _contract_factory("seaweedfs", request_path="sdk")
s3_sdk_on_moto = _contract_factory("moto", request_path="sdk")


class LoopbackProxy(LoopbackServer):
    """A TCP proxy on 127.0.0.1 in front of a server, on the test's own event loop.

    It counts concurrent connections (``peak``), keeps the head of each
    connection's first request (``request_heads``), and can lose one reply: with
    ``lose_next_put_reply()`` armed, the next connection whose request is a PUT
    has its request forwarded whole and its reply swallowed, then is closed, as
    a network fault after the server has committed the write would do. With
    ``delay_next_put_reply(seconds)`` armed, the next PUT's reply is held back
    that long (a server that commits, then stalls past the client's read timeout).
    """

    def __init__(self, upstream_url: str) -> None:
        parts = urlsplit(upstream_url)
        super().__init__()
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._lose_put_reply = False
        self._put_reply_delay = 0.0
        self.replies_delayed = 0
        self.active = 0
        self.peak = 0
        self.replies_lost = 0
        self.request_heads: list[bytes] = []

    def lose_next_put_reply(self) -> None:
        """Swallow the reply to the next PUT request that opens a connection."""
        self._lose_put_reply = True

    def delay_next_put_reply(self, seconds: float) -> None:
        """Hold back the reply to the next PUT request that opens a connection."""
        self._put_reply_delay = seconds

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Forward one connection, losing or delaying a PUT's reply when armed."""
        self.active += 1
        self.peak = max(self.peak, self.active)
        up_writer: asyncio.StreamWriter | None = None
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
            first = await reader.read(65536)
            self.request_heads.append(first.split(b"\r\n\r\n", 1)[0])
            lose = self._lose_put_reply and first.startswith(b"PUT ")
            if lose:
                self._lose_put_reply = False
            delay = self._put_reply_delay if first.startswith(b"PUT ") else 0.0
            if delay:
                self._put_reply_delay = 0.0
                self.replies_delayed += 1
            up_writer.write(first)
            async with asyncio.TaskGroup() as group:
                group.create_task(self._pump(reader, up_writer))
                if lose:
                    await self._swallow_final_reply(up_reader, writer)
                    self.replies_lost += 1
                    raise _Dropped
                group.create_task(self._pump(up_reader, writer, delay))
        except* (_Dropped, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.active -= 1
            for stream in (writer, up_writer):
                if stream is not None:
                    stream.close()
                    with contextlib.suppress(ConnectionError):
                        await stream.wait_closed()

    @staticmethod
    async def _swallow_final_reply(
        up_reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Pass interim 1xx answers through; return once the final status line arrives.

        By then the server has committed (or refused) the write; the caller
        closes the connection so the client never sees the answer.
        """
        while True:
            status_line = await up_reader.readuntil(b"\r\n")
            if not status_line.startswith(b"HTTP/1.1 1"):
                return
            interim = [status_line]
            while interim[-1] != b"\r\n":
                interim.append(await up_reader.readuntil(b"\r\n"))
            writer.write(b"".join(interim))
            await writer.drain()

    @staticmethod
    async def _pump(
        source: asyncio.StreamReader, sink: asyncio.StreamWriter, delay: float = 0.0
    ) -> None:
        if delay:
            await asyncio.sleep(delay)
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
        raise _Dropped  # one side closed: end the whole connection


class _Dropped(Exception):
    """Ends a proxied connection."""
