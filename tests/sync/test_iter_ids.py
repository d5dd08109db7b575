"""``SyncArtifactBackend.iter_ids``: the async listing in batches per hop to the loop,
and the facade's lifecycle around an iteration."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from eden_storage_async import (
    BackendClosed,
    FileArtifactBackend,
    InMemoryArtifactBackend,
    SyncArtifactBackend,
    _sync,
    mint_opaque_id,
)


def _stored(facade: SyncArtifactBackend, count: int) -> set[str]:
    ids = {mint_opaque_id() for _ in range(count)}
    for opaque_id in ids:
        facade.store(opaque_id, b"x")
    return ids


def test_ids_come_from_the_loop_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    batches: list[int] = []
    real = _sync._take

    async def counted(ids: AsyncIterator[str], count: int) -> list[str]:
        batch = await real(ids, count)
        batches.append(len(batch))
        return batch

    monkeypatch.setattr(_sync, "_take", counted)
    with SyncArtifactBackend(InMemoryArtifactBackend()) as facade:
        facade._list_batch = 2
        stored = _stored(facade, 5)
        ids = facade.iter_ids()
        first = next(ids)
        assert batches == [2]  # one hop, not the whole listing
        assert sorted([first, *ids]) == sorted(stored)
    assert batches == [2, 2, 1, 0]


def test_a_closed_facade_refuses_to_list_at_the_call() -> None:
    facade = SyncArtifactBackend(InMemoryArtifactBackend())
    facade.close()
    with pytest.raises(BackendClosed):
        facade.iter_ids()


def test_close_during_an_iteration_ends_it_with_backend_closed() -> None:
    facade = SyncArtifactBackend(InMemoryArtifactBackend())
    _stored(facade, 3)
    ids = facade.iter_ids()
    next(ids)
    facade.close()
    with pytest.raises(BackendClosed):
        next(ids)  # two more ids are in hand, and not handed out


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_leaving_an_iteration_early_closes_the_listing_at_once(tmp_path: Path) -> None:
    backend = FileArtifactBackend(tmp_path)
    backend._list_page = 1
    with SyncArtifactBackend(backend) as facade:
        facade._list_batch = 1
        _stored(facade, 3)
        before = _open_fds()
        ids = facade.iter_ids()
        next(ids)
        assert len(_open_fds() - before) == 1  # the directory stream
        ids.close()
        assert _open_fds() - before == set()


def test_an_unfinished_iteration_does_not_hold_up_close(tmp_path: Path) -> None:
    facade = SyncArtifactBackend(FileArtifactBackend(tmp_path))
    _stored(facade, 3)
    ids = facade.iter_ids()
    next(ids)  # then left open
    closing = threading.Thread(target=facade.close)
    closing.start()
    closing.join(timeout=30)
    assert not closing.is_alive()
    ids.close()  # after close(): nothing left to do on the loop, and no error
