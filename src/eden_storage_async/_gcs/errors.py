"""Translating aiohttp / gcloud-aio errors into the library's errors, at the GCS boundary.

gcloud-aio-storage raises ``aiohttp.ClientResponseError`` for every HTTP error
(the body goes into its ``message``), and plain aiohttp errors for transport
faults. Only the statuses listed here mean something specific; a 404 is never
translated here, because whether it means "object absent" or "bucket missing"
depends on the call (the bodies are identical), so the backend decides.

A ``ClientResponseError`` carries the request headers, ``Authorization: Bearer
...`` included, and prints them in its ``repr``. So the SDK error is never
chained as it is: ``scrubbed`` makes a copy without credentials, and that copy
is the ``__cause__``. Callers raise outside their ``except`` block so the
original does not ride along as ``__context__`` either.

This module imports aiohttp, so only ``_gcs.client`` and the backend's lazy
loader import it; the base package never does.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .._core.errors import (
    AccessDenied,
    BackendError,
    IntegrityError,
    ServiceUnavailable,
    StorageError,
    TlsError,
)
from .tls import SYSTEM_TRUST, describe_tls, is_tls_failure

__all__ = [
    "SessionGone",
    "describe",
    "is_checksum_refusal",
    "is_transient",
    "is_transient_or_mismatch",
    "redact",
    "scrubbed",
    "status_of",
    "translate",
]

# Bearer tokens in free text, and Google OAuth access tokens wherever they sit.
_TOKEN_TEXT = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+|ya29\.[\w.~+/=-]+")
# A resumable session URI is itself a write capability: never show its id.
_SECRET_QUERY_KEYS = ("upload_id", "access_token", "key")
_SECRET_HEADERS = ("Authorization", "Proxy-Authorization", "Cookie")
_MAX_MESSAGE = 200
# Real GCS refuses an upload whose body does not match the crc32c it was given
# with 400 "Provided CRC32C \"...\" doesn't match calculated CRC32C \"...\"."
_CRC_REFUSAL = re.compile(r"(?i)crc32c")


class SessionGone(Exception):
    """The service no longer knows a resumable upload session (404/410 on a PUT).

    On fake-gcs-server v1.54.0 that is also what a *finished* session answers,
    so only the object itself (its nonce) can tell whether the upload landed.
    """


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of a ``ClientResponseError``, else None."""
    if isinstance(exc, aiohttp.ClientResponseError):
        return exc.status
    return None


def is_transient(exc: BaseException) -> bool:
    """True for a failure worth another attempt: 408, 429, 5xx, resets, timeouts.

    Never a certificate that did not verify: aiohttp raises that as a
    connection error, but every attempt would fail the same way.
    """
    if is_tls_failure(exc):
        return False
    status = status_of(exc)
    if status is not None:
        return status in (408, 429) or status >= 500
    return isinstance(
        exc,
        aiohttp.ClientConnectionError | aiohttp.ClientPayloadError | asyncio.TimeoutError,
    )


def is_checksum_refusal(exc: BaseException) -> bool:
    """True for GCS's 400 refusing a body that does not match its CRC32C."""
    return (
        isinstance(exc, aiohttp.ClientResponseError)
        and exc.status == 400
        and _CRC_REFUSAL.search(exc.message) is not None
    )


def is_transient_or_mismatch(exc: BaseException) -> bool:
    """``is_transient``, or an ``IntegrityError``: a download worth reading again."""
    return isinstance(exc, IntegrityError) or is_transient(exc)


def redact(text: str, known: Iterable[str] = ()) -> str:
    """``text`` without bearer tokens, OAuth access tokens or any of ``known``."""
    for secret in known:
        if secret:
            text = text.replace(secret, "<redacted>")
    return _TOKEN_TEXT.sub(lambda m: (m.group(1) or "") + "<redacted>", text)


def describe(exc: BaseException, known: Iterable[str] = ()) -> str:
    """A short, credential-free account of ``exc`` for an error message."""
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status}: {_gcs_message(exc.message, known)}"
    if isinstance(exc, asyncio.TimeoutError):
        return f"timed out ({type(exc).__name__})"
    return redact(f"{type(exc).__name__}: {exc}", known)[:_MAX_MESSAGE]


def translate(
    exc: BaseException, what: str, known: Iterable[str] = (), trust: str = SYSTEM_TRUST
) -> StorageError:
    """Map a failure that is not a 404 or a 412 to the library's errors.

    A certificate or handshake failure → ``TlsError`` (``trust``, what the
    certificate was checked against, is named); 401/403 → ``AccessDenied``; a
    400 refusing the body's CRC32C → ``IntegrityError`` (nothing was stored);
    408, 429, 5xx, resets and timeouts (the retries are spent by now) →
    ``ServiceUnavailable``; anything else → ``BackendError``. ``what`` starts
    the message.
    """
    if is_tls_failure(exc):
        return TlsError(f"{what}: {describe_tls(exc, trust)}")
    detail = f"{what}: {describe(exc, known)}"
    if is_checksum_refusal(exc):
        return IntegrityError(f"{detail} (the service refused the body's CRC32C; nothing stored)")
    if status_of(exc) in (401, 403):
        return AccessDenied(detail)
    if is_transient(exc) or isinstance(exc, SessionGone):
        return ServiceUnavailable(detail)
    return BackendError(detail)


def scrubbed(exc: BaseException, known: Iterable[str] = ()) -> BaseException:
    """``exc``, or for a ``ClientResponseError`` a copy fit to chain as ``__cause__``.

    The copy drops credential headers and redirect history, hides the
    resumable session id in the URL and redacts tokens from the message; it
    keeps the status, the response headers and the traceback.
    """
    if not isinstance(exc, aiohttp.ClientResponseError):
        return exc
    info = exc.request_info
    headers = CIMultiDict(info.headers)
    for name in _SECRET_HEADERS:
        headers.popall(name, None)
    clean = aiohttp.ClientResponseError(
        aiohttp.RequestInfo(
            _hide_query(info.url),
            info.method,
            CIMultiDictProxy(headers),
            _hide_query(info.real_url),
        ),
        (),
        status=exc.status,
        message=redact(exc.message, known),
        headers=exc.headers,
    )
    return clean.with_traceback(exc.__traceback__)


def _hide_query(url: URL) -> URL:
    hidden = {key: "<redacted>" for key in _SECRET_QUERY_KEYS if key in url.query}
    return url.update_query(hidden) if hidden else url


def _gcs_message(raw: str, known: Iterable[str]) -> str:
    """The ``error.message`` of a GCS JSON error body, else the raw text, capped."""
    # gcloud-aio-auth formats the message as "<reason>: <body>".
    _, _, body = raw.partition(": ")
    text = body or raw
    try:
        parsed = json.loads(text)
        text = str(parsed["error"]["message"])
    except (ValueError, KeyError, TypeError):
        pass
    return redact(" ".join(text.split()), known)[:_MAX_MESSAGE] or "(no message)"
