"""``stat`` and range reads on fake-gcs-server: exact slices, the real 404s.

What the emulator answers wrongly is pinned in ``test_emulator_gaps.py``; the
backend's handling of those answers (and of answers no server gives on
demand) is tested against the scripted fake in ``test_ranges.py``.
"""

from __future__ import annotations

import os

import pytest

from eden_storage_async import BucketNotFound, GcsBackend, NotFound, mint_opaque_id

from ..support.gcs import gcs_backend_on
from ..support.servers import RealServer
from .helpers import SLICES, read_stream

pytestmark = [pytest.mark.asyncio, pytest.mark.real_server]

_MIB = 1024 * 1024


async def _check_slices(
    backend: GcsBackend, opaque_id: str, data: bytes, slices: list[tuple[int, int | None]]
) -> None:
    for start, end in slices:
        assert await backend.load_range(opaque_id, start, end) == data[start:end], (start, end)
        assert await read_stream(backend, opaque_id, start, end) == data[start:end], (start, end)


async def test_every_slice_is_exact_on_the_emulator(fake_gcs: RealServer) -> None:
    data = os.urandom(1000)
    async with gcs_backend_on(fake_gcs.endpoint_url, fake_gcs.bucket) as backend:
        opaque_id = mint_opaque_id()
        await backend.store(opaque_id, data)
        await _check_slices(backend, opaque_id, data, SLICES)


async def test_every_slice_of_an_empty_object_is_empty_on_the_emulator(
    fake_gcs: RealServer,
) -> None:
    # The suffix slices here meet v1.54.0's "bytes 0--1/0" answer (a gap).
    async with gcs_backend_on(fake_gcs.endpoint_url, fake_gcs.bucket) as backend:
        opaque_id = mint_opaque_id()
        await backend.store(opaque_id, b"")
        await _check_slices(backend, opaque_id, b"", SLICES)
        assert (await backend.stat(opaque_id)).size == 0


async def test_a_ranged_stream_of_a_large_object_is_exact_across_pieces(
    fake_gcs: RealServer,
) -> None:
    data = os.urandom(3 * _MIB + 11)
    slices: list[tuple[int, int | None]] = [
        (_MIB - 3, 2 * _MIB + 3),
        (5, None),
        (-(_MIB + 7), None),
    ]
    async with gcs_backend_on(
        fake_gcs.endpoint_url, fake_gcs.bucket, resumable_threshold=8 * _MIB
    ) as backend:
        opaque_id = mint_opaque_id()
        await backend.store(opaque_id, data)
        await _check_slices(backend, opaque_id, data, slices)


async def test_stat_and_ranges_of_an_absent_object_are_not_found(fake_gcs: RealServer) -> None:
    async with gcs_backend_on(fake_gcs.endpoint_url, fake_gcs.bucket) as backend:
        missing = mint_opaque_id()
        with pytest.raises(NotFound):
            await backend.stat(missing)
        with pytest.raises(NotFound):
            await backend.load_range(missing, 10, 20)
        with pytest.raises(NotFound):
            await read_stream(backend, missing, -5, None)


async def test_stat_and_ranges_in_a_missing_bucket_are_bucket_not_found(
    fake_gcs: RealServer,
) -> None:
    # v1.54.0 answers a missing bucket and a missing object with the same 404.
    async with GcsBackend(
        bucket="eden-no-such-bucket", endpoint_url=fake_gcs.endpoint_url
    ) as backend:
        with pytest.raises(BucketNotFound) as stating:
            await backend.stat(mint_opaque_id())
        assert not isinstance(stating.value, NotFound)
        with pytest.raises(BucketNotFound):
            await backend.load_range(mint_opaque_id(), 10, 20)
        with pytest.raises(BucketNotFound):
            await read_stream(backend, mint_opaque_id(), 10, None)
