"""Attributes and ``stat``, against ``ScriptedGcs``: published with the object, read back.

The scripted fake keeps only what the request that *creates* an object says
(it has no route to change an object later), so an object that has its
attributes there got them atomically, on every upload path.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from eden_storage_async import (
    AccessDenied,
    ArtifactInfo,
    BackendError,
    BucketNotFound,
    GcsBackend,
    NotFound,
    ServiceUnavailable,
    mint_opaque_id,
)
from eden_storage_async._gcs.wire import info_of_resource

from ..support.gcs import crc32c_of
from ..support.gcs_scripted import ScriptedGcs
from .helpers import FAST, PIECE, SMALL_THRESHOLD, backend_for, resuming

ATTRS: dict[str, Any] = {
    "content_type": 'text/csv; charset="utf-8"',
    # Values JSON must escape, and a key that sorts before ours.
    "metadata": {"a-run": "42", "quote": 'say "hi" \\ bye', "zeta": "last"},
}
_MIB = 1024 * 1024

Store = Callable[[GcsBackend, str], Awaitable[bytes]]


async def _small(backend: GcsBackend, opaque_id: str) -> bytes:
    payload = b"small attributes"
    await backend.store(opaque_id, payload, **ATTRS)
    return payload


async def _large_multipart(backend: GcsBackend, opaque_id: str) -> bytes:
    payload = os.urandom(2 * _MIB)  # over the lean client's 1 MiB: the aiohttp path
    await backend.store(opaque_id, payload, **ATTRS)
    return payload


async def _resumable(backend: GcsBackend, opaque_id: str) -> bytes:
    payload = os.urandom(SMALL_THRESHOLD + 1)
    await backend.store(opaque_id, payload, **ATTRS)
    return payload


async def _small_stream(backend: GcsBackend, opaque_id: str) -> bytes:
    payload = b"a short stream"
    await backend.store_stream(opaque_id, [payload[:5], payload[5:]], **ATTRS)
    return payload


async def _streamed_resumable(backend: GcsBackend, opaque_id: str) -> bytes:
    chunks = [os.urandom(100_000) for _ in range(4)]  # over one 256 KiB piece

    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    await backend.store_stream(opaque_id, source(), **ATTRS)
    return b"".join(chunks)


_PATHS: dict[str, tuple[Store, str, str]] = {
    # name: (how it stores, the backend it needs, the upload calls it makes)
    "multipart-lean": (_small, "large-threshold", "multipart"),
    "multipart-aiohttp": (_large_multipart, "large-threshold", "multipart"),
    "multipart-session": (_small, "session", "multipart"),
    "resumable": (_resumable, "small-threshold", "initiate,put"),
    "stream-multipart": (_small_stream, "small-threshold", "multipart"),
    "stream-resumable": (_streamed_resumable, "resuming", "initiate,put,put"),
}


def _backend(scripted: ScriptedGcs, kind: str, session: aiohttp.ClientSession) -> GcsBackend:
    if kind == "large-threshold":
        return backend_for(scripted, resumable_threshold=4 * _MIB)
    if kind == "session":
        return backend_for(scripted, session=session)
    if kind == "small-threshold":
        return backend_for(scripted, resumable_threshold=SMALL_THRESHOLD)
    return resuming(scripted)


@pytest.mark.parametrize("path", list(_PATHS))
async def test_attributes_are_published_by_the_request_that_creates_the_object(
    scripted: ScriptedGcs, path: str
) -> None:
    store, kind, ops = _PATHS[path]
    opaque_id = mint_opaque_id()
    async with aiohttp.ClientSession() as session, _backend(scripted, kind, session) as backend:
        payload = await store(backend, opaque_id)
        assert ",".join(op for op, _ in scripted.calls) == ops  # nothing after the upload
        stored = scripted.objects[f"unit/{opaque_id}"]
        assert stored.content_type == ATTRS["content_type"]
        assert {k: v for k, v in stored.metadata.items() if not k.startswith("eden-")} == (
            ATTRS["metadata"]
        )
        assert "eden-store-nonce" in stored.metadata
        info = await backend.stat(opaque_id)
    assert info == ArtifactInfo(
        size=len(payload),
        crc32c=crc32c_of(payload),
        content_type=ATTRS["content_type"],
        metadata=ATTRS["metadata"],
    )
    assert list(info.metadata) == sorted(ATTRS["metadata"])


async def test_a_store_without_attributes_names_the_default_content_type(
    scripted: ScriptedGcs,
) -> None:
    opaque_id = mint_opaque_id()
    async with backend_for(scripted, resumable_threshold=SMALL_THRESHOLD) as backend:
        await backend.store(opaque_id, b"plain")
        info = await backend.stat(opaque_id)
    assert scripted.objects[f"unit/{opaque_id}"].content_type == "application/octet-stream"
    assert info.content_type == "application/octet-stream"
    assert dict(info.metadata) == {}  # our bookkeeping is never shown


async def test_stat_reads_an_object_another_tool_wrote(scripted: ScriptedGcs) -> None:
    # No contentType, no eden-crc32c: the default type and GCS's own CRC32C.
    opaque_id = mint_opaque_id()
    scripted.put_object(f"unit/{opaque_id}", b"foreign", metadata={"owner": "them"})
    async with backend_for(scripted) as backend:
        info = await backend.stat(opaque_id)
    assert info == ArtifactInfo(
        7, crc32c_of(b"foreign"), "application/octet-stream", {"owner": "them"}
    )


async def test_stat_prefers_our_crc32c_copy_to_the_services(scripted: ScriptedGcs) -> None:
    opaque_id = mint_opaque_id()
    scripted.put_object(f"unit/{opaque_id}", b"x", metadata={"eden-crc32c": "AAAAAA=="})
    async with backend_for(scripted) as backend:
        assert (await backend.stat(opaque_id)).crc32c == "AAAAAA=="


async def test_a_streamed_object_has_no_copy_so_stat_gives_the_services_crc32c(
    scripted: ScriptedGcs,
) -> None:
    opaque_id = mint_opaque_id()
    payload = os.urandom(PIECE + 10)
    async with resuming(scripted) as backend:
        await backend.store_stream(opaque_id, [payload])
        info = await backend.stat(opaque_id)
    assert "eden-crc32c" not in scripted.objects[f"unit/{opaque_id}"].metadata
    assert info.crc32c == crc32c_of(payload)


# --- stat's errors: NotFound only for an absent object -----------------------


async def test_stat_of_an_absent_object_is_not_found(scripted: ScriptedGcs) -> None:
    async with backend_for(scripted) as backend:
        with pytest.raises(NotFound):
            await backend.stat(mint_opaque_id())
    assert scripted.count("bucket") == 1


async def test_stat_in_a_missing_bucket_is_bucket_not_found(scripted: ScriptedGcs) -> None:
    scripted.bucket_exists = False
    async with backend_for(scripted) as backend:
        with pytest.raises(BucketNotFound, match="cannot stat") as stating:
            await backend.stat(mint_opaque_id())
    assert not isinstance(stating.value, NotFound)


@pytest.mark.parametrize(("status", "error"), [(401, AccessDenied), (403, AccessDenied)])
async def test_stat_with_refused_credentials_is_access_denied(
    scripted: ScriptedGcs, status: int, error: type[Exception]
) -> None:
    scripted.script("metadata", status)
    async with backend_for(scripted) as backend:
        with pytest.raises(error):
            await backend.stat(mint_opaque_id())
    assert scripted.count("metadata") == 1  # not retried


async def test_stat_retries_an_outage_then_raises_service_unavailable(
    scripted: ScriptedGcs,
) -> None:
    opaque_id = mint_opaque_id()
    scripted.put_object(f"unit/{opaque_id}", b"there")
    scripted.script("metadata", 503, 503, 503)
    async with backend_for(scripted) as backend:
        with pytest.raises(ServiceUnavailable):
            await backend.stat(opaque_id)
        assert scripted.count("metadata") == FAST.attempts
        scripted.script("metadata", 503)
        assert (await backend.stat(opaque_id)).size == 5  # one outage, then the answer


def test_a_resource_without_a_size_is_a_backend_error_not_a_made_up_size() -> None:
    resources: list[object] = [{}, {"size": 12}, {"size": "-1"}, {"size": "١٢"}, []]
    for resource in resources:
        with pytest.raises(BackendError, match="has no size"):
            info_of_resource(resource, "gs://b/o")
    info = info_of_resource({"size": "12", "contentType": "", "metadata": {"k": 1}}, "gs://b/o")
    assert (info.size, info.content_type, dict(info.metadata)) == (
        12,
        "application/octet-stream",
        {},
    )
