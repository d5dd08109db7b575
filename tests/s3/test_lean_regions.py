"""A bucket in another region than the client signs for (issue 16, finding 2), on
``RegionalS3`` (``region_fake.py``), which answers as AWS does.

Before the fix every lean store and load failed with the wrong-region answer
while the SDK path (botocore's redirector) succeeded. Now the lean path learns
the region (header, error body, else one HeadBucket), signs again for it, sends
once more, and caches a permanent answer per bucket; a 307 is followed only to
a host botocore resolves for the bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Literal

import pytest

from eden_storage_async import BackendError, S3Backend

from .lean_helpers import _BUCKET, _NO_SLEEP, FakeS3, ok
from .region_fake import RegionalS3

_ID = "0123456789abcdef0123456789abcdef"
_OTHER = "fedcba9876543210fedcba9876543210"
_HOME = "eu-west-1"
Path = Literal["lean", "sdk"]


@contextlib.asynccontextmanager
async def _backend(fake: RegionalS3, path: Path) -> AsyncIterator[S3Backend]:
    # No region anywhere: a custom endpoint signs for us-east-1, as S3Backend defaults.
    async with S3Backend(
        bucket=_BUCKET, endpoint_url=fake.endpoint_url, request_path=path, retry=_NO_SLEEP
    ) as backend:
        yield backend


@pytest.fixture(autouse=True)
def _no_region(creds: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)


@pytest.mark.parametrize("answer", ["301", "400", "307"])
async def test_a_wrong_region_answer_costs_one_request_then_the_region_is_cached(
    answer: str,
) -> None:
    async with RegionalS3(_BUCKET, _HOME, answer) as fake, _backend(fake, "lean") as backend:
        await backend.store(_ID, b"payload")
        # The answer, then the same PUT signed for the bucket's region: one extra.
        assert fake.regions_signed() == ["us-east-1", _HOME]
        assert await backend.load(_ID) == b"payload"
        info = await backend.stat(_ID)
    assert info.size == 7
    # The load and the stat went straight to the cached region.
    assert fake.regions_signed() == ["us-east-1", _HOME, _HOME, _HOME]
    assert [method for method, _, _ in fake.requests] == ["PUT", "PUT", "GET", "HEAD"]


@pytest.mark.parametrize("answer", ["301", "400", "307", "301-bare", "307-bare"])
@pytest.mark.parametrize("path", ["lean", "sdk"])
async def test_both_paths_store_load_and_stat_a_bucket_in_another_region(
    answer: str, path: Path
) -> None:
    async with RegionalS3(_BUCKET, _HOME, answer) as fake, _backend(fake, path) as backend:
        await backend.store(_ID, b"payload")
        assert await backend.load(_ID) == b"payload"
        assert (await backend.stat(_ID)).size == 7
        with pytest.raises(FileExistsError):
            await backend.store(_ID, b"other")
        assert await backend.load(_ID) == b"payload"
    assert fake.objects[_ID][0] == b"payload"


async def test_no_region_in_the_answer_asks_head_bucket_once_for_concurrent_calls() -> None:
    async with RegionalS3(_BUCKET, _HOME, "301-bare") as fake, _backend(fake, "lean") as backend:
        ids = [f"{n:032x}" for n in range(8)]
        await asyncio.gather(*(backend.store(i, b"x") for i in ids))
        heads = [r for r in fake.requests if r[0] == "HEAD" and r[1] == f"/{_BUCKET}"]
        assert len(heads) == 1
        puts = [r for r in fake.requests if r[0] == "PUT"]
        # Each first PUT got the answer once, then each went to eu-west-1 once.
        assert sorted(region or "" for _, _, region in puts) == sorted(
            ["us-east-1"] * 8 + [_HOME] * 8
        )
        before = len(fake.requests)
        assert await backend.load(ids[0]) == b"x"
    assert fake.regions_signed()[before:] == [_HOME]


async def test_a_307_without_the_region_header_is_followed_for_that_request_only() -> None:
    async with RegionalS3(_BUCKET, _HOME, "307-bare") as fake, _backend(fake, "lean") as backend:
        await backend.store(_ID, b"payload")
        # The 307, one HeadBucket to learn where to, the PUT signed for it.
        assert fake.requests[1][:2] == ("HEAD", f"/{_BUCKET}")
        assert fake.regions_signed() == ["us-east-1", "us-east-1", _HOME]
        assert await backend.load(_ID) == b"payload"
    # Not cached: a temporary redirect says to keep using the original endpoint.
    assert fake.regions_signed()[3:] == ["us-east-1", "us-east-1", _HOME]


@pytest.mark.parametrize("answer", ["307", "307-bare"])
@pytest.mark.parametrize("path", ["lean", "sdk"])
async def test_a_307_location_is_never_followed_to_another_host(answer: str, path: Path) -> None:
    # Before: the SDK path's aiohttp followed the Location itself, sent the PUT
    # and its body there, and took that host's 200 for a store.
    async with FakeS3(ok()) as elsewhere:
        location = f"{elsewhere.endpoint_url}/{_BUCKET}/{_ID}"
        async with (
            RegionalS3(_BUCKET, _HOME, answer, location=location) as fake,
            _backend(fake, path) as backend,
        ):
            await backend.store(_ID, b"payload")
            assert await backend.load(_ID) == b"payload"
    # No request, and no body, ever reached the other host: the store went to
    # the host botocore's ruleset gives the bucket's region.
    assert elsewhere.requests == []
    assert fake.objects[_ID][0] == b"payload"


@pytest.mark.parametrize(
    ("home", "sent"), [(_HOME, ["us-east-1", _HOME]), ("us-east-1", ["us-east-1"])]
)
async def test_a_wrong_region_answer_is_followed_once_and_never_to_the_same_region(
    home: str, sent: list[str]
) -> None:
    # A server that answers 301 whatever the signature: one more try at most,
    # and none when the answer names the region already signed for.
    async with (
        RegionalS3(_BUCKET, home, "301", serve=False) as fake,
        _backend(fake, "lean") as backend,
    ):
        with pytest.raises(BackendError, match="PermanentRedirect"):
            await backend.store(_ID, b"x")
    assert fake.regions_signed() == sent
