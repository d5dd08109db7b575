"""``GET /_reference/experiments/{E}/artifacts/{path}``: a legacy ``file://`` row, read only.

Rows written before the opaque-id store name ``file:///<artifacts-dir>/<rel>``;
the original server serves them at ``<rel>`` under its reference route, from
``--artifacts-dir``, whatever the backend. The rules and the walk (by
directory descriptor, refusing symlinks and traversal, with a size cap) are
``legacy.py``'s; this module is the HTTP side.

As the original: any authenticated principal may read a legacy row (it has no
recorded depositor), the experiment header is optional but must agree when
given, and without ``--artifacts-dir`` the route answers 503.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .fetch import content_disposition
from .legacy import LegacyRefused, LegacyServingDisabled, open_legacy
from .problems import Problem, ProblemType
from .state import ServerState, admit

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["fetch_legacy"]

_log = logging.getLogger("eden_storage_async")


async def fetch_legacy(state: ServerState, request: web.Request) -> web.StreamResponse:
    """The legacy file's bytes (or, for HEAD, its headers)."""
    from aiohttp import web

    admit(state, request, require_header=False)
    try:
        if state.legacy_root is None:
            raise LegacyServingDisabled("this server serves no legacy artifacts (--artifacts-dir)")
        async with open_legacy(
            state.legacy_root, request.match_info["path"], max_bytes=state.legacy_max_bytes
        ) as legacy:
            response = web.StreamResponse()
            response.headers["Content-Type"] = "application/octet-stream"
            response.headers["Content-Disposition"] = content_disposition(legacy.name)
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.content_length = legacy.size
            await response.prepare(request)
            if request.method != "HEAD":
                try:
                    async for chunk in legacy.chunks():
                        await response.write(chunk)
                except LegacyRefused as exc:
                    # The file changed under us after the headers went out:
                    # only a short body can say so.
                    _log.error("legacy artifact failed mid-body: %s", exc, exc_info=exc.__cause__)
                    if request.transport is not None:
                        request.transport.abort()
                    return response
                await response.write_eof()
            return response
    except LegacyRefused as exc:
        # Only the filesystem's own failures: a client asking for a path that
        # is absent or a symlink must not be able to fill the log with tracebacks.
        if exc.status >= 500 and exc.__cause__ is not None:
            _log.error("legacy artifact unavailable: %s", exc, exc_info=exc.__cause__)
        raise Problem(ProblemType(exc.problem_type, exc.status, exc.title), str(exc)) from None
