"""The contract, ranges: ``load_range`` and a ranged ``load_stream`` return exactly
``data[start:end]``, with Python's slice semantics, for any bounds; ``NotFound``
as ``load`` gives it, empty ranges included. Every case runs on every backend
of the ``backend`` fixture."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eden_storage_async import ArtifactBackend, NotFound, mint_opaque_id

from .helpers import BIG

pytestmark = pytest.mark.asyncio

_SIZE = 1000
_bounds = st.integers(-_SIZE - 50, _SIZE + 50)
_hypothesis = settings(
    deadline=None,
    # One object per backend for every example: reads never write.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture
async def stored(backend: ArtifactBackend) -> tuple[str, bytes]:
    opaque_id = mint_opaque_id()
    data = os.urandom(_SIZE)
    await backend.store(opaque_id, data)
    return opaque_id, data


@settings(_hypothesis, max_examples=40)
@given(start=_bounds, end=st.none() | _bounds)
async def test_load_range_is_the_slice(
    backend: ArtifactBackend, stored: tuple[str, bytes], start: int, end: int | None
) -> None:
    opaque_id, data = stored
    assert await backend.load_range(opaque_id, start, end) == data[start:end]


@settings(_hypothesis, max_examples=15)
@given(start=_bounds, end=st.none() | _bounds)
async def test_a_ranged_load_stream_is_the_slice(
    backend: ArtifactBackend, stored: tuple[str, bytes], start: int, end: int | None
) -> None:
    opaque_id, data = stored
    async with backend.load_stream(opaque_id, start=start, end=end) as chunks:
        got = b"".join([chunk async for chunk in chunks])
    assert got == data[start:end]


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, None), (0, 1), (999, None), (1000, None), (5000, None), (-1, None), (-1000, None),
     (-5000, None), (10, 20), (0, 5000), (-10, -5), (-5, -10), (5, 5), (500, 10), (-10, 995),
     (10, -10)],
)  # fmt: skip
async def test_named_slices(
    backend: ArtifactBackend, stored: tuple[str, bytes], start: int, end: int | None
) -> None:
    opaque_id, data = stored
    assert await backend.load_range(opaque_id, start, end) == data[start:end]


@pytest.mark.parametrize(("start", "end"), [(0, None), (0, 10), (5, None), (-1, None), (-3, -1)])
async def test_ranges_of_an_empty_object_are_empty(
    backend: ArtifactBackend, start: int, end: int | None
) -> None:
    opaque_id = mint_opaque_id()
    await backend.store(opaque_id, b"")
    assert await backend.load_range(opaque_id, start, end) == b""
    async with backend.load_stream(opaque_id, start=start, end=end) as chunks:
        assert [chunk async for chunk in chunks] == []


async def test_a_mebibyte_from_the_middle_of_a_streamed_object(backend: ArtifactBackend) -> None:
    # BIG is a multipart (S3) or resumable (GCS) object: ranges cross its parts.
    opaque_id = mint_opaque_id()
    data = os.urandom(BIG)
    await backend.store_stream(
        opaque_id, [data[i : i + 4_000_000] for i in range(0, BIG, 4_000_000)]
    )
    start = 8 * 1024 * 1024 - 1000
    assert (
        await backend.load_range(opaque_id, start, start + 1024 * 1024)
        == data[start : start + 1024 * 1024]
    )
    async with backend.load_stream(opaque_id, start=-3_000_000) as chunks:
        assert b"".join([chunk async for chunk in chunks]) == data[-3_000_000:]


@pytest.mark.parametrize(("start", "end"), [(0, None), (0, 10), (5, None), (-5, None), (5, 5),
                                            (-5, -1), (3, -3), (-10, 10)])  # fmt: skip
async def test_a_range_of_an_absent_id_is_not_found(
    backend: ArtifactBackend, start: int, end: int | None
) -> None:
    # Empty and size-dependent slices too: NotFound means what it means for load.
    with pytest.raises(NotFound):
        await backend.load_range(mint_opaque_id(), start, end)
    with pytest.raises(NotFound):
        async with backend.load_stream(mint_opaque_id(), start=start, end=end):
            pass


@pytest.mark.parametrize(("start", "end"), [(1.5, None), ("0", None), (0, "9"), (None, 3)])
async def test_bounds_that_are_not_ints_raise_type_error_before_any_io(
    backend: ArtifactBackend, start: object, end: object
) -> None:
    with pytest.raises(TypeError):
        await backend.load_range(mint_opaque_id(), start, end)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        backend.load_stream(mint_opaque_id(), start=start, end=end)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await backend.load_range("not-an-id", 0, 1)
