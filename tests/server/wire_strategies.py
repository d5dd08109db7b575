"""hypothesis strategies for the wire's grammars: experiment ids, worker ids, secrets."""

from __future__ import annotations

import re

from hypothesis import strategies as st

EXPERIMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
CROCKFORD_LOWER = "0123456789abcdefghjkmnpqrstvwxyz"


def experiment_ids() -> st.SearchStrategy[str]:
    """Well-formed experiment ids, ``[A-Za-z0-9][A-Za-z0-9._-]{0,127}``."""
    return st.from_regex(EXPERIMENT_ID, fullmatch=True)


def malformed_experiment_ids() -> st.SearchStrategy[str]:
    """Strings that are not experiment ids: near misses and anything at all."""
    near = st.text(alphabet="aZ9._-/ \n\0é", max_size=12)
    too_long = st.integers(129, 200).map(lambda n: "a" * n)
    return st.one_of(st.text(max_size=40), near, too_long).filter(
        lambda s: EXPERIMENT_ID.fullmatch(s) is None
    )


def worker_ids() -> st.SearchStrategy[str]:
    """eden worker ids: ``wkr_`` and 26 lowercase Crockford base32 characters."""
    return st.text(alphabet=CROCKFORD_LOWER, min_size=26, max_size=26).map(lambda s: "wkr_" + s)


def secrets() -> st.SearchStrategy[str]:
    """Secrets a bearer can carry: printable ASCII without spaces, ``:`` allowed."""
    return st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64
    )
