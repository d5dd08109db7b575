"""``read_sized``: a body of stated length read into one buffer, checked for its length."""

from __future__ import annotations

import pytest

from eden_storage_async import IntegrityError
from eden_storage_async._core.stream import read_sized

MIB = 1024 * 1024


class _Body:
    """A body that hands out ``pieces`` in order, whatever size is asked, then b""."""

    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = list(pieces)
        self.asked: list[int] = []

    async def read(self, amt: int = -1, /) -> bytes:
        self.asked.append(amt)
        if amt < 0:
            whole = b"".join(self._pieces)
            self._pieces.clear()
            return whole
        return self._pieces.pop(0) if self._pieces else b""


async def test_a_large_body_is_read_in_bounded_pieces_and_whole() -> None:
    payload = bytes(range(256)) * (12 * 4096)  # 12 MiB
    body = _Body([payload[i : i + 300_000] for i in range(0, len(payload), 300_000)])
    got = await read_sized(body, len(payload), "s3://b/k")
    assert got == payload
    assert type(got) is bytes
    assert all(0 < amt <= MIB for amt in body.asked)  # never the whole body at once


async def test_a_small_or_unsized_body_is_read_whole() -> None:
    for length in (10, None):
        body = _Body([b"0123456789"])
        assert await read_sized(body, length, "s3://b/k") == b"0123456789"
        assert body.asked == [-1]


async def test_a_body_short_of_its_length_is_an_integrity_error() -> None:
    body = _Body([b"x" * MIB, b"x" * 1000])
    with pytest.raises(IntegrityError, match=r"s3://b/k: the body ended after 1049576 of"):
        await read_sized(body, 2 * MIB, "s3://b/k")


async def test_a_body_past_its_length_is_an_integrity_error() -> None:
    body = _Body([b"x" * MIB, b"x" * (MIB + 1)])
    with pytest.raises(IntegrityError, match="ran past its 2097152 stated bytes"):
        await read_sized(body, 2 * MIB, "s3://b/k")
