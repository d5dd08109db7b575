"""``S3Backend.iter_ids`` on the real servers, both request paths: ListObjectsV2 pages
under the prefix, nothing outside it, and a missing bucket is never an empty listing."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from eden_storage_async import BucketNotFound, S3Backend, mint_opaque_id
from eden_storage_async._s3 import listing

from ..support.s3 import raw_client, s3_backend_on
from ..support.servers import RealServer

pytestmark = pytest.mark.real_server

PATHS = pytest.mark.parametrize("request_path", ["lean", "sdk"])


async def _listed(backend: S3Backend) -> list[str]:
    return [opaque_id async for opaque_id in backend.iter_ids()]


async def _stored(backend: S3Backend, count: int) -> set[str]:
    ids = {mint_opaque_id() for _ in range(count)}
    for opaque_id in ids:
        await backend.store(opaque_id, b"x")
    return ids


@PATHS
async def test_the_listing_crosses_pages_of_max_keys(
    server: RealServer, request_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages: list[int] = []
    real = listing._names

    def counted(page: Any, key_prefix: str) -> list[str]:
        names = real(page, key_prefix)
        pages.append(len(names))
        return names

    monkeypatch.setattr(listing, "_names", counted)
    async with s3_backend_on(server, request_path=request_path) as backend:
        backend._list_page = 2
        stored = await _stored(backend, 5)
        assert sorted(await _listed(backend)) == sorted(stored)
    assert pages == [2, 2, 1]  # three requests, never more than MaxKeys at once


@PATHS
async def test_a_missing_bucket_is_bucket_not_found(server: RealServer, request_path: str) -> None:
    async with s3_backend_on(
        server, bucket="eden-no-such-bucket", request_path=request_path
    ) as backend:
        with pytest.raises(BucketNotFound, match="eden-no-such-bucket"):
            await _listed(backend)


async def test_a_prefix_lists_only_its_own_ids(server: RealServer) -> None:
    async with s3_backend_on(server) as mine:
        stored = await _stored(mine, 3)
        # A prefix that extends ours as a string, and one nested under ours.
        for other in (mine.prefix + "x", f"{mine.prefix}/nested"):
            async with s3_backend_on(server, prefix=other) as neighbour:
                await _stored(neighbour, 2)
        assert sorted(await _listed(mine)) == sorted(stored)


async def test_no_prefix_lists_the_top_of_the_bucket(server: RealServer) -> None:
    bucket = f"eden-list-{secrets.token_hex(4)}"
    async with raw_client(server) as client:
        await client.create_bucket(Bucket=bucket)
    async with s3_backend_on(server, bucket=bucket, prefix="") as top:
        stored = await _stored(top, 3)
        async with s3_backend_on(server, bucket=bucket, prefix="under") as under:
            await _stored(under, 2)
        assert sorted(await _listed(top)) == sorted(stored)
