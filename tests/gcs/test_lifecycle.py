"""``GcsBackend``'s lifecycle and configuration: sessions, the client, ``repr``, settings."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import aiohttp
import pytest

from eden_storage_async import ConfigError, GcsBackend, MissingDependency, mint_opaque_id
from eden_storage_async._gcs.client import Timeouts

from ..support.gcs_scripted import ScriptedGcs
from .helpers import backend_for


async def test_injected_session_is_used_and_not_closed(scripted: ScriptedGcs) -> None:
    sent: list[str] = []

    async def on_request_start(
        session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestStartParams
    ) -> None:
        sent.append(params.method)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        async with backend_for(scripted, session=session) as backend:
            opaque_id = mint_opaque_id()
            await backend.store(opaque_id, b"data")
            assert await backend.load(opaque_id) == b"data"
        assert not session.closed
        assert sent == ["POST", "GET"]


async def test_owned_session_is_sized_and_closed(scripted: ScriptedGcs) -> None:
    backend = backend_for(scripted, max_concurrency=7)
    await backend.store(mint_opaque_id(), b"data")
    client = backend._client
    assert client is not None
    session = client._session
    assert isinstance(session.connector, aiohttp.TCPConnector)
    assert session.connector.limit == 7
    await backend.aclose()
    assert session.closed


async def test_first_uses_at_once_build_one_client(
    scripted: ScriptedGcs, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eden_storage_async._gcs import client as _gcs_client

    built: list[object] = []
    original = _gcs_client.open_client

    async def counting(**kwargs: Any) -> _gcs_client.GcsClient:
        built.append(kwargs)
        await asyncio.sleep(0.01)
        return await original(**kwargs)

    monkeypatch.setattr(_gcs_client, "open_client", counting)
    async with backend_for(scripted) as backend:
        await asyncio.gather(*(backend.store(mint_opaque_id(), b"x") for _ in range(10)))
    assert len(built) == 1


def test_construction_needs_no_running_loop() -> None:
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    backend = GcsBackend(bucket="some-bucket", endpoint_url="http://127.0.0.1:9")
    assert backend._client is None


def test_repr_shows_bucket_prefix_and_endpoint_only() -> None:
    backend = GcsBackend(
        bucket="some-bucket", prefix="/runs/", endpoint_url="http://user:hunter2@127.0.0.1:9/"
    )
    assert repr(backend) == (
        "GcsBackend(bucket='some-bucket', prefix='runs', endpoint='http://127.0.0.1:9')"
    )


def test_repr_without_endpoint_names_the_real_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    assert "endpoint='https://storage.googleapis.com'" in repr(GcsBackend(bucket="some-bucket"))


def test_missing_sdk_names_the_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gcloud.aio.storage", None)
    with pytest.raises(MissingDependency, match=r"pip install 'eden-storage-async\[gcs\]'") as info:
        GcsBackend(bucket="some-bucket")
    assert isinstance(info.value, ImportError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bucket": "Upper"},
        {"bucket": "a"},
        {"bucket": "bad/name"},
        {"bucket": "ok-bucket", "prefix": "a//b"},
        {"bucket": "ok-bucket", "prefix": "a/../b"},
        {"bucket": "ok-bucket", "prefix": "line\nbreak"},
        {"bucket": "ok-bucket", "timeout": 0},
        {"bucket": "ok-bucket", "min_throughput": -1},
        {"bucket": "ok-bucket", "max_concurrency": 0},
        {"bucket": "ok-bucket", "endpoint_url": "ftp://127.0.0.1"},
    ],
    ids=repr,
)
def test_bad_settings_are_config_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        GcsBackend(**kwargs)


def test_upload_timeout_grows_with_the_body_and_download_has_no_total() -> None:
    timeouts = Timeouts(idle_s=30.0, min_bytes_per_s=1024 * 1024)
    big = timeouts.upload(1024**3)
    assert big.total == 30.0 + 1024
    assert (big.sock_connect, big.sock_read) == (30.0, 30.0)
    download = timeouts.download()
    assert download.total is None
    assert download.sock_read == 30.0
