"""``GcsBackend`` error paths no real server produces on demand, against ``ScriptedGcs``.

The scripted fake answers on 127.0.0.1 like the GCS JSON API, with a fault
queued per call: a status, a lost reply (the write is done, the connection is
dropped before the answer), a racer that creates the object first, a stall.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from eden_storage_async import (
    AccessDenied,
    AlreadyExists,
    BackendError,
    BucketNotFound,
    ConfigError,
    GcsBackend,
    IntegrityError,
    MissingDependency,
    NotFound,
    ServiceUnavailable,
    mint_opaque_id,
)
from eden_storage_async._core.retry import Backoff
from eden_storage_async._gcs.client import Timeouts
from eden_storage_async._gcs.errors import is_transient
from eden_storage_async._gcs.lean import as_aiohttp
from eden_storage_async._http.client import (
    BodyError,
    ConnectFailed,
    ConnectionClosed,
    ConnectTimeout,
    ReadTimeout,
    TlsFailed,
    TransportError,
)

from ..support.gcs import ScriptedGcs, write_service_account_key

_FAST = Backoff(attempts=3, base_s=0)
_SMALL_THRESHOLD = 1024


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedGcs]:
    async with ScriptedGcs() as server:
        yield server


def _backend(server: ScriptedGcs, **kwargs: Any) -> GcsBackend:
    kwargs.setdefault("retry", _FAST)
    return GcsBackend(
        bucket=server.bucket, prefix="unit", endpoint_url=server.endpoint_url, **kwargs
    )


# --- load: absent object, missing bucket, refused bucket check, outages -------


async def test_bucket_check_refused_with_403_falls_back_to_not_found(
    scripted: ScriptedGcs,
) -> None:
    scripted.script("bucket", 403)
    async with _backend(scripted) as backend:
        with pytest.raises(NotFound):
            await backend.load(mint_opaque_id())
    assert scripted.count("bucket") == 1


async def test_missing_bucket_is_bucket_not_found_not_not_found(scripted: ScriptedGcs) -> None:
    scripted.bucket_exists = False
    async with _backend(scripted) as backend:
        with pytest.raises(BucketNotFound) as loading:
            await backend.load(mint_opaque_id())
        assert not isinstance(loading.value, NotFound)
        with pytest.raises(BucketNotFound):
            await backend.store(mint_opaque_id(), b"data")


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_transient_errors_on_load_become_service_unavailable(
    scripted: ScriptedGcs, status: int
) -> None:
    opaque_id = mint_opaque_id()
    scripted.put_object(f"unit/{opaque_id}", b"there")
    scripted.script("download", status, status, status)
    async with _backend(scripted) as backend:
        with pytest.raises(ServiceUnavailable) as loading:
            await backend.load(opaque_id)
    assert not isinstance(loading.value, NotFound)
    assert scripted.count("download") == _FAST.attempts
    assert f"HTTP {status}" in str(loading.value)


async def test_5xx_on_the_bucket_check_is_service_unavailable_not_not_found(
    scripted: ScriptedGcs,
) -> None:
    scripted.script("bucket", 503, 503, 503)
    async with _backend(scripted) as backend:
        with pytest.raises(ServiceUnavailable):
            await backend.load(mint_opaque_id())


async def test_a_transient_failure_is_retried_and_then_succeeds(scripted: ScriptedGcs) -> None:
    opaque_id = mint_opaque_id()
    scripted.script("multipart", 503)
    scripted.script("download", 500)
    async with _backend(scripted) as backend:
        await backend.store(opaque_id, b"data")
        assert await backend.load(opaque_id) == b"data"
    assert (scripted.count("multipart"), scripted.count("download")) == (2, 2)


async def test_a_stall_past_the_timeout_is_service_unavailable(scripted: ScriptedGcs) -> None:
    scripted.script("download", ("stall", 1.0), ("stall", 1.0), ("stall", 1.0))
    async with _backend(scripted, timeout=0.2) as backend:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable, match="timed out"):
            await backend.load(mint_opaque_id())
    assert time.monotonic() - started < 2.5


# --- store: refusals and failures ----------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_on_store_are_access_denied(
    scripted: ScriptedGcs, status: int
) -> None:
    scripted.script("multipart", status)
    async with _backend(scripted) as backend:
        with pytest.raises(AccessDenied):
            await backend.store(mint_opaque_id(), b"data")
    assert scripted.count("multipart") == 1  # not retried


async def test_5xx_on_store_is_service_unavailable_after_retries(scripted: ScriptedGcs) -> None:
    scripted.script("multipart", 500, 503, 500)
    async with _backend(scripted) as backend:
        with pytest.raises(ServiceUnavailable):
            await backend.store(mint_opaque_id(), b"data")
    assert scripted.count("multipart") == _FAST.attempts


async def test_other_client_errors_are_backend_errors_and_not_retried(
    scripted: ScriptedGcs,
) -> None:
    scripted.script("multipart", 400)
    async with _backend(scripted) as backend:
        with pytest.raises(BackendError) as storing:
            await backend.store(mint_opaque_id(), b"data")
    assert type(storing.value) is BackendError
    assert scripted.count("multipart") == 1


# --- store: 412, ours or not ----------------------------------------------------


async def test_412_for_another_writers_object_is_already_exists(scripted: ScriptedGcs) -> None:
    opaque_id = mint_opaque_id()
    scripted.put_object(f"unit/{opaque_id}", b"theirs", nonce="someone-else")
    async with _backend(scripted) as backend:
        with pytest.raises(AlreadyExists):
            await backend.store(opaque_id, b"ours")
    assert scripted.objects[f"unit/{opaque_id}"].data == b"theirs"
    assert scripted.count("metadata") == 1


async def test_412_at_the_resumable_final_put_surfaces_at_once(scripted: ScriptedGcs) -> None:
    # A racer creates the object between our initiation and our PUT: real GCS
    # answers the PUT with 412. gcloud-aio-storage would retry that PUT 5
    # times, sleeping 1+2+4+8 s; the backend sends it once.
    opaque_id = mint_opaque_id()
    scripted.script("put", "racer")
    async with _backend(scripted, resumable_threshold=_SMALL_THRESHOLD) as backend:
        started = time.monotonic()
        with pytest.raises(AlreadyExists):
            await backend.store(opaque_id, b"x" * (_SMALL_THRESHOLD + 1))
        elapsed = time.monotonic() - started
    assert scripted.count("put") == 1
    assert elapsed < 1.0
    assert scripted.objects[f"unit/{opaque_id}"].data == b"racer's bytes"


async def test_412_at_resumable_initiation_is_already_exists(scripted: ScriptedGcs) -> None:
    opaque_id = mint_opaque_id()
    scripted.put_object(f"unit/{opaque_id}", b"theirs")
    async with _backend(scripted, resumable_threshold=_SMALL_THRESHOLD) as backend:
        with pytest.raises(AlreadyExists):
            await backend.store(opaque_id, b"x" * (_SMALL_THRESHOLD + 1))
    assert scripted.calls[0][1]["ifGenerationMatch"] == "0"
    assert scripted.count("put") == 0


async def test_lost_reply_to_our_own_multipart_write_is_success(scripted: ScriptedGcs) -> None:
    opaque_id = mint_opaque_id()
    scripted.script("multipart", "lost-reply")
    async with _backend(scripted) as backend:
        await backend.store(opaque_id, b"ours")
        assert await backend.load(opaque_id) == b"ours"
    # The retry met our own object (412), and its nonce said so.
    assert scripted.count("multipart") == 2
    assert scripted.count("metadata") == 1


async def test_lost_reply_to_our_own_resumable_write_is_success(scripted: ScriptedGcs) -> None:
    opaque_id = mint_opaque_id()
    payload = b"y" * (_SMALL_THRESHOLD + 1)
    scripted.script("put", "lost-reply")
    async with _backend(scripted, resumable_threshold=_SMALL_THRESHOLD) as backend:
        await backend.store(opaque_id, payload)
        assert await backend.load(opaque_id) == payload
    assert (scripted.count("initiate"), scripted.count("put")) == (2, 1)
    assert scripted.count("metadata") == 1


async def test_412_whose_owner_cannot_be_read_is_access_denied(scripted: ScriptedGcs) -> None:
    opaque_id = mint_opaque_id()
    scripted.put_object(f"unit/{opaque_id}", b"theirs")
    scripted.script("metadata", 403)
    async with _backend(scripted) as backend:
        with pytest.raises(AccessDenied, match="got 412"):
            await backend.store(opaque_id, b"ours")


async def test_cancelled_store_returns_only_once_its_request_is_answered(
    scripted: ScriptedGcs,
) -> None:
    opaque_id = mint_opaque_id()
    scripted.script("multipart", ("stall", 0.3))
    async with _backend(scripted) as backend:
        task = asyncio.create_task(backend.store(opaque_id, b"data"))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The server committed while the cancel waited: nothing appears later.
        assert f"unit/{opaque_id}" in scripted.objects
        assert await backend.load(opaque_id) == b"data"


# --- lifecycle, configuration, secrets -----------------------------------------


async def test_injected_session_is_used_and_not_closed(scripted: ScriptedGcs) -> None:
    sent: list[str] = []

    async def on_request_start(
        session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestStartParams
    ) -> None:
        sent.append(params.method)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        async with _backend(scripted, session=session) as backend:
            opaque_id = mint_opaque_id()
            await backend.store(opaque_id, b"data")
            assert await backend.load(opaque_id) == b"data"
        assert not session.closed
        assert sent == ["POST", "GET"]


async def test_owned_session_is_sized_and_closed(scripted: ScriptedGcs) -> None:
    backend = _backend(scripted, max_concurrency=7)
    await backend.store(mint_opaque_id(), b"data")
    client = backend._client
    assert client is not None
    session = client._session
    assert isinstance(session.connector, aiohttp.TCPConnector)
    assert session.connector.limit == 7
    await backend.aclose()
    assert session.closed


async def test_first_uses_at_once_build_one_client(
    scripted: ScriptedGcs, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eden_storage_async._gcs import client as _gcs_client

    built: list[object] = []
    original = _gcs_client.open_client

    async def counting(**kwargs: Any) -> _gcs_client.GcsClient:
        built.append(kwargs)
        await asyncio.sleep(0.01)
        return await original(**kwargs)

    monkeypatch.setattr(_gcs_client, "open_client", counting)
    async with _backend(scripted) as backend:
        await asyncio.gather(*(backend.store(mint_opaque_id(), b"x") for _ in range(10)))
    assert len(built) == 1


def test_construction_needs_no_running_loop() -> None:
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    backend = GcsBackend(bucket="some-bucket", endpoint_url="http://127.0.0.1:9")
    assert backend._client is None


def test_repr_shows_bucket_prefix_and_endpoint_only() -> None:
    backend = GcsBackend(
        bucket="some-bucket", prefix="/runs/", endpoint_url="http://user:hunter2@127.0.0.1:9/"
    )
    assert repr(backend) == (
        "GcsBackend(bucket='some-bucket', prefix='runs', endpoint='http://127.0.0.1:9')"
    )


def test_repr_without_endpoint_names_the_real_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    assert "endpoint='https://storage.googleapis.com'" in repr(GcsBackend(bucket="some-bucket"))


def test_missing_sdk_names_the_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gcloud.aio.storage", None)
    with pytest.raises(MissingDependency, match=r"pip install 'eden-storage-async\[gcs\]'") as info:
        GcsBackend(bucket="some-bucket")
    assert isinstance(info.value, ImportError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bucket": "Upper"},
        {"bucket": "a"},
        {"bucket": "bad/name"},
        {"bucket": "ok-bucket", "prefix": "a//b"},
        {"bucket": "ok-bucket", "prefix": "a/../b"},
        {"bucket": "ok-bucket", "prefix": "line\nbreak"},
        {"bucket": "ok-bucket", "timeout": 0},
        {"bucket": "ok-bucket", "min_throughput": -1},
        {"bucket": "ok-bucket", "max_concurrency": 0},
        {"bucket": "ok-bucket", "endpoint_url": "ftp://127.0.0.1"},
    ],
    ids=repr,
)
def test_bad_settings_are_config_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        GcsBackend(**kwargs)


def test_upload_timeout_grows_with_the_body_and_download_has_no_total() -> None:
    timeouts = Timeouts(idle_s=30.0, min_bytes_per_s=1024 * 1024)
    big = timeouts.upload(1024**3)
    assert big.total == 30.0 + 1024
    assert (big.sock_connect, big.sock_read) == (30.0, 30.0)
    download = timeouts.download()
    assert download.total is None
    assert download.sock_read == 30.0


class _FakeToken:
    """Stands in for gcloud-aio-auth's Token; the backend must never show its value."""

    value = "ya29.NEVER-SHOW-THIS-TOKEN"

    def __init__(self, **kwargs: Any) -> None:
        self.access_token: str | None = None
        self.acquiring: asyncio.Task[None] | None = None

    async def get(self) -> str:
        self.access_token = self.value
        return self.value


@pytest.mark.parametrize(
    ("op", "status", "size", "error"),
    [
        ("multipart", 403, 10, AccessDenied),
        ("initiate", 403, _SMALL_THRESHOLD + 1, AccessDenied),
        ("multipart", 503, 10, ServiceUnavailable),
    ],
)
async def test_the_token_never_appears_in_errors_or_logs(
    scripted: ScriptedGcs,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    op: Any,
    status: int,
    size: int,
    error: type[Exception],
) -> None:
    from eden_storage_async._gcs import backend as _gcs
    from eden_storage_async._gcs import client as _gcs_client

    # Real-service mode (a token is sent), aimed at the scripted fake, which
    # echoes the Authorization header back in its error bodies.
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setattr(_gcs, "DEFAULT_ENDPOINT", scripted.endpoint_url)
    monkeypatch.setattr(_gcs_client, "_Token", _FakeToken)
    scripted.echo_credentials = True
    scripted.script(op, status, status, status)
    caplog.set_level(logging.DEBUG)
    async with GcsBackend(
        bucket=scripted.bucket, retry=_FAST, resumable_threshold=_SMALL_THRESHOLD
    ) as backend:
        with pytest.raises(error) as raised:
            await backend.store(mint_opaque_id(), b"z" * size)
    assert scripted.authorization[0] == f"Bearer {_FakeToken.value}"  # it was sent
    err = raised.value
    cause = err.__cause__
    assert isinstance(cause, aiohttp.ClientResponseError)
    assert "Authorization" not in cause.request_info.headers
    shown = [
        str(err),
        repr(err),
        str(cause),
        repr(cause),
        "".join(traceback.format_exception(err)),
        caplog.text,
        repr(backend),
    ]
    for text in shown:
        assert "NEVER-SHOW-THIS-TOKEN" not in text
    assert err.__context__ is None or err.__context__ is cause


async def test_default_chain_token_is_sent_with_read_write_scope_and_never_shown(
    scripted: ScriptedGcs,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """The real gcloud-aio-auth flow: GOOGLE_APPLICATION_CREDENTIALS names a
    service-account key whose token_uri is the scripted fake."""
    from eden_storage_async._gcs import backend as _gcs

    key = write_service_account_key(tmp_path, f"{scripted.endpoint_url}/token")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setattr(_gcs, "DEFAULT_ENDPOINT", scripted.endpoint_url)
    scripted.echo_credentials = True
    caplog.set_level(logging.DEBUG)
    opaque_id = mint_opaque_id()
    async with GcsBackend(bucket=scripted.bucket, retry=_FAST) as backend:
        await backend.store(opaque_id, b"data")
        assert await backend.load(opaque_id) == b"data"
        scripted.script("download", 403)
        with pytest.raises(AccessDenied) as raised:
            await backend.load(opaque_id)
    assert scripted.token_scopes == ["https://www.googleapis.com/auth/devstorage.read_write"]
    assert set(scripted.authorization) == {f"Bearer {scripted.token_value}"}
    private_key = json.loads(key.read_text())["private_key"].splitlines()[1]
    err = raised.value
    shown = [str(err), repr(err), repr(err.__cause__), caplog.text, repr(backend)]
    shown.append("".join(traceback.format_exception(err)))
    for text in shown:
        assert scripted.token_value not in text
        assert private_key not in text


# --- store_stream's resumable path: the 412s the emulator cannot produce ----


async def test_412_at_streamed_resumable_initiation_is_already_exists(
    scripted: ScriptedGcs,
) -> None:
    opaque_id = mint_opaque_id()
    scripted.put_object(f"unit/{opaque_id}", b"theirs")
    touched_after_head = False

    def chunks() -> Iterator[bytes]:
        nonlocal touched_after_head
        yield b"x" * (_SMALL_THRESHOLD + 1)
        touched_after_head = True
        yield b"more"

    async with _backend(scripted, resumable_threshold=_SMALL_THRESHOLD) as backend:
        with pytest.raises(AlreadyExists):
            await backend.store_stream(opaque_id, chunks())
        assert await backend.load(opaque_id) == b"theirs"
    assert scripted.calls[0][1]["ifGenerationMatch"] == "0"
    assert scripted.count("put") == 0
    assert not touched_after_head


async def test_412_at_the_streamed_final_piece_for_a_racers_object_is_already_exists(
    scripted: ScriptedGcs,
) -> None:
    opaque_id = mint_opaque_id()
    scripted.script("put", "racer")
    async with _backend(scripted, resumable_threshold=_SMALL_THRESHOLD) as backend:
        with pytest.raises(AlreadyExists):
            await backend.store_stream(opaque_id, [b"y" * (_SMALL_THRESHOLD + 1)])
        assert await backend.load(opaque_id) == b"racer's bytes"
    assert scripted.count("metadata") == 1


# --- integrity: CRC32C sent on every upload, verified on every load -----------


def _resuming(server: ScriptedGcs, **kwargs: Any) -> GcsBackend:
    """A backend streaming in 256 KiB pieces that resumes failed pieces, as it
    does against real GCS (the scripted fake is reached as an emulator would be)."""
    backend = _backend(server, resumable_threshold=_SMALL_THRESHOLD, **kwargs)
    backend._stream_piece = _PIECE
    backend._resume_streams = True
    return backend


_PIECE = 256 * 1024


@pytest.mark.parametrize(
    ("op", "size"),
    [("multipart", 10), ("put", _SMALL_THRESHOLD + 1)],
    ids=["multipart", "resumable"],
)
async def test_a_body_refused_for_its_crc32c_is_integrity_error_and_nothing_is_stored(
    scripted: ScriptedGcs, op: Any, size: int
) -> None:
    opaque_id = mint_opaque_id()
    scripted.script(op, "corrupt")
    async with _backend(scripted, resumable_threshold=_SMALL_THRESHOLD) as backend:
        with pytest.raises(IntegrityError, match="CRC32C") as storing:
            await backend.store(opaque_id, b"s" * size)
        with pytest.raises(NotFound):
            await backend.load(opaque_id)
    assert isinstance(storing.value.__cause__, aiohttp.ClientResponseError)
    assert storing.value.__cause__.status == 400
    assert scripted.count(op) == 1  # not retried


async def test_a_streamed_body_refused_at_its_final_piece_is_integrity_error(
    scripted: ScriptedGcs,
) -> None:
    opaque_id = mint_opaque_id()
    scripted.script("put", None, "corrupt")
    async with _resuming(scripted) as backend:
        with pytest.raises(IntegrityError, match="CRC32C"):
            await backend.store_stream(opaque_id, [b"a" * _PIECE, b"b" * 1000])
        with pytest.raises(NotFound):
            await backend.load(opaque_id)


async def test_a_server_that_stores_corrupt_bytes_unchecked_is_caught_at_store(
    scripted: ScriptedGcs,
) -> None:
    # fake-gcs-server v1.54.0 ignores the crc32c it is sent; the checksum it
    # reports for what it stored still tells.
    scripted.verify_crc32c = False
    scripted.script("multipart", "corrupt")
    async with _backend(scripted) as backend:
        with pytest.raises(IntegrityError, match="stored copy is corrupt"):
            await backend.store(mint_opaque_id(), b"sent intact")


async def test_a_corrupt_download_is_integrity_error_and_no_bytes_come_back(
    scripted: ScriptedGcs,
) -> None:
    opaque_id = mint_opaque_id()
    async with _backend(scripted) as backend:
        await backend.store(opaque_id, b"the original bytes")
        scripted.script("download", "corrupt", "corrupt", "corrupt")
        with pytest.raises(IntegrityError, match="CRC32C mismatch") as loading:
            await backend.load(opaque_id)
        assert loading.value.__context__ is None
        assert scripted.count("download") == _FAST.attempts
        assert await backend.load(opaque_id) == b"the original bytes"


async def test_a_body_damaged_on_the_way_is_read_again(scripted: ScriptedGcs) -> None:
    opaque_id = mint_opaque_id()
    async with _backend(scripted) as backend:
        await backend.store(opaque_id, b"the original bytes")
        scripted.script("download", "corrupt")
        assert await backend.load(opaque_id) == b"the original bytes"
    assert scripted.count("download") == 2


async def test_a_corrupt_stream_raises_integrity_error_at_its_end(scripted: ScriptedGcs) -> None:
    opaque_id = mint_opaque_id()
    payload = os.urandom(3 * 1024 * 1024)
    got = bytearray()
    async with _backend(scripted) as backend:
        await backend.store(opaque_id, payload)
        scripted.script("download", "corrupt")
        with pytest.raises(IntegrityError, match="CRC32C mismatch"):  # noqa: PT012
            async with backend.load_stream(opaque_id) as stream:
                async for chunk in stream:
                    got += chunk
    # Bytes were handed out as they came; the whole body, then the error.
    assert len(got) == len(payload)
    assert got != payload


async def test_a_download_without_a_checksum_header_is_checked_against_the_resource(
    scripted: ScriptedGcs, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eden_storage_async._gcs import client as _gcs_client

    opaque_id = mint_opaque_id()
    monkeypatch.setattr(_gcs_client, "crc32c_of_hash_header", lambda headers: None)
    async with _backend(scripted) as backend:
        await backend.store(opaque_id, b"checked anyway")
        assert await backend.load(opaque_id) == b"checked anyway"
        assert scripted.count("metadata") == 1
        scripted.script("download", "corrupt", "corrupt", "corrupt")
        with pytest.raises(IntegrityError):
            await backend.load(opaque_id)


async def test_412_with_our_nonce_but_other_bytes_is_integrity_error(
    scripted: ScriptedGcs, monkeypatch: pytest.MonkeyPatch
) -> None:
    import secrets

    opaque_id = mint_opaque_id()
    monkeypatch.setattr(secrets, "token_hex", lambda n: "f" * 2 * n)
    scripted.put_object(f"unit/{opaque_id}", b"not what we sent", nonce="f" * 32)
    async with _backend(scripted) as backend:
        with pytest.raises(IntegrityError, match="stored by this store"):
            await backend.store(opaque_id, b"what we sent")


# --- deadline ---------------------------------------------------------------------


def test_the_default_retry_has_a_deadline() -> None:
    backend = GcsBackend(bucket="some-bucket", endpoint_url="http://127.0.0.1:9")
    assert backend._retry.deadline_s == 60.0


async def test_the_deadline_stops_retries_that_attempts_would_allow(scripted: ScriptedGcs) -> None:
    scripted.script("multipart", *([503] * 200))
    patient = Backoff(attempts=200, base_s=0.05, cap_s=0.05, deadline_s=0.3)
    async with _backend(scripted, retry=patient) as backend:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable):
            await backend.store(mint_opaque_id(), b"data")
    assert time.monotonic() - started < 2.0
    assert 2 <= scripted.count("multipart") < 20


# --- store_stream: resumed after transient failures ---------------------------------


def _stream_payload() -> list[bytes]:
    return [os.urandom(100_000) for _ in range(8)]  # ~800 KB: three full pieces and a tail


@pytest.mark.parametrize("fault", ["reset", "lost-reply", 503])
async def test_a_streamed_piece_that_fails_is_resumed_from_the_session_offset(
    scripted: ScriptedGcs, fault: Any
) -> None:
    opaque_id = mint_opaque_id()
    chunks = _stream_payload()
    scripted.script("put", None, fault)  # the second piece
    async with _resuming(scripted) as backend:
        await backend.store_stream(opaque_id, iter(chunks))  # one-shot: no replay
        assert await backend.load(opaque_id) == b"".join(chunks)
    assert scripted.count("initiate") == 1
    assert scripted.count("status") == 1


async def test_a_lost_reply_to_the_final_piece_is_confirmed_by_a_status_query(
    scripted: ScriptedGcs,
) -> None:
    opaque_id = mint_opaque_id()
    chunks = _stream_payload()
    scripted.script("put", None, None, None, "lost-reply")
    async with _resuming(scripted) as backend:
        await backend.store_stream(opaque_id, iter(chunks))
        assert await backend.load(opaque_id) == b"".join(chunks)
    assert (scripted.count("put"), scripted.count("status")) == (4, 1)


async def test_a_lost_final_reply_with_the_session_gone_is_confirmed_by_the_nonce(
    scripted: ScriptedGcs,
) -> None:
    # What fake-gcs-server v1.54.0 does: a finished session answers 404.
    opaque_id = mint_opaque_id()
    chunks = _stream_payload()
    scripted.script("put", None, None, None, "lost-reply")
    scripted.script("status", 404)
    async with _resuming(scripted) as backend:
        await backend.store_stream(opaque_id, iter(chunks))
        assert await backend.load(opaque_id) == b"".join(chunks)
    assert scripted.count("metadata") == 1


async def test_without_resuming_a_lost_final_reply_is_still_confirmed_by_the_nonce(
    scripted: ScriptedGcs,
) -> None:
    # The emulator setting: no status query, the nonce alone decides.
    opaque_id = mint_opaque_id()
    chunks = _stream_payload()
    scripted.script("put", None, None, None, "lost-reply")
    backend = _backend(scripted, resumable_threshold=_SMALL_THRESHOLD)
    backend._stream_piece = _PIECE
    async with backend:
        assert not backend._resume_streams
        await backend.store_stream(opaque_id, iter(chunks))
        assert await backend.load(opaque_id) == b"".join(chunks)
    assert scripted.count("status") == 0


async def test_a_streamed_piece_failing_past_the_retries_is_service_unavailable(
    scripted: ScriptedGcs,
) -> None:
    opaque_id = mint_opaque_id()
    scripted.script("put", None, 503)
    scripted.script("status", 503, 503)
    async with _resuming(scripted) as backend:
        with pytest.raises(ServiceUnavailable):
            await backend.store_stream(opaque_id, iter(_stream_payload()))
        with pytest.raises(NotFound):
            await backend.load(opaque_id)


async def test_a_streamed_upload_retries_its_initiation(scripted: ScriptedGcs) -> None:
    opaque_id = mint_opaque_id()
    chunks = _stream_payload()
    scripted.script("initiate", 503)
    async with _resuming(scripted) as backend:
        await backend.store_stream(opaque_id, iter(chunks))
        assert await backend.load(opaque_id) == b"".join(chunks)
    assert scripted.count("initiate") == 2


async def test_a_store_whose_retries_are_spent_after_its_write_landed_is_success(
    scripted: ScriptedGcs,
) -> None:
    # The first attempt commits and loses its reply; every retry then fails
    # before reaching the server. The object is ours, so the store succeeded.
    opaque_id = mint_opaque_id()
    scripted.script("multipart", "lost-reply", "reset", "reset")
    async with _backend(scripted) as backend:
        await backend.store(opaque_id, b"landed")
        assert await backend.load(opaque_id) == b"landed"
    assert scripted.count("multipart") == _FAST.attempts
    assert scripted.count("metadata") == 1


async def test_a_store_whose_retries_are_spent_without_landing_is_service_unavailable(
    scripted: ScriptedGcs,
) -> None:
    opaque_id = mint_opaque_id()
    scripted.script("multipart", "reset", "reset", "reset")
    async with _backend(scripted) as backend:
        with pytest.raises(ServiceUnavailable):
            await backend.store(opaque_id, b"never sent")
    assert scripted.count("metadata") == 1  # asked, and the object is absent


async def test_an_owned_session_sends_small_multipart_uploads_on_the_lean_client(
    scripted: ScriptedGcs,
) -> None:
    """Only a multipart upload of one piece (up to 1 MiB) moves to ``_gcs_lean``;
    a larger multipart upload and every download stay on aiohttp."""
    async with _backend(scripted, resumable_threshold=4 * 1024 * 1024) as backend:
        small, large = mint_opaque_id(), mint_opaque_id()
        await backend.store(small, b"small")
        await backend.store(large, os.urandom(2 * 1024 * 1024))
        assert await backend.load(small) == b"small"
    by_op = list(zip((op for op, _ in scripted.calls), scripted.user_agents, strict=True))
    uploads = [agent for op, agent in by_op if op == "multipart"]
    downloads = [agent for op, agent in by_op if op == "download"]
    assert len(uploads) == 2
    assert "(lean)" in uploads[0]
    assert "(lean)" not in uploads[1]
    assert downloads
    assert all("(lean)" not in agent for agent in downloads)


@pytest.mark.parametrize(
    "failure",
    [
        ConnectTimeout("connect"),
        ReadTimeout("read"),
        ConnectionClosed("closed"),
        ConnectFailed("refused"),
        BodyError("framing"),
        TlsFailed("handshake"),
        ConnectionResetError("reset"),
    ],
    ids=lambda failure: type(failure).__name__,
)
def test_every_lean_upload_transport_failure_is_retried_as_aiohttp_s_would_be(
    failure: TransportError | ConnectionError,
) -> None:
    """The lean upload raises aiohttp's exception for each transport failure, and
    each is transient, as the same failure on the aiohttp session is."""
    translated = as_aiohttp(failure)
    assert isinstance(translated, aiohttp.ClientError)
    assert is_transient(translated)
