"""Translating botocore errors into the library's errors, at the S3 backend's boundary.

Like httpcore's ``map_exceptions``: one context manager wraps every SDK call, and
only the codes listed here mean something specific. ``NoSuchKey`` is the only
"absent"; ``NoSuchBucket`` never is. Every translation chains the SDK error
(``raise ... from exc``) so its full detail stays on ``__cause__``.

botocore is imported inside the functions, never at module import: the base
package imports this module, and must work without the ``s3`` extra.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any, Literal

from .._core.errors import (
    AccessDenied,
    AlreadyExists,
    BackendError,
    BucketNotFound,
    ConflictRetriesExhausted,
    IntegrityError,
    NotFound,
    PreconditionNotSupported,
    ServiceUnavailable,
    StorageError,
    TlsError,
)
from .tls import describe_tls, is_lasting_tls_failure

__all__ = [
    "LOAD_CODES",
    "STORE_CODES",
    "error_code",
    "http_status",
    "is_conditional_conflict",
    "is_precondition_failed",
    "is_transient",
    "map_s3_errors",
]

# botocore uses the HTTP status as the code when a reply has no XML error
# body, so "412" and "501" stand for the same answers without one.
STORE_CODES: Mapping[str, type[StorageError]] = {
    "PreconditionFailed": AlreadyExists,
    "412": AlreadyExists,
    "ConditionalRequestConflict": ConflictRetriesExhausted,
    "NotImplemented": PreconditionNotSupported,
    "501": PreconditionNotSupported,
}
# Only NoSuchKey is "absent". A bare 404 without that code (a HEAD, a proxy, a
# missing bucket on some services) is not proof that the object is absent.
LOAD_CODES: Mapping[str, type[StorageError]] = {"NoSuchKey": NotFound}

# Refused credentials. On AWS these all come with a 403 anyway; the codes cover
# S3-compatible services that answer them with 400.
_DENIED_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
     "InvalidToken", "TokenRefreshRequired", "AllAccessDisabled", "AccountProblem"}
)  # fmt: skip
# Transient answers: retried by S3Backend's own loop, and ServiceUnavailable once it gives up.
_TRANSIENT_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded",
     "TooManyRequestsException", "RequestTimeout", "InternalError", "ServiceUnavailable"}
)  # fmt: skip
# The service refused a body whose checksum did not match what arrived: nothing
# was written. BadDigest is AWS's and SeaweedFS 4.48's answer to a wrong
# x-amz-checksum-crc32c; the other two are AWS's for other checksum headers.
_INTEGRITY_CODES = frozenset({"BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch"})
# botocore errors whose text could carry part of a credential provider's output.
_CREDENTIAL_ERRORS = frozenset(
    {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError",
     "UnknownCredentialError", "RefreshWithMFAUnsupportedError", "TokenRetrievalError"}
)  # fmt: skip
_MAX_MESSAGE = 200


def _response(exc: BaseException) -> Mapping[str, Any]:
    """The parsed error response of a botocore ``ClientError``, else empty."""
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping) and isinstance(response.get("Error"), Mapping):
        return response
    return {}


def error_code(exc: BaseException) -> str | None:
    """The S3 error code (``"NoSuchKey"``, ``"412"``...) of a ``ClientError``, else None."""
    code = _response(exc).get("Error", {}).get("Code")
    return str(code) if code is not None else None


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of a ``ClientError``, else None."""
    status = _response(exc).get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else None


def is_conditional_conflict(exc: BaseException) -> bool:
    """True for S3's 409 ``ConditionalRequestConflict``: nothing was written, try again."""
    return error_code(exc) == "ConditionalRequestConflict"


def is_precondition_failed(exc: BaseException) -> bool:
    """True for a 412: the key is taken (by us, if an earlier send's reply was lost)."""
    return error_code(exc) == "PreconditionFailed" or http_status(exc) == 412


def _body_transport_errors() -> tuple[type[BaseException], ...]:
    """aiohttp's errors that reach us unwrapped while reading a GetObject body.

    aiobotocore wraps the request's transport errors in botocore's types, but
    not those of ``await response["Body"].read()``: a body cut short raised a
    bare ``aiohttp.ClientPayloadError`` from ``load`` (the fault soak saw 319 of
    3,000 truncated loads on SeaweedFS do so before this).
    """
    try:
        import aiohttp
    except ImportError:  # pragma: no cover - aiobotocore depends on aiohttp
        return ()
    return (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError)


def is_transient(exc: BaseException) -> bool:
    """True for a failure that another attempt may not meet: retry it.

    Resets, refused connections and timeouts; 5xx but 501, 429 and throttling;
    a body damaged on the way (refused with BadDigest on a store, or failing
    its CRC32C on a load): the same immutable bytes are sent, or read, again.
    Never a 4xx that says the request itself is wrong, and never a TLS
    certificate or handshake failure, which no retry repairs (a handshake cut
    short by the network is a reset like any other).
    """
    from botocore import exceptions as sdk

    if isinstance(exc, IntegrityError | sdk.FlexibleChecksumError):
        return True
    if is_lasting_tls_failure(exc):
        return False
    if isinstance(exc, _body_transport_errors()):
        return True
    if isinstance(exc, sdk.ConnectionError | sdk.HTTPClientError | sdk.IncompleteReadError):
        return True
    if not _response(exc):
        return False
    code = error_code(exc)
    status = http_status(exc)
    if code in _TRANSIENT_CODES or code in _INTEGRITY_CODES:
        return True
    return status is not None and (status == 429 or (status >= 500 and status != 501))


def _from_client_error(
    exc: BaseException, what: str, codes: Mapping[str, type[StorageError]]
) -> StorageError:
    code = error_code(exc) or "Unknown"
    status = http_status(exc)
    message = str(_response(exc).get("Error", {}).get("Message", ""))[:_MAX_MESSAGE]
    detail = f"{what}: {code} (HTTP {status})" + (f": {message}" if message else "")
    if code in codes:
        return codes[code](detail)
    if code == "NoSuchBucket":
        return BucketNotFound(detail)
    if code in _INTEGRITY_CODES:
        return IntegrityError(
            f"{detail}; the service refused a body damaged on the way, nothing was written"
        )
    if status == 403 or code in _DENIED_CODES:
        return AccessDenied(detail)
    # 501 is not transient: a service that lacks a feature will not grow it on retry.
    transient_status = status is not None and (status == 429 or (status >= 500 and status != 501))
    if transient_status or code in _TRANSIENT_CODES:
        return ServiceUnavailable(detail)
    return BackendError(detail)


class map_s3_errors:  # lower-case: used like a function, as contextlib.suppress is
    """Translate botocore errors raised inside the block; ``what`` starts each message.

    ``codes`` maps the S3 error codes that mean something specific to this
    operation; every other code gets the shared mapping (missing bucket,
    refused credentials, transient, else ``BackendError``). A class rather than
    a generator context manager: it wraps every store and load, and the
    generator's set-up cost more than the block's happy path.
    """

    __slots__ = ("_codes", "_what")

    def __init__(self, what: str, codes: Mapping[str, type[StorageError]] | None = None) -> None:
        self._what = what
        self._codes = codes

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> Literal[False]:  # never swallows: translates (raises) or lets through
        if exc is None or not isinstance(exc, Exception):
            return False  # a cancel or an exit is never translated
        translated = _translate(exc, self._what, self._codes)
        if translated is None:
            return False
        raise translated from exc


def _translate(
    exc: Exception, what: str, codes: Mapping[str, type[StorageError]] | None
) -> StorageError | None:
    """The ``StorageError`` for a botocore (or unwrapped aiohttp) error, else ``None``."""
    from botocore import exceptions as sdk

    if isinstance(exc, sdk.ClientError):
        return _from_client_error(exc, what, codes or {})
    if is_lasting_tls_failure(exc):
        # Checked before the transport errors: botocore's SSLError is one.
        return TlsError(describe_tls(exc, what))
    if isinstance(
        exc,
        (sdk.ConnectionError, sdk.HTTPClientError, sdk.IncompleteReadError,
         *_body_transport_errors()),
    ):  # fmt: skip
        # Connection refused or reset, timeouts, truncated bodies: S3Backend's
        # retry loop has already retried these as far as its Backoff allows.
        return ServiceUnavailable(f"{what}: {type(exc).__name__}: {exc}")
    if isinstance(exc, sdk.FlexibleChecksumError):
        # botocore checked an algorithm other than CRC32C (an object another
        # tool wrote) and the body did not match: the bytes are not handed back.
        return IntegrityError(f"{what}: {exc}; the bytes were not handed back")
    if isinstance(exc, sdk.BotoCoreError):
        name = type(exc).__name__
        if name in _CREDENTIAL_ERRORS:
            # The name only: a credential_process or SSO provider's text may echo secrets.
            return BackendError(f"{what}: no usable credentials in the default chain ({name})")
        return BackendError(f"{what}: {name}: {exc}")
    return None
