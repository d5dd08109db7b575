"""``S3Backend`` error paths a real server cannot produce, on scripted fakes.

The fakes raise real ``botocore.exceptions.ClientError``s built from the same
error-response dicts botocore's parser makes (``Error`` plus ``ResponseMetadata``
with ``HTTPStatusCode`` and ``RetryAttempts``), so the mapping under test is
the one a real reply goes through.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
)
from botocore.validate import ParamValidationDecorator

from eden_storage_async import (
    AccessDenied,
    AlreadyExists,
    BackendError,
    BucketNotFound,
    ConfigError,
    ConflictRetriesExhausted,
    MissingDependency,
    NotFound,
    PreconditionNotSupported,
    S3Backend,
    ServiceUnavailable,
    mint_opaque_id,
)
from eden_storage_async._retry import Backoff

from .s3_support import use_test_credentials

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
    """A GetObject body that records whether it was closed."""

    def __init__(self, data: bytes | BaseException) -> None:
        self._data = data
        self.closed = False

    async def __aenter__(self) -> FakeBody:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.closed = True

    async def read(self) -> bytes:
        if isinstance(self._data, BaseException):
            raise self._data
        return self._data


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
    assert client.calls_to("head_object") == [{"Bucket": "eden-unit", "Key": f"p/{opaque_id}"}]


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
    ("error", "expected"),
    [
        (client_error("AccessDenied", 403), AccessDenied),
        (client_error("SignatureDoesNotMatch", 403), AccessDenied),
        (client_error("InternalError", 500), ServiceUnavailable),
        (client_error("SlowDown", 503), ServiceUnavailable),
        (client_error("NoSuchBucket", 404), BucketNotFound),
        (client_error("InvalidArgument", 400), BackendError),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), ServiceUnavailable),
    ],
    ids=["403", "403-signature", "500", "503-slowdown", "no-such-bucket", "400", "connect"],
)
async def test_other_store_failures_are_neither_exists_nor_absent(
    error: BaseException, expected: type[BackendError]
) -> None:
    client = FakeS3Client(put=[error])
    async with backend_on(client) as backend:
        with pytest.raises(expected) as caught:
            await backend.store(mint_opaque_id(), b"data")
    assert type(caught.value) is expected
    assert not isinstance(caught.value, FileExistsError | NotFound)
    assert caught.value.__cause__ is error
    assert len(client.calls_to("put_object")) == 1


# --- load -------------------------------------------------------------------


async def test_load_reads_the_body_inside_a_context_that_closes_it() -> None:
    body = FakeBody(b"payload")
    client = FakeS3Client(get=[{"Body": body}])
    async with backend_on(client) as backend:
        assert await backend.load(mint_opaque_id()) == b"payload"
    assert body.closed


async def test_load_closes_the_body_when_the_read_fails() -> None:
    from botocore.exceptions import ResponseStreamingError

    body = FakeBody(ResponseStreamingError(error="reset"))
    client = FakeS3Client(get=[{"Body": body}])
    async with backend_on(client) as backend:
        with pytest.raises(ServiceUnavailable):
            await backend.load(mint_opaque_id())
    assert body.closed


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
    client = FakeS3Client(get=[error])
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
        "S3Backend(bucket='eden-unit', prefix='p', endpoint_url='http://127.0.0.1:9', region=None)"
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
