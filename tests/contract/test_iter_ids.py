"""``iter_ids`` on every backend of the contract: exactly the stored ids, nothing else.

Each contract backend gets a fresh root, prefix or memory of its own
(tests/support/), so what a listing yields is this test's doing alone. Stray
names are planted through the backend's private ``_store``, which skips the
id check as ``check_create_only``'s canaries do, so every backend gets the
same strays without a raw client per service.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from eden_storage_async import (
    ArtifactBackend,
    BackendClosed,
    FileArtifactBackend,
    PreconditionNotSupported,
    mint_opaque_id,
)
from eden_storage_async._core.attributes import check_attributes
from eden_storage_async._core.base import BackendBase

from ..support.sync_facade import ThreadedFacade


def _base_of(backend: ArtifactBackend) -> BackendBase:
    """The shipped backend under ``backend`` (the facade entries wrap one)."""
    inner: Any = backend.facade._backend if isinstance(backend, ThreadedFacade) else backend
    assert isinstance(inner, BackendBase)
    return inner


async def _plant(backend: ArtifactBackend, name: str) -> None:
    """Store ``name``, id or not, on the loop the backend's clients live on."""
    store = _base_of(backend)._store(name, memoryview(b"stray"), check_attributes())
    if isinstance(backend, ThreadedFacade):
        await asyncio.to_thread(backend.facade._call, store)
    else:
        await store


async def _listed(backend: ArtifactBackend) -> list[str]:
    return [opaque_id async for opaque_id in backend.iter_ids()]


async def _close(ids: AsyncIterator[str]) -> None:
    aclose = getattr(ids, "aclose", None)
    if aclose is not None:
        await aclose()


async def _store_some(backend: ArtifactBackend, count: int) -> set[str]:
    ids = {mint_opaque_id() for _ in range(count)}
    await asyncio.gather(*(backend.store(i, i.encode()) for i in ids))
    return ids


async def test_lists_exactly_the_stored_ids(backend: ArtifactBackend) -> None:
    stored = await _store_some(backend, 5)
    streamed = mint_opaque_id()
    await backend.store_stream(streamed, [b"a", b"b"], content_type="text/plain")
    stored.add(streamed)
    listed = await _listed(backend)
    assert sorted(listed) == sorted(stored)  # each once, none missing, none extra


async def test_lists_every_id_across_pages(backend: ArtifactBackend) -> None:
    # Two names a page: seven ids take four pages, the last one short.
    _base_of(backend)._list_page = 2  # type: ignore[attr-defined]
    stored = await _store_some(backend, 7)
    listed = await _listed(backend)
    assert sorted(listed) == sorted(stored)


async def test_an_empty_backend_lists_nothing(backend: ArtifactBackend) -> None:
    assert await _listed(backend) == []


def _nest(root: Path, target: str) -> None:
    """A directory named as an id holding an id-named file, and an id-named symlink."""
    nested = root / mint_opaque_id()
    nested.mkdir()
    (nested / mint_opaque_id()).write_bytes(b"nested")
    os.symlink(root / target, root / mint_opaque_id())


async def test_canaries_temp_files_and_stray_names_are_skipped(backend: ArtifactBackend) -> None:
    stored = await _store_some(backend, 3)
    # fake-gcs-server fails the whole check (test_create_only_check.py pins
    # why); its canaries are written all the same, which is what matters here.
    with contextlib.suppress(PreconditionNotSupported):
        await backend.check_create_only()
    inner = _base_of(backend)
    one = mint_opaque_id()
    strays = ["stray", one.upper(), f"{one}.bak", one[:-1], f"{one}0", f" {one}", ".eden-tmp.x"]
    for name in strays:
        await _plant(backend, name)
    if isinstance(inner, FileArtifactBackend):
        await asyncio.to_thread(_nest, inner.root, next(iter(stored)))
    else:
        # A key one level down, as another tool's "directory" under the prefix.
        await _plant(backend, f"{one}/{mint_opaque_id()}")
    assert sorted(await _listed(backend)) == sorted(stored)


async def test_a_closed_backend_refuses_to_list(backend: ArtifactBackend) -> None:
    await _store_some(backend, 1)
    await backend.aclose()
    with pytest.raises(BackendClosed):
        await _listed(backend)


async def test_aclose_during_an_iteration_ends_it_with_backend_closed(
    backend: ArtifactBackend,
) -> None:
    await _store_some(backend, 3)
    ids = backend.iter_ids()
    try:
        await anext(ids)
        # The rest of the page is in hand, yet not handed out once closed.
        await asyncio.wait_for(backend.aclose(), timeout=30)
        with pytest.raises(BackendClosed):
            await anext(ids)
    finally:
        await _close(ids)


async def test_an_unfinished_iteration_does_not_hold_up_aclose(backend: ArtifactBackend) -> None:
    _base_of(backend)._list_page = 1  # type: ignore[attr-defined]
    await _store_some(backend, 3)
    ids = backend.iter_ids()
    try:
        await anext(ids)  # then left, neither finished nor closed
        await asyncio.wait_for(backend.aclose(), timeout=30)
    finally:
        await _close(ids)
