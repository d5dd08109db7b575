"""Opaque ids and payload checks, applied before any backend does I/O."""

from __future__ import annotations

import re
import secrets
from typing import TypeGuard

from .errors import InvalidOpaqueId

__all__ = ["Payload", "as_payload", "is_opaque_id", "mint_opaque_id", "validate_opaque_id"]

# What store() accepts. A Protocol parameter typed ``bytes`` would reject
# bytearray and memoryview under mypy's strict bytes rules, which callers use.
Payload = bytes | bytearray | memoryview

# fullmatch, not match with "$": "$" also matches before a trailing newline.
_OPAQUE_ID = re.compile(r"[0-9a-f]{32}")


def mint_opaque_id() -> str:
    """Return a fresh opaque id: 128 bits from the OS CSPRNG, as 32 lowercase hex."""
    return secrets.token_hex(16)


def is_opaque_id(name: object) -> TypeGuard[str]:
    """Whether ``name`` is a valid opaque id (what a listing keeps)."""
    return isinstance(name, str) and _OPAQUE_ID.fullmatch(name) is not None


def validate_opaque_id(opaque_id: object) -> str:
    """Return ``opaque_id`` if it is 32 lowercase hex characters, else raise.

    The grammar admits no path character, so no id can escape a root or a prefix.
    Raises ``InvalidOpaqueId`` (a ``ValueError``).
    """
    if not is_opaque_id(opaque_id):
        # repr() and a cap: the bad value may hold control characters or be huge.
        shown = repr(opaque_id)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        # The original sync backends' wording: their callers and tests match on it.
        raise InvalidOpaqueId(
            f"invalid opaque artifact id {shown}: it must be 32 lowercase hex characters"
        )
    return opaque_id


def as_payload(data: object) -> memoryview:
    """Return a read-only byte view of ``data`` without copying it.

    ``bytes``, ``bytearray`` and ``memoryview`` are accepted; anything else,
    ``str`` included, raises ``TypeError`` so text never gets an implicit encoding.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"data must be bytes, bytearray or memoryview, not {type(data).__name__}")
    view = memoryview(data)
    if view.ndim != 1 or view.itemsize != 1:
        view = view.cast("B")
    return view.toreadonly()
