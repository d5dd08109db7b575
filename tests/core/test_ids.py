"""The opaque-id and payload grammar, property-tested."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eden_storage_async import InvalidOpaqueId, mint_opaque_id, validate_opaque_id
from eden_storage_async._core.ids import as_payload

from ..support.strategies import MALFORMED_IDS, malformed_ids


def test_minted_ids_follow_the_grammar_and_do_not_repeat() -> None:
    ids = {mint_opaque_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


@given(st.from_regex(r"[0-9a-f]{32}", fullmatch=True))
def test_every_valid_id_is_accepted_unchanged(opaque_id: str) -> None:
    assert validate_opaque_id(opaque_id) == opaque_id


@given(malformed_ids())
def test_every_malformed_id_is_rejected_as_value_error(bad_id: str) -> None:
    # The original sync backends' wording, which their callers match on.
    with pytest.raises(ValueError, match=r"^invalid opaque artifact id .*32 lowercase hex"):
        validate_opaque_id(bad_id)


@pytest.mark.parametrize("bad_id", MALFORMED_IDS, ids=repr)
def test_named_malformed_ids_are_rejected(bad_id: object) -> None:
    with pytest.raises(InvalidOpaqueId):
        validate_opaque_id(bad_id)


def test_trailing_newline_is_not_accepted() -> None:
    # The classic "$" pitfall: re.match(r"^...$") accepts "x\n".
    with pytest.raises(ValueError):
        validate_opaque_id("a" * 32 + "\n")


def test_error_message_shows_a_capped_repr() -> None:
    with pytest.raises(ValueError) as info:
        validate_opaque_id("\x1b[31m" + "z" * 10_000)
    message = str(info.value)
    assert len(message) < 200
    assert "\x1b" not in message


@given(st.binary(max_size=256))
def test_payload_views_are_read_only_and_equal(data: bytes) -> None:
    for value in (data, bytearray(data), memoryview(data)):
        view = as_payload(value)
        assert view.readonly
        assert view.tobytes() == data


def test_multibyte_memoryviews_are_seen_as_bytes() -> None:
    import array

    words = array.array("I", [1, 2, 3])
    view = as_payload(memoryview(words))
    assert view.nbytes == len(view) == 12


@pytest.mark.parametrize("bad", ["text", 1, None, 1.5, [1], object()], ids=repr)
def test_non_bytes_payloads_raise_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="bytes, bytearray or memoryview"):
        as_payload(bad)
