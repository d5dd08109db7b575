"""``POST /v0/experiments/{E}/artifacts``: one multipart file part, streamed into ``store_stream``.

The body is never held: aiohttp's streaming ``MultipartReader`` hands out the
part a bounded chunk at a time, and each chunk goes on to the backend before
the next is read, so a deposit costs about one chunk of server memory (plus
what the backend buffers for its own upload: S3's part, GCS's piece).

Every check that can only be made while reading (the byte count, a second
part after the file, a stalled client) raises inside the chunk generator,
before it finishes. ``store_stream`` then aborts and publishes nothing: a
refused deposit never leaves an artifact behind.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from .._core.attributes import DEFAULT_CONTENT_TYPE, check_attributes
from .._core.ids import mint_opaque_id
from .problems import (
    BAD_REQUEST,
    PAYLOAD_TOO_LARGE,
    REQUEST_TIMEOUT,
    Problem,
    backend_failed,
)
from .state import ARTIFACT_URI_PREFIX, DEPOSITOR_KEY, ServerState, admit

if TYPE_CHECKING:
    from aiohttp import BodyPartReader, MultipartReader, web

__all__ = ["deposit", "recorded_content_type"]

_log = logging.getLogger("eden_storage_async")
_T = TypeVar("_T")

# The multipart framing around the file (boundaries, part headers) is counted
# in Content-Length but not in the artifact; a declared length this far over
# the limit cannot be a deposit within it, and is refused before any read.
_FRAMING_ALLOWANCE = 64 * 1024
_SHAPE = "the deposit body must be multipart/form-data with exactly one file part named 'file'"
# Encodings read_chunk would hand out still encoded: the stored bytes would
# not be the file's. RFC 7578 section 4.7 deprecates them in form-data anyway.
_IDENTITY_ENCODINGS = frozenset({"", "binary", "7bit", "8bit", "identity"})
# C0 controls but the tab (which HTTP allows, and the recorded type strips), and DEL.
_CONTROL_BYTES = bytes([*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F])
# aiohttp's own bounds for a request's headers, for a part's.
_MAX_PART_HEADER = 8190
_MAX_PART_HEADERS = 128


async def deposit(state: ServerState, request: web.Request) -> web.StreamResponse:
    """Store the one file part under a freshly minted opaque_id; 201 with its URI."""
    from aiohttp import web

    principal = admit(state, request).name
    declared = request.content_length
    if declared is not None and declared > state.max_artifact_bytes + _FRAMING_ALLOWANCE:
        raise _too_large(state)
    reader = await _open(request)
    part = await _first_part(reader, state.body_timeout)
    content_type = recorded_content_type(part.headers.get("Content-Type"))
    try:
        attributes = check_attributes(content_type, {DEPOSITOR_KEY: principal})
    except ValueError:
        raise Problem(
            BAD_REQUEST,
            "the file part's Content-Type must be at most 255 printable ASCII characters",
            close=True,
        ) from None
    body = _Body(state, reader, part)
    opaque_id = mint_opaque_id()
    try:
        await state.backend.store_stream(
            opaque_id,
            body.chunks(),
            content_type=attributes.content_type,
            metadata=attributes.metadata,
        )
    except Exception as exc:
        # Our own refusal, however the backend passed it on (as it is, or
        # wrapped): the generator kept it.
        if body.refusal is not None:
            raise body.refusal from None
        raise backend_failed("store", exc) from exc
    _log.info(
        "stored artifact %s for experiment %s (%d bytes, depositor %s)",
        opaque_id,
        request.match_info["experiment_id"],
        body.size,
        principal,
    )
    document = {
        "artifacts_uri": ARTIFACT_URI_PREFIX + opaque_id,
        "size_bytes": body.size,
        "content_type": attributes.effective_content_type,
    }
    return web.json_response(document, status=201)


def recorded_content_type(declared: str | None) -> str:
    """The part's type as eden records it: printable ASCII only, trimmed; empty is the default."""
    kept = "".join(char for char in declared or "" if " " <= char <= "~").strip()
    return kept or DEFAULT_CONTENT_TYPE


async def _open(request: web.Request) -> MultipartReader:
    if request.content_type != "multipart/form-data":
        raise Problem(BAD_REQUEST, _SHAPE, close=True)
    try:
        return _lenient_reader()(request.headers, request.content)
    except (ValueError, AssertionError):
        # No boundary parameter, or one aiohttp cannot use.
        raise Problem(BAD_REQUEST, f"{_SHAPE}: the boundary is missing", close=True) from None


@functools.cache
def _lenient_reader() -> type[MultipartReader]:
    """aiohttp's reader, with control characters stripped from part header lines.

    aiohttp's header parser refuses a part whose header holds one (RFC 9110
    forbids them), but eden's rule is to record the part's type with control
    characters stripped, as the original (python-multipart) does. This hooks
    aiohttp's private ``_read_headers``: if aiohttp renames it, the reader is
    strict again and test_routes' control-character cases fail, not silently.
    """
    from aiohttp import MultipartReader
    from aiohttp.http_exceptions import BadHttpMessage
    from aiohttp.http_parser import HeadersParser

    class Lenient(MultipartReader):
        # Any: the real type (multidict's CIMultiDictProxy) is aiohttp's business.
        async def _read_headers(self) -> Any:
            lines = []
            while True:
                line = await self._content.readline(max_line_length=_MAX_PART_HEADER)
                line = line.rstrip(b"\r\n").translate(None, _CONTROL_BYTES)
                lines.append(line)
                if not line:
                    break
                if len(lines) > _MAX_PART_HEADERS:
                    raise BadHttpMessage("too many part headers")
            headers, _ = HeadersParser(max_field_size=_MAX_PART_HEADER).parse_headers(lines)
            return headers

    return Lenient


async def _first_part(reader: MultipartReader, idle_s: float) -> BodyPartReader:
    from aiohttp import BodyPartReader

    # A leading "_charset_" part (RFC 7578 section 4.6) is a second part too:
    # aiohttp reads it itself and then fails on the next boundary, a 400.
    part = await _read(reader.next(), idle_s)
    if part is None or not isinstance(part, BodyPartReader):
        raise Problem(BAD_REQUEST, _SHAPE, close=True)
    if part.name != "file" or part.filename is None:
        raise Problem(BAD_REQUEST, f"{_SHAPE}: got part {part.name!r}", close=True)
    for header in ("Content-Transfer-Encoding", "Content-Encoding"):
        if part.headers.get(header, "").strip().lower() not in _IDENTITY_ENCODINGS:
            raise Problem(BAD_REQUEST, f"{_SHAPE}: the part may not carry {header}", close=True)
    return part


class _Body:
    """The file part's bytes as chunks for ``store_stream``, checked as they go.

    ``refusal`` keeps the ``Problem`` the generator raised, so the handler
    answers it even if a backend wrapped the exception on its way out.
    """

    def __init__(self, state: ServerState, reader: MultipartReader, part: BodyPartReader) -> None:
        self._state = state
        self._reader = reader
        self._part = part
        self.size = 0
        self.refusal: Problem | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            while chunk := await _read(
                self._part.read_chunk(self._state.read_size), self._state.body_timeout
            ):
                self.size += len(chunk)
                if self.size > self._state.max_artifact_bytes:
                    raise _too_large(self._state)
                yield chunk
            # Before the last chunk counts as delivered: the rest of the body
            # must be the closing boundary, not a second part.
            if await _read(self._reader.next(), self._state.body_timeout) is not None:
                raise Problem(BAD_REQUEST, f"{_SHAPE}: got a second part", close=True)
        except Problem as problem:
            self.refusal = problem
            raise


async def _read(step: Awaitable[_T], idle_s: float) -> _T:
    """``await step``, as one read from the client: malformed framing is a 400, and a
    client silent for ``idle_s`` seconds a 408."""
    from aiohttp import ClientError
    from aiohttp.http_exceptions import HttpProcessingError

    try:
        async with asyncio.timeout(idle_s):
            return await step
    except TimeoutError:
        raise Problem(
            REQUEST_TIMEOUT, f"the client sent nothing for {idle_s:g} s", close=True
        ) from None
    except (
        ValueError,
        AssertionError,
        RuntimeError,
        ClientError,
        ConnectionError,
        HttpProcessingError,
    ) as exc:
        # aiohttp's multipart reader says ValueError (or asserts) for framing it
        # cannot parse; a body cut short ends the same way.
        _log.info("unreadable deposit body: %s: %s", type(exc).__name__, exc)
        raise Problem(BAD_REQUEST, f"{_SHAPE}: the body is malformed", close=True) from None


def _too_large(state: ServerState) -> Problem:
    return Problem(
        PAYLOAD_TOO_LARGE,
        f"the artifact exceeds the server's limit of {state.max_artifact_bytes} bytes",
        close=True,
    )
