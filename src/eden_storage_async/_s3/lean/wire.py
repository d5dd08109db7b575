"""The lean S3 path's wire shapes: responses as botocore builds them, errors as
botocore raises them, the request object botocore's signer reads.

``_s3/lean/calls.py`` sends the requests on ``_http``; this module turns its
answers and failures into exactly what an aiobotocore client would have
returned or raised, so ``_s3.errors.map_s3_errors`` and ``S3Backend`` cannot
tell the two paths apart. botocore is imported lazily by ``_s3/lean/calls.py`` before
any of these functions runs; nothing here imports an SDK at module import.
"""

from __future__ import annotations

import http.client
import types
from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree

__all__ = [
    "LeanBody",
    "client_error",
    "is_transient",
    "is_transport_failure",
    "object_fields",
    "put_fields",
    "read_error_body",
    "response_metadata",
    "transport_error",
    "user_agent",
]

_META_PREFIX = "x-amz-meta-"
_PUT_HEADERS = (
    ("etag", "ETag"),
    ("x-amz-checksum-crc32c", "ChecksumCRC32C"),
    ("x-amz-version-id", "VersionId"),
)
# An S3 error document is a few hundred bytes; anything longer is not one.
_MAX_ERROR_BODY = 64 * 1024
# Answers worth another try: botocore's standard retry mode treats these as
# transient too. 409 and 412 are the backend's to handle, never retried here.
_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
_TRANSIENT_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded",
     "TooManyRequestsException", "RequestTimeout", "RequestTimeoutException",
     "InternalError", "ServiceUnavailable"}
)  # fmt: skip


def response_metadata(response: Any, attempts: int) -> dict[str, Any]:
    """``ResponseMetadata`` as botocore builds it: lower-case headers, request ids."""
    # Already lower-case (_http_parse); a copy, as botocore's is the caller's.
    headers = dict(response.headers)
    return {
        "RequestId": headers.get("x-amz-request-id", ""),
        "HostId": headers.get("x-amz-id-2", ""),
        "HTTPStatusCode": response.status,
        "HTTPHeaders": headers,
        "RetryAttempts": attempts - 1,
    }


def object_fields(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The HeadObject/GetObject fields ``S3Backend`` reads, from the headers."""
    headers: Mapping[str, str] = metadata["HTTPHeaders"]
    fields: dict[str, Any] = {
        "ResponseMetadata": metadata,
        # botocore strips the prefix and keeps the (already lower-case) rest.
        "Metadata": {
            name[len(_META_PREFIX) :]: value
            for name, value in headers.items()
            if name.startswith(_META_PREFIX)
        },
    }
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        fields["ContentLength"] = int(length)
    for header, field in (
        ("etag", "ETag"),
        ("x-amz-checksum-crc32c", "ChecksumCRC32C"),
        ("content-type", "ContentType"),
        ("content-range", "ContentRange"),
        ("x-amz-version-id", "VersionId"),
    ):
        value = headers.get(header)
        if value is not None:
            fields[field] = value
    return fields


def put_fields(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """PutObject's output shape: ``ETag``, ``ChecksumCRC32C``, ``VersionId`` when
    answered, and ``ResponseMetadata``; no ``Metadata`` or ``ContentLength``."""
    headers: Mapping[str, str] = metadata["HTTPHeaders"]
    fields: dict[str, Any] = {"ResponseMetadata": metadata}
    for header, field in _PUT_HEADERS:
        value = headers.get(header)
        if value is not None:
            fields[field] = value
    return fields


def _error_fields(body: bytes, status: int) -> dict[str, str]:
    """The ``Error`` dict botocore parses from an S3 error body.

    Without a parsable ``<Error>`` document (a HEAD, a bare 412, a proxy's HTML
    page), botocore uses the status as the code and its reason as the message.
    """
    fallback = {"Code": str(status), "Message": http.client.responses.get(status, "")}
    if not body.strip():
        return fallback
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return fallback
    # Namespaced documents ({http://s3.amazonaws.com/doc/2006-03-01/}Error) too.
    found = {child.tag.rpartition("}")[2]: (child.text or "") for child in root}
    if "Code" not in found:
        return fallback
    found.setdefault("Message", "")
    # botocore keeps these two in ResponseMetadata only.
    found.pop("RequestId", None)
    found.pop("HostId", None)
    return found


async def read_error_body(response: Any) -> bytes:
    """An error answer's body, whole up to ``_MAX_ERROR_BODY`` bytes.

    ``read(n)`` returns what has arrived so far, so one call could cut a
    ``NoSuchKey`` document short and turn it into a bare "404".
    """
    chunks: list[bytes] = []
    size = 0
    while size < _MAX_ERROR_BODY:
        chunk: bytes = await response.read(_MAX_ERROR_BODY - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def client_error(operation: str, status: int, body: bytes, metadata: dict[str, Any]) -> Exception:
    """A ``botocore.exceptions.ClientError`` shaped exactly as botocore raises it."""
    from botocore.exceptions import ClientError

    response = {
        "Error": _error_fields(body, status),
        "ResponseMetadata": metadata,
    }
    exc: Exception = ClientError(response, operation)
    return exc


def is_transient(exc: BaseException) -> bool:
    """True for an answer or failure that another try may cure (5xx, throttling, resets)."""
    from botocore import exceptions as sdk

    if isinstance(exc, sdk.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status in _TRANSIENT_STATUSES or code in _TRANSIENT_CODES
    # Resets, refused connections and timeouts; never a credential error.
    return isinstance(exc, (sdk.ConnectionError, sdk.ConnectionClosedError, sdk.ReadTimeoutError))


def transport_error(exc: BaseException, url: str) -> Exception:
    """botocore's own exception for a ``_http`` failure, so ``map_s3_errors`` maps it.

    ``url`` is the object's URL (endpoint, bucket, key): no credential is ever
    part of it, nor of the transport's own text.
    """
    from botocore import exceptions as sdk

    from ..._http import client as http

    endpoint = url
    found: Exception
    if isinstance(exc, http.ConnectTimeout):
        found = sdk.ConnectTimeoutError(endpoint_url=endpoint)
    elif isinstance(exc, (http.ReadTimeout, TimeoutError)):
        found = sdk.ReadTimeoutError(endpoint_url=endpoint)
    elif isinstance(exc, http.TlsFailed):
        found = sdk.SSLError(endpoint_url=endpoint, error=exc)
    elif isinstance(exc, http.ConnectFailed):
        found = sdk.EndpointConnectionError(endpoint_url=endpoint)
    elif isinstance(exc, (http.ConnectionClosed, ConnectionError)):
        found = sdk.ConnectionClosedError(endpoint_url=endpoint)
    elif isinstance(exc, http.BodyError):
        found = sdk.ResponseStreamingError(error=exc)
    else:
        found = sdk.HTTPClientError(error=exc)
    return found


def is_transport_failure(exc: BaseException) -> bool:
    """True for a failure of the transport (``_http``), not of our own code."""
    from ..._http import client as http

    return isinstance(exc, (http.TransportError, TimeoutError, ConnectionError))


class LeanBody:
    """A GetObject ``Body``: ``async with body as stream: await stream.read(n)``.

    The connection goes back to the pool only after a clean, complete read;
    on any error, cancel or early exit it is closed, so a half-read body is
    never handed to the next request.
    """

    __slots__ = ("_response", "_url")

    # Our HTTP client reads a body of known length into one buffer of that
    # length and hands it out as the bytes themselves (_http/body.py), so a
    # whole read needs no read_sized on top, which would copy it once more.
    reads_whole_into_one_buffer = True

    def __init__(self, response: Any, url: str) -> None:
        self._response = response
        self._url = url

    async def __aenter__(self) -> LeanBody:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        if exc_type is None and self._response.at_eof():
            self._response.release()
        else:
            self._response.close()

    async def read(self, amt: int | None = None) -> bytes:
        """Up to ``amt`` bytes (all that is left when ``None``); ``b""`` at the end."""
        try:
            data: bytes = await self._response.read(-1 if amt is None else amt)
        except Exception as exc:
            if is_transport_failure(exc):
                raise transport_error(exc, self._url) from exc
            raise
        return data

    def close(self) -> None:
        """Drop the connection (botocore's ``StreamingBody.close``)."""
        self._response.close()


def user_agent() -> str:
    """The lean S3 path's User-Agent: ours, then botocore's version."""
    import botocore

    from ..._http.client import lean_user_agent

    return lean_user_agent(f"botocore/{botocore.__version__}")
