"""The contract, input checks: a malformed id raises ValueError and a payload or a
stream of the wrong type raises TypeError, before anything is written. Every case
runs on every backend of the ``backend`` fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from eden_storage_async import ArtifactBackend, NotFound, mint_opaque_id

from ..support.strategies import MALFORMED_IDS, malformed_ids
from .helpers import async_pieces

pytestmark = pytest.mark.asyncio


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


class _Untouchable:
    """An iterable that records any attempt to iterate it."""

    touched = False

    def __iter__(self) -> Iterator[bytes]:
        self.touched = True
        return iter([b"x"])

    def __aiter__(self) -> AsyncIterator[bytes]:
        self.touched = True
        return async_pieces([b"x"])


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
