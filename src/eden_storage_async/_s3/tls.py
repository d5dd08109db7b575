"""TLS for ``S3Backend``: the CA bundle checked before any client exists, and
which TLS failures are lasting (a ``TlsError`` at once) on either request path.

The CA bundle is botocore's setting (``AWS_CA_BUNDLE``, else ``ca_bundle`` in
the shared config file, else certifi's). A path that cannot be read used to
surface on the lean path as a bare ``FileNotFoundError`` with no path, leaving
one more aiobotocore client open per call, and on the SDK path as a transient
``HTTPClientError`` retried four times. It is read here once, off the loop,
before a client is created: unreadable or holding no certificate, it is a
``TlsError`` naming the setting and the path, and nothing is left open.

A certificate that does not verify (an untrusted CA, a host name it does not
cover), or a handshake the server refuses, fails the same way on every
attempt: a ``TlsError`` naming the host and ``ssl``'s reason, never retried. A
handshake cut short (EOF, a reset) can be the network's doing and stays
transient. Both paths raise botocore's ``SSLError``: aiobotocore wraps
aiohttp's certificate error in it, and ``_s3.lean.wire`` wraps ``_http``'s
``TlsFailed``; the ``ssl`` error is found on the chain behind it.
"""

from __future__ import annotations

import os
import ssl
from urllib.parse import urlsplit

from .._core.tls import is_lasting, load_ca_bundle, why_tls_failed

__all__ = ["check_ca_bundle", "describe_tls", "is_lasting_tls_failure"]

_HINT = (
    "check AWS_CA_BUNDLE (or ca_bundle in the AWS config file) and the endpoint's host name;"
    " not retried, since another attempt would fail the same way"
)


def check_ca_bundle(path: str | None) -> None:
    """Raise ``TlsError`` unless ``path`` (botocore's ``ca_bundle``; None for
    certifi's) is a readable bundle holding a certificate. Reads the file: call
    it off the event loop."""
    if not path:
        return
    setting = (
        "AWS_CA_BUNDLE"
        if os.environ.get("AWS_CA_BUNDLE") == path
        else "ca_bundle in the AWS config file"
    )
    load_ca_bundle(path, "S3Backend", setting)


def is_lasting_tls_failure(exc: BaseException) -> bool:
    """True for a TLS failure (botocore's ``SSLError``, aiohttp's, or
    ``_http``'s behind it) that another handshake would repeat."""
    from botocore.exceptions import SSLError

    # Only a TLS error itself: another failure's chain is not searched.
    if not isinstance(exc, SSLError | ssl.SSLError):
        return False
    found = _ssl_error(exc)
    if found is None:
        # botocore says TLS failed but keeps no ssl error: never retried, as before.
        return isinstance(exc, SSLError)
    return is_lasting(found)


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        # aiohttp's certificate error is an ssl.CertificateError by type but
        # keeps the real one (with its verify_message) in an attribute.
        for name in ("certificate_error", "os_error"):
            inner = getattr(current, name, None)
            if isinstance(inner, ssl.SSLError):
                return inner
        if isinstance(current, ssl.SSLError) and type(current).__module__ == "ssl":
            return current
        kwargs = getattr(current, "kwargs", None)  # botocore keeps its cause there
        inner = kwargs.get("error") if isinstance(kwargs, dict) else None
        for found in (inner, current.__cause__, current.__context__):
            if isinstance(found, BaseException):
                pending.append(found)
    return None


def describe_tls(exc: BaseException, what: str) -> str:
    """One line: with which host TLS failed, and ``ssl``'s reason."""
    error = _ssl_error(exc)
    kwargs = getattr(exc, "kwargs", None)
    url = kwargs.get("endpoint_url") if isinstance(kwargs, dict) else None
    host = urlsplit(url).netloc if isinstance(url, str) else "the endpoint"
    return f"{what}: TLS with {host} failed: {why_tls_failed(error, exc)}; {_HINT}"
