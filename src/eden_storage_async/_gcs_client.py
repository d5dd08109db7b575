"""The GCS wire calls behind ``GcsBackend``: the only module that touches the SDK.

gcloud-aio-storage does the single-request (multipart) upload, the download
and the metadata reads. The resumable upload is driven here, on the same
session, for two reasons. The SDK retries its final PUT 5 times on *any*
error, a 412 included, sleeping 1+2+4+8 s in between: a reused id would take
about 15 s to surface, and a PUT whose reply was lost would come back as a
412 on our own object. And it sends the body from a copy; here the caller's
buffer is streamed as it is.

Every SDK object is typed ``Any`` here and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from gcloud.aio import auth, storage

from ._settle import settle

# The SDK's own annotations name its requests-or-aiohttp union types; at this
# boundary its classes are Any, and nothing typed Any leaves this module.
_Storage: Any = storage.Storage
_Token: Any = auth.Token

__all__ = ["NONCE_KEY", "STREAM_PIECE", "GcsClient", "Timeouts", "open_client"]

# A 308's Range header: the bytes the service holds, "bytes=0-N".
_RANGE = re.compile(r"bytes=0-(\d+)")

# Custom metadata written with every object: a random value per store call, so
# after a 412 the backend can tell "our own write landed, its reply was lost"
# from "someone else holds the id".
NONCE_KEY = "eden-store-nonce"
# Read and create objects, read bucket metadata; full_control (the SDK's
# default) is more than a create-only store needs.
_SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"
_CONTENT_TYPE = "application/octet-stream"
# aiohttp reads a BytesIO in 64 KiB chunks; the same for the zero-copy stream.
_CHUNK = 64 * 1024
# A streamed resumable upload sends the body in pieces of this size: GCS wants
# every piece but the last to be a multiple of 256 KiB, and holding one piece
# at a time is what bounds store_stream's memory.
STREAM_PIECE = 8 * 1024 * 1024
_GRANULE = 256 * 1024


@dataclass(frozen=True)
class Timeouts:
    """Per-request limits; see ``GcsBackend`` for why they are shaped this way."""

    idle_s: float
    min_bytes_per_s: float

    def small(self) -> aiohttp.ClientTimeout:
        """A request with a small body and a small reply (metadata, initiation)."""
        return aiohttp.ClientTimeout(
            total=self.idle_s, sock_connect=self.idle_s, sock_read=self.idle_s
        )

    def upload(self, size: int) -> aiohttp.ClientTimeout:
        """An upload of ``size`` bytes: the total grows with the body."""
        total = self.idle_s + size / self.min_bytes_per_s
        return aiohttp.ClientTimeout(total=total, sock_connect=self.idle_s, sock_read=self.idle_s)

    def download(self) -> aiohttp.ClientTimeout:
        """A download of unknown size: no total, but no stall longer than ``idle_s``."""
        return aiohttp.ClientTimeout(total=None, sock_connect=self.idle_s, sock_read=self.idle_s)


class _NoCredentials:
    """Stands in for a token with an emulator, where the SDK never asks for one."""

    async def get(self) -> str | None:
        raise RuntimeError("no credentials are sent to an emulator endpoint")


class GcsClient:
    """One bucket on one session; raises aiohttp / SDK errors as they are."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        owns_session: bool,
        api_root: str,
        bucket: str,
        token: Any,
        timeouts: Timeouts,
    ) -> None:
        self._session = session
        self._owns_session = owns_session
        self._bucket = bucket
        self._token: Any = token
        self._timeouts = timeouts
        self._upload_url = f"{api_root}/upload/storage/v1/b/{bucket}/o"
        self._object_url = f"{api_root}/storage/v1/b/{bucket}/o"
        self._storage: Any = _Storage(
            session=session,
            api_root=api_root,
            api_is_dev=token is None,
            token=token if token is not None else _NoCredentials(),
        )

    def known_secrets(self) -> tuple[str, ...]:
        """The live access token, if any, so error text can be redacted against it."""
        value = getattr(self._token, "access_token", None)
        return (value,) if isinstance(value, str) and value else ()

    async def upload(self, name: str, data: memoryview, nonce: str, *, resumable: bool) -> None:
        """Create ``name`` with ``ifGenerationMatch=0``; a 412 means it exists.

        A cancellation waits for the request in flight to be answered (its
        timeout bounds the wait), then propagates. Once a body is on the wire
        the server may commit it whatever the client does; without the wait a
        cancelled store could publish its object after the caller saw it absent
        and stored the id again, and that second store would get a 412.
        """
        await settle(self._upload(name, data, nonce, resumable=resumable))

    async def _upload(self, name: str, data: memoryview, nonce: str, *, resumable: bool) -> None:
        if resumable:
            await self._upload_resumable(name, data, nonce)
            return
        # Fresh dicts per call: the SDK writes uploadType, Content-Type and the
        # auth header into the ones it is given. Passing metadata makes it use a
        # multipart upload, never a media one.
        await self._storage.upload(
            self._bucket,
            name,
            data.tobytes(),
            content_type=_CONTENT_TYPE,
            parameters={"ifGenerationMatch": "0"},
            headers={},
            metadata={"metadata": {NONCE_KEY: nonce}},
            force_resumable_upload=False,
            timeout=self._timeouts.upload(len(data)),
        )

    async def upload_stream(
        self,
        name: str,
        head: bytearray,
        rest: AsyncIterator[memoryview],
        nonce: str,
        *,
        piece: int = STREAM_PIECE,
    ) -> int:
        """Create ``name`` from ``head`` then ``rest`` with one resumable upload of
        unknown length; return its size. ``ifGenerationMatch=0`` rides on the
        initiating request, so the final piece answers 412 if the name is taken.

        Nothing is visible before the final piece is accepted. On any failure
        or cancellation before then, the session is cancelled (DELETE).
        """
        if piece <= 0 or piece % _GRANULE:
            raise ValueError("piece must be a positive multiple of 256 KiB")
        session_uri = await self._initiate(name, nonce, size=None)
        offset = 0
        buffer = head
        try:
            done = False
            while not done:
                # Strictly more than a piece, so a non-empty last piece always
                # remains: it is the one that carries the total and commits.
                while len(buffer) <= piece:
                    chunk = await anext(rest, None)
                    if chunk is None:
                        done = True
                        break
                    buffer += chunk
                if done:
                    break
                body = bytes(buffer[:piece])
                del buffer[:piece]
                kept = await self._put_piece(session_uri, body, offset, total=None)
                if kept <= offset:
                    raise aiohttp.ClientPayloadError(
                        f"resumable upload made no progress at byte {offset}"
                    )
                if kept < offset + len(body):
                    # The service kept fewer bytes than sent: send the rest again.
                    buffer[0:0] = body[kept - offset :]
                offset = kept
            total = offset + len(buffer)
            body = bytes(buffer)
            buffer.clear()
            # The commit point: once on the wire it may land whatever the
            # caller does, so a cancellation waits for its answer.
            await settle(self._put_piece(session_uri, body, offset, total=total))
        except BaseException:
            with contextlib.suppress(Exception):
                await settle(self._cancel_session(session_uri))
            raise
        return total

    async def _put_piece(
        self, session_uri: str, body: bytes, offset: int, total: int | None
    ) -> int:
        """PUT one piece; return how many bytes the service holds now."""
        last = offset + len(body) - 1
        size = "*" if total is None else str(total)
        content_range = f"bytes {offset}-{last}/{size}" if body else f"bytes */{size}"
        async with self._session.put(
            session_uri,
            # Sliced, as the one-shot resumable PUT does: aiohttp warns (an error
            # under the test suite) that one large bytes body holds up the loop.
            data=_chunks(memoryview(body)),
            headers={
                "Content-Type": _CONTENT_TYPE,
                "Content-Length": str(len(body)),
                "Content-Range": content_range,
            },
            timeout=self._timeouts.upload(len(body)),
            # 308 is GCS's "Resume Incomplete" here, not a redirect.
            allow_redirects=False,
        ) as resp:
            if resp.status == 308:
                await resp.read()
                kept = _RANGE.fullmatch(resp.headers.get("Range", ""))
                return int(kept.group(1)) + 1 if kept else 0
            await _raise_for_status(resp)
            await resp.read()
        return offset + len(body)

    async def _cancel_session(self, session_uri: str) -> None:
        async with self._session.delete(session_uri, timeout=self._timeouts.small()) as resp:
            await resp.read()

    async def download_stream(self, name: str) -> aiohttp.ClientResponse:
        """The open media download of ``name``; the caller reads and releases it."""
        resp = await self._session.get(
            f"{self._object_url}/{quote(name, safe='')}",
            params={"alt": "media"},
            headers=await self._auth_headers(),
            timeout=self._timeouts.download(),
        )
        if resp.status >= 400:
            try:
                await _raise_for_status(resp)
            finally:
                resp.release()
        return resp

    async def download(self, name: str) -> bytes:
        """The bytes of ``name``."""
        data = await self._storage.download(
            self._bucket, name, headers={}, timeout=self._timeouts.download()
        )
        return bytes(data)

    async def nonce_of(self, name: str) -> str | None:
        """The store nonce recorded on ``name``, if it has one."""
        meta = await self._storage.download_metadata(
            self._bucket, name, headers={}, timeout=self._timeouts.small()
        )
        custom = meta.get("metadata") if isinstance(meta, dict) else None
        value = custom.get(NONCE_KEY) if isinstance(custom, dict) else None
        return value if isinstance(value, str) else None

    async def bucket_exists(self) -> bool | None:
        """True or False from the bucket-metadata call; None when it is refused (403)."""
        try:
            await self._storage.get_bucket_metadata(
                self._bucket, headers={}, timeout=self._timeouts.small()
            )
        except aiohttp.ClientResponseError as exc:
            if exc.status == 404:
                return False
            if exc.status == 403:
                return None
            raise
        return True

    async def aclose(self) -> None:
        """Stop a token refresh under way and close the session if it is ours."""
        refresh = getattr(self._token, "acquiring", None)
        if isinstance(refresh, asyncio.Task) and not refresh.done():
            refresh.cancel()
            with contextlib.suppress(BaseException):
                await refresh
        if self._owns_session:
            await self._session.close()

    async def _upload_resumable(self, name: str, data: memoryview, nonce: str) -> None:
        session_uri = await self._initiate(name, nonce, size=len(data))
        # One PUT, not retried here: the backend retries the whole store, and a
        # 412 comes straight back to it. No Authorization header: the session
        # URI is the credential, and it may name another host than api_root.
        async with self._session.put(
            session_uri,
            data=_chunks(data),
            headers={"Content-Type": _CONTENT_TYPE, "Content-Length": str(len(data))},
            timeout=self._timeouts.upload(len(data)),
        ) as resp:
            await _raise_for_status(resp)
            await resp.read()

    async def _initiate(self, name: str, nonce: str, *, size: int | None) -> str:
        """Start a resumable upload with ``ifGenerationMatch=0``; return its session URI."""
        # https://cloud.google.com/storage/docs/performing-resumable-uploads
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "X-Upload-Content-Type": _CONTENT_TYPE,
            **(await self._auth_headers()),
        }
        if size is not None:
            headers["X-Upload-Content-Length"] = str(size)
        resource = {"name": name, "contentType": _CONTENT_TYPE, "metadata": {NONCE_KEY: nonce}}
        async with self._session.post(
            self._upload_url,
            params={"uploadType": "resumable", "name": name, "ifGenerationMatch": "0"},
            data=json.dumps(resource),
            headers=headers,
            timeout=self._timeouts.small(),
        ) as resp:
            await _raise_for_status(resp)
            location: str = resp.headers["Location"]
        return location

    async def _auth_headers(self) -> dict[str, str]:
        if self._token is None:
            return {}
        return {"Authorization": f"Bearer {await self._token.get()}"}


async def _chunks(data: memoryview) -> AsyncIterator[memoryview]:
    """The body as slices of the caller's buffer: no copy, whatever its size."""
    for start in range(0, len(data), _CHUNK):
        yield data[start : start + _CHUNK]


async def _raise_for_status(resp: aiohttp.ClientResponse) -> None:
    """Raise like the SDK does, with the body in the message, so one mapping fits both."""
    if resp.status >= 400:
        body = await resp.text(errors="replace")
        raise aiohttp.ClientResponseError(
            resp.request_info,
            (),
            status=resp.status,
            message=f"{resp.reason}: {body[:4096]}",
            headers=resp.headers,
        )


async def open_client(
    *,
    session: aiohttp.ClientSession | None,
    api_root: str,
    emulator: bool,
    bucket: str,
    max_concurrency: int,
    timeouts: Timeouts,
) -> GcsClient:
    """Build the client on the running loop; a session of our own if none is given."""
    token: Any = None
    owns_session = session is None
    if session is None:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_concurrency, limit_per_host=max_concurrency),
            # Per-request timeouts are always passed; this is the floor for any
            # call that would not pass one.
            timeout=timeouts.download(),
        )
    try:
        if not emulator:
            # Token() reads the credentials file named by the default chain:
            # file I/O, so off the event loop.
            token = await asyncio.to_thread(_Token, scopes=[_SCOPE], session=session)
        return GcsClient(
            session=session,
            owns_session=owns_session,
            api_root=api_root,
            bucket=bucket,
            token=token,
            timeouts=timeouts,
        )
    except BaseException:
        if owns_session:
            await session.close()
        raise
