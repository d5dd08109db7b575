"""The real server on loopback, configured as eden runs it, and our wire client on it.

``wire`` serves the contract ``backend`` fixture (every backend, every real
server); ``edge_serving`` serves the memory and file backends only, for the
cases that cost time or need their own settings. The backend is wrapped in a
``Recorder`` that counts the calls, so a test can prove a HEAD never loaded
and a refused deposit never finished a store.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp
import pytest
from aiohttp import web

from eden_storage_async import (
    ArtifactBackend,
    ArtifactInfo,
    CreateOnlyReport,
    NotFound,
    create_app,
)
from tests.support.backends import BACKENDS

from .client import WireClient

EXPERIMENT = "exp-wire"
ADMIN = "admin"
ALICE = "wkr_0123456789abcdefghjkmnpqrs"
BOB = "wkr_tvwxyz0123456789abcdefghjk"
# A worker the server is told to treat as an admin (--admin-principal).
CAROL = "wkr_" + "c" * 26
SECRETS = {ADMIN: "admin-secret-9a1", ALICE: "alice-secret-3f7", BOB: "bob-secret-0c2"}
SECRETS[CAROL] = "carol-secret-5e8"


def bearer(principal: str) -> str:
    """The Authorization credential eden's client sends for ``principal``."""
    return f"{principal}:{SECRETS[principal]}"


@dataclass
class Recorder:
    """Passes every call to ``inner`` and counts it; closing is the fixture's job."""

    inner: ArtifactBackend
    stores_begun: list[str] = field(default_factory=list)
    stores_done: list[str] = field(default_factory=list)
    loads: int = 0
    stats: int = 0

    async def store(self, opaque_id: str, data: Any, **attributes: Any) -> None:
        self.stores_begun.append(opaque_id)
        await self.inner.store(opaque_id, data, **attributes)
        self.stores_done.append(opaque_id)

    async def store_stream(self, opaque_id: str, chunks: Any, **attributes: Any) -> None:
        self.stores_begun.append(opaque_id)
        await self.inner.store_stream(opaque_id, chunks, **attributes)
        self.stores_done.append(opaque_id)

    async def load(self, opaque_id: str) -> bytes:
        self.loads += 1
        return await self.inner.load(opaque_id)

    async def load_range(self, opaque_id: str, start: int, end: int | None = None) -> bytes:
        self.loads += 1
        return await self.inner.load_range(opaque_id, start, end)

    def load_stream(
        self, opaque_id: str, *, start: int = 0, end: int | None = None
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[bytes]]:
        self.loads += 1
        return self.inner.load_stream(opaque_id, start=start, end=end)

    async def stat(self, opaque_id: str) -> ArtifactInfo:
        self.stats += 1
        return await self.inner.stat(opaque_id)

    def iter_ids(self) -> AsyncIterator[str]:
        return self.inner.iter_ids()

    async def check_create_only(self, paths: Iterable[str] | None = None) -> CreateOnlyReport:
        return await self.inner.check_create_only(paths)

    async def aclose(self) -> None:
        pass

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pass

    async def nothing_left_but_finished(self) -> None:
        """Assert that a store begun and not finished left no artifact, by ``stat``
        and by listing: the backend holds exactly the finished stores."""
        for opaque_id in set(self.stores_begun) - set(self.stores_done):
            with pytest.raises(NotFound):
                await self.inner.stat(opaque_id)
        listed = [opaque_id async for opaque_id in self.inner.iter_ids()]
        assert sorted(listed) == sorted(self.stores_done)


@dataclass
class Served:
    """The server's base URL, one session, the recorded backend, and a client per principal."""

    base_url: str
    session: aiohttp.ClientSession
    recorder: Recorder

    def client(
        self,
        principal: str | None,
        *,
        experiment_id: str = EXPERIMENT,
        header_experiment_id: str | None = None,
        send_experiment_header: bool = True,
    ) -> WireClient:
        """A client as ``principal`` (None: no Authorization header)."""
        return WireClient(
            self.session,
            self.base_url,
            experiment_id,
            bearer=None if principal is None else bearer(principal),
            header_experiment_id=header_experiment_id,
            send_experiment_header=send_experiment_header,
        )


@contextlib.asynccontextmanager
async def serving(
    backend: ArtifactBackend, tmp_path: Path, **settings: Any
) -> AsyncIterator[Served]:
    """``create_app`` over ``backend`` on 127.0.0.1, a free port; eden's settings by default:
    a principals file (mode 0600), CAROL as an extra admin, one bound experiment."""
    principals = tmp_path / "principals"
    principals.write_text("".join(f"{name}:{secret}\n" for name, secret in SECRETS.items()))
    principals.chmod(0o600)
    config: dict[str, Any] = {
        "principals": principals,
        "admin_principals": [CAROL],
        "experiment_id": EXPERIMENT,
        "max_artifact_bytes": 1 << 20,
        **settings,
    }
    recorder = Recorder(backend)
    runner = web.AppRunner(create_app(recorder, **config))
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        async with aiohttp.ClientSession() as session:
            yield Served(f"http://{host}:{port}", session, recorder)
    finally:
        await runner.cleanup()


@pytest.fixture
async def wire(backend: ArtifactBackend, tmp_path: Path) -> AsyncIterator[Served]:
    """The server, as eden runs it, over every backend of the contract fixture."""
    async with serving(backend, tmp_path) as served:
        yield served


@pytest.fixture(params=["memory", "file"])
async def edge_backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ArtifactBackend]:
    """The two local backends only: the edge cases are the server's, not the store's."""
    async with BACKENDS[request.param](request, tmp_path) as built:
        yield built


EdgeServing = Callable[..., contextlib.AbstractAsyncContextManager[Served]]


@pytest.fixture
def edge_serving(edge_backend: ArtifactBackend, tmp_path: Path) -> EdgeServing:
    """``async with edge_serving(**settings) as served``: the server with other settings."""

    def open_(**settings: Any) -> contextlib.AbstractAsyncContextManager[Served]:
        return serving(edge_backend, tmp_path, **settings)

    return open_


def header_map(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers a GET and a HEAD must agree on."""
    names = ("Content-Type", "Content-Length", "ETag", "Cache-Control", "Content-Disposition")
    return {name: headers[name] for name in names if name in headers}
