"""The ``ArtifactBackend`` Protocol. This module imports no SDK, by design."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from .attributes import ArtifactInfo
from .create_only import CreateOnlyReport
from .ids import Payload

__all__ = ["ArtifactBackend"]


@runtime_checkable
class ArtifactBackend(Protocol):
    """Create-only storage of immutable artifacts, keyed by a server-minted opaque id.

    The contract every backend keeps:

    * ``store`` creates only, atomically, enforced by the service itself; an id
      that is taken raises ``FileExistsError`` and leaves the stored bytes as
      they were.
    * ``load`` raises ``NotFound`` only when the object is absent.
    * A malformed id raises ``ValueError`` before any I/O.
    * No partial object is ever visible, whatever fails or is cancelled.
    * ``store_stream`` and ``load_stream`` keep the same contract for artifacts
      too large to hold in memory.
    * An artifact's ``content_type`` and ``metadata`` are published atomically
      with it; ``stat`` reads them, with the size and CRC32C, without a load.
    * ``load_range`` and a ranged ``load_stream`` return exactly
      ``data[start:end]``.
    * ``iter_ids`` yields the id of every stored artifact, streaming, and
      nothing else (no temp files, canaries or stray names).
    * ``check_create_only`` proves the service really refuses a second store,
      on every upload path, and raises ``PreconditionNotSupported`` if not.
    * ``aclose`` releases every resource; ``async with`` calls it.
    """

    async def store(
        self,
        opaque_id: str,
        data: Payload,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Create the object ``opaque_id`` holding ``data`` and its attributes, or raise."""
        ...

    async def load(self, opaque_id: str) -> bytes:
        """Return the bytes of ``opaque_id``; raise ``NotFound`` if it is absent."""
        ...

    async def stat(self, opaque_id: str) -> ArtifactInfo:
        """Return the size, CRC32C, content type and metadata of ``opaque_id``."""
        ...

    async def load_range(self, opaque_id: str, start: int, end: int | None = None) -> bytes:
        """Return exactly ``data[start:end]`` of ``opaque_id``, with slice semantics."""
        ...

    async def store_stream(
        self,
        opaque_id: str,
        chunks: AsyncIterable[Payload] | Iterable[Payload],
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Create ``opaque_id`` from ``chunks``, or raise; nothing is visible unless all is."""
        ...

    def load_stream(
        self, opaque_id: str, *, start: int = 0, end: int | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """``async with`` it for the chunks of ``data[start:end]``; entering raises ``NotFound``."""
        ...

    def iter_ids(self) -> AsyncIterator[str]:
        """Every stored artifact's opaque_id, in no set order, streamed page by page."""
        ...

    async def check_create_only(self, paths: Iterable[str] | None = None) -> CreateOnlyReport:
        """Store a canary twice on each upload path (or those in ``paths``), under a
        reserved name; raise ``PreconditionNotSupported`` if a second store is not
        refused, else return what each path did."""
        ...

    async def aclose(self) -> None:
        """Release clients, sessions and pools. Idempotent."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
