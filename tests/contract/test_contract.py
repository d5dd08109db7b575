"""The contract: every case runs on every backend of the ``backend`` fixture."""

from __future__ import annotations

import asyncio
import gc
import os
import warnings
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from eden_storage_async import (
    ArtifactBackend,
    BackendClosed,
    NotFound,
    Payload,
    mint_opaque_id,
)

from ..support.strategies import MALFORMED_IDS, malformed_ids

pytestmark = pytest.mark.asyncio


async def test_is_an_artifact_backend(backend: ArtifactBackend) -> None:
    assert isinstance(backend, ArtifactBackend)


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
async def test_round_trip(backend: ArtifactBackend, kind: type) -> None:
    opaque_id = mint_opaque_id()
    payload = os.urandom(1000)
    await backend.store(opaque_id, kind(payload))
    loaded = await backend.load(opaque_id)
    assert type(loaded) is bytes
    assert loaded == payload


async def test_reuse_raises_file_exists_and_keeps_original(backend: ArtifactBackend) -> None:
    opaque_id = mint_opaque_id()
    await backend.store(opaque_id, b"first")
    with pytest.raises(FileExistsError):
        await backend.store(opaque_id, b"second")
    assert await backend.load(opaque_id) == b"first"


async def test_absent_id_raises_not_found(backend: ArtifactBackend) -> None:
    with pytest.raises(NotFound):
        await backend.load(mint_opaque_id())


@pytest.mark.parametrize("bad_id", MALFORMED_IDS, ids=repr)
async def test_named_malformed_ids_raise_value_error(
    backend: ArtifactBackend, bad_id: object
) -> None:
    with pytest.raises(ValueError):
        await backend.store(bad_id, b"x")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await backend.load(bad_id)  # type: ignore[arg-type]


@settings(
    max_examples=40,
    deadline=None,
    # The backend is shared across examples on purpose: a rejected id never writes.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(bad_id=malformed_ids())
async def test_generated_malformed_ids_raise_value_error(
    backend: ArtifactBackend, bad_id: str
) -> None:
    with pytest.raises(ValueError):
        await backend.store(bad_id, b"x")
    with pytest.raises(ValueError):
        await backend.load(bad_id)


@pytest.mark.parametrize("bad_payload", ["text", 42, None, [1, 2]], ids=repr)
async def test_non_bytes_payload_raises_type_error(
    backend: ArtifactBackend, bad_payload: object
) -> None:
    opaque_id = mint_opaque_id()
    with pytest.raises(TypeError):
        await backend.store(opaque_id, bad_payload)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await backend.load(opaque_id)


async def test_empty_payload(backend: ArtifactBackend) -> None:
    opaque_id = mint_opaque_id()
    await backend.store(opaque_id, b"")
    assert await backend.load(opaque_id) == b""
    with pytest.raises(FileExistsError):
        await backend.store(opaque_id, b"")


async def test_eight_mib_payload(backend: ArtifactBackend) -> None:
    opaque_id = mint_opaque_id()
    payload = os.urandom(8 * 1024 * 1024)
    await backend.store(opaque_id, payload)
    assert await backend.load(opaque_id) == payload


async def test_concurrent_stores_of_one_id_have_exactly_one_winner(
    backend: ArtifactBackend,
) -> None:
    opaque_id = mint_opaque_id()
    payloads = [f"racer-{i}".encode() * 100 for i in range(16)]
    results = await asyncio.gather(
        *(backend.store(opaque_id, p) for p in payloads), return_exceptions=True
    )
    winners = [i for i, r in enumerate(results) if r is None]
    losers = [r for r in results if r is not None]
    assert len(winners) == 1, results
    assert all(isinstance(r, FileExistsError) for r in losers), losers
    assert await backend.load(opaque_id) == payloads[winners[0]]


# Points at which a store is cancelled: after N loop iterations, or after a
# short wall-clock delay so the write is in flight on the wire or in a thread.
_CANCEL_POINTS = [("ticks", 0), ("ticks", 1), ("ticks", 3), ("ticks", 10),
                  ("seconds", 0.001), ("seconds", 0.005), ("seconds", 0.02)]  # fmt: skip


async def _cancel_then_check_nothing_or_everything(
    backend: ArtifactBackend, task: asyncio.Task[None], opaque_id: str, payload: bytes
) -> None:
    """Cancel a store under way; then the id holds all of ``payload`` or nothing."""
    task.cancel()
    try:
        await task
        completed = True
    except asyncio.CancelledError:
        completed = False
    try:
        loaded = await backend.load(opaque_id)
    except NotFound:
        assert not completed, "a store that returned must be loadable"
        # Nothing was published, so the id is still free to take.
        await backend.store(opaque_id, b"after")
        assert await backend.load(opaque_id) == b"after"
    else:
        assert loaded == payload, "a partial object was published"


@pytest.mark.parametrize(("unit", "amount"), _CANCEL_POINTS)
async def test_cancelled_store_leaves_nothing_or_everything(
    backend: ArtifactBackend, unit: str, amount: float
) -> None:
    # One store first, so lazily built clients and pools exist and the cancel
    # lands on the wire (or in the thread), not while a client is being built.
    await backend.store(mint_opaque_id(), b"warm-up")
    opaque_id = mint_opaque_id()
    payload = os.urandom(2 * 1024 * 1024)
    task = asyncio.create_task(backend.store(opaque_id, payload))
    if unit == "ticks":
        for _ in range(int(amount)):
            await asyncio.sleep(0)
    else:
        await asyncio.sleep(amount)
    await _cancel_then_check_nothing_or_everything(backend, task, opaque_id, payload)


async def test_close_is_clean_and_idempotent(backend: ArtifactBackend) -> None:
    opaque_id = mint_opaque_id()
    await backend.store(opaque_id, b"data")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        await backend.aclose()
        await backend.aclose()
        gc.collect()
    with pytest.raises(BackendClosed):
        await backend.load(opaque_id)
    with pytest.raises(BackendClosed):
        await backend.store(mint_opaque_id(), b"data")


async def test_close_waits_for_stores_under_way(backend: ArtifactBackend) -> None:
    ids = [mint_opaque_id() for _ in range(8)]
    payload = os.urandom(64 * 1024)
    stores = [asyncio.create_task(backend.store(i, payload)) for i in ids]
    await asyncio.sleep(0)
    await backend.aclose()
    results = await asyncio.gather(*stores, return_exceptions=True)
    assert all(r is None for r in results), results


# --- Streaming: store_stream and load_stream keep the same contract ----------

# Crosses S3's 8 MiB multipart threshold (two parts) and GCS's 5 MiB resumable
# one (two pieces), so the streaming upload paths run, not only the buffered ones.
_BIG = 11 * 1024 * 1024 + 5
# An awkward piece size: no chunk boundary lines up with a part or a piece.
_PIECE = 300_001


def _pieces(data: bytes) -> list[bytes]:
    return [data[i : i + _PIECE] for i in range(0, len(data), _PIECE)]


async def _async_pieces(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        await asyncio.sleep(0)
        yield piece


async def _load_streamed(backend: ArtifactBackend, opaque_id: str) -> bytes:
    async with backend.load_stream(opaque_id) as chunks:
        received = [chunk async for chunk in chunks]
    assert all(type(chunk) is bytes and chunk for chunk in received)
    return b"".join(received)


@pytest.mark.parametrize("size", [0, 1000, _BIG])
@pytest.mark.parametrize("source", ["list", "generator", "async generator"])
async def test_stream_round_trip(backend: ArtifactBackend, source: str, size: int) -> None:
    opaque_id = mint_opaque_id()
    payload = os.urandom(size)
    pieces = _pieces(payload)
    chunks: Iterable[Payload] | AsyncIterable[Payload]
    if source == "list":
        # Every bytes-like kind, and an empty chunk, which adds nothing.
        kinds = [bytes, bytearray, memoryview]
        chunks = [b""] + [kinds[n % 3](piece) for n, piece in enumerate(pieces)]
    elif source == "generator":
        chunks = iter(pieces)
    else:
        chunks = _async_pieces(pieces)
    await backend.store_stream(opaque_id, chunks)
    assert await _load_streamed(backend, opaque_id) == payload
    assert await backend.load(opaque_id) == payload


async def test_stream_reuse_raises_file_exists_and_keeps_original(
    backend: ArtifactBackend,
) -> None:
    opaque_id = mint_opaque_id()
    original = os.urandom(_BIG)
    await backend.store_stream(opaque_id, _async_pieces(_pieces(original)))
    with pytest.raises(FileExistsError):
        await backend.store_stream(opaque_id, [b"second"])
    with pytest.raises(FileExistsError):
        await backend.store(opaque_id, b"second")
    small_id = mint_opaque_id()
    await backend.store(small_id, b"first")
    with pytest.raises(FileExistsError):
        await backend.store_stream(small_id, _async_pieces([b"sec", b"ond"]))
    assert await _load_streamed(backend, opaque_id) == original
    assert await _load_streamed(backend, small_id) == b"first"


async def test_load_stream_of_absent_id_raises_not_found_on_entering(
    backend: ArtifactBackend,
) -> None:
    entered = False
    with pytest.raises(NotFound):
        async with backend.load_stream(mint_opaque_id()):
            entered = True
    assert not entered


class _Untouchable:
    """An iterable that records any attempt to iterate it."""

    touched = False

    def __iter__(self) -> Iterator[bytes]:
        self.touched = True
        return iter([b"x"])

    def __aiter__(self) -> AsyncIterator[bytes]:
        self.touched = True
        return _async_pieces([b"x"])


# A few: the check is BackendBase's, shared with store and load, whose tests
# cover the whole grammar.
@pytest.mark.parametrize("bad_id", MALFORMED_IDS[:4], ids=repr)
async def test_stream_malformed_ids_raise_value_error_before_touching_chunks(
    backend: ArtifactBackend, bad_id: object
) -> None:
    chunks = _Untouchable()
    with pytest.raises(ValueError):
        await backend.store_stream(bad_id, chunks)  # type: ignore[arg-type]
    assert not chunks.touched
    with pytest.raises(ValueError):
        async with backend.load_stream(bad_id):  # type: ignore[arg-type]
            pass


@pytest.mark.parametrize("bad_chunks", [b"bytes", "text", 42, None], ids=repr)
async def test_stream_of_non_iterable_raises_type_error(
    backend: ArtifactBackend, bad_chunks: object
) -> None:
    opaque_id = mint_opaque_id()
    with pytest.raises(TypeError):
        await backend.store_stream(opaque_id, bad_chunks)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await backend.load(opaque_id)


@pytest.mark.parametrize("after", [0, 1000, _BIG])
async def test_failing_stream_publishes_nothing(backend: ArtifactBackend, after: int) -> None:
    """The iterable raising, or yielding a non-bytes chunk, after ``after`` bytes."""

    async def failing() -> AsyncIterator[Any]:
        async for piece in _async_pieces(_pieces(os.urandom(after))):
            yield piece
        yield "not bytes"

    opaque_id = mint_opaque_id()
    with pytest.raises(TypeError):
        await backend.store_stream(opaque_id, failing())

    def raising() -> Iterator[bytes]:
        yield from _pieces(os.urandom(after))
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError, match="the source broke"):
        await backend.store_stream(opaque_id, raising())
    with pytest.raises(NotFound):
        await backend.load(opaque_id)
    # Nothing was published, so the id is still free to take.
    await backend.store_stream(opaque_id, [b"after"])
    assert await backend.load(opaque_id) == b"after"


# While the chunks still flow (a delay in seconds), or right after the last one
# was taken, while the backend commits (fsync + link, CompleteMultipartUpload,
# the final resumable piece).
_STREAM_CANCEL_POINTS = [0.0, 0.01, 0.05, "after last chunk"]


@pytest.mark.parametrize("when", _STREAM_CANCEL_POINTS, ids=str)
async def test_cancelled_stream_leaves_nothing_or_everything(
    backend: ArtifactBackend, when: float | str
) -> None:
    await backend.store(mint_opaque_id(), b"warm-up")
    opaque_id = mint_opaque_id()
    payload = os.urandom(_BIG)
    exhausted = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        for piece in _pieces(payload):
            await asyncio.sleep(0.001)
            yield piece
        exhausted.set()

    task = asyncio.create_task(backend.store_stream(opaque_id, chunks()))
    if isinstance(when, str):
        await exhausted.wait()
    else:
        await asyncio.sleep(when)
    await _cancel_then_check_nothing_or_everything(backend, task, opaque_id, payload)


async def test_close_waits_for_a_load_stream_under_way(backend: ArtifactBackend) -> None:
    opaque_id = mint_opaque_id()
    payload = os.urandom(3 * 1024 * 1024)
    await backend.store(opaque_id, payload)
    async with backend.load_stream(opaque_id) as chunks:
        closing = asyncio.create_task(backend.aclose())
        await asyncio.sleep(0.01)
        assert not closing.done(), "aclose must wait for the open load_stream"
        received = b"".join([chunk async for chunk in chunks])
    await closing
    assert received == payload
    with pytest.raises(BackendClosed):
        await backend.store_stream(mint_opaque_id(), [b"late"])
    with pytest.raises(BackendClosed):
        async with backend.load_stream(opaque_id):
            pass
