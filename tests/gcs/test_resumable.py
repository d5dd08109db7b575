"""``store_stream``'s resumable upload, against ``ScriptedGcs``: resumed after failures.

A failed piece is resumed from the offset the session reports; a lost reply to
the final piece is confirmed by a status query, or by the nonce when the session
is gone or resuming is off (the emulator setting).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from eden_storage_async import NotFound, ServiceUnavailable, mint_opaque_id

from ..support.gcs_scripted import ScriptedGcs
from .helpers import PIECE, SMALL_THRESHOLD, backend_for, resuming


def _stream_payload() -> list[bytes]:
    return [os.urandom(100_000) for _ in range(8)]  # ~800 KB: three full pieces and a tail


@pytest.mark.parametrize("fault", ["reset", "lost-reply", 503])
async def test_a_streamed_piece_that_fails_is_resumed_from_the_session_offset(
    scripted: ScriptedGcs, fault: Any
) -> None:
    opaque_id = mint_opaque_id()
    chunks = _stream_payload()
    scripted.script("put", None, fault)  # the second piece
    async with resuming(scripted) as backend:
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
    async with resuming(scripted) as backend:
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
    async with resuming(scripted) as backend:
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
    backend = backend_for(scripted, resumable_threshold=SMALL_THRESHOLD)
    backend._stream_piece = PIECE
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
    async with resuming(scripted) as backend:
        with pytest.raises(ServiceUnavailable):
            await backend.store_stream(opaque_id, iter(_stream_payload()))
        with pytest.raises(NotFound):
            await backend.load(opaque_id)


async def test_a_streamed_upload_retries_its_initiation(scripted: ScriptedGcs) -> None:
    opaque_id = mint_opaque_id()
    chunks = _stream_payload()
    scripted.script("initiate", 503)
    async with resuming(scripted) as backend:
        await backend.store_stream(opaque_id, iter(chunks))
        assert await backend.load(opaque_id) == b"".join(chunks)
    assert scripted.count("initiate") == 2
