"""The lean path's signer (``_s3_lean_sign.LeanSigV4Auth``) signs exactly as
botocore's stock ``S3SigV4Auth``: same ``Authorization``, same headers added."""

from __future__ import annotations

import datetime
import string
from typing import Any
from unittest import mock

import pytest
from botocore import auth as botocore_auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import ReadOnlyCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from eden_storage_async._s3.lean.sign import LeanSigV4Auth, SigningRequest

_NOW = datetime.datetime(2026, 11, 27, 12, 34, 56)

# The headers the signer itself sets (and first deletes, looking them up without
# regard to case in botocore's HTTPHeaders) are never among those the lean path
# passes, so they are left out here: in a plain dict that lookup is exact.
_SIGNERS_OWN = {"authorization", "date", "x-amz-date", "x-amz-security-token",
                "x-amz-content-sha256"}  # fmt: skip
_names = st.sampled_from(
    ["Host", "host", "If-None-Match", "x-amz-checksum-crc32c", "X-Amz-Meta-Eden-Write-Nonce",
     "x-amz-meta-eden-crc32c", "x-amz-checksum-mode", "Expect", "User-Agent", "Connection",
     "Content-Type", "Content-MD5", "x-amz-meta-Mixed-Case"]
) | st.text(string.ascii_letters + "-", min_size=1, max_size=12).filter(
    lambda name: name.lower() not in _SIGNERS_OWN
)  # fmt: skip
_values = st.text(string.ascii_letters + string.digits + " =+/*.-\t", max_size=24)


_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
# One dict of derived keys for every example, as one LeanS3Calls keeps it: a key
# kept under the wrong secret, date or region would sign the next request wrong.
_DERIVED: dict[tuple[bytes, str], bytes] = {}


def _sign(
    signer: type[Any],
    request: Any,
    token: str | None,
    secret: str = _SECRET,
    region: str = "us-east-1",
) -> None:
    credentials = ReadOnlyCredentials("AKIDEXAMPLE", secret, token)
    if signer is LeanSigV4Auth:
        signer(credentials, "s3", region, _DERIVED).add_auth(request)
    else:
        signer(credentials, "s3", region).add_auth(request)


@settings(max_examples=300, deadline=None)
@given(
    headers=st.lists(st.tuples(_names, _values), max_size=8),
    https=st.booleans(),
    path=st.text(string.ascii_letters + string.digits + "/~-_.%", min_size=1, max_size=30),
    body=st.binary(max_size=64),
    token=st.none() | st.just("session-token"),
    unsigned=st.booleans(),
    secret=st.sampled_from([_SECRET, "rotated/secret", "x"]),
    region=st.sampled_from(["us-east-1", "eu-west-3"]),
    day=st.integers(0, 2),
)
def test_the_authorization_is_the_stock_signers(
    headers: list[tuple[str, str]],
    https: bool,
    path: str,
    body: bytes,
    token: str | None,
    unsigned: bool,
    secret: str,
    region: str,
    day: int,
) -> None:
    url = f"{'https' if https else 'http'}://s3.example.test:8333/bucket/{path}"
    config = Config(s3={"payload_signing_enabled": False} if unsigned else {})
    context = {"client_config": config}
    # One value per exact name, as the lean path's dict has; "Host" and "host"
    # may both be there, and botocore's HTTPHeaders then signs both values.
    plain = dict(headers)
    stock = AWSRequest(method="PUT", url=url, data=body, headers=dict(plain))
    stock.context.update(context)
    ours = SigningRequest("PUT", url, dict(plain), body, dict(context))
    now = _NOW + datetime.timedelta(days=day)
    with mock.patch.object(botocore_auth, "get_current_datetime", return_value=now):
        _sign(botocore_auth.S3SigV4Auth, stock, token, secret, region)
        _sign(LeanSigV4Auth, ours, token, secret, region)
    assert ours.headers["Authorization"] == stock.headers["Authorization"]
    assert {k.lower(): v for k, v in ours.headers.items()} == {
        k.lower(): v for k, v in stock.headers.items()
    }


def test_a_request_signed_twice_collects_its_headers_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore_auth, "get_current_datetime", lambda: _NOW)
    url = "http://s3.example.test/bucket/key"
    request = SigningRequest("PUT", url, {"If-None-Match": "*"}, b"x", {})
    _sign(LeanSigV4Auth, request, None)
    request.headers["x-amz-meta-later"] = "added"
    _sign(LeanSigV4Auth, request, None)
    assert "x-amz-meta-later" in request.headers["Authorization"]


@settings(max_examples=500, deadline=None)
@given(
    key=st.text(max_size=40) | st.text(string.ascii_letters + string.digits + "/~-_.", max_size=40)
)
def test_the_plain_key_shortcut_encodes_as_botocore_does(key: str) -> None:
    """``_s3_lean`` skips ``quote()`` for a key that needs no encoding; any key
    must come out exactly as botocore's ``{Key+}`` rule encodes it."""
    from urllib.parse import quote

    from eden_storage_async._s3.lean.calls import _PLAIN_KEY

    shortcut = key if _PLAIN_KEY(key) else quote(key, safe="/~")
    assert shortcut == quote(key, safe="/~")


def test_the_derived_keys_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from eden_storage_async._s3.lean import sign as _s3_lean_sign

    derived: dict[tuple[bytes, str], bytes] = {}
    monkeypatch.setattr(botocore_auth, "get_current_datetime", lambda: _NOW)
    for number in range(100):
        credentials = ReadOnlyCredentials("AKIDEXAMPLE", f"secret-{number}", None)
        request = SigningRequest("PUT", "http://s3.example.test/b/k", {}, b"x", {})
        LeanSigV4Auth(credentials, "s3", "us-east-1", derived).add_auth(request)
        assert len(derived) <= _s3_lean_sign._DERIVED_MAX
    assert derived  # and in use
