"""``S3Backend`` error paths a real server cannot produce, on scripted fakes.

The fakes raise real ``botocore.exceptions.ClientError``s built from the same
error-response dicts botocore's parser makes (``Error`` plus ``ResponseMetadata``
with ``HTTPStatusCode`` and ``RetryAttempts``), so the mapping under test is
the one a real reply goes through.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
    SSLError,
)
from botocore.validate import ParamValidationDecorator

from eden_storage_async import (
    AccessDenied,
    AlreadyExists,
    BackendError,
    BucketNotFound,
    ConfigError,
    ConflictRetriesExhausted,
    IntegrityError,
    MissingDependency,
    NotFound,
    PreconditionNotSupported,
    S3Backend,
    ServiceUnavailable,
    mint_opaque_id,
)
from eden_storage_async._core.checksum import crc32c_b64
from eden_storage_async._core.retry import Backoff

from ..support.s3 import use_test_credentials

_NO_SLEEP = Backoff(attempts=4, base_s=0.0, cap_s=0.0)
_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRETzz"

Reply = Mapping[str, Any] | BaseException | Callable[["FakeS3Client"], Mapping[str, Any]]


def client_error(
    code: str, status: int, *, operation: str = "PutObject", retry_attempts: int = 0
) -> ClientError:
    """A ClientError shaped exactly as botocore's parser builds one."""
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": f"scripted {code}"},
        "ResponseMetadata": {
            "RequestId": "REQ",
            "HTTPStatusCode": status,
            "HTTPHeaders": {},
            "RetryAttempts": retry_attempts,
        },
    }
    return ClientError(response, operation)


class FakeBody:
    """A GetObject body that records whether it was closed; ``read(n)`` gives pieces."""

    def __init__(self, data: bytes | BaseException) -> None:
        self._data = data
        self._offset = 0
        self.closed = False

    async def __aenter__(self) -> FakeBody:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.closed = True

    async def read(self, amount: int = -1) -> bytes:
        if isinstance(self._data, BaseException):
            raise self._data
        end = len(self._data) if amount < 0 else self._offset + amount
        piece = self._data[self._offset : end]
        self._offset += len(piece)
        return piece


class FakeS3Client:
    """Answers each call from its script, in order, and records the calls."""

    def __init__(
        self,
        *,
        put: list[Reply] | None = None,
        get: list[Reply] | None = None,
        head: list[Reply] | None = None,
    ) -> None:
        self.scripts: dict[str, list[Reply]] = {
            "put_object": list(put or []),
            "get_object": list(get or []),
            "head_object": list(head or []),
        }
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.closed = False

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.calls if name == method]

    async def _answer(self, method: str, kwargs: dict[str, Any]) -> Mapping[str, Any]:
        self.calls.append((method, kwargs))
        await asyncio.sleep(0)
        reply = self.scripts[method].pop(0)
        if isinstance(reply, BaseException):
            raise reply
        if callable(reply):
            return reply(self)
        return reply

    async def put_object(self, **kwargs: Any) -> Mapping[str, Any]:
        return await self._answer("put_object", kwargs)

    async def get_object(self, **kwargs: Any) -> Mapping[str, Any]:
        return await self._answer("get_object", kwargs)

    async def head_object(self, **kwargs: Any) -> Mapping[str, Any]:
        return await self._answer("head_object", kwargs)

    async def close(self) -> None:
        self.closed = True

    async def __aexit__(self, *exc_info: object) -> None:
        self.closed = True


def backend_on(client: FakeS3Client, **kwargs: Any) -> S3Backend:
    kwargs.setdefault("bucket", "eden-unit")
    kwargs.setdefault("conflict_backoff", _NO_SLEEP)
    kwargs.setdefault("retry", _NO_SLEEP)
    return S3Backend(client=client, **kwargs)


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


def head_of(client: FakeS3Client, *, nonce: str | None = None, size: int = 4) -> Reply:
    """A HeadObject answer: ``nonce`` (default: the one our PutObject sent) and ``size``."""

    def answer(fake: FakeS3Client) -> Mapping[str, Any]:
        sent = fake.calls_to("put_object")[0]["Metadata"]["eden-write-nonce"]
        return {"Metadata": {"eden-write-nonce": nonce or sent}, "ContentLength": size}

    return answer


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
        (SSLError(endpoint_url="https://127.0.0.1:1", error="bad cert"), ServiceUnavailable, 1),
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


# --- load -------------------------------------------------------------------


async def test_load_reads_the_body_inside_a_context_that_closes_it() -> None:
    body = FakeBody(b"payload")
    client = FakeS3Client(get=[{"Body": body}])
    async with backend_on(client) as backend:
        assert await backend.load(mint_opaque_id()) == b"payload"
    assert body.closed


async def test_load_closes_the_body_when_the_read_fails() -> None:
    from botocore.exceptions import ResponseStreamingError

    bodies = [FakeBody(ResponseStreamingError(error="reset")) for _ in range(4)]
    client = FakeS3Client(get=[{"Body": body} for body in bodies])
    async with backend_on(client) as backend:
        with pytest.raises(ServiceUnavailable):
            await backend.load(mint_opaque_id())
    assert all(body.closed for body in bodies)


async def test_no_such_key_is_not_found() -> None:
    client = FakeS3Client(get=[client_error("NoSuchKey", 404, operation="GetObject")])
    async with backend_on(client) as backend:
        with pytest.raises(NotFound) as caught:
            await backend.load(mint_opaque_id())
    assert isinstance(caught.value.__cause__, ClientError)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (client_error("NoSuchBucket", 404, operation="GetObject"), BucketNotFound),
        (client_error("404", 404, operation="GetObject"), BackendError),
        (client_error("AccessDenied", 403, operation="GetObject"), AccessDenied),
        (client_error("InternalError", 500, operation="GetObject"), ServiceUnavailable),
        (client_error("NotImplemented", 501, operation="GetObject"), BackendError),
    ],
    ids=["no-such-bucket", "bare-404", "403", "500", "501"],
)
async def test_load_failures_other_than_no_such_key_are_not_not_found(
    error: ClientError, expected: type[BackendError]
) -> None:
    client = FakeS3Client(get=[error] * 4)
    async with backend_on(client) as backend:
        with pytest.raises(expected) as caught:
            await backend.load(mint_opaque_id())
    assert type(caught.value) is expected
    assert caught.value.__cause__ is error


# --- lifecycle, configuration, surface ---------------------------------------


async def test_an_injected_client_is_not_closed() -> None:
    client = FakeS3Client(put=[{}])
    backend = backend_on(client)
    await backend.store(mint_opaque_id(), b"data")
    await backend.aclose()
    assert not client.closed


@pytest.mark.parametrize(
    ("prefix", "stored_as"),
    [("", "{id}"), ("a", "a/{id}"), ("a/b/", "a/b/{id}"), ("/a/", "a/{id}"), ("//", "{id}")],
)
async def test_key_layout(prefix: str, stored_as: str) -> None:
    client = FakeS3Client(put=[{}])
    opaque_id = mint_opaque_id()
    async with backend_on(client, prefix=prefix) as backend:
        await backend.store(opaque_id, b"x")
    assert client.calls_to("put_object")[0]["Key"] == stored_as.format(id=opaque_id)


async def test_a_whole_bytes_payload_is_sent_without_a_copy_and_others_are_copied() -> None:
    client = FakeS3Client(put=[{}, {}])
    payload = b"0123456789"
    buffer = bytearray(payload)
    async with backend_on(client) as backend:
        await backend.store(mint_opaque_id(), payload)
        await backend.store(mint_opaque_id(), memoryview(buffer)[2:5])
        buffer[2] = ord("X")
    first, second = client.calls_to("put_object")
    assert first["Body"] is payload
    assert second["Body"] == b"234"


def test_construction_needs_no_running_loop() -> None:
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    backend = S3Backend(bucket="eden-unit", endpoint_url="http://127.0.0.1:9")
    assert backend.bucket == "eden-unit"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bucket": ""},
        {"bucket": "a/b"},
        {"bucket": "b", "max_concurrency": 0},
        {"bucket": "b", "endpoint_url": "http://user:pass@127.0.0.1:9"},
    ],
    ids=["empty-bucket", "slash-bucket", "zero-concurrency", "userinfo"],
)
def test_bad_settings_raise_config_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        S3Backend(**kwargs)


async def test_repr_and_errors_hold_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    use_test_credentials(monkeypatch)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", _SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "SESSIONTOKENzz" + _SECRET)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # a refused port, answered at once
    backend = S3Backend(bucket="eden-unit", prefix="p", endpoint_url="http://127.0.0.1:9")
    shown = repr(backend)
    assert shown == (
        "S3Backend(bucket='eden-unit', prefix='p', endpoint_url='http://127.0.0.1:9',"
        " region=None, request_path='lean')"
    )
    async with backend:
        with pytest.raises(ServiceUnavailable) as caught:
            await backend.store(mint_opaque_id(), b"data")
        assert _SECRET not in repr(backend)
    assert _SECRET not in str(caught.value)
    assert "SESSIONTOKENzz" not in str(caught.value)


@pytest.mark.parametrize(
    "error",
    [NoCredentialsError(), CredentialRetrievalError(provider="process", error_msg=_SECRET)],
    ids=["none-found", "provider-failed"],
)
async def test_credential_failures_name_the_chain_but_no_detail(error: Exception) -> None:
    client = FakeS3Client(get=[error])
    async with backend_on(client) as backend:
        with pytest.raises(BackendError, match="no usable credentials") as caught:
            await backend.load(mint_opaque_id())
    assert type(caught.value) is BackendError
    assert _SECRET not in str(caught.value)
    assert caught.value.__cause__ is error


def test_missing_aiobotocore_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("aiobotocore", "aiobotocore.session", "aiobotocore.config"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(
        MissingDependency, match=r"pip install 'eden-storage-async\[s3\]'"
    ) as caught:
        S3Backend(bucket="eden-unit")
    assert isinstance(caught.value, ImportError)


async def test_client_settings_and_region_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    use_test_credentials(monkeypatch)
    async with S3Backend(
        bucket="eden-unit", endpoint_url="http://127.0.0.1:9", max_concurrency=7
    ) as backend:
        client: Any = await backend._get_client()
        config = client.meta.config
        assert client.meta.region_name == "us-east-1"
        assert config.max_pool_connections == 7
        # The setting lives in the serializer botocore built, not in meta.config.
        assert not isinstance(client._serializer, ParamValidationDecorator)
        assert config.request_checksum_calculation == "when_required"
        assert config.response_checksum_validation == "when_required"
        assert config.s3["payload_signing_enabled"] is False


async def test_the_default_chain_region_wins_over_the_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_test_credentials(monkeypatch)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    async with S3Backend(bucket="eden-unit", endpoint_url="http://127.0.0.1:9") as backend:
        client: Any = await backend._get_client()
        assert client.meta.region_name == "eu-west-2"


async def test_concurrent_first_uses_build_one_client(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[FakeS3Client] = []

    async def build(self: S3Backend) -> FakeS3Client:
        await asyncio.sleep(0.01)  # every caller arrives while the first still builds
        client = FakeS3Client(put=[{}] * 50)
        built.append(client)
        return client

    monkeypatch.setattr(S3Backend, "_create_client", build)
    async with S3Backend(bucket="eden-unit") as backend:
        await asyncio.gather(*(backend.store(mint_opaque_id(), b"x") for _ in range(50)))
    assert len(built) == 1
    assert len(built[0].calls_to("put_object")) == 50


# --- store_stream: CompleteMultipartUpload's 409 and the abort ---------------

_MIB = 1024 * 1024


class MultipartFake(FakeS3Client):
    """Multipart calls always succeed, except ``complete_multipart_upload``, which is scripted."""

    def __init__(self, *, complete: list[Reply]) -> None:
        super().__init__()
        self.scripts["complete_multipart_upload"] = list(complete)

    async def create_multipart_upload(self, **kwargs: Any) -> Mapping[str, Any]:
        self.calls.append(("create_multipart_upload", kwargs))
        return {"UploadId": f"upload-{len(self.calls_to('create_multipart_upload'))}"}

    async def upload_part(self, **kwargs: Any) -> Mapping[str, Any]:
        self.calls.append(("upload_part", kwargs))
        return {"ETag": f"etag-{kwargs['PartNumber']}"}

    async def complete_multipart_upload(self, **kwargs: Any) -> Mapping[str, Any]:
        return await self._answer("complete_multipart_upload", kwargs)

    async def abort_multipart_upload(self, **kwargs: Any) -> Mapping[str, Any]:
        self.calls.append(("abort_multipart_upload", kwargs))
        return {}


def _stream_backend(client: MultipartFake) -> S3Backend:
    return backend_on(client, multipart_threshold=5 * _MIB, part_size=5 * _MIB)


async def test_stream_above_the_threshold_completes_with_if_none_match_and_a_nonce() -> None:
    client = MultipartFake(complete=[{}])
    async with _stream_backend(client) as backend:
        await backend.store_stream(mint_opaque_id(), [b"a" * 3 * _MIB] * 4)
    [create] = client.calls_to("create_multipart_upload")
    assert set(create["Metadata"]) == {"eden-write-nonce"}
    sizes = [len(call["Body"]) for call in client.calls_to("upload_part")]
    assert sizes == [5 * _MIB, 5 * _MIB, 2 * _MIB]
    [complete] = client.calls_to("complete_multipart_upload")
    assert complete["IfNoneMatch"] == "*"
    assert [p["PartNumber"] for p in complete["MultipartUpload"]["Parts"]] == [1, 2, 3]
    assert client.calls_to("abort_multipart_upload") == []
    assert client.calls_to("put_object") == []


async def test_a_409_at_complete_restarts_the_whole_upload_for_a_list() -> None:
    client = MultipartFake(complete=[client_error("ConditionalRequestConflict", 409), {}])
    async with _stream_backend(client) as backend:
        await backend.store_stream(mint_opaque_id(), [b"a" * 3 * _MIB] * 2)
    assert len(client.calls_to("create_multipart_upload")) == 2
    assert len(client.calls_to("upload_part")) == 4
    [abort] = client.calls_to("abort_multipart_upload")
    assert abort["UploadId"] == "upload-1"


async def test_a_409_at_complete_for_a_one_shot_iterable_is_a_clear_error() -> None:
    client = MultipartFake(complete=[client_error("ConditionalRequestConflict", 409), {}])
    async with _stream_backend(client) as backend:
        with pytest.raises(ConflictRetriesExhausted, match="cannot be sent again"):
            await backend.store_stream(mint_opaque_id(), iter([b"a" * 3 * _MIB] * 2))
    assert len(client.calls_to("create_multipart_upload")) == 1
    assert len(client.calls_to("abort_multipart_upload")) == 1


async def test_a_409_at_complete_past_the_bound_raises_conflict_retries_exhausted() -> None:
    client = MultipartFake(complete=[client_error("ConditionalRequestConflict", 409)] * 4)
    async with _stream_backend(client) as backend:
        with pytest.raises(ConflictRetriesExhausted):
            await backend.store_stream(mint_opaque_id(), [b"a" * 6 * _MIB])
    assert len(client.calls_to("create_multipart_upload")) == 4
    assert len(client.calls_to("abort_multipart_upload")) == 4


async def test_a_412_at_complete_is_already_exists_and_the_upload_is_aborted() -> None:
    client = MultipartFake(complete=[client_error("PreconditionFailed", 412)])
    client.scripts["head_object"] = [
        {"Metadata": {"eden-write-nonce": "someone-else"}, "ContentLength": 6 * _MIB}
    ]
    async with _stream_backend(client) as backend:
        with pytest.raises(AlreadyExists):
            await backend.store_stream(mint_opaque_id(), [b"a" * 6 * _MIB])
    assert len(client.calls_to("abort_multipart_upload")) == 1


async def test_a_412_at_complete_on_our_own_nonce_is_success() -> None:
    # A Complete whose reply was lost and which botocore re-sent: the first landed.
    def ours(fake: FakeS3Client) -> Mapping[str, Any]:
        sent = fake.calls_to("create_multipart_upload")[0]["Metadata"]["eden-write-nonce"]
        return {"Metadata": {"eden-write-nonce": sent}, "ContentLength": 6 * _MIB}

    client = MultipartFake(complete=[client_error("PreconditionFailed", 412)])
    client.scripts["head_object"] = [ours]
    async with _stream_backend(client) as backend:
        await backend.store_stream(mint_opaque_id(), [b"a" * 6 * _MIB])


@pytest.mark.parametrize("size", [4 * _MIB, 5 * _MIB])
async def test_a_stream_at_or_under_the_threshold_is_one_put_object(size: int) -> None:
    client = MultipartFake(complete=[])
    client.scripts["put_object"] = [{}]
    async with _stream_backend(client) as backend:
        await backend.store_stream(mint_opaque_id(), [b"a" * size])
    [put] = client.calls_to("put_object")
    assert len(put["Body"]) == size
    assert put["IfNoneMatch"] == "*"
    assert client.calls_to("create_multipart_upload") == []


@pytest.mark.parametrize(
    "kwargs", [{"part_size": 5 * _MIB - 1}, {"multipart_threshold": -1}], ids=repr
)
def test_bad_stream_settings_raise_config_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        S3Backend(bucket="b", **kwargs)


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


# --- integrity: CRC32C on every store, checked on every load ------------------


def _crc(data: bytes) -> str:
    return crc32c_b64(data)


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


def _get(body: bytes, **fields: Any) -> dict[str, Any]:
    return {"Body": FakeBody(body), "ContentLength": len(body), **fields}


@pytest.mark.parametrize(
    "fields",
    [
        {"ChecksumCRC32C": _crc(b"payload")},
        {"Metadata": {"eden-crc32c": _crc(b"payload")}},
        {"ChecksumCRC32C": _crc(b"payload"), "Metadata": {"eden-crc32c": _crc(b"payload")}},
    ],
    ids=["service", "metadata-only", "both"],
)
async def test_a_corrupt_body_is_integrity_error_and_never_returned(
    fields: dict[str, Any],
) -> None:
    client = FakeS3Client(get=[_get(b"pAyload", **fields) for _ in range(4)])
    async with backend_on(client) as backend:
        with pytest.raises(IntegrityError, match="CRC32C mismatch") as caught:
            await backend.load(mint_opaque_id())
    assert "pAyload" not in str(caught.value)
    assert len(client.calls_to("get_object")) == 4
    assert client.calls_to("get_object")[0]["ChecksumMode"] == "ENABLED"


async def test_a_body_damaged_once_on_the_way_is_read_again() -> None:
    fields = {"ChecksumCRC32C": _crc(b"payload")}
    client = FakeS3Client(get=[_get(b"pAyload", **fields), _get(b"payload", **fields)])
    async with backend_on(client) as backend:
        assert await backend.load(mint_opaque_id()) == b"payload"


async def test_service_and_metadata_checksums_must_both_match() -> None:
    # The service vouches for what it holds, our metadata for what we sent.
    fields = {"ChecksumCRC32C": _crc(b"payload"), "Metadata": {"eden-crc32c": _crc(b"other")}}
    client = FakeS3Client(get=[_get(b"payload", **fields) for _ in range(4)])
    async with backend_on(client) as backend:
        with pytest.raises(IntegrityError):
            await backend.load(mint_opaque_id())


@pytest.mark.parametrize(
    "fields", [{}, {"ChecksumCRC32C": "AAAAAA==-3"}], ids=["no-checksum", "composite-only"]
)
async def test_an_object_without_a_whole_crc32c_loads_unverified(fields: dict[str, Any]) -> None:
    client = FakeS3Client(get=[_get(b"written by another tool", **fields)])
    async with backend_on(client) as backend:
        assert await backend.load(mint_opaque_id()) == b"written by another tool"


async def test_a_checksum_botocore_checked_itself_is_integrity_error() -> None:
    from botocore.exceptions import FlexibleChecksumError

    error = FlexibleChecksumError(error_msg="Expected checksum x did not match")
    client = FakeS3Client(get=[error] * 4)
    async with backend_on(client) as backend:
        with pytest.raises(IntegrityError) as caught:
            await backend.load(mint_opaque_id())
    assert caught.value.__cause__ is error


async def _read_stream(backend: S3Backend, chunks: list[bytes]) -> None:
    async with backend.load_stream(mint_opaque_id()) as stream:
        async for chunk in stream:
            chunks.append(chunk)


async def test_load_stream_hands_bytes_out_and_raises_at_the_end_on_a_mismatch() -> None:
    payload = os.urandom(3 * _MIB + 7)
    damaged = payload[:-1] + bytes([payload[-1] ^ 1])
    client = FakeS3Client(get=[_get(damaged, ChecksumCRC32C=_crc(payload))])
    chunks: list[bytes] = []
    async with backend_on(client) as backend:
        with pytest.raises(IntegrityError):
            await _read_stream(backend, chunks)
    # Streamed bytes cannot be taken back: all arrived, and the error came at the end.
    assert b"".join(chunks) == damaged
    assert len(chunks) == 4


@pytest.mark.parametrize("where", ["service", "metadata"])
async def test_load_stream_of_intact_bytes_ends_normally(where: str) -> None:
    payload = os.urandom(2 * _MIB + 1)
    fields: dict[str, Any] = (
        {"ChecksumCRC32C": _crc(payload)}
        if where == "service"
        else {"Metadata": {"eden-crc32c": _crc(payload)}}
    )
    client = FakeS3Client(get=[_get(payload, **fields)])
    chunks: list[bytes] = []
    async with backend_on(client) as backend:
        await _read_stream(backend, chunks)
    assert b"".join(chunks) == payload


async def test_load_stream_retries_the_request_but_not_the_body() -> None:
    client = FakeS3Client(
        get=[client_error("SlowDown", 503, operation="GetObject"), _get(b"x", Metadata={})]
    )
    chunks: list[bytes] = []
    async with backend_on(client) as backend:
        await _read_stream(backend, chunks)
    assert chunks == [b"x"]


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


# --- multipart: per-part CRC32C and a FULL_OBJECT whole --------------------------


async def test_multipart_parts_carry_their_crc32c_and_complete_the_whole() -> None:
    payload = os.urandom(12 * _MIB)
    client = MultipartFake(complete=[{}])
    async with _stream_backend(client) as backend:
        await backend.store_stream(
            mint_opaque_id(), [payload[i : i + _MIB] for i in range(0, 12 * _MIB, _MIB)]
        )
    [create] = client.calls_to("create_multipart_upload")
    assert (create["ChecksumAlgorithm"], create["ChecksumType"]) == ("CRC32C", "FULL_OBJECT")
    parts = client.calls_to("upload_part")
    assert [p["ChecksumCRC32C"] for p in parts] == [_crc(p["Body"]) for p in parts]
    assert b"".join(p["Body"] for p in parts) == payload
    [complete] = client.calls_to("complete_multipart_upload")
    assert complete["ChecksumCRC32C"] == _crc(payload)
    assert complete["ChecksumType"] == "FULL_OBJECT"
    listed = complete["MultipartUpload"]["Parts"]
    assert [p["ChecksumCRC32C"] for p in listed] == [p["ChecksumCRC32C"] for p in parts]


async def test_a_412_at_complete_compares_the_whole_crc32c() -> None:
    def ours_but_damaged(fake: FakeS3Client) -> Mapping[str, Any]:
        sent = fake.calls_to("create_multipart_upload")[0]["Metadata"]
        return {"Metadata": sent, "ContentLength": 6 * _MIB, "ChecksumCRC32C": _crc(b"no")}

    client = MultipartFake(complete=[client_error("PreconditionFailed", 412)])
    client.scripts["head_object"] = [ours_but_damaged]
    async with _stream_backend(client) as backend:
        with pytest.raises(IntegrityError):
            await backend.store_stream(mint_opaque_id(), [b"a" * 6 * _MIB])


async def test_a_part_damaged_on_the_way_is_sent_again() -> None:
    class Flaky(MultipartFake):
        async def upload_part(self, **kwargs: Any) -> Mapping[str, Any]:
            if not self.calls_to("upload_part"):
                self.calls.append(("upload_part", kwargs))
                raise client_error("BadDigest", 400, operation="UploadPart")
            return await super().upload_part(**kwargs)

    client = Flaky(complete=[{}])
    async with _stream_backend(client) as backend:
        await backend.store_stream(mint_opaque_id(), [b"a" * 6 * _MIB])
    first, second, _ = client.calls_to("upload_part")
    assert first == second


# --- timeouts and retries -----------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"connect_timeout": 0},
        {"connect_timeout": -1.0},
        {"read_timeout": float("inf")},
        {"read_timeout": float("nan")},
        {"read_timeout": "30"},
        {"connect_timeout": True},
        {"retry": {"attempts": 3}},
    ],
    ids=repr,
)
def test_bad_timeouts_and_retry_raise_config_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        S3Backend(bucket="b", **kwargs)


async def test_timeouts_reach_the_client_and_botocore_retries_are_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_test_credentials(monkeypatch)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "9")  # must not bring botocore's retries back
    async with S3Backend(
        bucket="eden-unit", endpoint_url="http://127.0.0.1:9", connect_timeout=1.5, read_timeout=7
    ) as backend:
        client: Any = await backend._get_client()
        config = client.meta.config
        assert (config.connect_timeout, config.read_timeout) == (1.5, 7.0)
        assert config.retries["total_max_attempts"] == 1


async def test_the_default_timeouts_are_finite() -> None:
    from eden_storage_async._s3.config import (
        DEFAULT_CONNECT_TIMEOUT_S,
        DEFAULT_READ_TIMEOUT_S,
        DEFAULT_RETRY,
    )

    assert 0 < DEFAULT_CONNECT_TIMEOUT_S <= 10
    assert 0 < DEFAULT_READ_TIMEOUT_S <= 60
    assert DEFAULT_RETRY.deadline_s is not None


async def test_the_deadline_bounds_the_retries() -> None:
    client = FakeS3Client(put=[client_error("SlowDown", 503)] * 1000)
    retry = Backoff(attempts=1000, base_s=0.05, cap_s=0.05, deadline_s=0.3)
    started = time.monotonic()
    async with backend_on(client, retry=retry) as backend:
        with pytest.raises(ServiceUnavailable):
            await backend.store(mint_opaque_id(), b"data")
    assert time.monotonic() - started < 1.0
    assert 2 <= len(client.calls_to("put_object")) < 100


async def test_botocore_never_checks_crc32c_itself_on_our_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With awscrt installed, botocore would checksum a GetObject body as CRC32C
    too: twice the work, on the loop. Other algorithms stay with botocore."""
    use_test_credentials(monkeypatch)
    async with S3Backend(bucket="eden-unit", endpoint_url="http://127.0.0.1:9") as backend:
        client: Any = await backend._get_client()
        # What botocore's resolve_checksum_context leaves for a GetObject with
        # ChecksumMode="ENABLED" when awscrt is installed, sent through the
        # event our client emits right after it.
        context: dict[str, Any] = {"checksum": {"response_algorithms": ["crc32c", "crc32"]}}
        request = {"headers": {}, "body": b"", "url": "http://127.0.0.1:9/eden-unit/k",
                   "method": "GET", "url_path": "/eden-unit/k", "query_string": {},
                   "context": context}  # fmt: skip
        await client.meta.events.emit(
            "before-call.s3.GetObject",
            model=client.meta.service_model.operation_model("GetObject"),
            params=request,
            request_signer=None,
            context=context,
        )
    assert context["checksum"]["response_algorithms"] == ["crc32"]
