"""``GET`` and ``HEAD`` of an artifact: streamed from ``load_stream``, ranged, cacheable.

``GET /v0/experiments/{E}/artifacts?uri=eden://artifacts/<id>`` is eden's
fetch; ``.../artifacts/{opaque_id}`` serves the same artifact (an older form
of the original's router), so either client works.

The order, as the original's: admission (401, 400), then the uri (400 when
missing, 404 when it is not one of ours), then ``stat`` (404 when absent, so
absence is answered before the ACL), then the ACL (403), then the validators
(304) and the range (206, 416). ``stat`` gives every header before a byte is
loaded, so ``HEAD`` and ``304`` never load at all.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from typing import TYPE_CHECKING

from .._core.attributes import ArtifactInfo
from .._core.errors import NotFound
from .auth import Principal
from .conditional import UNSATISFIABLE, Slice, entity_tag, if_none_match_hits, parse_range
from .problems import (
    BAD_REQUEST,
    FORBIDDEN,
    NOT_FOUND,
    RANGE_NOT_SATISFIABLE,
    Problem,
    backend_failed,
)
from .state import ARTIFACT_URI_PREFIX, DEPOSITOR_KEY, ServerState, admit

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["CACHE_CONTROL", "content_disposition", "fetch", "fetch_by_id"]

_log = logging.getLogger("eden_storage_async")

# An artifact never changes under its id: any cache may keep it for a year
# without asking again, but only the client's own (it is behind the ACL).
CACHE_CONTROL = "private, max-age=31536000, immutable"
_ARTIFACT_URI = re.compile(re.escape(ARTIFACT_URI_PREFIX) + r"([0-9a-f]{32})")
_OPAQUE_ID = re.compile(r"[0-9a-f]{32}")
# What may stand inside filename="..." unchanged: the rest becomes "_" there,
# and filename*= carries the real name (RFC 6266 section 4.3).
_QUOTABLE = re.compile(r"[^\x20-\x7e]|[\"\\%]")


async def fetch(state: ServerState, request: web.Request) -> web.StreamResponse:
    """``?uri=eden://artifacts/<id>``: the artifact's bytes, or its headers for HEAD."""
    principal = admit(state, request)
    uris = request.query.getall("uri", [])
    if not uris:
        raise Problem(BAD_REQUEST, "the uri query parameter is required")
    if len(uris) > 1:
        raise Problem(BAD_REQUEST, "give the uri query parameter once")
    match = _ARTIFACT_URI.fullmatch(uris[0])
    if match is None:
        # Not one of ours is answered as an absent one: it is, here.
        raise Problem(NOT_FOUND, "no such artifact")
    return await _serve(state, request, principal, match[1])


async def fetch_by_id(state: ServerState, request: web.Request) -> web.StreamResponse:
    """``/artifacts/{opaque_id}``: the same artifact as ``?uri=eden://artifacts/<id>``."""
    principal = admit(state, request)
    opaque_id = request.match_info["opaque_id"]
    if _OPAQUE_ID.fullmatch(opaque_id) is None:
        raise Problem(NOT_FOUND, "no such artifact")
    return await _serve(state, request, principal, opaque_id)


def content_disposition(name: str) -> str:
    """``attachment`` with both ``filename=`` (ASCII fallback) and ``filename*=`` (RFC 6266)."""
    fallback = _QUOTABLE.sub("_", name) or "artifact"
    return (
        f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"
    )


async def _serve(
    state: ServerState, request: web.Request, principal: Principal, opaque_id: str
) -> web.StreamResponse:
    from aiohttp import web

    info = await _stat(state, opaque_id)
    if not state.authenticator.may_fetch(principal, info.metadata.get(DEPOSITOR_KEY)):
        raise Problem(FORBIDDEN, "only the depositor and admins may fetch this artifact")
    etag = entity_tag(info.crc32c)
    validators = {"Cache-Control": CACHE_CONTROL}
    if etag is not None:
        validators["ETag"] = etag
    # If-None-Match before Range: RFC 9110 section 13.2.2's order.
    if if_none_match_hits(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers=validators)
    wanted = parse_range(
        request.headers.get("Range"),
        info.size,
        if_range=request.headers.get("If-Range"),
        etag=etag,
    )
    if wanted is UNSATISFIABLE:
        raise Problem(
            RANGE_NOT_SATISFIABLE,
            f"the range is outside the artifact's {info.size} bytes",
            headers={"Content-Range": f"bytes */{info.size}"},
        )
    piece = wanted if isinstance(wanted, Slice) else None
    response = web.StreamResponse(status=200 if piece is None else 206, headers=validators)
    _describe(response, info, opaque_id, piece)
    if request.method == "HEAD":
        await response.prepare(request)
        return response
    await _stream(state, request, response, opaque_id, piece)
    return response


async def _stat(state: ServerState, opaque_id: str) -> ArtifactInfo:
    try:
        return await state.backend.stat(opaque_id)
    except NotFound:
        raise Problem(NOT_FOUND, "no such artifact") from None
    except Exception as exc:
        raise backend_failed("stat", exc) from exc


def _describe(
    response: web.StreamResponse, info: ArtifactInfo, opaque_id: str, piece: Slice | None
) -> None:
    # Content-Type set raw: aiohttp's content_type= would add "; charset=..."
    # to a text type, and eden's fetch answers the type exactly as recorded.
    response.headers["Content-Type"] = info.content_type
    response.headers["Content-Disposition"] = content_disposition(opaque_id)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Accept-Ranges"] = "bytes"
    if piece is None:
        response.content_length = info.size
    else:
        response.content_length = piece.stop - piece.first
        response.headers["Content-Range"] = piece.content_range


async def _stream(
    state: ServerState,
    request: web.Request,
    response: web.StreamResponse,
    opaque_id: str,
    piece: Slice | None,
) -> None:
    # The whole object streams without bounds, so its CRC32C is checked at
    # the end; a piece is a ranged read, checked to be the bytes asked for.
    start, end = (0, None) if piece is None else (piece.first, piece.stop)
    prepared = False
    try:
        async with state.backend.load_stream(opaque_id, start=start, end=end) as chunks:
            # Entering raised already if the load cannot start: until here an
            # error can still be a proper answer.
            await response.prepare(request)
            prepared = True
            async for chunk in chunks:
                await response.write(chunk)
    except Exception as exc:
        if not prepared:
            if isinstance(exc, NotFound):
                raise Problem(NOT_FOUND, "no such artifact") from None
            raise backend_failed("load", exc) from exc
        if not isinstance(exc, ConnectionError):
            # Our backends wrap their own socket errors, so a bare
            # ConnectionError here is the client going away: nothing to tell.
            _cut(request, exc)
        return
    await response.write_eof()


def _cut(request: web.Request, exc: BaseException) -> None:
    """After the headers went out, a failure can only be told by cutting the body
    short: the client sees fewer bytes than Content-Length, never a wrong body."""
    _log.error("a fetch failed mid-body: %s: %s", type(exc).__name__, exc)
    if request.transport is not None:
        request.transport.abort()
