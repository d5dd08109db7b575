"""Building ``GcsBackend`` for the tests: the contract factory, a recording proxy, a scripted fake.

* ``gcs_on_fake_gcs_server``: the contract suite's entry, on the real emulator.
* ``RecordingProxy``: a loopback HTTP proxy in front of fake-gcs-server that
  records every request line and query, so a test can assert what was *sent*,
  whatever the emulator then does with it.
* ``ScriptedGcs``: a loopback fake of the few GCS JSON API calls the backend
  makes, with faults scripted per call (a status, a lost reply, a racer), for
  the error paths no real server produces on demand.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import re
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
import google_crc32c
import pytest
from aiohttp import web
from yarl import URL

from eden_storage_async import GcsBackend

from .servers import RealServer, fake_gcs_binary

__all__ = [
    "Recorded",
    "RecordingProxy",
    "ScriptedGcs",
    "crc32c_of",
    "emulator_version",
    "fresh_prefix",
    "gcs_backend_on",
    "gcs_on_fake_gcs_server",
    "write_service_account_key",
]

_HOP_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}
)
# Large enough for the 8 MiB contract payload and then some.
_MAX_BODY = 64 * 1024 * 1024
# How much of each request body the proxy keeps: a multipart upload's JSON part
# and an initiation's resource fit.
_HEAD = 64 * 1024


def fresh_prefix() -> str:
    """A prefix no other test uses, so tests sharing the bucket never see each other."""
    return f"eden-{secrets.token_hex(6)}"


@contextlib.asynccontextmanager
async def gcs_backend_on(
    endpoint_url: str, bucket: str, **kwargs: Any
) -> AsyncIterator[GcsBackend]:
    """A ``GcsBackend`` on ``endpoint_url`` with a fresh prefix, closed on exit."""
    kwargs.setdefault("prefix", fresh_prefix())
    async with GcsBackend(bucket=bucket, endpoint_url=endpoint_url, **kwargs) as backend:
        yield backend


@contextlib.asynccontextmanager
async def gcs_on_fake_gcs_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[GcsBackend]:
    """The contract suite's GCS entry: fake-gcs-server, a fresh prefix per test."""
    server: RealServer = request.getfixturevalue("fake_gcs")
    async with gcs_backend_on(server.endpoint_url, server.bucket) as backend:
        yield backend


def emulator_version() -> str:
    """The fake-gcs-server version built into the bundled binary (Go build info)."""
    data = fake_gcs_binary().read_bytes()
    found = re.search(rb"mod\tgithub\.com/fsouza/fake-gcs-server\t(v[0-9][^\t\s]*)", data)
    return found.group(1).decode() if found else "unknown"


@dataclass(frozen=True)
class Recorded:
    """One request as the proxy saw it, and the upstream's answer."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body_size: int
    status: int
    head: bytes = b""

    def resource(self) -> dict[str, Any]:
        """The JSON object resource this upload request sent (initiation or multipart)."""
        if self.query.get("uploadType") == "multipart":
            return dict(_parse_multipart(self.headers["Content-Type"], self.head)[0])
        return dict(json.loads(self.head))

    @property
    def is_upload(self) -> bool:
        """An upload request: a POST to the upload endpoint (media, multipart or resumable)."""
        return self.method == "POST" and self.path.startswith("/upload/storage/v1/b/")


class RecordingProxy:
    """Forwards everything on 127.0.0.1 to ``upstream`` and records each request.

    ``Location`` headers are rewritten to the proxy, so a resumable upload's
    PUT comes through here too.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.endpoint_url = ""
        self.requests: list[Recorded] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    def uploads(self) -> list[Recorded]:
        """The upload requests recorded so far."""
        return [r for r in self.requests if r.is_upload]

    async def __aenter__(self) -> RecordingProxy:
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.endpoint_url = f"http://127.0.0.1:{port}"
        self._session = aiohttp.ClientSession(auto_decompress=False)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        # raw_path keeps the client's encoding ("%2F" in object names) intact.
        target = URL(self.upstream + request.raw_path, encoded=True)
        async with self._session.request(
            request.method,
            target,
            # BytesIO: aiohttp warns about (and filterwarnings fails on) raw bytes > 1 MiB.
            data=io.BytesIO(body) if body else None,
            headers=headers,
            allow_redirects=False,
        ) as upstream:
            payload = await upstream.read()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS}
            status = upstream.status
        if "Location" in out:
            out["Location"] = out["Location"].replace(self.upstream, self.endpoint_url, 1)
        self.requests.append(
            Recorded(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                body_size=len(body),
                status=status,
                head=body[:_HEAD],
            )
        )
        return web.Response(status=status, body=payload, headers=out)


Op = Literal["multipart", "initiate", "put", "status", "download", "metadata", "bucket"]
# A scripted fault: answer this status without doing the call; "lost-reply": do
# the call, then drop the connection before answering; "reset": drop the
# connection without doing the call; "racer": another writer creates the
# object just before the call is handled; "corrupt" (download): flip a byte of
# the body, the checksum header unchanged; on an upload: the body arrives with a
# byte flipped, as a broken link would deliver it; ("stall", s): answer after s
# seconds; None: no fault for this call.
Fault = (
    int | Literal["lost-reply", "reset", "racer", "corrupt"] | tuple[Literal["stall"], float] | None
)


def crc32c_of(data: bytes) -> str:
    """GCS's form of a CRC32C: base64 of the 4 big-endian bytes."""
    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


@dataclass
class _Object:
    data: bytes
    metadata: dict[str, str]
    generation: int


@dataclass
class _Session:
    """A resumable upload under way: what it creates, and the bytes held so far."""

    name: str
    metadata: dict[str, str]
    query: dict[str, str]
    crc32c: str | None
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
    """

    bucket: str = "scripted-bucket"
    bucket_exists: bool = True
    echo_credentials: bool = False
    # False: store a body without checking the CRC32C it came with, as
    # fake-gcs-server v1.54.0 does.
    verify_crc32c: bool = True
    token_value: str = "ya29.scripted-access-token"
    token_scopes: list[str] = field(default_factory=list)
    objects: dict[str, _Object] = field(default_factory=dict)
    calls: list[tuple[Op, dict[str, str]]] = field(default_factory=list)
    authorization: list[str | None] = field(default_factory=list)
    user_agents: list[str] = field(default_factory=list)
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

    def put_object(self, name: str, data: bytes, nonce: str | None = None) -> None:
        """Create ``name`` as another writer would."""
        self._generation += 1
        meta = {"eden-store-nonce": nonce} if nonce else {}
        self.objects[name] = _Object(data, meta, self._generation)

    async def __aenter__(self) -> ScriptedGcs:
        app = web.Application(client_max_size=_MAX_BODY)
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
        return {
            "name": name,
            "bucket": self.bucket,
            "size": str(len(obj.data)),
            "generation": str(obj.generation),
            "crc32c": crc32c_of(obj.data),
            "metadata": obj.metadata,
        }

    def _commit(
        self, name: str, data: bytes, metadata: dict[str, str], query: dict[str, str]
    ) -> int | None:
        """Create or replace the object; a failed precondition returns 412."""
        if query.get("ifGenerationMatch") == "0" and name in self.objects:
            return 412
        self._generation += 1
        self.objects[name] = _Object(data, metadata, self._generation)
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
                resource["name"], resource.get("metadata", {}), query, resource.get("crc32c")
            )
            if query.get("ifGenerationMatch") == "0" and resource["name"] in self.objects:
                return self._error(412, request)
            location = f"{self.endpoint_url}/upload/resumable/{sid}?upload_id={sid}"
            return web.Response(status=200, headers={"Location": location})
        if kind != "multipart":
            return self._error(400, request)
        resource, data = _parse_multipart(request.headers["Content-Type"], await request.read())
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
        refused = self._commit(name, data, resource.get("metadata", {}), query)
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
        refused = self._commit(session.name, body, session.metadata, session.query)
        if refused:
            return self._error(refused, request)
        session.finished = True
        if fault == "lost-reply":
            return await self._lose_reply(request)
        return web.json_response(self._resource(session.name))

    async def _get_object(self, request: web.Request) -> web.Response:
        media = request.query.get("alt") == "media"
        fault = await self._begin("download" if media else "metadata", request)
        if isinstance(fault, int):
            return self._error(fault, request)
        name = request.match_info["name"]
        if self._missing_bucket(request) or name not in self.objects:
            return self._error(404, request)
        if media:
            data = self.objects[name].data
            headers = {"X-Goog-Hash": f"crc32c={crc32c_of(data)},md5=AAAAAAAAAAAAAAAAAAAAAA=="}
            if fault == "corrupt":
                data = _flipped(data)
            return web.Response(body=data, headers=headers)
        return web.json_response(self._resource(name))

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


def write_service_account_key(directory: Path, token_uri: str) -> Path:
    """A service-account key file, as GOOGLE_APPLICATION_CREDENTIALS names one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    key = {
        "type": "service_account",
        "project_id": "eden-test",
        "private_key_id": "0" * 40,
        "private_key": pem,
        "client_email": "eden-test@eden-test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }
    path = directory / "service-account.json"
    path.write_text(json.dumps(key))
    return path


def _flipped(data: bytes) -> bytes:
    """``data`` with its first byte changed."""
    return bytes([data[0] ^ 1]) + data[1:] if data else data


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], bytes]:
    """The JSON resource and the media of a ``multipart/related`` upload body."""
    boundary = content_type.split("boundary=", 1)[1].strip().encode()
    parts = body.split(b"--" + boundary)
    contents = []
    for part in parts[1:3]:
        _, _, content = part.partition(b"\r\n\r\n")
        contents.append(content[:-2])  # the CRLF before the next delimiter
    return json.loads(contents[0]), contents[1]
