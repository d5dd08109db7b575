"""``S3Backend.stat`` on scripted fakes (``helpers.py``): one HeadObject read into an
``ArtifactInfo`` (our CRC32C copy first, our bookkeeping never shown), a 404 settled
by HeadBucket (``NotFound`` only with the bucket there), refused credentials and
outages as for ``load``, within one retry deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from botocore.exceptions import ClientError

from eden_storage_async import (
    AccessDenied,
    BackendError,
    BucketNotFound,
    NotFound,
    ServiceUnavailable,
    mint_opaque_id,
)
from eden_storage_async._core.retry import Backoff

from .helpers import FakeS3Client, backend_on, client_error

_OURS = "AAAAAA=="
_SERVICE = "BBBBBB=="


def _head(**fields: Any) -> dict[str, Any]:
    return {"ContentLength": 7, "ContentType": "text/csv", **fields}


async def test_stat_is_one_head_read_into_an_artifact_info() -> None:
    head = _head(
        Metadata={"owner": "ada", "eden-crc32c": _OURS, "eden-write-nonce": "n" * 32},
        ChecksumCRC32C=_SERVICE,
    )
    client = FakeS3Client(head=[head])
    opaque_id = mint_opaque_id()
    async with backend_on(client, prefix="p") as backend:
        info = await backend.stat(opaque_id)
    assert (info.size, info.content_type) == (7, "text/csv")
    assert dict(info.metadata) == {"owner": "ada"}
    # Our copy is what the writer computed; the service's would do as well.
    assert info.crc32c == _OURS
    assert client.calls_to("head_object") == [
        {"Bucket": "eden-unit", "Key": f"p/{opaque_id}", "ChecksumMode": "ENABLED"}
    ]
    assert client.calls_to("head_bucket") == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"ChecksumCRC32C": _SERVICE}, _SERVICE),
        ({"ChecksumCRC32C": "BBBBBB==-3"}, None),
        ({}, None),
    ],
    ids=["service-only", "composite-only", "none"],
)
async def test_stat_falls_back_to_the_services_whole_crc32c(
    fields: dict[str, Any], expected: str | None
) -> None:
    client = FakeS3Client(head=[_head(Metadata={}, **fields)])
    async with backend_on(client) as backend:
        assert (await backend.stat(mint_opaque_id())).crc32c == expected


async def test_an_object_without_a_content_type_reads_as_the_default() -> None:
    client = FakeS3Client(head=[{"ContentLength": 0}])
    async with backend_on(client) as backend:
        info = await backend.stat(mint_opaque_id())
    assert info.content_type == "application/octet-stream"
    assert dict(info.metadata) == {}


async def test_a_head_without_a_length_is_a_backend_error() -> None:
    client = FakeS3Client(head=[{"ContentType": "text/csv"}])
    async with backend_on(client) as backend:
        with pytest.raises(BackendError, match="Content-Length"):
            await backend.stat(mint_opaque_id())


def _head_404() -> ClientError:
    return client_error("404", 404, operation="HeadObject")


async def test_a_404_with_the_bucket_there_is_not_found() -> None:
    client = FakeS3Client(head=[_head_404()], head_bucket=[{}])
    async with backend_on(client) as backend:
        with pytest.raises(NotFound) as caught:
            await backend.stat(mint_opaque_id())
    assert isinstance(caught.value.__cause__, ClientError)
    assert client.calls_to("head_bucket") == [{"Bucket": "eden-unit"}]


@pytest.mark.parametrize(
    "error",
    [client_error("404", 404, operation="HeadBucket"),
     client_error("NoSuchBucket", 404, operation="HeadBucket")],
    ids=["bare-404", "no-such-bucket"],
)  # fmt: skip
async def test_a_404_with_the_bucket_missing_is_bucket_not_found(error: ClientError) -> None:
    client = FakeS3Client(head=[_head_404()], head_bucket=[error])
    async with backend_on(client) as backend:
        with pytest.raises(BucketNotFound) as caught:
            await backend.stat(mint_opaque_id())
    assert not isinstance(caught.value, NotFound)
    assert caught.value.__cause__ is error


async def test_a_refused_head_bucket_is_access_denied_naming_the_permission() -> None:
    client = FakeS3Client(
        head=[_head_404()], head_bucket=[client_error("403", 403, operation="HeadBucket")]
    )
    async with backend_on(client) as backend:
        with pytest.raises(AccessDenied, match="s3:ListBucket") as caught:
            await backend.stat(mint_opaque_id())
    assert not isinstance(caught.value, NotFound)


async def test_a_403_on_head_is_access_denied_without_asking_for_the_bucket() -> None:
    client = FakeS3Client(head=[client_error("403", 403, operation="HeadObject")])
    async with backend_on(client) as backend:
        with pytest.raises(AccessDenied):
            await backend.stat(mint_opaque_id())
    assert client.calls_to("head_bucket") == []


async def test_a_503_on_head_is_retried_then_answered() -> None:
    client = FakeS3Client(head=[client_error("503", 503, operation="HeadObject")] * 2 + [_head()])
    async with backend_on(client) as backend:
        assert (await backend.stat(mint_opaque_id())).size == 7
    assert len(client.calls_to("head_object")) == 3


@pytest.mark.parametrize("where", ["head_object", "head_bucket"])
async def test_503s_past_the_bound_are_service_unavailable(where: str) -> None:
    unavailable = client_error("SlowDown", 503, operation="HeadObject")
    if where == "head_object":
        client = FakeS3Client(head=[unavailable] * 4)
    else:
        client = FakeS3Client(head=[_head_404()], head_bucket=[unavailable] * 4)
    async with backend_on(client) as backend:
        with pytest.raises(ServiceUnavailable):
            await backend.stat(mint_opaque_id())
    assert len(client.calls_to(where)) == 4


async def test_a_503_on_head_bucket_is_retried_then_settles_the_404() -> None:
    unavailable = client_error("503", 503, operation="HeadBucket")
    client = FakeS3Client(head=[_head_404()], head_bucket=[unavailable, {}])
    async with backend_on(client) as backend:
        with pytest.raises(NotFound):
            await backend.stat(mint_opaque_id())
    assert len(client.calls_to("head_bucket")) == 2


class _SlowFake(FakeS3Client):
    """Every call takes ``seconds``: a deadline can be spent by the first call."""

    def __init__(self, seconds: float, **scripts: Any) -> None:
        super().__init__(**scripts)
        self._seconds = seconds

    async def _answer(self, method: str, kwargs: dict[str, Any]) -> Mapping[str, Any]:
        await asyncio.sleep(self._seconds if method == "head_bucket" else 2 * self._seconds)
        return await super()._answer(method, kwargs)


async def test_one_deadline_bounds_the_head_and_the_head_bucket() -> None:
    # The HEAD takes 0.4 s of a 0.5 s deadline, so HeadBucket gets what is left
    # (one 0.2 s try), not a deadline of its own (which would allow three).
    unavailable = client_error("503", 503, operation="HeadBucket")
    client = _SlowFake(0.2, head=[_head_404()], head_bucket=[unavailable] * 4)
    retry = Backoff(attempts=4, base_s=0.0, cap_s=0.0, deadline_s=0.5)
    async with backend_on(client, retry=retry) as backend:
        with pytest.raises(ServiceUnavailable):
            await backend.stat(mint_opaque_id())
    assert len(client.calls_to("head_bucket")) == 1
