"""A small GCS store's multipart upload on the lean HTTP client (``_http/client.py``),
not aiohttp.

Why: aiohttp's per-request machinery was most of our client CPU per small
store. Against fake-gcs-server, one bare multipart POST of 4 KiB at
concurrency 64 cost 0.54 ms of client CPU through aiohttp and 0.26 ms through
``_http`` (medians of 3 interleaved rounds of 1,500, a fresh bucket each), and
with two cores shared with the server every client millisecond is one the
server does not get (docs/gcs.md, "Throughput").

Only the hot call moves: a multipart upload whose body is one ``bytes`` (up to
1 MiB), on a session the backend owns. Everything else (large and resumable
uploads, downloads, metadata, tokens) stays on aiohttp and gcloud-aio. The
rest of the GCS code maps aiohttp's errors, so failures are raised as those: a
non-2xx answer as ``aiohttp.ClientResponseError`` with the body in its message,
exactly as ``_gcs.wire.raise_for_status`` builds it (without the Authorization
header in its request info), transport failures as aiohttp's connection,
payload and timeout errors, and a certificate or handshake failure that would
recur as ``_gcs.tls.TlsFailure`` (never retried). It verifies with the
backend's one SSL context (``_gcs.tls``), the one its aiohttp session uses.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .._core.tls import is_lasting
from .._http.client import (
    BodyError,
    ConnectionClosed,
    ConnectTimeout,
    HttpClient,
    ReadTimeout,
    TlsFailed,
    TransportError,
    lean_user_agent,
)
from .tls import TlsFailure
from .wire import Timeouts

__all__ = ["LeanUpload", "as_aiohttp"]

# The longest error body kept in a message, as raise_for_status keeps it.
_MAX_MESSAGE_BODY = 4096


class LeanUpload:
    """``uploadType=multipart`` POSTs to one bucket on its own keep-alive pool."""

    def __init__(
        self,
        *,
        api_root: str,
        bucket: str,
        timeouts: Timeouts,
        limit: int,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        # The same URL as the aiohttp path's: the object's name is in the body.
        url = (
            f"{api_root.rstrip('/')}/upload/storage/v1/b/{bucket}/o"
            "?uploadType=multipart&ifGenerationMatch=0"
        )
        parts = urlsplit(url)
        self._tls = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._tls else 80)
        self._host_header = parts.netloc
        self._target = f"{parts.path}?{parts.query}"
        self._url = URL(url)
        self._timeouts = timeouts
        self._http = HttpClient(
            limit=limit,
            connect_timeout=timeouts.idle_s,
            read_timeout=timeouts.idle_s,
            # The same context as the backend's aiohttp session: the same CAs.
            ssl_context=ssl_context if self._tls else None,
            user_agent=lean_user_agent(),
        )

    async def aclose(self) -> None:
        """Close the idle connections."""
        await self._http.aclose()

    async def post(self, body: bytes, content_type: str, auth: dict[str, str]) -> bytes:
        """Send one upload; the reply's body on a 2xx, else raise as aiohttp would."""
        headers = {"host": self._host_header, "content-type": content_type, **auth}
        try:
            # The same total as the aiohttp path: idle_s plus the body's time.
            async with asyncio.timeout(self._timeouts.upload(len(body)).total):
                response = await self._http.request(
                    "POST", self._tls, self._host, self._port, self._target, headers, body
                )
                try:
                    reply: bytes = await response.read()
                except BaseException:
                    response.close()
                    raise
        except TlsFailed as exc:
            # The ssl error is the context: _http raises its own "from None".
            if not is_lasting(exc.__context__):
                raise as_aiohttp(exc) from exc
            raise TlsFailure(f"{self._host}:{self._port}", str(exc)) from exc.__context__
        except (TransportError, ConnectionError) as exc:
            raise as_aiohttp(exc) from exc
        response.release()
        if response.status >= 400:
            text = reply.decode("utf-8", errors="replace")
            raise aiohttp.ClientResponseError(
                aiohttp.RequestInfo(self._url, "POST", CIMultiDictProxy(CIMultiDict()), self._url),
                (),
                status=response.status,
                message=f"{response.reason}: {text[:_MAX_MESSAGE_BODY]}",
                headers=CIMultiDictProxy(CIMultiDict(response.headers)),
            )
        return reply


def as_aiohttp(exc: TransportError | ConnectionError) -> Exception:
    """aiohttp's own exception for a transport failure, so ``_gcs.errors`` maps it.

    A bare ``ConnectionError`` (a reset the socket layer raised as it is) is a
    connection failure like the rest, as it is on the lean S3 path.
    """
    text = str(exc)
    if isinstance(exc, (ConnectTimeout, ReadTimeout)):
        return aiohttp.ServerTimeoutError(text)
    if isinstance(exc, ConnectionClosed):
        return aiohttp.ServerDisconnectedError(text)
    if isinstance(exc, BodyError):
        return aiohttp.ClientPayloadError(text)
    # Refused, unreachable, a TLS failure (aiohttp raises a ClientConnectorError,
    # a ClientConnectionError, for each), or a bare reset.
    return aiohttp.ClientConnectionError(text)
