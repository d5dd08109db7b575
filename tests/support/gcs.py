"""Building ``GcsBackend`` for the tests: the contract factory, a recording proxy, small helpers.

* ``gcs_on_fake_gcs_server``: the contract suite's entry, on the real emulator.
* ``RecordingProxy``: a loopback HTTP proxy in front of fake-gcs-server that
  records every request line and query, so a test can assert what was *sent*,
  whatever the emulator then does with it.
* ``write_service_account_key``: a service-account key file whose
  ``token_uri`` is a scripted server's, for the credential tests.
* ``crc32c_of``, ``parse_multipart``, ``satisfy_range``: GCS's checksum form,
  upload body and ``Range`` arithmetic, for the proxy's records,
  ``ScriptedGcs`` (in ``gcs_scripted``) and the tests.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import google_crc32c
import pytest
from aiohttp import web
from yarl import URL

from eden_storage_async import GcsBackend

from .servers import RealServer, fake_gcs_binary

__all__ = [
    "MAX_BODY",
    "Recorded",
    "RecordingProxy",
    "crc32c_of",
    "emulator_version",
    "fresh_prefix",
    "gcs_backend_on",
    "gcs_on_fake_gcs_server",
    "parse_multipart",
    "satisfy_range",
    "write_service_account_key",
]

_HOP_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}
)
# Large enough for the 8 MiB contract payload and then some.
MAX_BODY = 64 * 1024 * 1024
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
            return dict(parse_multipart(self.headers["Content-Type"], self.head)[0])
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
        app = web.Application(client_max_size=MAX_BODY)
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


def crc32c_of(data: bytes) -> str:
    """GCS's form of a CRC32C: base64 of the 4 big-endian bytes."""
    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], bytes]:
    """The JSON resource and the media of a ``multipart/related`` upload body."""
    boundary = content_type.split("boundary=", 1)[1].strip().encode()
    parts = body.split(b"--" + boundary)
    contents = []
    for part in parts[1:3]:
        _, _, content = part.partition(b"\r\n\r\n")
        contents.append(content[:-2])  # the CRLF before the next delimiter
    return json.loads(contents[0]), contents[1]


def satisfy_range(header: str, size: int) -> tuple[int, int] | None:
    """The ``[first, last]`` a ``Range: bytes=...`` header selects in ``size``
    bytes, as RFC 9110 defines it; None when it is unsatisfiable (416)."""
    found = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    assert found, header
    assert any(found.groups()), header
    first_text, last_text = found.groups()
    if not first_text:  # a suffix: the last n bytes
        suffix = int(last_text)
        return (max(0, size - suffix), size - 1) if suffix and size else None
    first = int(first_text)
    last = size - 1 if not last_text else min(int(last_text), size - 1)
    return (first, last) if first < size else None


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
