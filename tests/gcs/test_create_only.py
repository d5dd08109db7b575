"""Create-only outcomes against ``ScriptedGcs``: a 412 or a lost reply, ours or another's.

The nonce stored with each object decides: a 412 for another writer's object is
``AlreadyExists``, a lost reply to our own write (or a 412 for it) is success,
on the multipart, resumable and streamed paths alike.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from eden_storage_async import AccessDenied, AlreadyExists, ServiceUnavailable, mint_opaque_id

from ..support.gcs_scripted import ScriptedGcs
from .helpers import FAST, SMALL_THRESHOLD, backend_for

# --- store: 412, ours or not ----------------------------------------------------


async def test_412_for_another_writers_object_is_already_exists(scripted: ScriptedGcs) -> None:
    opaque_id = mint_opaque_id()
    scripted.put_object(f"unit/{opaque_id}", b"theirs", nonce="someone-else")
    async with backend_for(scripted) as backend:
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
    async with backend_for(scripted, resumable_threshold=SMALL_THRESHOLD) as backend:
        started = time.monotonic()
        with pytest.raises(AlreadyExists):
            await backend.store(opaque_id, b"x" * (SMALL_THRESHOLD + 1))
        elapsed = time.monotonic() - started
    assert scripted.count("put") == 1
    assert elapsed < 1.0
    assert scripted.objects[f"unit/{opaque_id}"].data == b"racer's bytes"


async def test_412_at_resumable_initiation_is_already_exists(scripted: ScriptedGcs) -> None:
    opaque_id = mint_opaque_id()
    scripted.put_object(f"unit/{opaque_id}", b"theirs")
    async with backend_for(scripted, resumable_threshold=SMALL_THRESHOLD) as backend:
        with pytest.raises(AlreadyExists):
            await backend.store(opaque_id, b"x" * (SMALL_THRESHOLD + 1))
    assert scripted.calls[0][1]["ifGenerationMatch"] == "0"
    assert scripted.count("put") == 0


async def test_lost_reply_to_our_own_multipart_write_is_success(scripted: ScriptedGcs) -> None:
    opaque_id = mint_opaque_id()
    scripted.script("multipart", "lost-reply")
    async with backend_for(scripted) as backend:
        await backend.store(opaque_id, b"ours")
        assert await backend.load(opaque_id) == b"ours"
    # The retry met our own object (412), and its nonce said so.
    assert scripted.count("multipart") == 2
    assert scripted.count("metadata") == 1


async def test_lost_reply_to_our_own_resumable_write_is_success(scripted: ScriptedGcs) -> None:
    opaque_id = mint_opaque_id()
    payload = b"y" * (SMALL_THRESHOLD + 1)
    scripted.script("put", "lost-reply")
    async with backend_for(scripted, resumable_threshold=SMALL_THRESHOLD) as backend:
        await backend.store(opaque_id, payload)
        assert await backend.load(opaque_id) == payload
    assert (scripted.count("initiate"), scripted.count("put")) == (2, 1)
    assert scripted.count("metadata") == 1


async def test_412_whose_owner_cannot_be_read_is_access_denied(scripted: ScriptedGcs) -> None:
    opaque_id = mint_opaque_id()
    scripted.put_object(f"unit/{opaque_id}", b"theirs")
    scripted.script("metadata", 403)
    async with backend_for(scripted) as backend:
        with pytest.raises(AccessDenied, match="got 412"):
            await backend.store(opaque_id, b"ours")


async def test_cancelled_store_returns_only_once_its_request_is_answered(
    scripted: ScriptedGcs,
) -> None:
    opaque_id = mint_opaque_id()
    scripted.script("multipart", ("stall", 0.3))
    async with backend_for(scripted) as backend:
        task = asyncio.create_task(backend.store(opaque_id, b"data"))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The server committed while the cancel waited: nothing appears later.
        assert f"unit/{opaque_id}" in scripted.objects
        assert await backend.load(opaque_id) == b"data"


# --- store_stream's resumable path: the 412s the emulator cannot produce ----


async def test_412_at_streamed_resumable_initiation_is_already_exists(
    scripted: ScriptedGcs,
) -> None:
    opaque_id = mint_opaque_id()
    scripted.put_object(f"unit/{opaque_id}", b"theirs")
    touched_after_head = False

    def chunks() -> Iterator[bytes]:
        nonlocal touched_after_head
        yield b"x" * (SMALL_THRESHOLD + 1)
        touched_after_head = True
        yield b"more"

    async with backend_for(scripted, resumable_threshold=SMALL_THRESHOLD) as backend:
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
    async with backend_for(scripted, resumable_threshold=SMALL_THRESHOLD) as backend:
        with pytest.raises(AlreadyExists):
            await backend.store_stream(opaque_id, [b"y" * (SMALL_THRESHOLD + 1)])
        assert await backend.load(opaque_id) == b"racer's bytes"
    assert scripted.count("metadata") == 1


# --- store: retries spent, after the write landed or not ---------------------


async def test_a_store_whose_retries_are_spent_after_its_write_landed_is_success(
    scripted: ScriptedGcs,
) -> None:
    # The first attempt commits and loses its reply; every retry then fails
    # before reaching the server. The object is ours, so the store succeeded.
    opaque_id = mint_opaque_id()
    scripted.script("multipart", "lost-reply", "reset", "reset")
    async with backend_for(scripted) as backend:
        await backend.store(opaque_id, b"landed")
        assert await backend.load(opaque_id) == b"landed"
    assert scripted.count("multipart") == FAST.attempts
    assert scripted.count("metadata") == 1


async def test_a_store_whose_retries_are_spent_without_landing_is_service_unavailable(
    scripted: ScriptedGcs,
) -> None:
    opaque_id = mint_opaque_id()
    scripted.script("multipart", "reset", "reset", "reset")
    async with backend_for(scripted) as backend:
        with pytest.raises(ServiceUnavailable):
            await backend.store(opaque_id, b"never sent")
    assert scripted.count("metadata") == 1  # asked, and the object is absent
