"""The GCS wire calls behind ``GcsBackend``: the only module that builds the SDK client.

The hot calls, the multipart upload and the media download, are sent
directly, not through the SDK (a one-piece multipart upload on the lean HTTP
client of ``_gcs.lean`` when the session is ours, the rest on the aiohttp
session): they need the download's ``X-Goog-Hash``
header, which gcloud-aio-storage does not hand back, and the SDK's per-call
work (a copy of the body into a BytesIO, then another into the multipart
body, header dicts rebuilt each time) cost about a quarter of our client CPU
per small store: 0.65 against 0.50 ms per 4 KiB store, against a server that
answers at once (docs/gcs.md, "Throughput"). gcloud-aio-storage still reads object
and bucket metadata, and gcloud-aio-auth supplies the token. Resumable uploads
live in ``_gcs.resumable``.

Every SDK object is typed ``Any`` here and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from gcloud.aio import auth, storage

from .._core.attributes import Attributes
from .._core.retry import Backoff
from .._core.settle import settle
from .._core.stream import read_sized
from .lean import LeanUpload
from .resumable import Resumable
from .tls import SYSTEM_TRUST, build_ssl_context, trust_of
from .wire import (
    CRC_KEY,
    ObjectFacts,
    Timeouts,
    crc32c_of_hash_header,
    facts_of_resource,
    multipart_body,
    raise_for_status,
    stored_crc32c,
)

# The SDK's own annotations name its requests-or-aiohttp union types; at this
# boundary its classes are Any, and nothing typed Any leaves this module.
_Storage: Any = storage.Storage
_Token: Any = auth.Token

__all__ = ["Download", "GcsClient", "Timeouts", "open_client"]

# Read and create objects, read bucket metadata; full_control (the SDK's
# default) is more than a create-only store needs.
_SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"
_OWN_CRC_HEADER = f"X-Goog-Meta-{CRC_KEY}"
_MEDIA = {"alt": "media"}


@dataclass(frozen=True)
class Download:
    """A download's body and the checksums that came with it; for a ranged
    one also its status and ``Content-Range``."""

    data: bytes
    crc32c: str | None
    own_crc32c: str | None
    status: int = 200
    content_range: str | None = None


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
        retry: Backoff,
        resume: bool,
        lean: LeanUpload | None = None,
        trust: str = SYSTEM_TRUST,
    ) -> None:
        self._session = session
        # What server certificates are checked against, for a TlsError's message.
        self.trust = trust
        # Small multipart uploads on the lean HTTP client; None: all on aiohttp.
        self._lean = lean
        self._owns_session = owns_session
        self._bucket = bucket
        self._token: Any = token
        self._timeouts = timeouts
        upload_url = f"{api_root}/upload/storage/v1/b/{bucket}/o"
        # Built once: every multipart upload has the same URL, since the
        # object's name travels in the body.
        self._multipart_url = f"{upload_url}?uploadType=multipart&ifGenerationMatch=0"
        self._object_url = f"{api_root}/storage/v1/b/{bucket}/o"
        self.resumable = Resumable(
            session, upload_url, timeouts, retry, self.auth_headers, resume=resume
        )
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

    async def upload(
        self,
        name: str,
        data: memoryview,
        nonce: str,
        crc: str,
        attributes: Attributes,
        *,
        resumable: bool,
    ) -> str | None:
        """Create ``name`` with ``ifGenerationMatch=0``; a 412 means it exists.

        Returns the CRC32C the service reports for the object it stored (None
        if it reports none). A cancellation waits for the request in flight to
        be answered (its timeout bounds the wait), then propagates. Once a body
        is on the wire the server may commit it whatever the client does;
        without the wait a cancelled store could publish its object after the
        caller saw it absent and stored the id again.
        """
        if resumable:
            await settle(self.resumable.upload(name, data, nonce, crc, attributes))
            return None
        return await settle(self._upload_multipart(name, data, nonce, crc, attributes))

    async def _upload_multipart(
        self, name: str, data: memoryview, nonce: str, crc: str, attributes: Attributes
    ) -> str | None:
        # https://cloud.google.com/storage/docs/uploading-objects#uploading-an-object
        body, content_type, size = multipart_body(name, nonce, crc, data, attributes)
        if self._lean is not None and isinstance(body, bytes):
            return stored_crc32c(
                await self._lean.post(body, content_type, await self.auth_headers())
            )
        headers = {"Content-Type": content_type, "Content-Length": str(size)}
        if self._token is not None:
            headers.update(await self.auth_headers())
        async with self._session.post(
            self._multipart_url, data=body, headers=headers, timeout=self._timeouts.upload(size)
        ) as resp:
            await raise_for_status(resp)
            return stored_crc32c(await resp.read())

    async def download(self, name: str, range_header: str | None = None) -> Download:
        """The bytes of ``name`` (of a range, with ``range_header``), with the
        checksums its reply carried. A 416 comes back as an empty ``Download``."""
        async with self._session.get(
            self._media_url(name),
            params=_MEDIA,
            headers=await self._download_headers(range_header),
            timeout=self._timeouts.download(),
        ) as resp:
            if resp.status == 416 and range_header is not None:
                await resp.read()
                return Download(b"", None, None, 416, resp.headers.get("Content-Range"))
            await raise_for_status(resp)
            # Into one buffer of the stated length (see read_sized for the RSS
            # it saves); a body aiohttp decompresses has no usable length.
            sized = None if resp.headers.get("Content-Encoding") else resp.content_length
            data = await read_sized(resp.content, sized, f"gs://{self._bucket}/{name}")
            return Download(
                data,
                crc32c_of_hash_header(resp.headers),
                resp.headers.get(_OWN_CRC_HEADER),
                resp.status,
                resp.headers.get("Content-Range"),
            )

    async def download_stream(
        self, name: str, range_header: str | None = None
    ) -> aiohttp.ClientResponse:
        """The open media download of ``name`` (of a range, with ``range_header``,
        when a 416 is returned too); the caller reads and releases it."""
        resp = await self._session.get(
            self._media_url(name),
            params=_MEDIA,
            headers=await self._download_headers(range_header),
            timeout=self._timeouts.download(),
        )
        if resp.status >= 400 and not (resp.status == 416 and range_header is not None):
            try:
                await raise_for_status(resp)
            finally:
                resp.release()
        return resp

    async def resource_of(self, name: str) -> dict[str, object]:
        """The object resource of ``name`` (its JSON metadata)."""
        meta = await self._storage.download_metadata(
            self._bucket, name, headers={}, timeout=self._timeouts.small()
        )
        return meta if isinstance(meta, dict) else {}

    async def facts_of(self, name: str) -> ObjectFacts:
        """The nonce and checksums recorded on ``name``."""
        return facts_of_resource(await self.resource_of(name))

    async def list_page(
        self, prefix: str, page_token: str | None, max_results: int | None
    ) -> dict[str, object]:
        """One page of the object names right under ``prefix``: only ``items(name)``
        and ``nextPageToken`` come back, so a page stays small."""
        params = {"prefix": prefix, "delimiter": "/", "fields": "items(name),nextPageToken"}
        if page_token is not None:
            params["pageToken"] = page_token
        if max_results is not None:
            params["maxResults"] = str(max_results)
        page = await self._storage.list_objects(
            self._bucket, params=params, headers={}, timeout=self._timeouts.small()
        )
        return page if isinstance(page, dict) else {}

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
        if self._lean is not None:
            await self._lean.aclose()
        if self._owns_session:
            await self._session.close()

    async def auth_headers(self) -> dict[str, str]:
        """The Authorization header, or none for an emulator."""
        if self._token is None:
            return {}
        return {"Authorization": f"Bearer {await self._token.get()}"}

    async def _download_headers(self, range_header: str | None) -> dict[str, str]:
        headers = await self.auth_headers()
        if range_header is not None:
            headers["Range"] = range_header
        return headers

    def _media_url(self, name: str) -> str:
        return f"{self._object_url}/{quote(name, safe='')}"


async def open_client(
    *,
    session: aiohttp.ClientSession | None,
    api_root: str,
    emulator: bool,
    bucket: str,
    max_concurrency: int,
    timeouts: Timeouts,
    retry: Backoff,
    resume: bool,
    ca_bundle: str | None = None,
) -> GcsClient:
    """Build the client on the running loop; a session of our own if none is given.

    On a session of our own, one SSL context (``ca_bundle``'s CAs, else the
    system store) serves both it and the lean upload; it is built before the
    session, so an unusable bundle raises ``TlsError`` and leaves nothing open.
    """
    token: Any = None
    owns_session = session is None
    lean: LeanUpload | None = None
    if session is None:
        # Only on a session of our own: a caller who passes one has chosen its
        # transport (a proxy, tracing, its own TLS) for every call. Built in a
        # thread: it reads package metadata and the CA files.
        context, lean = await asyncio.to_thread(
            _own_transport, api_root, bucket, timeouts, max_concurrency, ca_bundle
        )
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=max_concurrency,
                limit_per_host=max_concurrency,
                ssl=True if context is None else context,
            ),
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
            retry=retry,
            resume=resume,
            lean=lean,
            trust=trust_of(ca_bundle),
        )
    except BaseException:
        if lean is not None:
            await lean.aclose()
        if owns_session:
            await session.close()
        raise


def _own_transport(
    api_root: str, bucket: str, timeouts: Timeouts, limit: int, ca_bundle: str | None
) -> tuple[ssl.SSLContext | None, LeanUpload]:
    """The SSL context (None: plain http and no bundle) and the lean upload on it."""
    https = urlsplit(api_root).scheme == "https"
    context = build_ssl_context(ca_bundle) if https or ca_bundle is not None else None
    lean = LeanUpload(
        api_root=api_root, bucket=bucket, timeouts=timeouts, limit=limit, ssl_context=context
    )
    return context, lean
