"""``stat`` and range reads over HTTP, on both request paths: a scripted
``aiohttp.web`` server (``lean_helpers.FakeS3``) behind a whole ``S3Backend``, for
what a real server will not do on demand: HEAD 404 with the bucket there or not, a
403 or 503s on HEAD, a server that ignores ``Range`` and answers 200, a wrong
``Content-Range``, and 416. Each request path must send the ``Range`` header and
hand the status and ``Content-Range`` back."""

from __future__ import annotations

import base64
import zlib
from typing import Literal

import pytest

from eden_storage_async import (
    AccessDenied,
    BucketNotFound,
    IntegrityError,
    NotFound,
    ServiceUnavailable,
    mint_opaque_id,
)

from .helpers import _crc
from .lean_helpers import _BUCKET, FakeS3, answer, backend_on_fake, error

pytestmark = [pytest.mark.usefixtures("creds"), pytest.mark.parametrize("path", ["lean", "sdk"])]

Path = Literal["lean", "sdk"]
_DATA = b"0123456789"
_OURS = {"x-amz-meta-eden-crc32c": _crc(_DATA)}


async def test_stat_reads_the_head(path: Path) -> None:
    head = answer(
        200,
        _DATA,
        {"Content-Type": "text/csv", "x-amz-meta-owner": "ada", "x-amz-meta-eden-write-nonce": "n",
         **_OURS},
    )  # fmt: skip
    async with FakeS3(head) as fake, backend_on_fake(fake, path) as backend:
        info = await backend.stat(mint_opaque_id())
    assert (info.size, info.crc32c, info.content_type) == (10, _crc(_DATA), "text/csv")
    assert dict(info.metadata) == {"owner": "ada"}
    assert fake.requests[0].method == "HEAD"
    assert fake.requests[0].headers["x-amz-checksum-mode"] == "ENABLED"


@pytest.mark.parametrize(("bucket_status", "expected"), [(200, NotFound), (404, BucketNotFound)])
async def test_a_head_404_is_settled_by_head_bucket(
    path: Path, bucket_status: int, expected: type[Exception]
) -> None:
    async with (
        FakeS3(answer(404), answer(bucket_status)) as fake,
        backend_on_fake(fake, path) as backend,
    ):
        with pytest.raises(expected) as caught:
            await backend.stat(mint_opaque_id())
    assert type(caught.value) is expected
    assert [(r.method, r.path) for r in fake.requests][1] == ("HEAD", f"/{_BUCKET}")
    assert len(fake.requests) == 2


async def test_a_403_on_head_is_access_denied(path: Path) -> None:
    async with FakeS3(answer(403)) as fake, backend_on_fake(fake, path) as backend:
        with pytest.raises(AccessDenied):
            await backend.stat(mint_opaque_id())
    assert len(fake.requests) == 1


async def test_503s_on_head_are_retried(path: Path) -> None:
    script = (answer(503), answer(503), answer(200, _DATA, _OURS))
    async with FakeS3(*script) as fake, backend_on_fake(fake, path) as backend:
        assert (await backend.stat(mint_opaque_id())).size == 10
    assert len(fake.requests) == 3


async def test_503s_on_head_past_the_bound_are_service_unavailable(path: Path) -> None:
    async with FakeS3(answer(503)) as fake, backend_on_fake(fake, path) as backend:
        with pytest.raises(ServiceUnavailable):
            await backend.stat(mint_opaque_id())
    assert len(fake.requests) == 3  # backend_on_fake's Backoff: 3 attempts


def _partial(first: int, body: bytes, total: int = 10) -> dict[str, str]:
    return {"Content-Range": f"bytes {first}-{first + len(body) - 1}/{total}", **_OURS}


async def test_a_206_is_read_and_streamed_with_the_range_sent(path: Path) -> None:
    script = (answer(206, b"234", _partial(2, b"234")), answer(206, b"789", _partial(7, b"789")))
    async with FakeS3(*script) as fake, backend_on_fake(fake, path) as backend:
        assert await backend.load_range(mint_opaque_id(), 2, 5) == b"234"
        async with backend.load_stream(mint_opaque_id(), start=-3) as chunks:
            assert [chunk async for chunk in chunks] == [b"789"]
    assert [r.headers["Range"] for r in fake.requests] == ["bytes=2-4", "bytes=-3"]


async def test_a_206_whole_answer_is_checked_against_the_crc32c(path: Path) -> None:
    damaged = b"0123456788"
    script = answer(206, damaged, _partial(0, damaged))
    async with FakeS3(script) as fake, backend_on_fake(fake, path) as backend:
        with pytest.raises(IntegrityError, match="CRC32C mismatch"):
            await backend.load_range(mint_opaque_id(), 0, 10)
    assert len(fake.requests) == 3  # retried, as a damaged load is


async def test_a_server_that_ignores_range_is_verified_and_sliced(path: Path) -> None:
    async with (
        FakeS3(answer(200, _DATA, _OURS)) as fake,
        backend_on_fake(fake, path) as backend,
    ):
        assert await backend.load_range(mint_opaque_id(), -3) == b"789"
        async with backend.load_stream(mint_opaque_id(), start=2, end=5) as chunks:
            assert [chunk async for chunk in chunks] == [b"234"]
    assert fake.requests[0].headers["Range"] == "bytes=-3"


async def test_a_server_that_ignores_range_and_damages_the_body(path: Path) -> None:
    async with (
        FakeS3(answer(200, b"0123456788", _OURS)) as fake,
        backend_on_fake(fake, path) as backend,
    ):
        with pytest.raises(IntegrityError, match="CRC32C mismatch"):
            await backend.load_range(mint_opaque_id(), 2, 5)


async def test_a_wrong_content_range_is_integrity_error(path: Path) -> None:
    async with (
        FakeS3(answer(206, b"012", _partial(0, b"012"))) as fake,
        backend_on_fake(fake, path) as backend,
    ):
        with pytest.raises(IntegrityError, match="ranged read"):
            await backend.load_range(mint_opaque_id(), 2, 5)
        with pytest.raises(IntegrityError, match="ranged read"):
            async with backend.load_stream(mint_opaque_id(), start=2, end=5):
                pass


async def test_a_416_is_an_empty_slice(path: Path) -> None:
    async with (
        FakeS3(error(416, "InvalidRange")) as fake,
        backend_on_fake(fake, path) as backend,
    ):
        assert await backend.load_range(mint_opaque_id(), 10) == b""
        async with backend.load_stream(mint_opaque_id(), start=10, end=20) as chunks:
            assert [chunk async for chunk in chunks] == []
    assert len(fake.requests) == 2


async def test_no_such_key_on_a_range_is_not_found(path: Path) -> None:
    async with (
        FakeS3(error(404, "NoSuchKey")) as fake,
        backend_on_fake(fake, path) as backend,
    ):
        with pytest.raises(NotFound):
            await backend.load_range(mint_opaque_id(), 2, 5)


async def test_a_whole_object_crc32_beside_a_strict_slice_fails_no_correct_answer(
    path: Path,
) -> None:
    # An object another tool wrote with CRC32: a server that sends its whole
    # checksum with a 206 must not make botocore refuse the slice (SDK path).
    crc32 = base64.b64encode(zlib.crc32(_DATA).to_bytes(4, "big")).decode()
    headers = {**_partial(2, b"234"), "x-amz-checksum-crc32": crc32}
    async with FakeS3(answer(206, b"234", headers)) as fake, backend_on_fake(fake, path) as backend:
        assert await backend.load_range(mint_opaque_id(), 2, 5) == b"234"
    assert fake.requests[0].headers["x-amz-checksum-mode"] == "ENABLED"
