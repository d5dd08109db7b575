"""The contract, streaming: ``store_stream`` and ``load_stream`` keep the same
contract as ``store`` and ``load``, from lists, generators and async generators, up
past the multipart and resumable thresholds. Every case runs on every backend of
the ``backend`` fixture."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

import pytest

from eden_storage_async import ArtifactBackend, NotFound, Payload, mint_opaque_id

from .helpers import BIG, async_pieces, in_pieces

pytestmark = pytest.mark.asyncio


async def _load_streamed(backend: ArtifactBackend, opaque_id: str) -> bytes:
    async with backend.load_stream(opaque_id) as chunks:
        received = [chunk async for chunk in chunks]
    assert all(type(chunk) is bytes and chunk for chunk in received)
    return b"".join(received)


@pytest.mark.parametrize("size", [0, 1000, BIG])
@pytest.mark.parametrize("source", ["list", "generator", "async generator"])
async def test_stream_round_trip(backend: ArtifactBackend, source: str, size: int) -> None:
    opaque_id = mint_opaque_id()
    payload = os.urandom(size)
    pieces = in_pieces(payload)
    chunks: Iterable[Payload] | AsyncIterable[Payload]
    if source == "list":
        # Every bytes-like kind, and an empty chunk, which adds nothing.
        kinds = [bytes, bytearray, memoryview]
        chunks = [b""] + [kinds[n % 3](piece) for n, piece in enumerate(pieces)]
    elif source == "generator":
        chunks = iter(pieces)
    else:
        chunks = async_pieces(pieces)
    await backend.store_stream(opaque_id, chunks)
    assert await _load_streamed(backend, opaque_id) == payload
    assert await backend.load(opaque_id) == payload


async def test_stream_reuse_raises_file_exists_and_keeps_original(
    backend: ArtifactBackend,
) -> None:
    opaque_id = mint_opaque_id()
    original = os.urandom(BIG)
    await backend.store_stream(opaque_id, async_pieces(in_pieces(original)))
    with pytest.raises(FileExistsError):
        await backend.store_stream(opaque_id, [b"second"])
    with pytest.raises(FileExistsError):
        await backend.store(opaque_id, b"second")
    small_id = mint_opaque_id()
    await backend.store(small_id, b"first")
    with pytest.raises(FileExistsError):
        await backend.store_stream(small_id, async_pieces([b"sec", b"ond"]))
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


@pytest.mark.parametrize("after", [0, 1000, BIG])
async def test_failing_stream_publishes_nothing(backend: ArtifactBackend, after: int) -> None:
    """The iterable raising, or yielding a non-bytes chunk, after ``after`` bytes."""

    async def failing() -> AsyncIterator[Any]:
        async for piece in async_pieces(in_pieces(os.urandom(after))):
            yield piece
        yield "not bytes"

    opaque_id = mint_opaque_id()
    with pytest.raises(TypeError):
        await backend.store_stream(opaque_id, failing())

    def raising() -> Iterator[bytes]:
        yield from in_pieces(os.urandom(after))
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError, match="the source broke"):
        await backend.store_stream(opaque_id, raising())
    with pytest.raises(NotFound):
        await backend.load(opaque_id)
    # Nothing was published, so the id is still free to take.
    await backend.store_stream(opaque_id, [b"after"])
    assert await backend.load(opaque_id) == b"after"
