"""The lean path's credentials and signatures: SigV4 checked by a SeaweedFS
started with an identity (the right secret accepted, a wrong secret or an unknown
key refused), then on scripted fakes the exact headers a request carries, its
payload-signing rule, missing and refreshed credentials, and no credential in a
repr; the backend's attributes and ranges, signed, accepted by that server."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from eden_storage_async import AccessDenied, mint_opaque_id
from eden_storage_async._core.checksum import crc32c_b64
from eden_storage_async._s3.errors import STORE_CODES

from ..support.s3 import fresh_prefix, s3_backend_on, use_test_credentials
from ..support.servers import RealServer, seaweedfs_server_with_identity
from .lean_helpers import (
    _ACCESS_KEY,
    _BUCKET,
    _SECRET,
    _credentials,
    _translated,
    lean_fake,
    lean_on,
    ok,
)

# -- signatures, on a server that checks them ------------------------------------------


@pytest.fixture(scope="module")
def seaweedfs_auth() -> Iterator[RealServer]:
    """SeaweedFS with one identity: it verifies every SigV4 signature."""
    with seaweedfs_server_with_identity(_ACCESS_KEY, _SECRET) as server:
        yield server


@pytest.mark.real_server
async def test_signed_with_the_right_secret_is_accepted(
    seaweedfs_auth: RealServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _credentials(monkeypatch, _ACCESS_KEY, _SECRET)
    key = f"{fresh_prefix()}/signed a+b"
    async with lean_on(seaweedfs_auth) as (lean, _):
        await lean.put_object(Bucket=seaweedfs_auth.bucket, Key=key, Body=b"ok",
                              IfNoneMatch="*", Metadata={"eden-write-nonce": "n"},
                              ChecksumCRC32C=crc32c_b64(b"ok"))  # fmt: skip
        got = await lean.get_object(Bucket=seaweedfs_auth.bucket, Key=key, ChecksumMode="ENABLED")
        async with got["Body"] as stream:
            assert await stream.read() == b"ok"
        head = await lean.head_object(Bucket=seaweedfs_auth.bucket, Key=key)
        assert head["Metadata"] == {"eden-write-nonce": "n"}


@pytest.mark.real_server
@pytest.mark.parametrize(
    ("access_key", "secret", "code"),
    [(_ACCESS_KEY, "a-wrong-secret", "SignatureDoesNotMatch"),
     ("AKIDUNKNOWN", _SECRET, "InvalidAccessKeyId")],
)  # fmt: skip
async def test_a_wrong_credential_is_refused(
    seaweedfs_auth: RealServer,
    monkeypatch: pytest.MonkeyPatch,
    access_key: str,
    secret: str,
    code: str,
) -> None:
    _credentials(monkeypatch, access_key, secret)
    key = f"{fresh_prefix()}/x"
    async with lean_on(seaweedfs_auth) as (lean, _):
        for call in (
            lean.put_object(Bucket=seaweedfs_auth.bucket, Key=key, Body=b"x", IfNoneMatch="*"),
            lean.get_object(Bucket=seaweedfs_auth.bucket, Key=key),
        ):
            with pytest.raises(ClientError) as caught:
                await call
            assert caught.value.response["Error"]["Code"] == code
            error = _translated(caught.value, STORE_CODES)
            assert isinstance(error, AccessDenied)
            assert secret not in str(error)
            assert secret not in repr(caught.value.response)


@pytest.mark.real_server
async def test_attributes_and_ranges_go_out_signed_and_are_accepted(
    seaweedfs_auth: RealServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Content-Type, the x-amz-meta-* headers and Range are signed like every
    other header (``test_unit_attributes.py`` reads SignedHeaders); a server that
    checks the signature accepts them, on the backend's default (lean) path."""
    _credentials(monkeypatch, _ACCESS_KEY, _SECRET)
    metadata = {"owner": "ada", "note": "a,b  c=d"}
    async with s3_backend_on(seaweedfs_auth) as backend:
        opaque_id = mint_opaque_id()
        await backend.store(opaque_id, b"0123456789", content_type="text/csv", metadata=metadata)
        info = await backend.stat(opaque_id)
        assert (info.content_type, dict(info.metadata)) == ("text/csv", metadata)
        assert await backend.load_range(opaque_id, 2, 5) == b"234"


# -- scripted fakes ----------------------------------------------------------------------


@pytest.mark.usefixtures("creds")
async def test_the_request_carries_exactly_the_contract_headers() -> None:
    async with lean_fake(ok(headers={"x-amz-checksum-crc32c": "AAAAAA=="})) as (lean, fake):
        put = await lean.put_object(Bucket=_BUCKET, Key="p/k", Body=b"data", IfNoneMatch="*",
                                    Metadata={"eden-write-nonce": "n"},
                                    ChecksumCRC32C=crc32c_b64(b"data"))  # fmt: skip
        assert put["ChecksumCRC32C"] == "AAAAAA=="
        await lean.get_object(Bucket=_BUCKET, Key="p/k", ChecksumMode="ENABLED")
    sent = fake.requests[0].headers
    assert fake.requests[0].method == "PUT"
    assert fake.requests[0].path == f"/{_BUCKET}/p/k"
    assert fake.bodies[0] == b"data"
    assert sent["If-None-Match"] == "*"
    assert sent["x-amz-meta-eden-write-nonce"] == "n"
    assert sent["x-amz-checksum-crc32c"] == crc32c_b64(b"data")
    assert sent["Content-Length"] == "4"
    # No Expect: 100-continue (SeaweedFS's empty-object gap), no invented type.
    assert "Expect" not in sent
    assert "Content-Type" not in sent
    auth = sent["Authorization"]
    assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={_ACCESS_KEY}/")
    assert "SignedHeaders=host;if-none-match;x-amz-checksum-crc32c;x-amz-content-sha256;" in auth
    assert "x-amz-meta-eden-write-nonce" in auth
    # The same payload-signing rule as the SDK path (payload_signing_enabled=False).
    assert sent["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"
    assert fake.requests[1].headers["x-amz-checksum-mode"] == "ENABLED"
    for request in fake.requests:
        assert all(_SECRET not in value for value in request.headers.values())


@pytest.mark.usefixtures("creds")
async def test_the_payload_signing_rule_is_the_clients_own() -> None:
    """A client left at botocore's default signs the payload over plain HTTP,
    and the lean path then does too: the rule is botocore's, read from the client."""
    async with lean_fake(ok(), s3_config=None) as (lean, fake):
        await lean.put_object(Bucket=_BUCKET, Key="k", Body=b"data", IfNoneMatch="*")
    expected = hashlib.sha256(b"data").hexdigest()
    assert fake.requests[0].headers["X-Amz-Content-SHA256"] == expected


async def test_no_credentials_is_no_credentials_error(monkeypatch: pytest.MonkeyPatch) -> None:
    use_test_credentials(monkeypatch)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    async with lean_fake(ok()) as (lean, fake):
        with pytest.raises(NoCredentialsError):
            await lean.put_object(Bucket=_BUCKET, Key="k", Body=b"x", IfNoneMatch="*")
    assert fake.requests == []


@pytest.mark.usefixtures("creds")
async def test_credentials_are_frozen_per_request_so_a_refresh_is_seen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with lean_fake(ok()) as (lean, fake):
        await lean.head_object(Bucket=_BUCKET, Key="k")
        # What a refresh does: the credential object's keys change under us.
        credentials = lean._credentials
        monkeypatch.setattr(credentials, "access_key", "AKIDROTATED")
        await lean.head_object(Bucket=_BUCKET, Key="k")
    auths = [request.headers["Authorization"] for request in fake.requests]
    assert f"Credential={_ACCESS_KEY}/" in auths[0]
    assert "Credential=AKIDROTATED/" in auths[1]


@pytest.mark.usefixtures("creds")
async def test_repr_holds_no_credential() -> None:
    async with lean_fake(ok()) as (lean, _):
        assert _SECRET not in repr(lean)
        assert _ACCESS_KEY not in repr(lean)
        assert "endpoint_url" in repr(lean)
