"""argparse ``type=`` converters for the commands' numeric options."""

from __future__ import annotations

import argparse

__all__ = ["int_at_least", "non_negative_int", "port", "positive_int"]


def int_at_least(text: str, minimum: int) -> int:
    """``text`` as an int no smaller than ``minimum``, or an argparse error naming it."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < minimum:
        wanted = "must not be negative" if minimum == 0 else f"must be at least {minimum}"
        raise argparse.ArgumentTypeError(f"{wanted}: {text!r}")
    return value


def non_negative_int(text: str) -> int:
    return int_at_least(text, 0)


def positive_int(text: str) -> int:
    return int_at_least(text, 1)


def port(text: str) -> int:
    value = non_negative_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return value
