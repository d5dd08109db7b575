"""hypothesis strategies for the opaque-id grammar, shared by the suites."""

from __future__ import annotations

import re

from hypothesis import strategies as st

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
