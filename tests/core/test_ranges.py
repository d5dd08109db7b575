"""Range planning: for any size, start and end, the planned request (and the stat
fallback) yields exactly Python's ``data[start:end]``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eden_storage_async import IntegrityError
from eden_storage_async._core.ranges import ByteRange, plan_range

bounds = st.integers(-300, 300)


def _served(data: bytes, start: int, end: int | None) -> bytes:
    """What the base class returns, with the service simulated by slicing."""
    plan = plan_range(start, end)
    if plan is True:
        return data
    if plan is False:
        return b""
    if plan is None:
        first, stop, _ = slice(start, end).indices(len(data))
        if stop <= first:
            return b""
        plan = ByteRange(start=first, stop=stop)
    first, stop = plan.bounds(len(data))
    return data[first:stop]


@settings(max_examples=2000)
@given(size=st.integers(0, 260), start=bounds, end=st.none() | bounds)
def test_every_slice_is_planned_exactly(size: int, start: int, end: int | None) -> None:
    data = bytes(range(256)) * 2
    data = data[:size]
    assert _served(data, start, end) == data[start:end]


@given(start=bounds, end=st.none() | bounds)
def test_a_planned_request_is_never_empty(start: int, end: int | None) -> None:
    plan = plan_range(start, end)
    if isinstance(plan, ByteRange):
        assert plan.suffix is None or plan.suffix > 0
        assert plan.suffix is not None or plan.stop is None or plan.stop > plan.start >= 0


@pytest.mark.parametrize(
    ("byte_range", "header"),
    [
        (ByteRange(start=5), "bytes=5-"),
        (ByteRange(start=5, stop=10), "bytes=5-9"),
        (ByteRange(suffix=7), "bytes=-7"),
    ],
)
def test_the_range_header(byte_range: ByteRange, header: str) -> None:
    assert byte_range.header == header


def test_a_matching_content_range_is_accepted() -> None:
    assert ByteRange(start=5, stop=10).check_answer("bytes 5-9/100", 5) == (5, 10, 100)
    # Clamped by the size, as a service does.
    assert ByteRange(start=95, stop=200).check_answer("bytes 95-99/100", 5) == (95, 100, 100)
    assert ByteRange(suffix=500).check_answer("bytes 0-99/100", 100) == (0, 100, 100)


@pytest.mark.parametrize(
    ("content_range", "length"),
    [
        ("bytes 4-9/100", 6),  # not the start asked for
        ("bytes 5-8/100", 4),  # short of the end asked for
        ("bytes 5-9/100", 4),  # a body shorter than its Content-Range
        ("bytes */100", 0),
        (None, 5),
        ("items 5-9/100", 5),
    ],
)
def test_a_wrong_answer_is_an_integrity_error(content_range: str | None, length: int) -> None:
    with pytest.raises(IntegrityError):
        ByteRange(start=5, stop=10).check_answer(content_range, length)


@pytest.mark.parametrize(("start", "end"), [(1.0, None), ("1", None), (0, 2.5), (True, None)])
def test_bounds_that_are_not_ints_are_type_errors(start: object, end: object) -> None:
    with pytest.raises(TypeError):
        plan_range(start, end)  # type: ignore[arg-type]
