"""``S3Backend.iter_ids`` against a scripted client: what the real servers cannot be
made to answer (refusals, outages, a broken continuation)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from eden_storage_async import AccessDenied, BackendError, S3Backend, ServiceUnavailable

from .helpers import FakeS3Client, Reply, backend_on, client_error

ID_A, ID_B = "a" * 32, "b" * 32


class ListingFake(FakeS3Client):
    def __init__(self, pages: list[Reply]) -> None:
        super().__init__()
        self.scripts["list_objects_v2"] = list(pages)

    async def list_objects_v2(self, **kwargs: Any) -> Mapping[str, Any]:
        return await self._answer("list_objects_v2", dict(kwargs))


async def _listed(backend: S3Backend) -> list[str]:
    async with backend:
        return [opaque_id async for opaque_id in backend.iter_ids()]


async def test_pages_follow_the_continuation_token_under_the_prefix() -> None:
    more = {"IsTruncated": True}
    fake = ListingFake(
        [
            {"Contents": [{"Key": f"p/{ID_A}"}], **more, "NextContinuationToken": "t1"},
            # A page of common prefixes only: empty, but not the end.
            {"CommonPrefixes": [{"Prefix": "p/x/"}], **more, "NextContinuationToken": "t2"},
            {"Contents": [{"Key": f"p/{ID_B}"}, {"Key": "p/stray"}], "IsTruncated": False},
        ]
    )
    assert await _listed(backend_on(fake, prefix="/p/")) == [ID_A, ID_B]
    calls = fake.calls_to("list_objects_v2")
    assert [c.get("ContinuationToken") for c in calls] == [None, "t1", "t2"]
    assert {(c["Bucket"], c["Prefix"], c["Delimiter"]) for c in calls} == {("eden-unit", "p/", "/")}
    assert all("MaxKeys" not in c for c in calls)  # the service's default page


async def test_refused_credentials_are_access_denied() -> None:
    fake = ListingFake([client_error("AccessDenied", 403, operation="ListObjectsV2")])
    with pytest.raises(AccessDenied, match="cannot list the artifacts under s3://eden-unit/"):
        await _listed(backend_on(fake))


async def test_an_outage_is_retried_then_service_unavailable() -> None:
    outage = client_error("ServiceUnavailable", 503, operation="ListObjectsV2")
    recovered = ListingFake([outage, {"Contents": [{"Key": ID_A}], "IsTruncated": False}])
    assert await _listed(backend_on(recovered)) == [ID_A]
    down = ListingFake([outage] * 4)  # the backend's retry allows 4 attempts
    with pytest.raises(ServiceUnavailable):
        await _listed(backend_on(down))
    assert len(down.calls_to("list_objects_v2")) == 4


async def test_a_truncated_page_without_a_token_is_an_error_not_a_loop() -> None:
    fake = ListingFake([{"Contents": [{"Key": ID_A}], "IsTruncated": True}])
    with pytest.raises(BackendError, match="without a NextContinuationToken"):
        await _listed(backend_on(fake))
