"""How GCS failures surface, against ``ScriptedGcs``: error types, retries, timeouts.

A missing bucket, a refused credential or an outage is never ``NotFound``;
transient failures are retried within the attempts and the deadline, the rest
are not retried at all.
"""

from __future__ import annotations

import time

import pytest

from eden_storage_async import (
    AccessDenied,
    BackendError,
    BucketNotFound,
    GcsBackend,
    NotFound,
    ServiceUnavailable,
    mint_opaque_id,
)
from eden_storage_async._core.retry import Backoff

from ..support.gcs_scripted import ScriptedGcs
from .helpers import FAST, backend_for

# --- load: absent object, missing bucket, refused bucket check, outages -------


async def test_bucket_check_refused_with_403_falls_back_to_not_found(
    scripted: ScriptedGcs,
) -> None:
    scripted.script("bucket", 403)
    async with backend_for(scripted) as backend:
        with pytest.raises(NotFound):
            await backend.load(mint_opaque_id())
    assert scripted.count("bucket") == 1


async def test_missing_bucket_is_bucket_not_found_not_not_found(scripted: ScriptedGcs) -> None:
    scripted.bucket_exists = False
    async with backend_for(scripted) as backend:
        with pytest.raises(BucketNotFound) as loading:
            await backend.load(mint_opaque_id())
        assert not isinstance(loading.value, NotFound)
        with pytest.raises(BucketNotFound):
            await backend.store(mint_opaque_id(), b"data")


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_transient_errors_on_load_become_service_unavailable(
    scripted: ScriptedGcs, status: int
) -> None:
    opaque_id = mint_opaque_id()
    scripted.put_object(f"unit/{opaque_id}", b"there")
    scripted.script("download", status, status, status)
    async with backend_for(scripted) as backend:
        with pytest.raises(ServiceUnavailable) as loading:
            await backend.load(opaque_id)
    assert not isinstance(loading.value, NotFound)
    assert scripted.count("download") == FAST.attempts
    assert f"HTTP {status}" in str(loading.value)


async def test_5xx_on_the_bucket_check_is_service_unavailable_not_not_found(
    scripted: ScriptedGcs,
) -> None:
    scripted.script("bucket", 503, 503, 503)
    async with backend_for(scripted) as backend:
        with pytest.raises(ServiceUnavailable):
            await backend.load(mint_opaque_id())


async def test_a_transient_failure_is_retried_and_then_succeeds(scripted: ScriptedGcs) -> None:
    opaque_id = mint_opaque_id()
    scripted.script("multipart", 503)
    scripted.script("download", 500)
    async with backend_for(scripted) as backend:
        await backend.store(opaque_id, b"data")
        assert await backend.load(opaque_id) == b"data"
    assert (scripted.count("multipart"), scripted.count("download")) == (2, 2)


async def test_a_stall_past_the_timeout_is_service_unavailable(scripted: ScriptedGcs) -> None:
    scripted.script("download", ("stall", 1.0), ("stall", 1.0), ("stall", 1.0))
    async with backend_for(scripted, timeout=0.2) as backend:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable, match="timed out"):
            await backend.load(mint_opaque_id())
    assert time.monotonic() - started < 2.5


# --- store: refusals and failures ----------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_on_store_are_access_denied(
    scripted: ScriptedGcs, status: int
) -> None:
    scripted.script("multipart", status)
    async with backend_for(scripted) as backend:
        with pytest.raises(AccessDenied):
            await backend.store(mint_opaque_id(), b"data")
    assert scripted.count("multipart") == 1  # not retried


async def test_5xx_on_store_is_service_unavailable_after_retries(scripted: ScriptedGcs) -> None:
    scripted.script("multipart", 500, 503, 500)
    async with backend_for(scripted) as backend:
        with pytest.raises(ServiceUnavailable):
            await backend.store(mint_opaque_id(), b"data")
    assert scripted.count("multipart") == FAST.attempts


async def test_other_client_errors_are_backend_errors_and_not_retried(
    scripted: ScriptedGcs,
) -> None:
    scripted.script("multipart", 400)
    async with backend_for(scripted) as backend:
        with pytest.raises(BackendError) as storing:
            await backend.store(mint_opaque_id(), b"data")
    assert type(storing.value) is BackendError
    assert scripted.count("multipart") == 1


# --- deadline ---------------------------------------------------------------------


def test_the_default_retry_has_a_deadline() -> None:
    backend = GcsBackend(bucket="some-bucket", endpoint_url="http://127.0.0.1:9")
    assert backend._retry.deadline_s == 60.0


async def test_the_deadline_stops_retries_that_attempts_would_allow(scripted: ScriptedGcs) -> None:
    scripted.script("multipart", *([503] * 200))
    patient = Backoff(attempts=200, base_s=0.05, cap_s=0.05, deadline_s=0.3)
    async with backend_for(scripted, retry=patient) as backend:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable):
            await backend.store(mint_opaque_id(), b"data")
    assert time.monotonic() - started < 2.0
    assert 2 <= scripted.count("multipart") < 20
