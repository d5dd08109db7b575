"""``S3Backend``'s construction and the client it builds, on scripted fakes
(``helpers.py``) and on a client pointed at a refused port: settings checked up
front, the client's pool, region, checksum settings and timeouts with botocore's own
retries off, the deadline on our retries, lifecycle and key layout, and no secret in
a repr or an error."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import pytest
from botocore.exceptions import CredentialRetrievalError, NoCredentialsError
from botocore.validate import ParamValidationDecorator

from eden_storage_async import (
    BackendError,
    ConfigError,
    MissingDependency,
    S3Backend,
    ServiceUnavailable,
    mint_opaque_id,
)
from eden_storage_async._core.retry import Backoff

from ..support.s3 import use_test_credentials
from .helpers import FakeS3Client, backend_on, client_error

_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRETzz"


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
