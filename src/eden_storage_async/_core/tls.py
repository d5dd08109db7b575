"""What TLS failures mean, for both cloud backends: which ``ssl`` errors another
handshake would repeat, how to say why one failed, and reading a CA bundle.

A certificate that does not verify (an untrusted CA, a host name it does not
cover) or a handshake the server refuses fails the same way on every attempt,
so it is a ``TlsError`` at once, never retried. A handshake cut short (EOF, a
reset) can be the network's doing and stays transient. Each backend finds the
``ssl`` error behind its own SDK's wrapping (``_s3/tls.py``, ``_gcs/tls.py``).
"""

from __future__ import annotations

import ssl
from typing import TypeGuard

from .errors import TlsError

__all__ = ["is_lasting", "load_ca_bundle", "why_tls_failed"]

# A handshake ended by the peer or the network before it failed on its own terms.
_CUT_SHORT = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)


def is_lasting(error: BaseException | None) -> TypeGuard[ssl.SSLError]:
    """True for an ``ssl`` error that another handshake would repeat."""
    return isinstance(error, ssl.SSLError) and not isinstance(error, _CUT_SHORT)


def why_tls_failed(error: BaseException | None, fallback: object = None) -> str:
    """Why the handshake failed, from its ``ssl`` error (``fallback`` if none)."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"the server's certificate did not verify ({error.verify_message})"
    return f"the TLS handshake failed ({getattr(error, 'reason', None) or error or fallback})"


def load_ca_bundle(path: str | None, who: str, named_by: str) -> ssl.SSLContext:
    """A verifying context trusting ``path``'s CAs only (the system store if None).

    Reads files, so call it off the event loop. A bundle that cannot be read,
    or holds no certificate, is a ``TlsError`` naming ``who``, the setting
    (``named_by``) and the path.
    """
    try:
        # With cafile the system store is not loaded: the bundle replaces it,
        # as AWS_CA_BUNDLE replaces certifi's for botocore.
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        if isinstance(exc, ssl.SSLError):
            # ssl's own text ("[X509] PEM lib") does not say what is wrong.
            reason = f"no CA certificate could be read from it ({exc})"
        else:
            reason = exc.strerror or str(exc)
        raise TlsError(
            f"{who}: the CA bundle {path!r} named by {named_by} cannot be used: {reason}"
        ) from exc
