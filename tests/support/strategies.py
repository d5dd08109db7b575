"""hypothesis strategies for the opaque-id and attribute grammars, shared by the suites."""

from __future__ import annotations

import re

from hypothesis import strategies as st

from eden_storage_async._core.attributes import RESERVED_METADATA_KEYS

_VALID = re.compile(r"[0-9a-f]{32}")

# The cases the foundation issue names, always run.
MALFORMED_IDS: list[object] = [
    "",
    "A" * 32,
    "0123456789ABCDEF0123456789abcdef",
    "a" * 31,
    "a" * 33,
    "g" * 32,
    "../" + "a" * 29,
    "a" * 16 + "/" + "a" * 15,
    "a" * 32 + "\n",
    "\n" + "a" * 31,
    "a" * 31 + "é",
    "ａ" * 32,  # noqa: RUF001 - fullwidth on purpose: not ASCII hex
    " " + "a" * 31,
    "a" * 32 + "\x00",
    b"a" * 32,
    None,
    123,
]


def malformed_ids() -> st.SearchStrategy[str]:
    """Strings that are not 32 lowercase hex characters."""
    near_misses = st.text(alphabet="0123456789abcdefABCDEF/.\n\\é-_ ", min_size=0, max_size=40)
    hex_wrong_length = st.integers(0, 64).filter(lambda n: n != 32).map(lambda n: "a" * n)
    return st.one_of(st.text(max_size=64), near_misses, hex_wrong_length).filter(
        lambda s: _VALID.fullmatch(s) is None
    )


def metadata_keys() -> st.SearchStrategy[str]:
    """Keys of the metadata grammar, ``[a-z0-9][a-z0-9-]{0,63}``, bookkeeping ones aside."""
    return st.from_regex(r"[a-z0-9][a-z0-9-]{0,63}", fullmatch=True).filter(
        lambda key: key not in RESERVED_METADATA_KEYS
    )


def metadata_values(max_size: int = 80) -> st.SearchStrategy[str]:
    """Printable ASCII values, not empty, without leading or trailing spaces."""
    printable = st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        min_size=1,
        max_size=max_size,
    )
    return printable.map(lambda value: value.strip(" ")).filter(bool)


def metadata(max_keys: int = 8) -> st.SearchStrategy[dict[str, str]]:
    """Valid metadata, well inside the size budget."""
    return st.dictionaries(metadata_keys(), metadata_values(40), max_size=max_keys)
