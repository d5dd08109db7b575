"""TLS for ``GcsBackend``: the one SSL context both request paths share, and
which failures are TLS's own, never retried.

One context, built once per backend, goes to the aiohttp session's connector
(resumable uploads, downloads, metadata, tokens) *and* to the lean multipart
upload (``_gcs.lean``), so the two paths always trust the same CAs. Without
it they could differ: aiohttp builds its default context when it is first
imported, so an ``SSL_CERT_FILE`` set later reaches the lean path only.

Which failures are TLS's own and never retried, and reading the bundle, are
``_core/tls.py``'s; this module finds the ``ssl`` error behind aiohttp's and
the lean path's wrapping.
"""

from __future__ import annotations

import ssl

import aiohttp

from .._core.tls import is_lasting, load_ca_bundle, why_tls_failed

__all__ = [
    "SYSTEM_TRUST",
    "TlsFailure",
    "build_ssl_context",
    "describe_tls",
    "is_tls_failure",
    "lasting_ssl_error",
    "trust_of",
]

SYSTEM_TRUST = "the system trust store (SSL_CERT_FILE / SSL_CERT_DIR, if set)"
# How the CA setting is spelled where an operator may have set it.
_SETTING = "ca_bundle (--blob-gcs-ca-bundle, EDEN_BLOB_GCS_CA_BUNDLE)"


class TlsFailure(Exception):
    """The lean path's handshake with ``peer`` (``host:port``) failed; its
    ``__cause__`` is the ``ssl`` error."""

    def __init__(self, peer: str, text: str) -> None:
        super().__init__(text)
        self.peer = peer


def trust_of(ca_bundle: str | None) -> str:
    """What server certificates are checked against, for error messages."""
    return SYSTEM_TRUST if ca_bundle is None else f"ca_bundle {ca_bundle!r}"


def build_ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """A verifying context: ``ca_bundle``'s CAs only, else the system store.

    Reads files, so it runs off the event loop; an unusable bundle is a
    ``TlsError`` naming the setting and the path.
    """
    return load_ca_bundle(ca_bundle, "GcsBackend", _SETTING)


def lasting_ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The ``ssl`` error behind ``exc`` if it is a handshake failure that would recur."""
    found: BaseException | None
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        found = exc.certificate_error
    elif isinstance(exc, aiohttp.ClientConnectorSSLError):
        found = exc.os_error
    elif isinstance(exc, TlsFailure):
        found = exc.__cause__
    else:
        return None
    return found if is_lasting(found) else None


def is_tls_failure(exc: BaseException) -> bool:
    """True for a certificate or handshake failure that another attempt would repeat."""
    return lasting_ssl_error(exc) is not None


def describe_tls(exc: BaseException, trust: str) -> str:
    """One line: with whom TLS failed, why, and against what it was checked."""
    error = lasting_ssl_error(exc)
    peer = exc.peer if isinstance(exc, TlsFailure) else ""
    if isinstance(exc, aiohttp.ClientConnectorError):
        peer = f"{exc.host}:{exc.port}"
    return (
        f"TLS with {peer}: {why_tls_failed(error)}; checked against {trust}; not retried,"
        " since another attempt would fail the same way"
    )
