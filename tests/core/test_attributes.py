"""The attribute grammar, checked before any I/O: what passes reads back unchanged
from every service, and what would not is refused."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eden_storage_async._core.attributes import (
    DEFAULT_CONTENT_TYPE,
    MAX_METADATA_BYTES,
    MAX_METADATA_KEYS,
    RESERVED_METADATA_KEYS,
    check_attributes,
)
from eden_storage_async._gcs.wire import CRC_KEY, NONCE_KEY
from eden_storage_async._s3.checksum import METADATA_KEY
from eden_storage_async._s3.nonce import NONCE_KEY as S3_NONCE_KEY

from ..support.strategies import metadata_keys, metadata_values

_KEY = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


@given(st.text(max_size=70))
def test_a_key_is_accepted_exactly_when_it_matches_the_grammar(key: str) -> None:
    if _KEY.fullmatch(key) and key not in RESERVED_METADATA_KEYS:
        assert dict(check_attributes(metadata={key: "v"}).metadata) == {key: "v"}
    else:
        with pytest.raises(ValueError, match="metadata key"):
            check_attributes(metadata={key: "v"})


@given(st.text(max_size=40))
def test_a_value_is_accepted_exactly_when_non_empty_printable_ascii_without_outer_spaces(
    value: str,
) -> None:
    printable = all(" " <= ch <= "~" for ch in value)
    if value and printable and value == value.strip(" "):
        assert check_attributes(metadata={"k": value}).metadata["k"] == value
    else:
        with pytest.raises(ValueError, match="metadata value"):
            check_attributes(metadata={"k": value})


@pytest.mark.parametrize(
    "bad", ["", "a\r\nb", "line\n", "\x00", "tab\there", "é", " lead", "trail "]
)
def test_control_characters_and_outer_spaces_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        check_attributes(metadata={"k": bad})
    with pytest.raises(ValueError):
        check_attributes(content_type=bad)


@given(st.dictionaries(metadata_keys(), metadata_values(), max_size=MAX_METADATA_KEYS))
def test_the_size_budget_counts_keys_and_values(metadata: dict[str, str]) -> None:
    total = sum(len(k) + len(v) for k, v in metadata.items())
    if total <= MAX_METADATA_BYTES:
        assert dict(check_attributes(metadata=metadata).metadata) == metadata
    else:
        with pytest.raises(ValueError, match="bytes"):
            check_attributes(metadata=metadata)


def test_the_budget_is_s3s_2_kib_less_our_bookkeeping() -> None:
    # eden-crc32c plus 8 base64 characters, eden-write-nonce plus 32 hex.
    assert MAX_METADATA_BYTES == 2048 - (11 + 8) - (16 + 32)
    at_limit = {"a": "x" * (MAX_METADATA_BYTES - 1)}
    assert check_attributes(metadata=at_limit).metadata == at_limit
    with pytest.raises(ValueError, match="at most 1981"):
        check_attributes(metadata={"a": "x" * MAX_METADATA_BYTES})


def test_more_than_64_keys_are_refused() -> None:
    many = {f"k{i}": "v" for i in range(MAX_METADATA_KEYS)}
    assert len(check_attributes(metadata=many).metadata) == MAX_METADATA_KEYS
    many["one-more"] = "v"
    with pytest.raises(ValueError, match="keys"):
        check_attributes(metadata=many)


def test_every_bookkeeping_key_of_every_backend_is_reserved() -> None:
    assert {METADATA_KEY, S3_NONCE_KEY, CRC_KEY, NONCE_KEY} == RESERVED_METADATA_KEYS
    for key in RESERVED_METADATA_KEYS:
        with pytest.raises(ValueError, match="reserved"):
            check_attributes(metadata={key: "mine"})


@given(st.text(alphabet=string.printable, max_size=300))
def test_a_content_type_is_one_short_printable_line(content_type: str) -> None:
    ok = (
        0 < len(content_type) <= 255
        and all(" " <= ch <= "~" for ch in content_type)
        and content_type == content_type.strip(" ")
    )
    if ok:
        assert check_attributes(content_type=content_type).content_type == content_type
    else:
        with pytest.raises(ValueError, match="content_type"):
            check_attributes(content_type=content_type)


def test_no_content_type_means_the_default_and_no_attributes() -> None:
    none = check_attributes()
    assert not none
    assert none.content_type is None
    assert none.effective_content_type == DEFAULT_CONTENT_TYPE
    assert check_attributes(content_type="text/plain")
    assert check_attributes(metadata={"k": "v"})


@pytest.mark.parametrize(
    ("content_type", "metadata"),
    [(b"text/plain", None), (None, {"k": 1}), (None, {1: "v"}), (None, [("k", "v")])],
    ids=repr,
)
def test_wrong_types_are_type_errors(content_type: object, metadata: object) -> None:
    with pytest.raises(TypeError):
        check_attributes(content_type, metadata)  # type: ignore[arg-type]


def test_metadata_is_kept_sorted_and_read_only() -> None:
    attributes = check_attributes(metadata={"b": "2", "a": "1"})
    assert list(attributes.metadata) == ["a", "b"]
    with pytest.raises(TypeError):
        attributes.metadata["c"] = "3"  # type: ignore[index]
