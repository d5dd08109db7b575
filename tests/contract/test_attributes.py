"""The contract, attributes and ``stat``: a content type and metadata published
atomically with the object on every upload path, read back by ``stat`` with the
size and CRC32C, refused before any I/O when malformed, and never without
their object. Every case runs on every backend of the ``backend`` fixture."""

from __future__ import annotations

import asyncio
import os

import pytest
from hypothesis import HealthCheck, given, settings

from eden_storage_async import ArtifactBackend, ArtifactInfo, NotFound, mint_opaque_id
from eden_storage_async._core.checksum import crc32c_b64

from ..support.strategies import metadata
from .helpers import BIG, async_pieces, cancel_and_wait, in_pieces

pytestmark = pytest.mark.asyncio

ATTRS = {"content_type": "model/x-eden; v=1", "metadata": {"depositor": "wkr_a", "run-7": "a=b c"}}


def _expected(payload: bytes, content_type: str, meta: dict[str, str]) -> ArtifactInfo:
    return ArtifactInfo(len(payload), crc32c_b64(payload), content_type, meta)


async def test_stat_reads_size_checksum_and_attributes(backend: ArtifactBackend) -> None:
    opaque_id = mint_opaque_id()
    payload = os.urandom(3000)
    await backend.store(opaque_id, payload, **ATTRS)  # type: ignore[arg-type]
    info = await backend.stat(opaque_id)
    assert info == _expected(payload, "model/x-eden; v=1", ATTRS["metadata"])  # type: ignore[arg-type]
    assert dict(info.metadata) == ATTRS["metadata"]
    assert await backend.load(opaque_id) == payload


async def test_without_attributes_stat_gives_the_default_content_type(
    backend: ArtifactBackend,
) -> None:
    opaque_id = mint_opaque_id()
    await backend.store(opaque_id, b"plain")
    info = await backend.stat(opaque_id)
    assert info == _expected(b"plain", "application/octet-stream", {})
    empty = mint_opaque_id()
    await backend.store(empty, b"")
    assert (await backend.stat(empty)).size == 0


@pytest.mark.parametrize("path", ["store", "stream-sync", "stream-async", "stream-small"])
async def test_attributes_travel_on_every_upload_path(backend: ArtifactBackend, path: str) -> None:
    # BIG crosses the multipart (S3) and resumable (GCS) thresholds; a small
    # stream takes the single-request path.
    payload = os.urandom(1000 if path == "stream-small" else BIG)
    opaque_id = mint_opaque_id()
    if path == "store":
        await backend.store(opaque_id, payload, **ATTRS)  # type: ignore[arg-type]
    elif path == "stream-async":
        await backend.store_stream(opaque_id, async_pieces(in_pieces(payload)), **ATTRS)  # type: ignore[arg-type]
    else:
        await backend.store_stream(opaque_id, in_pieces(payload), **ATTRS)  # type: ignore[arg-type]
    info = await backend.stat(opaque_id)
    assert info == _expected(payload, "model/x-eden; v=1", ATTRS["metadata"])  # type: ignore[arg-type]


async def test_reuse_keeps_the_first_attributes(backend: ArtifactBackend) -> None:
    opaque_id = mint_opaque_id()
    await backend.store(opaque_id, b"first", content_type="text/plain", metadata={"n": "1"})
    with pytest.raises(FileExistsError):
        await backend.store(opaque_id, b"second", content_type="text/html", metadata={"n": "2"})
    with pytest.raises(FileExistsError):
        await backend.store_stream(opaque_id, [b"third"], metadata={"n": "3"})
    assert await backend.stat(opaque_id) == _expected(b"first", "text/plain", {"n": "1"})


async def test_stat_of_an_absent_id_is_not_found(backend: ArtifactBackend) -> None:
    with pytest.raises(NotFound):
        await backend.stat(mint_opaque_id())


@pytest.mark.parametrize(
    "bad",
    [
        {"metadata": {"Upper": "v"}},
        {"metadata": {"-lead": "v"}},
        {"metadata": {"k": "line\nbreak"}},
        {"metadata": {"k": "\r"}},
        {"metadata": {"k": "x" * 2000}},
        {"metadata": {"eden-crc32c": "AAAAAA=="}},
        {"metadata": {"eden-write-nonce": "0" * 32}},
        {"metadata": {"eden-store-nonce": "0" * 32}},
        {"content_type": "text/plain\r\nX-Injected: 1"},
        {"content_type": "t" * 256},
        {"content_type": ""},
    ],
    ids=repr,
)
async def test_malformed_attributes_are_refused_and_store_nothing(
    backend: ArtifactBackend, bad: dict[str, object]
) -> None:
    opaque_id = mint_opaque_id()
    with pytest.raises(ValueError):
        await backend.store(opaque_id, b"x", **bad)  # type: ignore[arg-type]

    def never() -> list[bytes]:
        raise AssertionError("chunks were touched")

    class Untouchable:
        def __iter__(self) -> list[bytes]:
            return never()

    with pytest.raises(ValueError):
        await backend.store_stream(opaque_id, Untouchable(), **bad)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await backend.stat(opaque_id)
    # Nothing was written: the id is still free.
    await backend.store(opaque_id, b"fine")


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(meta=metadata())
async def test_any_valid_metadata_reads_back_unchanged(
    backend: ArtifactBackend, meta: dict[str, str]
) -> None:
    opaque_id = mint_opaque_id()
    await backend.store(opaque_id, b"m", metadata=meta)
    assert dict((await backend.stat(opaque_id)).metadata) == meta


@pytest.mark.parametrize("where", ["store", "stream"])
async def test_a_cancelled_store_leaves_neither_object_nor_attributes(
    backend: ArtifactBackend, where: str
) -> None:
    await backend.store(mint_opaque_id(), b"warm-up")
    for delay in (0.0, 0.002, 0.01):
        opaque_id = mint_opaque_id()
        payload = os.urandom(2 * 1024 * 1024 if where == "store" else BIG)
        if where == "store":
            job = backend.store(opaque_id, payload, **ATTRS)  # type: ignore[arg-type]
        else:
            job = backend.store_stream(opaque_id, in_pieces(payload), **ATTRS)  # type: ignore[arg-type]
        task = asyncio.create_task(job)
        await asyncio.sleep(delay)
        completed = await cancel_and_wait(task)
        try:
            info = await backend.stat(opaque_id)
        except NotFound:
            assert not completed, "a store that returned must have its attributes"
            with pytest.raises(NotFound):
                await backend.load(opaque_id)
        else:
            # Published: then whole, and with its attributes, never without them.
            assert info == _expected(payload, "model/x-eden; v=1", ATTRS["metadata"])  # type: ignore[arg-type]
            assert await backend.load(opaque_id) == payload
