"""``ScriptedGcs``: a loopback fake of the GCS JSON API with faults scripted per call.

It answers the few calls ``GcsBackend`` makes, with a fault queued per call (a
status, a lost reply, a racer, a wrong range answer), for the paths no real
server produces on demand; ``tests.support.gcs.write_service_account_key``
points a service-account key at its token endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from .gcs import MAX_BODY, crc32c_of, parse_multipart, satisfy_range

__all__ = ["ScriptedGcs"]


Op = Literal["multipart", "initiate", "put", "status", "download", "metadata", "bucket"]
# A scripted fault: answer this status without doing the call; "lost-reply": do
# the call, then drop the connection before answering; "reset": drop the
# connection without doing the call; "racer": another writer creates the
# object just before the call is handled; "corrupt" (download): flip a byte of
# the body, the checksum header unchanged; on an upload: the body arrives with a
# byte flipped, as a broken link would deliver it; ("stall", s): answer after s
# seconds. On a ranged download: "bad-range" names a Content-Range one byte
# off the range asked for; "short-range" sends one byte fewer than its
# Content-Range names, chunked, so the framing cannot tell; "wrong-416" answers
# 416 for a satisfiable range. None: no fault for this call.
RangeFault = Literal["bad-range", "short-range", "wrong-416"]
Fault = (
    int
    | Literal["lost-reply", "reset", "racer", "corrupt"]
    | RangeFault
    | tuple[Literal["stall"], float]
    | None
)


@dataclass
class _Object:
    data: bytes
    metadata: dict[str, str]
    generation: int
    content_type: str | None = None


@dataclass
class _Session:
    """A resumable upload under way: what it creates, and the bytes held so far."""

    name: str
    metadata: dict[str, str]
    query: dict[str, str]
    crc32c: str | None
    content_type: str | None
    held: bytearray = field(default_factory=bytearray)
    finished: bool = False


@dataclass
class ScriptedGcs:
    """A loopback fake of the GCS JSON API calls ``GcsBackend`` makes, with scripted faults.

    Create-only is enforced as GCS does it (``ifGenerationMatch=0`` on a taken
    name gives 412, at multipart upload and at the resumable upload's final
    PUT). So is integrity: a ``crc32c`` in the resource (multipart, resumable
    initiation) or an ``X-Goog-Hash`` on the final PUT that does not match the
    body gives GCS's 400, and a download carries ``X-Goog-Hash: crc32c=...``.
    A resumable session takes pieces (``Content-Range: bytes A-B/*`` → 308
    with ``Range``) and status queries (``bytes */N``). It does not send the
    object's custom metadata as ``X-Goog-Meta-*`` headers on a download (real
    GCS is not assumed to), so the backend's check of the service's checksum is
    what these tests see. With ``echo_credentials`` every error body repeats
    the request's ``Authorization`` header, to prove the backend scrubs it.

    An object keeps the ``contentType`` and ``metadata`` of the resource that
    created it (multipart, or the resumable initiation; the header
    ``X-Upload-Content-Type`` if the resource has none), as GCS does. A
    download honours ``Range`` (206 with ``Content-Range``, 416 past the end)
    unless a range fault says otherwise, or ``ignore_ranges`` makes it answer
    200 and the whole object; ``chunked_downloads`` sends every body without
    a ``Content-Length``.
    """

    bucket: str = "scripted-bucket"
    bucket_exists: bool = True
    echo_credentials: bool = False
    # False: store a body without checking the CRC32C it came with, as
    # fake-gcs-server v1.54.0 does.
    verify_crc32c: bool = True
    ignore_ranges: bool = False
    chunked_downloads: bool = False
    token_value: str = "ya29.scripted-access-token"
    token_scopes: list[str] = field(default_factory=list)
    objects: dict[str, _Object] = field(default_factory=dict)
    calls: list[tuple[Op, dict[str, str]]] = field(default_factory=list)
    authorization: list[str | None] = field(default_factory=list)
    user_agents: list[str] = field(default_factory=list)
    # The Range header of each media download (None: none was sent).
    ranges: list[str | None] = field(default_factory=list)
    endpoint_url: str = ""
    _faults: dict[Op, list[Fault]] = field(default_factory=lambda: defaultdict(list))
    _sessions: dict[str, _Session] = field(default_factory=dict)
    _generation: int = 0
    _runner: web.AppRunner | None = None

    def script(self, op: Op, *faults: Fault) -> None:
        """Queue ``faults`` for the next calls of ``op``, one per call, in order."""
        self._faults[op].extend(faults)

    def count(self, op: Op) -> int:
        """How many times ``op`` was called."""
        return sum(1 for called, _ in self.calls if called == op)

    def put_object(
        self,
        name: str,
        data: bytes,
        nonce: str | None = None,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        """Create ``name`` as another writer (or another tool) would."""
        self._generation += 1
        meta = dict(metadata or {})
        if nonce:
            meta["eden-store-nonce"] = nonce
        self.objects[name] = _Object(data, meta, self._generation, content_type)

    async def __aenter__(self) -> ScriptedGcs:
        app = web.Application(client_max_size=MAX_BODY)
        base = "/storage/v1/b/{bucket}"
        app.router.add_post("/upload" + base + "/o", self._upload)
        app.router.add_put("/upload/resumable/{sid}", self._put)
        app.router.add_get(base + "/o/{name:.+}", self._get_object)
        app.router.add_get(base, self._get_bucket)
        app.router.add_post("/token", self._token)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.endpoint_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _begin(self, op: Op, request: web.Request) -> Fault | None:
        """Record the call and apply its scripted fault, if any; return the fault."""
        self.calls.append((op, dict(request.query)))
        self.authorization.append(request.headers.get("Authorization"))
        self.user_agents.append(request.headers.get("User-Agent", ""))
        fault = self._faults[op].pop(0) if self._faults[op] else None
        if isinstance(fault, tuple):
            await asyncio.sleep(fault[1])
        return fault

    def _error(self, status: int, request: web.Request) -> web.Response:
        message = f"scripted {status}"
        if self.echo_credentials:
            message += f"; request had Authorization: {request.headers.get('Authorization')}"
        body = {"error": {"code": status, "message": message}}
        return web.json_response(body, status=status)

    def _missing_bucket(self, request: web.Request) -> bool:
        return not self.bucket_exists or request.match_info["bucket"] != self.bucket

    def _resource(self, name: str) -> dict[str, Any]:
        obj = self.objects[name]
        resource = {
            "name": name,
            "bucket": self.bucket,
            "size": str(len(obj.data)),
            "generation": str(obj.generation),
            "crc32c": crc32c_of(obj.data),
            "metadata": obj.metadata,
        }
        if obj.content_type is not None:
            resource["contentType"] = obj.content_type
        return resource

    def _commit(
        self,
        name: str,
        data: bytes,
        resource: dict[str, Any],
        query: dict[str, str],
        content_type: str | None = None,
    ) -> int | None:
        """Create or replace the object; a failed precondition returns 412."""
        if query.get("ifGenerationMatch") == "0" and name in self.objects:
            return 412
        self._generation += 1
        content_type = resource.get("contentType") or content_type
        self.objects[name] = _Object(
            data, dict(resource.get("metadata", {})), self._generation, content_type
        )
        return None

    async def _lose_reply(self, request: web.Request) -> web.Response:
        # The work is done; the client only sees the connection go.
        assert request.transport is not None
        request.transport.abort()
        await asyncio.sleep(0.05)
        return web.Response(status=500)

    def _crc_error(self, claimed: str, data: bytes) -> web.Response:
        message = (
            f'Provided CRC32C "{claimed}" doesn\'t match calculated CRC32C "{crc32c_of(data)}".'
        )
        body = {"error": {"code": 400, "message": message, "errors": [{"reason": "invalid"}]}}
        return web.json_response(body, status=400)

    async def _upload(self, request: web.Request) -> web.Response:
        kind = request.query.get("uploadType", "")
        op: Op = "initiate" if kind == "resumable" else "multipart"
        fault = await self._begin(op, request)
        if isinstance(fault, int):
            return self._error(fault, request)
        if self._missing_bucket(request):
            return self._error(404, request)
        query = dict(request.query)
        if kind == "resumable":
            resource = json.loads(await request.read())
            sid = secrets.token_hex(8)
            self._sessions[sid] = _Session(
                resource["name"],
                resource.get("metadata", {}),
                query,
                resource.get("crc32c"),
                resource.get("contentType") or request.headers.get("X-Upload-Content-Type"),
            )
            if query.get("ifGenerationMatch") == "0" and resource["name"] in self.objects:
                return self._error(412, request)
            location = f"{self.endpoint_url}/upload/resumable/{sid}?upload_id={sid}"
            return web.Response(status=200, headers={"Location": location})
        if kind != "multipart":
            return self._error(400, request)
        resource, data = parse_multipart(request.headers["Content-Type"], await request.read())
        name = resource["name"]
        if fault == "reset":
            return await self._lose_reply(request)
        if fault == "corrupt":
            data = _flipped(data)
        claimed = resource.get("crc32c")
        if self.verify_crc32c and claimed is not None and claimed != crc32c_of(data):
            return self._crc_error(claimed, data)
        if fault == "racer":
            self.put_object(name, b"racer's bytes")
        refused = self._commit(name, data, resource, query)
        if refused:
            return self._error(refused, request)
        if fault == "lost-reply":
            return await self._lose_reply(request)
        return web.json_response(self._resource(name))

    async def _put(self, request: web.Request) -> web.Response:
        data = await request.read()
        content_range = request.headers.get("Content-Range")
        query_only = content_range is not None and content_range.startswith("bytes */")
        fault = await self._begin("status" if query_only else "put", request)
        if isinstance(fault, int):
            return self._error(fault, request)
        if fault == "reset":
            return await self._lose_reply(request)
        session = self._sessions.get(request.match_info["sid"])
        if session is None:
            return self._error(404, request)
        if session.finished:
            # Real GCS answers a finished session's PUTs with the object.
            return web.json_response(self._resource(session.name))
        if content_range is None:  # one PUT with the whole body
            start, total = 0, str(len(data))
        else:
            found = re.fullmatch(r"bytes (?:(\d+)-\d+|\*)/(\d+|\*)", content_range)
            assert found, content_range
            start, total = int(found.group(1) or len(session.held)), found.group(2)
        assert start <= len(session.held), (start, len(session.held))
        del session.held[start:]
        session.held += _flipped(data) if fault == "corrupt" else data
        if total == "*" or int(total) > len(session.held):
            if fault == "lost-reply":
                return await self._lose_reply(request)
            held = {"Range": f"bytes=0-{len(session.held) - 1}"} if session.held else {}
            return web.Response(status=308, headers=held)
        body = bytes(session.held)
        claimed = session.crc32c
        for value in request.headers.getall("X-Goog-Hash", ()):
            if value.startswith("crc32c="):
                claimed = value.removeprefix("crc32c=")
        if self.verify_crc32c and claimed is not None and claimed != crc32c_of(body):
            return self._crc_error(claimed, body)
        if fault == "racer":
            self.put_object(session.name, b"racer's bytes")
        created = {"metadata": session.metadata, "contentType": session.content_type}
        refused = self._commit(session.name, body, created, session.query)
        if refused:
            return self._error(refused, request)
        session.finished = True
        if fault == "lost-reply":
            return await self._lose_reply(request)
        return web.json_response(self._resource(session.name))

    async def _get_object(self, request: web.Request) -> web.StreamResponse:
        media = request.query.get("alt") == "media"
        fault = await self._begin("download" if media else "metadata", request)
        if isinstance(fault, int):
            return self._error(fault, request)
        name = request.match_info["name"]
        if self._missing_bucket(request) or name not in self.objects:
            return self._error(404, request)
        if media:
            return await self._media(request, self.objects[name].data, fault)
        return web.json_response(self._resource(name))

    async def _media(self, request: web.Request, data: bytes, fault: Fault) -> web.StreamResponse:
        """A media download, ranged if asked, with any range fault applied."""
        headers = {"X-Goog-Hash": f"crc32c={crc32c_of(data)},md5=AAAAAAAAAAAAAAAAAAAAAA=="}
        asked, total, status = request.headers.get("Range"), len(data), 200
        self.ranges.append(asked)
        if asked is not None and not self.ignore_ranges:
            chosen = satisfy_range(asked, total)
            if chosen is None or fault == "wrong-416":
                headers["Content-Range"] = f"bytes */{total}"
                return web.Response(status=416, headers=headers)
            first, last = chosen
            data, status = data[first : last + 1], 206
            shift = 1 if fault == "bad-range" else 0
            headers["Content-Range"] = f"bytes {first + shift}-{last + shift}/{total}"
            data = data[:-1] if fault == "short-range" else data
        if fault == "corrupt":
            data = _flipped(data)
        if not (self.chunked_downloads or fault == "short-range"):
            return web.Response(status=status, body=data, headers=headers)
        response = web.StreamResponse(status=status, headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(data)
        await response.write_eof()
        return response

    async def _get_bucket(self, request: web.Request) -> web.Response:
        fault = await self._begin("bucket", request)
        if isinstance(fault, int):
            return self._error(fault, request)
        if self._missing_bucket(request):
            return self._error(404, request)
        return web.json_response({"name": self.bucket})

    async def _token(self, request: web.Request) -> web.Response:
        """OAuth's JWT-bearer grant, as a service-account key's ``token_uri`` names it."""
        form = await request.post()
        claims_segment = str(form["assertion"]).split(".")[1]
        claims = json.loads(
            base64.urlsafe_b64decode(claims_segment + "=" * (-len(claims_segment) % 4))
        )
        self.token_scopes.append(claims["scope"])
        return web.json_response({"access_token": self.token_value, "expires_in": 3600})


def _flipped(data: bytes) -> bytes:
    """``data`` with its first byte changed."""
    return bytes([data[0] ^ 1]) + data[1:] if data else data
