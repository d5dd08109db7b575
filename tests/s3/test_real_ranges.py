"""Range reads on the real servers, on both request paths: ``load_range`` and a
ranged ``load_stream`` return exactly ``data[start:end]`` for every kind of slice,
of a small object, an empty one, a multipart one and one that streams in several
pieces; a whole-object answer is checked against the CRC32C and a strict slice is
not."""

from __future__ import annotations

import os
from typing import Literal

import pytest

from eden_storage_async import IntegrityError, S3Backend, mint_opaque_id
from eden_storage_async._core.retry import Backoff

from ..support.s3 import raw_client, s3_backend_on
from ..support.servers import RealServer
from .helpers import _MIB, _crc

pytestmark = [pytest.mark.real_server, pytest.mark.parametrize("path", ["lean", "sdk"])]

Path = Literal["lean", "sdk"]

# Every kind of slice: plain, open-ended, suffix (shorter and longer than the
# object), past the end, empty, and the size-dependent ones the base class
# resolves with a stat first.
_SLICES = [(0, None), (2, 5), (7, None), (-3, None), (-30, None), (0, 100), (0, 10),
           (9, 10), (10, None), (20, 30), (5, 5), (6, 2), (-3, -1), (2, -2), (-5, 8),
           (-1, -3)]  # fmt: skip


async def _streamed(backend: S3Backend, opaque_id: str, start: int, end: int | None) -> bytes:
    async with backend.load_stream(opaque_id, start=start, end=end) as chunks:
        return b"".join([chunk async for chunk in chunks])


async def test_ranged_reads_answer_exactly_the_slice(server: RealServer, path: Path) -> None:
    objects = {
        "small": b"0123456789",
        "empty": b"",
        "multipart": os.urandom(3000),
    }
    async with s3_backend_on(server, request_path=path, multipart_threshold=1024) as backend:
        ids = {name: mint_opaque_id() for name in objects}
        await backend.store(ids["small"], objects["small"])
        await backend.store(ids["empty"], objects["empty"])
        await backend.store_stream(ids["multipart"], [objects["multipart"]])
        for name, data in objects.items():
            for start, end in _SLICES:
                expected = data[start:end]
                got = await backend.load_range(ids[name], start, end)
                assert got == expected, (name, start, end)
                assert await _streamed(backend, ids[name], start, end) == expected, (
                    name,
                    start,
                    end,
                )


async def test_a_ranged_stream_across_pieces(server: RealServer, path: Path) -> None:
    data = os.urandom(2 * _MIB + 5)
    opaque_id = mint_opaque_id()
    async with s3_backend_on(server, request_path=path) as backend:
        await backend.store(opaque_id, data)
        for start, end in [(_MIB - 3, 2 * _MIB + 1), (-_MIB - 1, None), (1, None)]:
            assert await _streamed(backend, opaque_id, start, end) == data[start:end]
            assert await backend.load_range(opaque_id, start, end) == data[start:end]


async def test_a_whole_answer_is_checked_and_a_strict_slice_is_not(
    server: RealServer, path: Path
) -> None:
    # An object whose CRC32C copy does not match its bytes, as damage at rest
    # would leave it (written by a plain client, so no service checksum).
    once = Backoff(attempts=1)
    async with (
        s3_backend_on(server, request_path=path, retry=once) as backend,
        raw_client(server) as client,
    ):
        opaque_id = mint_opaque_id()
        await client.put_object(
            Bucket=server.bucket,
            Key=f"{backend.prefix}/{opaque_id}",
            Body=b"0123456789",
            Metadata={"eden-crc32c": _crc(b"0123456788")},
        )
        for start, end in [(0, 100), (0, 10), (-10, None), (-20, None)]:
            with pytest.raises(IntegrityError, match="CRC32C mismatch"):
                await backend.load_range(opaque_id, start, end)
            with pytest.raises(IntegrityError, match="CRC32C mismatch"):
                await _streamed(backend, opaque_id, start, end)
        assert await backend.load_range(opaque_id, 2, 5) == b"234"
        assert await _streamed(backend, opaque_id, -3, None) == b"789"
