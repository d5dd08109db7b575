"""Translating botocore errors into the library's errors, at the S3 backend's boundary.

Like httpcore's ``map_exceptions``: one context manager wraps every SDK call, and
only the codes listed here mean something specific. ``NoSuchKey`` is the only
"absent"; ``NoSuchBucket`` never is. Every translation chains the SDK error
(``raise ... from exc``) so its full detail stays on ``__cause__``.

botocore is imported inside the functions, never at module import: the base
package imports this module, and must work without the ``s3`` extra.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from ._errors import (
    AccessDenied,
    AlreadyExists,
    BackendError,
    BucketNotFound,
    ConflictRetriesExhausted,
    NotFound,
    PreconditionNotSupported,
    ServiceUnavailable,
    StorageError,
)

__all__ = [
    "LOAD_CODES",
    "STORE_CODES",
    "error_code",
    "http_status",
    "is_conditional_conflict",
    "is_precondition_failed",
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
# Transient answers that reach us only once botocore's own retries are spent.
_TRANSIENT_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded",
     "TooManyRequestsException", "RequestTimeout", "InternalError", "ServiceUnavailable"}
)  # fmt: skip
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
    if status == 403 or code in _DENIED_CODES:
        return AccessDenied(detail)
    # 501 is not transient: a service that lacks a feature will not grow it on retry.
    transient_status = status is not None and (status == 429 or (status >= 500 and status != 501))
    if transient_status or code in _TRANSIENT_CODES:
        return ServiceUnavailable(detail)
    return BackendError(detail)


@contextlib.contextmanager
def map_s3_errors(
    what: str, codes: Mapping[str, type[StorageError]] | None = None
) -> Iterator[None]:
    """Translate botocore errors raised inside the block; ``what`` starts each message.

    ``codes`` maps the S3 error codes that mean something specific to this
    operation; every other code gets the shared mapping (missing bucket,
    refused credentials, transient, else ``BackendError``).
    """
    from botocore import exceptions as sdk

    try:
        yield
    except sdk.ClientError as exc:
        raise _from_client_error(exc, what, codes or {}) from exc
    except (sdk.ConnectionError, sdk.HTTPClientError, sdk.IncompleteReadError) as exc:
        # Connection refused or reset, timeouts, truncated bodies: botocore has
        # already retried these as far as its retry mode allows.
        raise ServiceUnavailable(f"{what}: {type(exc).__name__}: {exc}") from exc
    except sdk.BotoCoreError as exc:
        name = type(exc).__name__
        if name in _CREDENTIAL_ERRORS:
            # The name only: a credential_process or SSO provider's text may echo secrets.
            raise BackendError(
                f"{what}: no usable credentials in the default chain ({name})"
            ) from exc
        raise BackendError(f"{what}: {name}: {exc}") from exc
