"""What every handler shares: the settings of one app, and the admission of a request.

A request is admitted in eden's order: authentication first (401), so an
unauthenticated client learns nothing, not even whether its experiment id
was well formed; then the experiment binding (400). Only then do handlers
look at anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .._core.protocol import ArtifactBackend
from .auth import Authenticator, Principal
from .binding import EXPERIMENT_ID_HEADER, BindingProblem, check_binding
from .problems import BAD_REQUEST, EXPERIMENT_ID_MISMATCH, UNAUTHORIZED, Problem

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "ARTIFACT_URI_PREFIX",
    "DEPOSITOR_KEY",
    "ServerState",
    "admit",
]

ARTIFACT_URI_PREFIX = "eden://artifacts/"
# The metadata attribute naming who deposited an artifact: the fetch ACL reads
# it back. Not one of our bookkeeping keys, so ``stat`` shows it.
DEPOSITOR_KEY = "eden-depositor"


@dataclass(frozen=True)
class ServerState:
    """The settings ``create_app`` checked, shared by every handler of one app."""

    backend: ArtifactBackend
    authenticator: Authenticator
    experiment_id: str | None
    max_artifact_bytes: int
    body_timeout: float
    # How much of a deposit is read from the socket at a time. aiohttp's own
    # default (8 KiB) would mean thousands of awaits per MiB; one MiB per read
    # keeps memory at concurrency times a MiB.
    read_size: int
    legacy_root: Path | None
    legacy_max_bytes: int


def admit(state: ServerState, request: web.Request, *, require_header: bool = True) -> Principal:
    """The request's principal, or raise the ``Problem`` that refuses it (401, then 400)."""
    principal = state.authenticator.authenticate(request.headers.get("Authorization"))
    if principal is None:
        raise Problem(
            UNAUTHORIZED,
            "missing or wrong bearer credentials",
            headers={"WWW-Authenticate": 'Bearer realm="eden-blob"'},
        )
    refusal = check_binding(
        request.match_info["experiment_id"],
        request.headers.get(EXPERIMENT_ID_HEADER),
        bound_experiment_id=state.experiment_id,
        require_header=require_header,
    )
    if refusal is not None:
        kind = EXPERIMENT_ID_MISMATCH if refusal.problem is BindingProblem.MISMATCH else BAD_REQUEST
        raise Problem(kind, refusal.detail)
    return principal
