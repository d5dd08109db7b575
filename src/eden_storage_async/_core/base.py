"""What every backend shares: input checks before I/O, and the close lifecycle.

Each backend implements private hooks; the public methods here run the checks
first (the id, the payload, the attributes, the range bounds), so no backend
can forget them and nothing malformed ever reaches I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Self

from .attributes import ArtifactInfo, Attributes, check_attributes
from .create_only import (
    CANARY_NAME,
    CanaryPath,
    CreateOnlyReport,
    run_create_only_check,
    select_paths,
)
from .errors import BackendClosed
from .ids import Payload, as_payload, is_opaque_id, validate_opaque_id
from .ranges import ByteRange, plan_range
from .stream import Chunks, ChunkSource, check_chunks, no_chunks

__all__ = ["BackendBase"]


class BackendBase(ABC):
    """Base class for the shipped backends; third-party ones need only the Protocol."""

    _closed: bool = False
    # Operations under way. aclose() waits for them, so a backend never frees
    # a client or a directory descriptor that a running store still uses.
    _inflight: int = 0
    _idle: asyncio.Event | None = None

    async def store(
        self,
        opaque_id: str,
        data: Payload,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Create the object ``opaque_id`` holding ``data``, with its attributes.

        ``content_type`` and ``metadata`` are published atomically with the
        object: there is never one without the other. Raises
        ``FileExistsError`` (``AlreadyExists``) if the id is taken;
        ``ValueError`` for a malformed id or attributes, and ``TypeError`` for a
        payload that is not bytes-like, all before any I/O.
        """
        validate_opaque_id(opaque_id)
        view = as_payload(data)
        attributes = check_attributes(content_type, metadata)
        async with self._operation():
            await self._store(opaque_id, view, attributes)

    async def load(self, opaque_id: str) -> bytes:
        """Return the bytes stored under ``opaque_id``, checked against their CRC32C.

        Raises ``NotFound`` only when the object is absent; a missing bucket,
        refused credentials or an outage raise other ``StorageError`` subclasses.
        """
        validate_opaque_id(opaque_id)
        async with self._operation():
            return await self._load(opaque_id)

    async def stat(self, opaque_id: str) -> ArtifactInfo:
        """Return the size, CRC32C, content type and metadata of ``opaque_id``,
        without loading it. Raises ``NotFound`` exactly when ``load`` would."""
        validate_opaque_id(opaque_id)
        async with self._operation():
            return await self._stat(opaque_id)

    async def load_range(self, opaque_id: str, start: int, end: int | None = None) -> bytes:
        """Return exactly ``data[start:end]``, with Python's slice semantics.

        A negative ``start`` counts from the end, an ``end`` past the size is
        clamped, and an empty range gives ``b""`` (after checking the object
        exists). One ranged request where the service has one. A strict slice
        cannot be checked against the whole object's CRC32C; the bytes are
        checked to be the range asked for (docs/architecture.md, "Ranges").
        """
        validate_opaque_id(opaque_id)
        plan = plan_range(start, end)
        async with self._operation():
            if plan is True:
                return await self._load(opaque_id)
            byte_range = await self._resolve(opaque_id, plan, start, end)
            if byte_range is None:
                return b""
            return await self._load_range(opaque_id, byte_range)

    async def store_stream(
        self,
        opaque_id: str,
        chunks: Chunks,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Create ``opaque_id`` from ``chunks``, a sync or async iterable of bytes-like chunks.

        The same contract as ``store``: ``ValueError`` for a malformed id or
        attributes before ``chunks`` is touched, ``FileExistsError`` if the id
        is taken, and nothing is published, object or attributes, unless the
        whole stream is, whatever fails or is cancelled (an exception from
        ``chunks`` itself included).
        """
        validate_opaque_id(opaque_id)
        check_chunks(chunks)
        attributes = check_attributes(content_type, metadata)
        async with self._operation():
            await self._store_stream(opaque_id, ChunkSource(chunks), attributes)

    def load_stream(
        self, opaque_id: str, *, start: int = 0, end: int | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """``async with backend.load_stream(id) as chunks: async for chunk in chunks: ...``

        ``start`` and ``end`` stream ``data[start:end]``, as ``load_range``
        returns it. A malformed id or a bound that is not an int raises here;
        entering raises ``NotFound`` when the object is absent, and the errors
        of ``load`` otherwise. The whole object's stream raises
        ``IntegrityError`` at its end if the bytes do not match their CRC32C.
        The operation counts as under way until the block exits, so ``aclose``
        waits for it.
        """
        validate_opaque_id(opaque_id)
        plan = plan_range(start, end)
        return self._counted_load_stream(opaque_id, plan, start, end)

    def iter_ids(self) -> AsyncIterator[str]:
        """``async for opaque_id in backend.iter_ids(): ...``: every stored artifact's id.

        Only valid ids are yielded: temp files, canaries and stray names are
        skipped. It streams, one listing page at a time, and never builds the
        whole list; the order is the service's. A closed backend raises
        ``BackendClosed`` here. ``aclose()`` during an iteration waits for a
        page being fetched, as for any operation, and then the iteration's
        next step raises ``BackendClosed``; an iteration left unfinished
        between pages holds nothing that ``aclose`` waits for.
        """
        self._check_open()
        return self._valid_ids()

    async def _valid_ids(self) -> AsyncIterator[str]:
        pages = self._id_pages()
        try:
            while True:
                # Counted while a page is fetched, and only then: aclose() never
                # frees a client or a descriptor under a fetch, and a caller
                # that stops iterating without closing the iterator cannot
                # make aclose() wait for ever.
                async with self._operation():
                    page = await anext(pages, None)
                if page is None:
                    return
                for name in page:
                    if is_opaque_id(name):
                        # Once aclose() has begun, the rest of a page is not handed out.
                        self._check_open()
                        yield name
        finally:
            await pages.aclose()

    async def check_create_only(self, paths: Iterable[str] | None = None) -> CreateOnlyReport:
        """Prove the service refuses a second store, on each upload path this backend uses.

        Stores a small canary twice, under a reserved name no id can address
        (``_core/create_only.py``), through the same code that stores
        artifacts. Raises ``PreconditionNotSupported`` naming each path whose
        second store was accepted, and what the service answered; returns the
        per-path report otherwise. ``paths`` checks only those (a name the
        backend lacks is a ``ValueError`` before any I/O). Needs no delete
        permission and leaves at most one canary object per path.
        """
        selected = select_paths(self._canary_paths(), paths)
        async with self._operation():
            return await run_create_only_check(repr(self), selected)

    def _canary_paths(self) -> Sequence[CanaryPath]:
        """The upload paths ``check_create_only`` tries. Default: ``_store`` alone.
        Backends with another upload path (multipart, resumable) override this."""

        async def store(name: str, body: bytes) -> None:
            await self._store(name, memoryview(body), check_attributes())

        return [CanaryPath("store", f"{CANARY_NAME}.store", store, self._load)]

    @contextlib.asynccontextmanager
    async def _counted_load_stream(
        self, opaque_id: str, plan: ByteRange | bool | None, start: int, end: int | None
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        async with self._operation():
            if plan is True:
                async with self._load_stream(opaque_id) as chunks:
                    yield chunks
                return
            byte_range = await self._resolve(opaque_id, plan, start, end)
            if byte_range is None:
                yield no_chunks()
                return
            async with self._load_range_stream(opaque_id, byte_range) as chunks:
                yield chunks

    async def _resolve(
        self, opaque_id: str, plan: ByteRange | bool | None, start: int, end: int | None
    ) -> ByteRange | None:
        """The request for a planned slice, or None when it is empty; a slice that
        needs the size, or is empty, asks ``_stat`` (which raises ``NotFound``)."""
        if isinstance(plan, ByteRange):
            return plan
        size = (await self._stat(opaque_id)).size
        if plan is False:
            return None
        first, stop, _ = slice(start, end).indices(size)
        return ByteRange(start=first, stop=stop) if stop > first else None

    @contextlib.asynccontextmanager
    async def _operation(self) -> AsyncIterator[None]:
        self._check_open()
        self._inflight += 1
        try:
            yield
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
    async def _store(self, opaque_id: str, data: memoryview, attributes: Attributes) -> None:
        """Create-only write of a validated id; ``data`` is a read-only byte view,
        ``attributes`` checked, published with the object or not at all."""

    @abstractmethod
    async def _load(self, opaque_id: str) -> bytes:
        """Read a validated id, checked against its CRC32C."""

    @abstractmethod
    async def _stat(self, opaque_id: str) -> ArtifactInfo:
        """The facts of a validated id, without its bytes; ``NotFound`` as ``_load``."""

    async def _load_range(self, opaque_id: str, byte_range: ByteRange) -> bytes:
        """Default: ``_load`` the whole object (so the bytes are verified) and slice.
        Backends with ranged reads override this."""
        payload = await self._load(opaque_id)
        first, stop = byte_range.bounds(len(payload))
        return payload[first:stop]

    @contextlib.asynccontextmanager
    async def _load_range_stream(
        self, opaque_id: str, byte_range: ByteRange
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """Default: ``_load_range`` on entering, then hand it out as one chunk."""
        payload = await self._load_range(opaque_id, byte_range)
        yield _one_chunk(payload)

    async def _store_stream(
        self, opaque_id: str, source: ChunkSource, attributes: Attributes
    ) -> None:
        """Default: gather the whole stream, then ``_store`` it. Backends that can
        write as the chunks arrive override this to keep memory bounded."""
        joined = b"".join([bytes(chunk) async for chunk in source])
        await self._store(opaque_id, memoryview(joined), attributes)

    @contextlib.asynccontextmanager
    async def _load_stream(self, opaque_id: str) -> AsyncIterator[AsyncIterator[bytes]]:
        """Default: ``_load`` the whole object on entering, then hand it out as one chunk."""
        payload = await self._load(opaque_id)
        yield _one_chunk(payload)

    def _id_pages(self) -> AsyncGenerator[Sequence[str], None]:
        """The names the backend holds that may be ids, a listing page at a time;
        ``iter_ids`` filters them. Each page is one request or thread hop."""
        raise NotImplementedError(f"{type(self).__name__} cannot list its artifacts")

    async def _aclose(self) -> None:  # noqa: B027 - an optional hook, not abstract
        """Release resources; called once. Backends holding none need not override."""


async def _one_chunk(payload: bytes) -> AsyncIterator[bytes]:
    if payload:
        yield payload
