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
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from gcloud.aio import auth, storage

from ._settle import settle

# The SDK's own annotations name its requests-or-aiohttp union types; at this
# boundary its classes are Any, and nothing typed Any leaves this module.
_Storage: Any = storage.Storage
_Token: Any = auth.Token

__all__ = ["NONCE_KEY", "GcsClient", "Timeouts", "open_client"]

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
        # https://cloud.google.com/storage/docs/performing-resumable-uploads
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "X-Upload-Content-Type": _CONTENT_TYPE,
            "X-Upload-Content-Length": str(len(data)),
            **(await self._auth_headers()),
        }
        resource = {"name": name, "contentType": _CONTENT_TYPE, "metadata": {NONCE_KEY: nonce}}
        async with self._session.post(
            self._upload_url,
            params={"uploadType": "resumable", "name": name, "ifGenerationMatch": "0"},
            data=json.dumps(resource),
            headers=headers,
            timeout=self._timeouts.small(),
        ) as resp:
            await _raise_for_status(resp)
            session_uri = resp.headers["Location"]
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
