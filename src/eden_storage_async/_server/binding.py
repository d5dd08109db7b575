"""Experiment binding: which experiment a request is about, and whether it agrees.

Every request names its experiment twice, in the path and in the
``X-Eden-Experiment-Id`` header, and the two must agree; a server started with
``--experiment-id E`` also refuses any path but ``E``. The point is to catch a
client pointed at the wrong experiment before it stores or reads anything. The
experiment id is never used to build a storage path: the opaque_id is the key.

Pure: no aiohttp, no I/O. The server turns a ``BindingRefusal`` into a 400
problem+json answer.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from .._core.errors import ConfigError

__all__ = [
    "EXPERIMENT_ID_GRAMMAR",
    "EXPERIMENT_ID_HEADER",
    "BindingProblem",
    "BindingRefusal",
    "check_binding",
    "check_experiment_id_setting",
    "is_experiment_id",
]

EXPERIMENT_ID_HEADER = "X-Eden-Experiment-Id"
# Starts with a letter or digit so "." and ".." are refused even though the id
# never reaches a path: one grammar everywhere is easier to reason about.
EXPERIMENT_ID_GRAMMAR = "[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_EXPERIMENT_ID = re.compile(EXPERIMENT_ID_GRAMMAR)


class BindingProblem(enum.Enum):
    """Why a request's experiment binding was refused; the value is the problem type."""

    BAD_REQUEST = "eden://error/bad-request"
    MISMATCH = "eden://error/experiment-id-mismatch"


@dataclass(frozen=True)
class BindingRefusal:
    """A refused binding: the problem type, a detail safe to send, and the status."""

    problem: BindingProblem
    detail: str
    status: int = 400


def is_experiment_id(value: str) -> bool:
    """Whether ``value`` is a well-formed experiment id."""
    # fullmatch, not match with "$": "$" would accept a trailing newline.
    return _EXPERIMENT_ID.fullmatch(value) is not None


def check_experiment_id_setting(value: str) -> str:
    """Return ``value`` for ``--experiment-id``, or raise ``ConfigError`` if malformed."""
    if not is_experiment_id(value):
        raise ConfigError(f"--experiment-id must match {EXPERIMENT_ID_GRAMMAR} (got {value!r})")
    return value


def check_binding(
    path_experiment_id: str,
    header_value: str | None,
    *,
    bound_experiment_id: str | None,
    require_header: bool = True,
) -> BindingRefusal | None:
    """Return why the request's experiment binding is refused, or ``None`` if it holds.

    ``path_experiment_id`` must match the grammar (else ``BAD_REQUEST``); the
    header must be present (unless ``require_header`` is false) and equal to
    it; and with ``bound_experiment_id`` the path must equal that too (else
    ``MISMATCH``). Comparisons are exact: ids are case-sensitive.
    """
    if not is_experiment_id(path_experiment_id):
        return BindingRefusal(
            BindingProblem.BAD_REQUEST,
            f"experiment_id must match {EXPERIMENT_ID_GRAMMAR}",
        )
    if header_value is None:
        if require_header:
            return BindingRefusal(
                BindingProblem.MISMATCH,
                f"missing {EXPERIMENT_ID_HEADER} header (expected {path_experiment_id!r})",
            )
    elif header_value != path_experiment_id:
        return BindingRefusal(
            BindingProblem.MISMATCH,
            f"{EXPERIMENT_ID_HEADER} {_shown(header_value)} does not match "
            f"the path's experiment {path_experiment_id!r}",
        )
    if bound_experiment_id is not None and path_experiment_id != bound_experiment_id:
        return BindingRefusal(
            BindingProblem.MISMATCH,
            f"this server serves experiment {bound_experiment_id!r}, not {path_experiment_id!r}",
        )
    return None


def _shown(header_value: str) -> str:
    # The header is the client's own input; echo it only when it is a
    # well-formed id, so a detail never carries a megabyte of garbage.
    return repr(header_value) if is_experiment_id(header_value) else "(malformed)"
