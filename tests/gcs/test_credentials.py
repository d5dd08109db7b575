"""Credentials, tokens and scrubbing, against ``ScriptedGcs`` in real-service mode.

The token is sent (with the read-write scope, from the default chain) and never
appears in an error, its cause, a traceback, a log line or a ``repr``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from eden_storage_async import AccessDenied, GcsBackend, ServiceUnavailable, mint_opaque_id

from ..support.gcs import write_service_account_key
from ..support.gcs_scripted import ScriptedGcs
from .helpers import FAST, SMALL_THRESHOLD


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
        ("initiate", 403, SMALL_THRESHOLD + 1, AccessDenied),
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
        bucket=scripted.bucket, retry=FAST, resumable_threshold=SMALL_THRESHOLD
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
    async with GcsBackend(bucket=scripted.bucket, retry=FAST) as backend:
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
