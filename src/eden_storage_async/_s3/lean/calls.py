"""The lean S3 request path: PutObject, GetObject and HeadObject of one object,
signed by botocore's own SigV4 signer and sent on a small HTTP/1.1 client
(``_http/client.py``).

Why: a 4 KiB PutObject through aiobotocore costs 2.5 to 3.6 ms of client CPU,
spread over botocore's per-call machinery (event hooks, parameter handling,
endpoint resolution, user-agent building, response parsing); see
docs/s3-lean.md for the profile. ``LeanS3Calls`` stands in for the aiobotocore
client for exactly these three calls, with the same keyword arguments, the same
response shapes and the same exceptions, so ``S3Backend``'s contract code runs
unchanged on either path.

What it reuses rather than rewrites: ``botocore.auth.S3SigV4Auth`` signs every
request (no crypto here; ``_s3/lean/sign.py`` only hands it a lighter header
map); the credentials are the client's own, frozen per request through
aiobotocore's refresh logic; the URL and signing scope of each bucket come from
botocore's endpoint ruleset, once per bucket, and again for the bucket's own
region when S3 answers that it lives in another (``_s3/lean/regions.py``).
Everything the SDK client does besides (multipart, credentials) stays on the
SDK client.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from ..._core.retry import Backoff, retrying
from ..._http.client import HttpClient
from .regions import BucketEndpoint, BucketEndpoints, redirect_of
from .sign import LeanSigV4Auth, SigningRequest
from .wire import (
    LeanBody,
    client_error,
    is_transient,
    is_transport_failure,
    object_fields,
    put_fields,
    read_error_body,
    response_metadata,
    transport_error,
    user_agent,
)

__all__ = ["LeanPathUnsupported", "LeanRoutedClient", "LeanS3Calls", "open_lean_calls"]

# Keys needing no percent-encoding under botocore's rule (quote with safe="/~").
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.~/-]*").fullmatch
# Transient answers (5xx, throttling, resets, timeouts) get this many tries
# over at most ~5 s, unless the caller passes its own Backoff.
DEFAULT_RETRY = Backoff(attempts=4, base_s=0.1, cap_s=2.0, deadline_s=5.0)


class LeanPathUnsupported(Exception):
    """The client's setup needs something only the SDK path has (a proxy)."""


class LeanS3Calls:
    """``put_object``, ``get_object`` and ``head_object`` as an aiobotocore S3
    client has them, on a lean request path; build it with ``open_lean_calls``.

    Transient failures (500, 502, 503, 504, 429, SlowDown, resets, timeouts) are
    retried within ``retry``; every other answer, 409 and 412 included, is
    raised at once as the ``ClientError`` botocore would raise. ``aclose()``
    closes the HTTP client; the aiobotocore client stays its owner's.
    """

    def __init__(self, *, client: Any, http: HttpClient, retry: Backoff, signer_cls: Any) -> None:
        self._client = client
        self._http = http
        self._retry = retry
        self._signer_cls = signer_cls
        # The client's credential object: static, or refreshable through
        # aiobotocore's own locking refresh when it nears expiry.
        self._credentials = client._request_signer._credentials
        # The signer reads the payload-signing rule from the client's config,
        # exactly as it does on the SDK path.
        self._config = client.meta.config
        self._endpoints = BucketEndpoints(client)
        # The signers' derived signing keys (see _s3_lean_sign), this client's only.
        self._derived: dict[tuple[bytes, str], bytes] = {}

    def __repr__(self) -> str:
        return f"LeanS3Calls(endpoint_url={self._client.meta.endpoint_url!r})"

    async def aclose(self) -> None:
        """Close the HTTP client and its idle connections."""
        self._derived.clear()
        await self._http.aclose()

    async def put_object(
        self,
        *,
        Bucket: str,
        Key: str,
        Body: bytes | bytearray | memoryview,
        IfNoneMatch: str | None = None,
        Metadata: Mapping[str, str] | None = None,
        ChecksumCRC32C: str | None = None,
        ContentType: str | None = None,
    ) -> dict[str, Any]:
        """PutObject: ``ETag``, ``ChecksumCRC32C`` (when answered), ``ResponseMetadata``."""
        headers: dict[str, str] = {}
        if IfNoneMatch is not None:
            headers["If-None-Match"] = IfNoneMatch
        if ContentType is not None:
            headers["Content-Type"] = ContentType
        if ChecksumCRC32C is not None:
            # The service checks the body against it (S3, SeaweedFS: 400 BadDigest).
            headers["x-amz-checksum-crc32c"] = ChecksumCRC32C
        if Metadata:
            for name, value in Metadata.items():
                headers[f"x-amz-meta-{name}"] = value
        response, metadata, _ = await self._send("PutObject", "PUT", Bucket, Key, headers, Body)
        response.release()
        return put_fields(metadata)

    async def get_object(
        self, *, Bucket: str, Key: str, ChecksumMode: str | None = None, Range: str | None = None
    ) -> dict[str, Any]:
        """GetObject: the HeadObject fields plus ``Body`` (``LeanBody``), and
        ``ContentRange`` when a ``Range`` was answered with 206."""
        headers = {"x-amz-checksum-mode": ChecksumMode} if ChecksumMode else {}
        if Range is not None:
            headers["Range"] = Range
        response, metadata, url = await self._send("GetObject", "GET", Bucket, Key, headers, None)
        fields = object_fields(metadata)
        fields["Body"] = LeanBody(response, url)
        return fields

    async def head_object(
        self, *, Bucket: str, Key: str, ChecksumMode: str | None = None
    ) -> dict[str, Any]:
        """HeadObject: ``Metadata``, ``ContentLength``, ``ETag``, ``ChecksumCRC32C``..."""
        headers = {"x-amz-checksum-mode": ChecksumMode} if ChecksumMode else {}
        response, metadata, _ = await self._send("HeadObject", "HEAD", Bucket, Key, headers, None)
        response.release()
        return object_fields(metadata)

    async def _send(
        self,
        operation: str,
        method: str,
        bucket: str,
        key: str,
        headers: dict[str, str],
        body: bytes | bytearray | memoryview | None,
    ) -> tuple[Any, dict[str, Any], str]:
        """Send until a 2xx (returned unread, with its URL) or a final failure
        (raised); once more to the right region after a wrong-region answer."""
        endpoint = self._endpoints.get(bucket) or await self._endpoints.resolve(bucket)
        # botocore's own rule for a greedy {Key+} label: keep "/" and "~". A
        # key of only unreserved characters (an opaque id under a plain
        # prefix) is its own encoding; quote() costs more than the check.
        quoted = key if _PLAIN_KEY(key) else quote(key, safe="/~")
        try:
            return await self._send_to(endpoint, operation, method, quoted, headers, body)
        except ClientError as exc:
            redirect = redirect_of(exc, operation)
            if redirect is None:
                raise
            moved = await self._endpoints.redirected(bucket, endpoint, redirect, self._region_of)
            if moved is None:
                raise
        # Once: an answer to this one is final, as botocore's redirector has it.
        return await self._send_to(moved, operation, method, quoted, headers, body)

    async def _send_to(
        self,
        endpoint: BucketEndpoint,
        operation: str,
        method: str,
        quoted: str,
        headers: dict[str, str],
        body: bytes | bytearray | memoryview | None,
    ) -> tuple[Any, dict[str, Any], str]:
        url = f"{endpoint.base_url}/{quoted}"
        target = f"{endpoint.path}/{quoted}"
        if self._retry.attempts == 1:
            # S3Backend retries in its own loop: no second loop around one try.
            found = await self._attempt(operation, method, endpoint, url, target, headers, body, 1)
            return (*found, url)
        attempts = itertools.count(1)
        found = await retrying(
            lambda: self._attempt(
                operation, method, endpoint, url, target, headers, body, next(attempts)
            ),
            should_retry=is_transient,
            backoff=self._retry,
        )
        return (*found, url)

    async def _region_of(self, endpoint: BucketEndpoint) -> str | None:
        """The bucket's region from one HeadBucket: S3 names it in the
        ``x-amz-bucket-region`` header whatever the status; None on failure."""
        url = endpoint.base_url if endpoint.path else f"{endpoint.base_url}/"
        signed = {"host": endpoint.host, **endpoint.headers}
        await self._sign(endpoint, "HEAD", url, signed, None)
        try:
            response = await self._http.request(
                "HEAD", endpoint.tls, endpoint.connect_host, endpoint.port,
                endpoint.path or "/", signed, None,
            )  # fmt: skip
        except Exception as exc:
            if is_transport_failure(exc):
                return None
            raise
        response.release()
        region: str | None = response.headers.get("x-amz-bucket-region")
        return region

    async def _attempt(
        self,
        operation: str,
        method: str,
        endpoint: BucketEndpoint,
        url: str,
        target: str,
        headers: dict[str, str],
        body: bytes | bytearray | memoryview | None,
        number: int,
    ) -> tuple[Any, dict[str, Any]]:
        """One signed request: a 2xx answer returned unread, anything else raised."""
        signed = {"host": endpoint.host, **endpoint.headers, **headers}
        await self._sign(endpoint, method, url, signed, body)
        try:
            response = await self._http.request(
                method, endpoint.tls, endpoint.connect_host, endpoint.port, target, signed, body
            )
        except Exception as exc:
            if is_transport_failure(exc):
                raise transport_error(exc, url) from exc
            raise
        metadata = response_metadata(response, number)
        if response.status < 300:
            return response, metadata
        try:
            # Bounded: an error document is small, a proxy's page may not be.
            error_body = b"" if method == "HEAD" else await read_error_body(response)
        except BaseException as exc:
            response.close()  # a cancel too: never pool a half-read connection
            if is_transport_failure(exc):
                raise transport_error(exc, url) from exc
            raise
        response.release()  # closes it instead when the body was not read to its end
        raise client_error(operation, response.status, error_body, metadata)

    async def _sign(
        self,
        endpoint: BucketEndpoint,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | bytearray | memoryview | None,
    ) -> None:
        credentials = self._credentials
        # None (nothing in the default chain): the signer raises botocore's
        # NoCredentialsError itself, before anything is sent.
        frozen = None if credentials is None else await credentials.get_frozen_credentials()
        request = SigningRequest(
            method, url, headers, b"" if body is None else body, {"client_config": self._config}
        )
        # botocore's signer, fresh per request as botocore makes it: it holds
        # the frozen credentials of this request and nothing else.
        signer = self._signer_cls(frozen, endpoint.signing_name, endpoint.region, self._derived)
        signer.add_auth(request)


async def open_lean_calls(
    client: Any,
    *,
    max_concurrency: int,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
    retry: Backoff = DEFAULT_RETRY,
) -> LeanS3Calls:
    """A ``LeanS3Calls`` on the endpoint, region and credentials of an aiobotocore
    S3 ``client``, with its own pool of at most ``max_concurrency`` connections.

    ``connect_timeout`` and ``read_timeout`` (seconds) bound every connection
    attempt and every wait for the server's next bytes, so a hung server fails
    a call rather than hanging it. Close the result with ``aclose()``.
    """
    if max_concurrency < 1:
        raise ValueError("max_concurrency must be at least 1")
    # TLS exactly as the client has it: its CA bundle (AWS_CA_BUNDLE, the
    # config's ca_bundle, certifi by default), verify=False, a client
    # certificate. aiobotocore builds it so; the file reads go to a thread.
    http_session = client._endpoint.http_session
    if http_session._proxy_config.proxy_url_for(client.meta.endpoint_url):
        raise LeanPathUnsupported(
            "the S3 client goes through a proxy, which the lean request path does not"
            " support; use the SDK path"
        )
    ssl_context, _ = await asyncio.to_thread(http_session._build_ssl_contexts, None)
    http = HttpClient(
        limit=max_concurrency,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        ssl_context=ssl_context,
        user_agent=user_agent(),
    )
    return LeanS3Calls(client=client, http=http, retry=retry, signer_cls=LeanSigV4Auth)


class LeanRoutedClient:
    """An S3 client for ``S3Backend``: ``put_object``, ``get_object`` and
    ``head_object`` on the lean path, every other call (multipart uploads) on
    the aiobotocore client it wraps."""

    def __init__(self, sdk_client: Any, lean: LeanS3Calls) -> None:
        self._sdk_client = sdk_client
        self.put_object = lean.put_object
        self.get_object = lean.get_object
        self.head_object = lean.head_object

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sdk_client, name)

    def __repr__(self) -> str:
        return f"LeanRoutedClient({self._sdk_client.meta.endpoint_url!r})"
