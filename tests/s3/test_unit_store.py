"""``S3Backend.store`` on scripted fakes (``helpers.py``): the create-only
precondition and what a 412 means (the write's nonce, size and CRC32C decide), the
CRC32C every PUT carries, how each failure maps and which are retried, and a cancel
that waits for the PUT in flight."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
    SSLError,
)

from eden_storage_async import (
    AccessDenied,
    AlreadyExists,
    BackendError,
    BucketNotFound,
    ConflictRetriesExhausted,
    IntegrityError,
    NotFound,
    PreconditionNotSupported,
    ServiceUnavailable,
    TlsError,
    mint_opaque_id,
)

from .helpers import FakeS3Client, _crc, backend_on, client_error, head_of

# --- store: the create-only precondition ------------------------------------


async def test_store_sends_if_none_match_and_a_nonce() -> None:
    client = FakeS3Client(put=[{}])
    opaque_id = mint_opaque_id()
    async with backend_on(client, prefix="p") as backend:
        await backend.store(opaque_id, b"data")
    (call,) = client.calls_to("put_object")
    assert call["IfNoneMatch"] == "*"
    assert call["Key"] == f"p/{opaque_id}"
    assert call["Body"] == b"data"
    assert len(call["Metadata"]["eden-write-nonce"]) == 32


async def test_conflict_once_then_success() -> None:
    client = FakeS3Client(put=[client_error("ConditionalRequestConflict", 409), {}])
    async with backend_on(client) as backend:
        await backend.store(mint_opaque_id(), b"data")
    first, second = client.calls_to("put_object")
    assert first == second, "a retried PUT must re-send the same body and nonce"


async def test_conflict_past_the_bound_raises_conflict_retries_exhausted() -> None:
    client = FakeS3Client(put=[client_error("ConditionalRequestConflict", 409)] * 4)
    async with backend_on(client) as backend:
        with pytest.raises(ConflictRetriesExhausted) as caught:
            await backend.store(mint_opaque_id(), b"data")
    assert not isinstance(caught.value, FileExistsError | NotFound)
    assert isinstance(caught.value.__cause__, ClientError)
    assert len(client.calls_to("put_object")) == 4


async def test_412_on_another_writers_object_raises_already_exists() -> None:
    client = FakeS3Client(put=[client_error("PreconditionFailed", 412)])
    client.scripts["head_object"].append(head_of(client, nonce="0" * 32))
    opaque_id = mint_opaque_id()
    async with backend_on(client, prefix="p") as backend:
        with pytest.raises(AlreadyExists) as caught:
            await backend.store(opaque_id, b"data")
    assert isinstance(caught.value, FileExistsError)
    assert isinstance(caught.value.__cause__, ClientError)
    assert client.calls_to("head_object") == [
        {"Bucket": "eden-unit", "Key": f"p/{opaque_id}", "ChecksumMode": "ENABLED"}
    ]


async def test_412_on_an_object_without_a_nonce_raises_already_exists() -> None:
    client = FakeS3Client(
        put=[client_error("PreconditionFailed", 412)], head=[{"Metadata": {}, "ContentLength": 4}]
    )
    async with backend_on(client) as backend:
        with pytest.raises(AlreadyExists):
            await backend.store(mint_opaque_id(), b"data")


@pytest.mark.parametrize("retry_attempts", [1, 0], ids=["botocore-resent", "aiohttp-resent"])
async def test_412_about_our_own_lost_reply_write_is_success(retry_attempts: int) -> None:
    # RetryAttempts is 0 when aiohttp re-sent the PUT by itself, which botocore
    # never sees: the nonce, not the retry count, decides.
    client = FakeS3Client(
        put=[client_error("PreconditionFailed", 412, retry_attempts=retry_attempts)]
    )
    client.scripts["head_object"].append(head_of(client))
    async with backend_on(client) as backend:
        await backend.store(mint_opaque_id(), b"data")
    assert len(client.calls_to("head_object")) == 1


async def test_412_after_a_conflicted_attempt_still_checks_the_nonce() -> None:
    client = FakeS3Client(
        put=[
            client_error("ConditionalRequestConflict", 409, retry_attempts=1),
            client_error("PreconditionFailed", 412),
        ]
    )
    client.scripts["head_object"].append(head_of(client))
    async with backend_on(client) as backend:
        await backend.store(mint_opaque_id(), b"data")


async def test_412_on_our_nonce_with_a_short_body_is_damage_not_success() -> None:
    client = FakeS3Client(put=[client_error("PreconditionFailed", 412, retry_attempts=1)])
    client.scripts["head_object"].append(head_of(client, size=0))
    async with backend_on(client) as backend:
        with pytest.raises(BackendError, match="kept 0 of 4 bytes") as caught:
            await backend.store(mint_opaque_id(), b"data")
    assert not isinstance(caught.value, FileExistsError | NotFound)


async def test_412_with_the_object_gone_is_neither_exists_nor_absent() -> None:
    client = FakeS3Client(
        put=[client_error("PreconditionFailed", 412, retry_attempts=1)],
        head=[client_error("404", 404, operation="HeadObject")],
    )
    async with backend_on(client) as backend:
        with pytest.raises(BackendError) as caught:
            await backend.store(mint_opaque_id(), b"data")
    assert type(caught.value) is BackendError
    assert "outcome unknown" in str(caught.value)


async def test_a_refused_head_on_the_412_path_is_access_denied() -> None:
    client = FakeS3Client(
        put=[client_error("PreconditionFailed", 412)],
        head=[client_error("403", 403, operation="HeadObject")],
    )
    async with backend_on(client) as backend:
        with pytest.raises(AccessDenied):
            await backend.store(mint_opaque_id(), b"data")


async def test_not_implemented_raises_precondition_not_supported_and_is_not_retried() -> None:
    client = FakeS3Client(put=[client_error("NotImplemented", 501)])
    async with backend_on(client) as backend:
        with pytest.raises(PreconditionNotSupported):
            await backend.store(mint_opaque_id(), b"data")
    assert len(client.calls_to("put_object")) == 1


@pytest.mark.parametrize(
    ("error", "expected", "tries"),
    [
        (client_error("AccessDenied", 403), AccessDenied, 1),
        (client_error("SignatureDoesNotMatch", 403), AccessDenied, 1),
        (client_error("InternalError", 500), ServiceUnavailable, 4),
        (client_error("BadGateway", 502), ServiceUnavailable, 4),
        (client_error("SlowDown", 503), ServiceUnavailable, 4),
        (client_error("GatewayTimeout", 504), ServiceUnavailable, 4),
        (client_error("RequestTimeout", 400), ServiceUnavailable, 4),
        (client_error("NoSuchBucket", 404), BucketNotFound, 1),
        (client_error("InvalidArgument", 400), BackendError, 1),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), ServiceUnavailable, 4),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), ServiceUnavailable, 4),
        (ConnectionClosedError(endpoint_url="http://127.0.0.1:1"), ServiceUnavailable, 4),
        (SSLError(endpoint_url="https://127.0.0.1:1", error="bad cert"), TlsError, 1),
    ],
    ids=["403", "403-signature", "500", "502", "503-slowdown", "504", "request-timeout",
         "no-such-bucket", "400", "connect", "read-timeout", "reset", "tls"],
)  # fmt: skip
async def test_other_store_failures_are_neither_exists_nor_absent(
    error: BaseException, expected: type[BackendError], tries: int
) -> None:
    """Transient failures are retried to the bound (4 tries), the rest never."""
    client = FakeS3Client(put=[error] * 4)
    async with backend_on(client) as backend:
        with pytest.raises(expected) as caught:
            await backend.store(mint_opaque_id(), b"data")
    assert type(caught.value) is expected
    assert not isinstance(caught.value, FileExistsError | NotFound)
    assert caught.value.__cause__ is error
    assert len(client.calls_to("put_object")) == tries


# --- integrity: the CRC32C every store sends ----------------------------------


async def test_store_sends_the_crc32c_as_a_header_and_as_metadata() -> None:
    client = FakeS3Client(put=[{}])
    async with backend_on(client) as backend:
        await backend.store(mint_opaque_id(), b"123456789")
    (call,) = client.calls_to("put_object")
    # RFC 3720's check value: CRC32C("123456789") = 0xE3069283.
    assert call["ChecksumCRC32C"] == base64.b64encode(bytes.fromhex("e3069283")).decode()
    assert call["Metadata"]["eden-crc32c"] == call["ChecksumCRC32C"]


@pytest.mark.parametrize("code", ["BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch"])
async def test_a_refused_damaged_body_is_integrity_error_after_the_retries(code: str) -> None:
    client = FakeS3Client(put=[client_error(code, 400)] * 4)
    async with backend_on(client) as backend:
        with pytest.raises(IntegrityError, match="nothing was written") as caught:
            await backend.store(mint_opaque_id(), b"data")
    assert not isinstance(caught.value, FileExistsError | NotFound)
    calls = client.calls_to("put_object")
    assert len(calls) == 4
    assert all(call == calls[0] for call in calls), "every resend carries the same bytes and CRC"


async def test_a_body_damaged_once_on_the_way_is_sent_again_and_stored() -> None:
    client = FakeS3Client(put=[client_error("BadDigest", 400), {}])
    async with backend_on(client) as backend:
        await backend.store(mint_opaque_id(), b"data")
    assert len(client.calls_to("put_object")) == 2


# --- the 412 nonce check compares the CRC32C too ------------------------------


def _head(fake: FakeS3Client, *, service_crc: str | None) -> Mapping[str, Any]:
    sent = fake.calls_to("put_object")[0]
    head: dict[str, Any] = {"Metadata": dict(sent["Metadata"]), "ContentLength": len(sent["Body"])}
    if service_crc is not None:
        head["ChecksumCRC32C"] = service_crc
    return head


async def test_a_retried_store_whose_first_attempt_landed_is_success() -> None:
    # The first PUT was committed and its reply timed out; the retry meets it.
    client = FakeS3Client(
        put=[
            ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
            client_error("PreconditionFailed", 412),
        ]
    )
    client.scripts["head_object"].append(lambda fake: _head(fake, service_crc=_crc(b"data")))
    async with backend_on(client) as backend:
        await backend.store(mint_opaque_id(), b"data")
    first, second = client.calls_to("put_object")
    assert first == second
    assert client.calls_to("head_object")[0]["ChecksumMode"] == "ENABLED"


async def test_412_on_our_nonce_with_another_crc32c_is_damage_not_success() -> None:
    client = FakeS3Client(put=[client_error("PreconditionFailed", 412)])
    client.scripts["head_object"].append(lambda fake: _head(fake, service_crc=_crc(b"dAta")))
    async with backend_on(client) as backend:
        with pytest.raises(IntegrityError, match="not its CRC32C") as caught:
            await backend.store(mint_opaque_id(), b"data")
    assert not isinstance(caught.value, FileExistsError)


# --- cancellation -------------------------------------------------------------


class _SlowPut(FakeS3Client):
    """A PutObject the server is still answering when the caller cancels."""

    def __init__(self) -> None:
        super().__init__()
        self.answered = False

    async def put_object(self, **kwargs: Any) -> Mapping[str, Any]:
        self.calls.append(("put_object", kwargs))
        await asyncio.sleep(0.05)
        self.answered = True
        return {"ResponseMetadata": {"HTTPStatusCode": 200}}


async def test_a_cancelled_store_waits_for_the_put_in_flight() -> None:
    """Once the body is on the wire the server may commit it; the cancel must not
    land before the answer, or a load could see the id absent and the object
    appear afterwards."""
    client = _SlowPut()
    backend = backend_on(client)
    task = asyncio.create_task(backend.store(mint_opaque_id(), b"data"))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client.answered
