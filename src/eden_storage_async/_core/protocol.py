"""The ``ArtifactBackend`` Protocol. This module imports no SDK, by design."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

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
    * ``aclose`` releases every resource; ``async with`` calls it.
    """

    async def store(self, opaque_id: str, data: Payload) -> None:
        """Create the object ``opaque_id`` holding ``data``, or raise."""
        ...

    async def load(self, opaque_id: str) -> bytes:
        """Return the bytes of ``opaque_id``; raise ``NotFound`` if it is absent."""
        ...

    async def store_stream(
        self, opaque_id: str, chunks: AsyncIterable[Payload] | Iterable[Payload]
    ) -> None:
        """Create ``opaque_id`` from ``chunks``, or raise; nothing is visible unless all is."""
        ...

    def load_stream(self, opaque_id: str) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """``async with`` it for the chunks of ``opaque_id``; entering raises ``NotFound``."""
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
