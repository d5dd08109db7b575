"""Every error the server answers, as ``application/problem+json`` (RFC 9457).

The body is exactly ``{"type", "title", "status", "detail"}``. eden's wire
client picks the exception it raises from ``type``, so the eden types are
spelled as the original spells them; what eden's wire has no word for (an
outage, an unsatisfiable range, a wrong method) gets a type of our own under
``eden://reference-error/``, so a client can tell the two apart.

Handlers raise ``Problem``; ``problem_middleware`` turns it, aiohttp's own
``HTTPException`` (an unknown route, a wrong method) and anything unexpected
into the one body shape. A detail never carries a backend's message, a
credential or a traceback: those stay in the server's log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web
    from aiohttp.typedefs import Middleware

__all__ = [
    "BACKEND_UNAVAILABLE",
    "BAD_REQUEST",
    "EXPERIMENT_ID_MISMATCH",
    "FORBIDDEN",
    "INTERNAL",
    "METHOD_NOT_ALLOWED",
    "NOT_FOUND",
    "PAYLOAD_TOO_LARGE",
    "PROBLEM_CONTENT_TYPE",
    "RANGE_NOT_SATISFIABLE",
    "REQUEST_TIMEOUT",
    "UNAUTHORIZED",
    "Problem",
    "ProblemType",
    "backend_failed",
    "problem_middleware",
    "problem_response",
]

_log = logging.getLogger("eden_storage_async")

PROBLEM_CONTENT_TYPE = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    """One kind of error: its ``type`` URI, HTTP status and short ``title``."""

    uri: str
    status: int
    title: str


# eden's own types, as its wire client reads them.
BAD_REQUEST = ProblemType("eden://error/bad-request", 400, "Bad request")
EXPERIMENT_ID_MISMATCH = ProblemType(
    "eden://error/experiment-id-mismatch", 400, "Experiment id mismatch"
)
UNAUTHORIZED = ProblemType("eden://error/unauthorized", 401, "Unauthorized")
FORBIDDEN = ProblemType("eden://error/forbidden", 403, "Forbidden")
NOT_FOUND = ProblemType("eden://error/not-found", 404, "Not found")
PAYLOAD_TOO_LARGE = ProblemType("eden://error/payload-too-large", 413, "Payload too large")
# Ours: eden's wire has no type for these.
METHOD_NOT_ALLOWED = ProblemType(
    "eden://reference-error/method-not-allowed", 405, "Method not allowed"
)
REQUEST_TIMEOUT = ProblemType("eden://reference-error/request-timeout", 408, "Request timeout")
RANGE_NOT_SATISFIABLE = ProblemType(
    "eden://reference-error/range-not-satisfiable", 416, "Range not satisfiable"
)
INTERNAL = ProblemType("eden://reference-error/internal", 500, "Internal server error")
BACKEND_UNAVAILABLE = ProblemType(
    "eden://reference-error/backend-unavailable", 503, "Storage backend unavailable"
)

# aiohttp's own refusals (no route, a wrong method, a header it cannot parse),
# by status; any other status it raises becomes a generic one of ours.
_BY_STATUS = {
    kind.status: kind for kind in (BAD_REQUEST, NOT_FOUND, PAYLOAD_TOO_LARGE, METHOD_NOT_ALLOWED)
}


class Problem(Exception):
    """Raised by a handler to answer ``kind`` with ``detail``.

    ``headers`` go on the answer (``WWW-Authenticate``, ``Content-Range``);
    ``close`` ends the connection after it, for a request whose body was not
    read to its end (reading it just to discard it could take hours).
    """

    def __init__(
        self,
        kind: ProblemType,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        close: bool = False,
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.headers = dict(headers or {})
        self.close = close


def problem_response(
    kind: ProblemType, detail: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    """The problem+json answer for ``kind``."""
    from aiohttp import web

    body = {"type": kind.uri, "title": kind.title, "status": kind.status, "detail": detail}
    response = web.Response(status=kind.status, body=json.dumps(body).encode())
    # Set raw: content_type= would append a charset the media type does not define.
    response.headers["Content-Type"] = PROBLEM_CONTENT_TYPE
    response.headers.update(headers or {})
    return response


def backend_failed(operation: str, exc: BaseException) -> Problem:
    """A 503 for a backend call that failed: the class name is shown, the message logged."""
    from .._core.errors import StorageError

    if isinstance(exc, StorageError):
        _log.error("%s failed: %s: %s", operation, type(exc).__name__, exc)
        kind = type(exc).__name__
    else:
        _log.error("%s failed with an unexpected error", operation, exc_info=exc)
        kind = "BackendError"
    return Problem(
        BACKEND_UNAVAILABLE, f"the storage backend failed to {operation} the artifact ({kind})"
    )


_Handler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]


def problem_middleware() -> Middleware:
    """The aiohttp middleware that answers every error as problem+json."""
    from aiohttp import web

    @web.middleware
    async def middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except Problem as problem:
            response = problem_response(problem.kind, problem.detail, problem.headers)
            if problem.close or request.method == "POST":
                # A refused deposit's body may still be arriving: close instead
                # of reading it only to throw it away.
                response.force_close()
            return response
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            kind = _BY_STATUS.get(exc.status) or ProblemType(
                "eden://reference-error/http-error", exc.status, exc.reason
            )
            headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
            response = problem_response(kind, exc.reason, headers)
            if request.method == "POST":
                response.force_close()
            return response
        except Exception:
            _log.exception("unexpected error serving %s %s", request.method, request.path)
            response = problem_response(INTERNAL, "the server failed to answer the request")
            response.force_close()
            return response

    return middleware
