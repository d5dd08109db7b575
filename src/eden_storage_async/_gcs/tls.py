"""TLS for ``GcsBackend``: the one SSL context both request paths share, and
which failures are TLS's own, never retried.

One context, built once per backend, goes to the aiohttp session's connector
(resumable uploads, downloads, metadata, tokens) *and* to the lean multipart
upload (``_gcs.lean``), so the two paths always trust the same CAs. Without
it they could differ: aiohttp builds its default context when it is first
imported, so an ``SSL_CERT_FILE`` set later reaches the lean path only.

A certificate that does not verify (an unknown CA, a name the certificate
does not cover) or a handshake the server refuses fails the same way on every
attempt, so it is not retried: it is a ``TlsError`` at once. A handshake cut
short (EOF, a reset) can be the network's doing and stays a transient.
"""

from __future__ import annotations

import ssl
from typing import TypeGuard

import aiohttp

from .._core.errors import TlsError

__all__ = [
    "SYSTEM_TRUST",
    "TlsFailure",
    "build_ssl_context",
    "describe_tls",
    "is_lasting",
    "is_tls_failure",
    "lasting_ssl_error",
    "trust_of",
]

SYSTEM_TRUST = "the system trust store (SSL_CERT_FILE / SSL_CERT_DIR, if set)"
# How the CA setting is spelled where an operator may have set it.
_SETTING = "ca_bundle (--blob-gcs-ca-bundle, EDEN_BLOB_GCS_CA_BUNDLE)"
# A handshake ended by the peer or the network before it failed on its own terms.
_CUT_SHORT = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)


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

    Reads files, so it runs off the event loop. A bundle that cannot be read,
    or holds no certificate, is a ``TlsError`` naming the setting and the path.
    """
    try:
        # With cafile the system store is not loaded: the bundle replaces it,
        # as AWS_CA_BUNDLE replaces certifi's for botocore.
        return ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        if isinstance(exc, ssl.SSLError):
            # ssl's own text ("[X509] PEM lib") does not say what is wrong.
            reason = f"no CA certificate could be read from it ({exc})"
        else:
            reason = exc.strerror or str(exc)
        what = f"GcsBackend: the CA bundle {ca_bundle!r} named by {_SETTING}"
        raise TlsError(f"{what} cannot be used: {reason}") from exc


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


def is_lasting(error: BaseException | None) -> TypeGuard[ssl.SSLError]:
    """True for an ``ssl`` error that another handshake would repeat."""
    return isinstance(error, ssl.SSLError) and not isinstance(error, _CUT_SHORT)


def is_tls_failure(exc: BaseException) -> bool:
    """True for a certificate or handshake failure that another attempt would repeat."""
    return lasting_ssl_error(exc) is not None


def describe_tls(exc: BaseException, trust: str) -> str:
    """One line: with whom TLS failed, why, and against what it was checked."""
    error = lasting_ssl_error(exc)
    peer = exc.peer if isinstance(exc, TlsFailure) else ""
    if isinstance(exc, aiohttp.ClientConnectorError):
        peer = f"{exc.host}:{exc.port}"
    if isinstance(error, ssl.SSLCertVerificationError):
        why = f"the server's certificate did not verify ({error.verify_message})"
    else:
        why = f"the TLS handshake failed ({getattr(error, 'reason', None) or error})"
    return (
        f"TLS with {peer}: {why}; checked against {trust}; not retried, since another "
        "attempt would fail the same way"
    )
