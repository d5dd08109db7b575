"""``GcsBackend.iter_ids`` on fake-gcs-server (through the recording proxy): pages of
``maxResults`` under the prefix, nothing outside it, a missing bucket never an
empty listing; refusals and outages scripted at the client."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from eden_storage_async import (
    AccessDenied,
    BucketNotFound,
    GcsBackend,
    ServiceUnavailable,
    mint_opaque_id,
)
from eden_storage_async._core.retry import Backoff
from eden_storage_async._gcs.client import GcsClient

from ..support.gcs import RecordingProxy, gcs_backend_on
from ..support.servers import RealServer

_FAST = Backoff(attempts=3, base_s=0.0, cap_s=0.0)


async def _listed(backend: GcsBackend) -> list[str]:
    return [opaque_id async for opaque_id in backend.iter_ids()]


async def _stored(backend: GcsBackend, count: int) -> set[str]:
    ids = {mint_opaque_id() for _ in range(count)}
    for opaque_id in ids:
        await backend.store(opaque_id, b"x")
    return ids


def _lists(proxy: RecordingProxy) -> list[dict[str, str]]:
    return [r.query for r in proxy.requests if r.method == "GET" and r.path.endswith("/o")]


async def test_the_listing_crosses_pages_of_max_results(
    backend: GcsBackend, proxy: RecordingProxy
) -> None:
    backend._list_page = 2
    stored = await _stored(backend, 5)
    assert sorted(await _listed(backend)) == sorted(stored)
    queries = _lists(proxy)
    assert len(queries) == 3  # 2 + 2 + 1
    assert {q["prefix"] for q in queries} == {f"{backend.prefix}/"}
    assert all(q["delimiter"] == "/" and q["maxResults"] == "2" for q in queries)
    assert all(q["fields"] == "items(name),nextPageToken" for q in queries)
    assert "pageToken" not in queries[0]
    assert all("pageToken" in q for q in queries[1:])


async def test_a_missing_bucket_is_bucket_not_found(fake_gcs: RealServer) -> None:
    async with GcsBackend(bucket="eden-no-such-bucket", endpoint_url=fake_gcs.endpoint_url) as b:
        with pytest.raises(BucketNotFound, match="eden-no-such-bucket"):
            await _listed(b)


async def test_a_prefix_lists_only_its_own_ids(fake_gcs: RealServer) -> None:
    async with gcs_backend_on(fake_gcs.endpoint_url, fake_gcs.bucket) as mine:
        stored = await _stored(mine, 3)
        # A prefix that extends ours as a string, and one nested under ours.
        for other in (mine.prefix + "x", f"{mine.prefix}/nested"):
            async with gcs_backend_on(fake_gcs.endpoint_url, fake_gcs.bucket, prefix=other) as n:
                await _stored(n, 2)
        assert sorted(await _listed(mine)) == sorted(stored)


def _answer(status: int) -> aiohttp.ClientResponseError:
    url = URL("http://127.0.0.1/storage/v1/b/eden-test/o")
    headers = CIMultiDictProxy(CIMultiDict({"Authorization": "Bearer ya29.secret"}))
    return aiohttp.ClientResponseError(
        aiohttp.RequestInfo(url, "GET", headers, url), (), status=status, message="scripted"
    )


@pytest.mark.parametrize(("status", "error"), [(403, AccessDenied), (503, ServiceUnavailable)])
async def test_refusals_and_outages_are_narrow_errors(
    fake_gcs: RealServer, monkeypatch: pytest.MonkeyPatch, status: int, error: type[Exception]
) -> None:
    calls = 0

    async def failing(self: GcsClient, *args: Any) -> dict[str, object]:
        nonlocal calls
        calls += 1
        raise _answer(status)

    monkeypatch.setattr(GcsClient, "list_page", failing)
    async with gcs_backend_on(fake_gcs.endpoint_url, fake_gcs.bucket, retry=_FAST) as backend:
        with pytest.raises(error) as caught:
            await _listed(backend)
    assert calls == (3 if status == 503 else 1)  # only the outage is retried
    assert "ya29.secret" not in repr(caught.value.__cause__)
