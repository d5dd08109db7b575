"""The lean client for small multipart uploads: what it sends, and its failures retried."""

from __future__ import annotations

import os

import aiohttp
import pytest

from eden_storage_async import mint_opaque_id
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

from ..support.gcs_scripted import ScriptedGcs
from .helpers import backend_for


async def test_an_owned_session_sends_small_multipart_uploads_on_the_lean_client(
    scripted: ScriptedGcs,
) -> None:
    """Only a multipart upload of one piece (up to 1 MiB) moves to ``_gcs_lean``;
    a larger multipart upload and every download stay on aiohttp."""
    async with backend_for(scripted, resumable_threshold=4 * 1024 * 1024) as backend:
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
