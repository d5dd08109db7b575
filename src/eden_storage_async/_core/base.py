"""What every backend shares: input checks before I/O, and the close lifecycle.

Each backend implements three private hooks; the public methods here run the
checks first, so no backend can forget them and no bad id ever reaches I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Self

from .errors import BackendClosed
from .ids import Payload, as_payload, validate_opaque_id
from .stream import Chunks, ChunkSource, check_chunks

__all__ = ["BackendBase"]


class BackendBase(ABC):
    """Base class for the shipped backends; third-party ones need only the Protocol."""

    _closed: bool = False
    # Operations under way. aclose() waits for them, so a backend never frees
    # a client or a directory descriptor that a running store still uses.
    _inflight: int = 0
    _idle: asyncio.Event | None = None

    async def store(self, opaque_id: str, data: Payload) -> None:
        """Create the object ``opaque_id`` holding ``data``.

        Raises ``FileExistsError`` (``AlreadyExists``) if the id is taken,
        ``ValueError`` for a malformed id and ``TypeError`` for a payload that is
        not bytes-like, both before any I/O.
        """
        validate_opaque_id(opaque_id)
        view = as_payload(data)
        self._check_open()
        self._inflight += 1
        try:
            await self._store(opaque_id, view)
        finally:
            self._done()

    async def load(self, opaque_id: str) -> bytes:
        """Return the bytes stored under ``opaque_id``.

        Raises ``NotFound`` only when the object is absent; a missing bucket,
        refused credentials or an outage raise other ``StorageError`` subclasses.
        """
        validate_opaque_id(opaque_id)
        self._check_open()
        self._inflight += 1
        try:
            return await self._load(opaque_id)
        finally:
            self._done()

    async def store_stream(self, opaque_id: str, chunks: Chunks) -> None:
        """Create ``opaque_id`` from ``chunks``, a sync or async iterable of bytes-like chunks.

        The same contract as ``store``: ``ValueError`` for a malformed id before
        ``chunks`` is touched, ``FileExistsError`` if the id is taken, and
        nothing is published unless the whole stream is, whatever fails or is
        cancelled (an exception from ``chunks`` itself included).
        """
        validate_opaque_id(opaque_id)
        check_chunks(chunks)
        self._check_open()
        self._inflight += 1
        try:
            await self._store_stream(opaque_id, ChunkSource(chunks))
        finally:
            self._done()

    def load_stream(self, opaque_id: str) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """``async with backend.load_stream(id) as chunks: async for chunk in chunks: ...``

        A malformed id raises ``ValueError`` here; entering raises ``NotFound``
        when the object is absent, and the errors of ``load`` otherwise. The
        operation counts as under way until the block exits, so ``aclose``
        waits for it.
        """
        validate_opaque_id(opaque_id)
        return self._counted_load_stream(opaque_id)

    @contextlib.asynccontextmanager
    async def _counted_load_stream(self, opaque_id: str) -> AsyncIterator[AsyncIterator[bytes]]:
        self._check_open()
        self._inflight += 1
        try:
            async with self._load_stream(opaque_id) as chunks:
                yield chunks
        finally:
            self._done()

    async def aclose(self) -> None:
        """Refuse new work, wait for operations under way, then release resources.

        Safe to call more than once.
        """
        if self._closed:
            return
        self._closed = True
        if self._inflight:
            self._idle = asyncio.Event()
            await self._idle.wait()
        await self._aclose()

    async def __aenter__(self) -> Self:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _done(self) -> None:
        self._inflight -= 1
        if self._inflight == 0 and self._idle is not None:
            self._idle.set()

    def _check_open(self) -> None:
        if self._closed:
            raise BackendClosed(f"{self!r} is closed")

    @abstractmethod
    async def _store(self, opaque_id: str, data: memoryview) -> None:
        """Create-only write of a validated id; ``data`` is a read-only byte view."""

    @abstractmethod
    async def _load(self, opaque_id: str) -> bytes:
        """Read a validated id."""

    async def _store_stream(self, opaque_id: str, source: ChunkSource) -> None:
        """Default: gather the whole stream, then ``_store`` it. Backends that can
        write as the chunks arrive override this to keep memory bounded."""
        joined = b"".join([bytes(chunk) async for chunk in source])
        await self._store(opaque_id, memoryview(joined))

    @contextlib.asynccontextmanager
    async def _load_stream(self, opaque_id: str) -> AsyncIterator[AsyncIterator[bytes]]:
        """Default: ``_load`` the whole object on entering, then hand it out as one chunk."""
        payload = await self._load(opaque_id)

        async def one_chunk() -> AsyncIterator[bytes]:
            if payload:
                yield payload

        yield one_chunk()

    async def _aclose(self) -> None:  # noqa: B027 - an optional hook, not abstract
        """Release resources; called once. Backends holding none need not override."""
