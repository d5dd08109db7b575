"""Signing for the lean S3 path: botocore's own ``S3SigV4Auth``, fed a plain
request object and a plain header map.

``S3SigV4Auth.add_auth`` collects the headers to sign into botocore's
``HTTPHeaders`` (an ``email.message.Message``) twice per request, once for the
canonical request and once for the ``Authorization`` header, and reads each
value back through ``Message.get_all``. With the lean path's seven or eight
headers that was about a third of the signer's time (measured: 103 -> 75 us
per signature alone, and about 0.07 ms of client CPU per 4 KiB PUT at
concurrency 64, where the garbage it leaves matters too).

Two results are kept rather than computed again, both outputs of botocore's
own code: ``signed_headers`` (asked for twice per request, with the same
headers), and the four HMACs that derive the signing key, which depend only on
the secret, the date, the region and the service, so are the same for every
request of a day (measured: 62 -> 42-44 us per signature alone). The derived keys
live in a small dict owned by one ``LeanS3Calls`` and dropped with it.

``LeanSigV4Auth`` changes only that container: the same names (lower-cased, the
same ``SIGNED_HEADERS_BLACKLIST`` skipped, ``host`` from the URL when absent),
the same values in the same order, built once per request into a dict with the
one method the signer calls on it. The canonical request, the string to sign,
the key derivation and the HMACs are botocore's, unmodified; a hypothesis test
(``tests/s3/test_lean_sign.py``) checks the ``Authorization`` header is
byte-for-byte the stock signer's. Imported only when a lean path is opened,
never by the base package.
"""

from __future__ import annotations

from typing import Any

from botocore.auth import SIGNED_HEADERS_BLACKLIST, S3SigV4Auth, _host_from_url

__all__ = ["LeanSigV4Auth", "SigningRequest"]

_SKIPPED = frozenset(SIGNED_HEADERS_BLACKLIST)


class SigningRequest:
    """What ``S3SigV4Auth.add_auth`` reads and writes, without AWSRequest's
    parsing and header machinery (measured: ~60 us of ~180 us per signature).

    ``headers`` is a plain dict, so the signer's look-ups of the headers it sets
    itself (``Authorization``, ``X-Amz-Date``, ``Date``,
    ``X-Amz-Security-Token``, ``X-Amz-Content-SHA256``) are exact, not
    case-blind as in ``HTTPHeaders``; the lean calls never pass any of them.
    """

    __slots__ = ("body", "context", "headers", "method", "params", "signed", "url")

    def __init__(
        self, method: str, url: str, headers: dict[str, str], body: Any, context: dict[str, Any]
    ) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.params: dict[str, str] = {}
        self.context = context
        # The headers to sign, once collected; see LeanSigV4Auth.headers_to_sign.
        self.signed: _HeadersToSign | None = None


class _HeadersToSign(dict[str, list[str]]):
    """Lower-case name -> values in arrival order; ``get_all`` as ``HTTPHeaders`` has it."""

    __slots__ = ("names",)

    def __init__(self) -> None:
        super().__init__()
        self.names: str | None = None  # botocore's signed_headers of this map, once asked

    # dict.get itself: the signer calls it once per header, and a C method
    # needs no Python frame. HTTPHeaders.get_all(name, failobj), positionally
    # (botocore passes only the name; the property test would catch a change).
    get_all = dict.get


# Derived keys kept per LeanS3Calls: a new day, region or rotated secret adds
# four entries, so the bound is only reached by a long-lived process; then the
# dict starts over.
_DERIVED_MAX = 64


class LeanSigV4Auth(S3SigV4Auth):  # type: ignore[misc]  # botocore is untyped
    """``S3SigV4Auth`` collecting the headers to sign into a dict, once per request.

    ``derived`` maps (key, message) to botocore's HMAC of them, for the key
    derivation steps; pass the same dict to every signer of one client.
    """

    def __init__(
        self,
        credentials: Any,
        service_name: str,
        region_name: str,
        derived: dict[tuple[bytes, str], bytes] | None = None,
    ) -> None:
        super().__init__(credentials, service_name, region_name)
        self._derived = {} if derived is None else derived

    # The parameter names, hex included, are botocore's: it passes hex= by name.
    def _sign(self, key: bytes, msg: str, hex: bool = False) -> Any:
        if hex:
            # Only the final HMAC, over the string to sign, is asked for in hex.
            return super()._sign(key, msg, hex=True)
        derived = self._derived
        found = derived.get((key, msg))
        if found is None:
            found = super()._sign(key, msg)
            if len(derived) >= _DERIVED_MAX:
                derived.clear()
            derived[key, msg] = found
        return found

    def signed_headers(self, headers_to_sign: Any) -> str:
        if not isinstance(headers_to_sign, _HeadersToSign):
            return str(super().signed_headers(headers_to_sign))
        if headers_to_sign.names is None:
            headers_to_sign.names = super().signed_headers(headers_to_sign)
        return headers_to_sign.names

    def add_auth(self, request: Any) -> None:
        request.signed = None  # a request signed again collects its headers again
        super().add_auth(request)

    def headers_to_sign(self, request: Any) -> _HeadersToSign:
        found: _HeadersToSign | None = request.signed
        if found is not None:
            # The second call, for the Authorization header: nothing the
            # signer does between the two changes a signed header.
            return found
        found = _HeadersToSign()
        for name, value in request.headers.items():
            lname = name.lower()
            if lname not in _SKIPPED:
                # HTTPHeaders appends rather than replaces: "Host" and "host"
                # would both be signed, joined by a comma. So here too.
                found.setdefault(lname, []).append(value)
        if "host" not in found:
            found["host"] = [_host_from_url(request.url)]
        request.signed = found
        return found
