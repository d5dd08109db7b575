"""A 416 to a ranged load states the object's size, and S3Backend checks it, on both
request paths (issue 16, left over from the last session): an empty answer is
right only when the range is empty at that size, as ``_gcs/reads.py`` checks.

Before: any 416 was read as an empty slice, so a server that answered 416 with
``Content-Range: bytes */100`` to ``bytes=10-`` made ``load_range`` return
``b""`` for 90 bytes that exist.
"""

from __future__ import annotations

from typing import Literal

import pytest

from eden_storage_async import IntegrityError, S3Backend

from .lean_helpers import FakeS3, Handler, answer, backend_on_fake

_ID = "0123456789abcdef0123456789abcdef"
_XML = "<?xml version='1.0' encoding='UTF-8'?>"
PATHS = pytest.mark.parametrize("path", ["lean", "sdk"])


def _invalid_range(size: int | None = None) -> bytes:
    actual = f"<ActualObjectSize>{size}</ActualObjectSize>" if size is not None else ""
    return (
        f"{_XML}<Error><Code>InvalidRange</Code><Message>The requested range is not"
        f" satisfiable</Message><RangeRequested>bytes=10-</RangeRequested>{actual}</Error>"
    ).encode()


def _416(size: int | None = None, content_range: str | None = None) -> Handler:
    headers = {"Content-Type": "application/xml"}
    if content_range is not None:
        headers["Content-Range"] = content_range
    return answer(416, _invalid_range(size), headers)


async def _both(backend: S3Backend) -> tuple[bytes, list[bytes]]:
    whole = await backend.load_range(_ID, 10)
    async with backend.load_stream(_ID, start=10) as chunks:
        pieces = [chunk async for chunk in chunks]
    return whole, pieces


@PATHS
@pytest.mark.usefixtures("creds")
@pytest.mark.parametrize(
    ("size", "content_range"),
    [(None, "bytes */10"), (10, None), (None, None), (4, "bytes */4")],
    ids=["content-range", "actual-object-size", "no-size", "shorter"],
)
async def test_a_416_that_agrees_the_range_is_empty_is_an_empty_slice(
    path: Literal["lean", "sdk"], size: int | None, content_range: str | None
) -> None:
    async with FakeS3(_416(size, content_range)) as fake, backend_on_fake(fake, path) as backend:
        assert await _both(backend) == (b"", [])
    assert len(fake.requests) == 2  # one each: never retried


@PATHS
@pytest.mark.usefixtures("creds")
@pytest.mark.parametrize(
    ("size", "content_range"),
    [(None, "bytes */100"), (100, None), (10, "bytes */100")],
    ids=["content-range", "actual-object-size", "header-wins"],
)
async def test_a_416_stating_a_size_the_range_fits_in_is_an_integrity_error(
    path: Literal["lean", "sdk"], size: int | None, content_range: str | None
) -> None:
    async with FakeS3(_416(size, content_range)) as fake, backend_on_fake(fake, path) as backend:
        with pytest.raises(IntegrityError, match="of a 100-byte object answered 416"):
            await backend.load_range(_ID, 10)
        tries = len(fake.requests)
        with pytest.raises(IntegrityError, match="bytes=10-"):
            async with backend.load_stream(_ID, start=10):
                pass
    # Read again as any damaged answer is, within the retry bound (3 tries).
    assert tries == 3
    assert len(fake.requests) == 6
