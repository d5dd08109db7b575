"""``S3Backend.store_stream``'s memory on the real SeaweedFS: one streamed store
allocates about one part's worth, not a multiple of it.

The reference server streams each deposit into ``store_stream`` in 1 MiB
chunks, so sixteen concurrent deposits cost sixteen times what one store peaks
at. ``tracemalloc`` counts every Python allocation on the way, botocore's and
aiohttp's included, and is not fooled by what glibc keeps after a free.
"""

from __future__ import annotations

import os
import tracemalloc

import pytest

from eden_storage_async import mint_opaque_id

from ..support.s3 import s3_backend_on, use_test_credentials
from ..support.servers import RealServer
from .helpers import _MIB

pytestmark = pytest.mark.real_server

_PART = 8 * _MIB
_CHUNK = _MIB  # what the reference server reads per chunk (_server/app.py)
_PARTS = 4


@pytest.fixture
def seaweedfs_s3(seaweedfs: RealServer, monkeypatch: pytest.MonkeyPatch) -> RealServer:
    use_test_credentials(monkeypatch)
    return seaweedfs


@pytest.mark.parametrize("request_path", ["lean", "sdk"])
async def test_a_streamed_store_allocates_less_than_two_parts(
    seaweedfs_s3: RealServer, request_path: str
) -> None:
    # Made before tracing starts, like the bytes a server has already read.
    chunks = [os.urandom(_CHUNK) for _ in range(_PARTS * _PART // _CHUNK)]
    opaque_id = mint_opaque_id()
    async with s3_backend_on(
        seaweedfs_s3, request_path=request_path, part_size=_PART, multipart_threshold=_PART
    ) as backend:
        # The first multipart store builds the SDK client (its model is large).
        await backend.store_stream(mint_opaque_id(), [b"w" * (_PART + 1)])
        tracemalloc.start()
        try:
            start, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            await backend.store_stream(opaque_id, chunks)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        grown = peak - start
        # The head read to choose single PUT or multipart (threshold plus one
        # chunk) and a piece in flight stay under two parts; before the fix it
        # was four (the part cut, its copy, and aiohttp's copy of botocore's
        # BytesIO, next to the buffer being filled).
        assert grown < 2 * _PART, (
            f"one streamed store of {_PARTS} parts of {_PART // _MIB} MiB peaked at"
            f" {grown / _MIB:.1f} MiB of Python allocations; expected under"
            f" {2 * _PART // _MIB} MiB"
        )
        assert await backend.load(opaque_id) == b"".join(chunks)
