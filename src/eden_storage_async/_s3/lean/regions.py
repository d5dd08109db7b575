"""Where the lean S3 path sends a bucket's requests, and what it does when S3
answers that the bucket lives in another region.

Signed for one region, a request to a bucket in another gets one of three
answers (botocore's ``S3RegionRedirectorv2`` handles the same ones on the SDK
path): 301 ``PermanentRedirect`` with ``x-amz-bucket-region``; 400
``AuthorizationHeaderMalformed`` naming the region in the error's ``<Region>``
(a HEAD gets a bare 301 or 400, having no body); or 307 ``TemporaryRedirect``
with a ``Location`` and perhaps the header. The region comes from the header,
else the error body, else one HeadBucket, whose answer carries the header
whatever its status. The bucket's URL and signing scope for that region are
then resolved again through botocore's endpoint ruleset (with a custom
``endpoint_url`` that keeps the endpoint and changes only the signing region),
and the request is signed again and sent once more: to the host the ruleset
gives, never to the ``Location`` of a 307, which is not read at all. So a
redirect cannot send a signed request, or a body, to an arbitrary server;
botocore's redirector does the same.

A 301 or 400 answer, or a 307 that names the region in its header, is the
bucket's region for good: it is cached, so the next call goes straight there,
and concurrent first calls wait for the one that learns it rather than each
asking HeadBucket. A 307 without the header is followed for that request
only (a HeadBucket each time), as the 307 itself asks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import urlsplit

__all__ = ["BucketEndpoint", "BucketEndpoints", "Redirect", "redirect_of"]

# The request-context key our ``before-endpoint-resolution`` hook reads: the
# region to resolve for instead of the client's. The SDK's own calls never set it.
_REGION_KEY = "eden_lean_region"
_REDIRECT_STATUSES = frozenset({301, 302, 307})


@dataclass(frozen=True, slots=True)
class BucketEndpoint:
    """Where one bucket's objects live and how requests to them are signed."""

    base_url: str  # no trailing slash; an object URL is base_url + "/" + quoted key
    tls: bool
    connect_host: str  # where to connect: the URL's host name and port
    port: int
    path: str  # the URL's path, no trailing slash; a target is path + "/" + quoted key
    # Computed once by botocore's own helper and signed as a header, so the
    # signer does not re-parse the URL for it on every request (~40 us each).
    host: str
    region: str
    signing_name: str
    headers: Mapping[str, str]


class Redirect(NamedTuple):
    """A wrong-region answer: what it says about the bucket's region."""

    region: str | None  # from the header or the error body; None: ask HeadBucket
    permanent: bool  # the bucket's region for good: cache it


def redirect_of(exc: BaseException, operation: str) -> Redirect | None:
    """The wrong-region answer in a ``ClientError``, else None (botocore's conditions)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, Mapping):
        return None
    error = response.get("Error") or {}
    metadata = response.get("ResponseMetadata") or {}
    headers: Mapping[str, str] = metadata.get("HTTPHeaders") or {}
    status = metadata.get("HTTPStatusCode")
    code = error.get("Code")
    if not (
        status in _REDIRECT_STATUSES
        or code == "PermanentRedirect"
        or (code == "AuthorizationHeaderMalformed" and "Region" in error)
        # A HEAD signed for the wrong region gets a bare 400 (no body to say why).
        or (code in ("301", "400") and operation == "HeadObject")
        or code == "IllegalLocationConstraintException"
    ):
        return None
    header = headers.get("x-amz-bucket-region") or None
    region = header or error.get("Region") or None
    # A 307 says "this time": only its header makes the region the bucket's for good.
    return Redirect(region, status != 307 or header is not None)


def _valid_region(region: str | None) -> str | None:
    """``region`` when it is a host label (botocore's rule), else None: it
    becomes part of a host name, so a server must not choose an arbitrary one."""
    if not region:
        return None
    from botocore.exceptions import InvalidRegionError
    from botocore.utils import validate_region_name

    try:
        validate_region_name(region)
    except InvalidRegionError:
        return None
    return region


def _use_region(builtins: dict[str, Any], context: Mapping[str, Any], **_: Any) -> None:
    region = context.get(_REGION_KEY)
    if region:
        builtins["AWS::Region"] = region


class BucketEndpoints:
    """Each bucket's ``BucketEndpoint``, resolved once per bucket by botocore's
    endpoint ruleset for the client, and again when S3 says the region is another."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._found: dict[str, BucketEndpoint] = {}
        # Serialises resolving and learning: concurrent first calls to a
        # bucket in another region ask HeadBucket once, not each.
        self._lock = asyncio.Lock()
        # Last, so it wins over the SDK redirector's own cache (the same answer anyway).
        client.meta.events.register_last(
            "before-endpoint-resolution.s3", _use_region, unique_id="eden-lean-region"
        )

    def get(self, bucket: str) -> BucketEndpoint | None:
        """The cached endpoint of ``bucket``, else None."""
        return self._found.get(bucket)

    async def resolve(self, bucket: str) -> BucketEndpoint:
        """The bucket's endpoint for the client's region, or the learnt one; once."""
        async with self._lock:
            found = self._found.get(bucket)
            if found is None:
                found = self._found[bucket] = await self._resolve(bucket, None)
            return found

    async def redirected(
        self,
        bucket: str,
        used: BucketEndpoint,
        redirect: Redirect,
        bucket_region: Callable[[BucketEndpoint], Awaitable[str | None]],
    ) -> BucketEndpoint | None:
        """Where to send again a request that ``used`` got ``redirect`` for, or
        None when nothing better is known (the caller raises the answer)."""
        async with self._lock:
            current = self._found.get(bucket)
            if redirect.permanent and current is not None and current != used:
                return current  # another call learnt it meanwhile
            region = _valid_region(redirect.region) or _valid_region(await bucket_region(used))
            if region is None or region == used.region:
                return None
            moved = await self._resolve(bucket, region)
            if redirect.permanent:
                self._found[bucket] = moved
            return moved

    async def _resolve(self, bucket: str, region: str | None) -> BucketEndpoint:
        from botocore.auth import _host_from_url
        from botocore.exceptions import UnsupportedSignatureVersionError

        model = self._client.meta.service_model.operation_model("GetObject")
        context: dict[str, Any] = {_REGION_KEY: region} if region else {}
        url, extra_headers, _ = await self._client._resolve_endpoint_ruleset(
            model, {"Bucket": bucket, "Key": "k"}, context
        )
        auth_type = context.get("auth_type", "v4")
        if auth_type not in ("v4", "s3v4"):
            # S3 Express, SigV4a (multi-region access points): the SDK path only.
            raise UnsupportedSignatureVersionError(signature_version=auth_type)
        signing = context.get("signing", {})
        base_url = url.rstrip("/")
        parts = urlsplit(base_url)
        tls = parts.scheme == "https"
        return BucketEndpoint(
            base_url=base_url,
            tls=tls,
            connect_host=parts.hostname or "",
            port=parts.port or (443 if tls else 80),
            path=parts.path.rstrip("/"),
            host=_host_from_url(base_url),
            region=signing.get("region") or region or self._client.meta.region_name,
            signing_name=signing.get("signing_name") or "s3",
            headers=dict(extra_headers),
        )
