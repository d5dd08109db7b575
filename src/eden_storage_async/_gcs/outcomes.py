"""What a GCS call's answer means for the artifact: the decisions after the wire.

* after a 412: is the object our own earlier attempt (nonce *and* CRC32C
  match: success) or another writer's (``AlreadyExists``)?
* after an upload's retries are spent on transient faults, or a streamed
  upload lost its session: did an attempt land with its reply lost?
* after a 404 on a read: is the object absent (``NotFound``) or the bucket?
* after a download: do the bytes match their CRC32C (else ``IntegrityError``,
  and the bytes are never handed back)?

Errors are raised outside any ``except`` block and chained to a
credential-free copy of the SDK error (see ``_gcs.errors``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn, Protocol, TypeVar

from .._core.checksum import Crc32c, crc32c_b64, verify_crc32c
from .._core.errors import AlreadyExists, BucketNotFound, IntegrityError, NotFound
from .errors import scrubbed, status_of, translate

if TYPE_CHECKING:
    import aiohttp

    from .client import GcsClient
    from .wire import ObjectFacts

__all__ = ["Call", "Failed", "Target"]

_T = TypeVar("_T")
_log = logging.getLogger("eden_storage_async.gcs")


@dataclass(frozen=True)
class Failed:
    """The final failure of a retried call."""

    exc: Exception


class Call(Protocol):
    """The backend's retrying runner: a final failure comes back as ``Failed``;
    ``retry_mismatch`` retries an ``IntegrityError`` too."""

    def __call__(
        self, operation: Callable[[], Awaitable[_T]], /, *, retry_mismatch: bool = False
    ) -> Awaitable[_T | Failed]: ...


@dataclass(frozen=True)
class Target:
    """One artifact of one backend, and the means to ask GCS about it."""

    client: GcsClient
    call: Call
    bucket: str
    opaque_id: str
    name: str

    @property
    def url(self) -> str:
        """``gs://bucket/name``, for messages."""
        return f"gs://{self.bucket}/{self.name}"

    def cause(self, exc: BaseException) -> BaseException:
        """``exc`` fit to chain: no credentials in it."""
        return scrubbed(exc, self.client.known_secrets())

    def fail(self, exc: Exception, what: str) -> NoReturn:
        """Raise the translation of ``exc``, chained to its credential-free copy."""
        known = self.client.known_secrets()
        raise translate(exc, what, known, self.client.trust) from self.cause(exc)

    def fail_store(self, exc: Exception) -> NoReturn:
        """Raise for a failed upload; its 404 can only be the bucket."""
        if status_of(exc) == 404:
            raise BucketNotFound(
                f"GcsBackend: cannot store artifact {self.opaque_id}: "
                f"bucket {self.bucket!r} does not exist"
            ) from self.cause(exc)
        self.fail(exc, f"GcsBackend: cannot store artifact {self.opaque_id} at {self.url}")

    async def facts(self) -> ObjectFacts | Failed:
        """The object's nonce and checksums, or the read's final failure."""
        client, name = self.client, self.name
        return await self.call(lambda: client.facts_of(name))

    async def resolve_conflict(self, nonce: str, crc: str, conflict: Exception) -> None:
        """After a 412: return if the object is our own write, else raise."""
        facts = await self.facts()
        if isinstance(facts, Failed):
            # 404: the object existed at our write and is gone now; the 412 stands.
            if status_of(facts.exc) != 404:
                self.fail(
                    facts.exc,
                    f"GcsBackend: store of artifact {self.opaque_id} got 412 and could not "
                    f"read {self.url} to tell whether the object is its own write",
                )
        elif facts.nonce == nonce:
            self._check_own_bytes(facts, crc)
            # An earlier attempt of this very store landed; only its reply was lost.
            _log.debug("store of %s: the 412 was our own earlier attempt", self.opaque_id)
            return
        raise AlreadyExists(
            f"GcsBackend: artifact {self.opaque_id} already exists at {self.url}"
        ) from self.cause(conflict)

    async def confirm_landed(self, nonce: str, crc: str, failure: Exception) -> None:
        """After an upload failed for good on a transient fault or a lost session:
        return if the object is there with our nonce and checksum (a lost reply),
        else raise ``failure``."""
        facts = await self.facts()
        if not isinstance(facts, Failed) and facts.nonce == nonce:
            self._check_own_bytes(facts, crc)
            _log.debug("stream of %s landed; only its reply was lost", self.opaque_id)
            return
        self.fail_store(failure)

    def _check_own_bytes(self, facts: ObjectFacts, crc: str) -> None:
        if facts.crc32c is not None and facts.crc32c != crc:
            raise IntegrityError(
                f"GcsBackend: artifact {self.opaque_id} at {self.url} was stored by this "
                f"store, but GCS holds CRC32C {facts.crc32c} where the bytes sent give {crc}"
            )

    def check_stored(self, reported: str | None, crc: str) -> None:
        """After a successful upload: the service's own checksum of what it stored."""
        if reported is not None and reported != crc:
            raise IntegrityError(
                f"GcsBackend: artifact {self.opaque_id} at {self.url} was stored with CRC32C "
                f"{reported}, but the bytes sent give {crc}: the stored copy is corrupt"
            )

    async def raise_absent(self, miss: Exception, action: str = "load") -> NoReturn:
        """After a 404 on a read: the bucket metadata says which of the two is missing."""
        exists = await self.call(self.client.bucket_exists)
        if isinstance(exists, Failed):
            self.fail(
                exists.exc,
                f"GcsBackend: {action} of artifact {self.opaque_id} got 404 and could not "
                f"check whether bucket {self.bucket!r} exists",
            )
        if exists is False:
            raise BucketNotFound(
                f"GcsBackend: cannot {action} artifact {self.opaque_id}: "
                f"bucket {self.bucket!r} does not exist"
            ) from self.cause(miss)
        if exists is None:
            # Least-privilege roles lack storage.buckets.get; the object 404 is
            # then taken at its word (documented in docs/gcs.md).
            _log.debug("bucket metadata refused (403); treating the 404 as an absent object")
        raise NotFound(
            f"GcsBackend: artifact {self.opaque_id} not found at {self.url}"
        ) from self.cause(miss)

    async def expected_crcs(self, service: str | None, own: str | None) -> tuple[str, ...]:
        """The checksums a download must match: those its reply carried, else the
        object resource's. None at all is an ``IntegrityError``: bytes are never
        handed back unverified."""
        found = tuple(c for c in (service, own) if c is not None)
        if found:
            return found
        facts = await self.facts()
        if isinstance(facts, Failed):
            self.fail(facts.exc, f"GcsBackend: cannot read the checksum of {self.url}")
        found = tuple(c for c in (facts.crc32c, facts.own_crc32c) if c is not None)
        if not found:
            raise IntegrityError(
                f"GcsBackend: artifact {self.opaque_id} at {self.url} has no CRC32C to verify"
            )
        return found

    def verify(self, expected: tuple[str, ...], actual: str) -> None:
        """Raise ``IntegrityError`` unless ``actual`` matches every expected checksum."""
        for crc in expected:
            verify_crc32c(f"GcsBackend: artifact {self.opaque_id} at {self.url}", crc, actual)

    async def verify_download(self, data: bytes, service: str | None, own: str | None) -> None:
        """Raise ``IntegrityError`` unless ``data`` matches its checksums."""
        self.verify(await self.expected_crcs(service, own), crc32c_b64(data))

    async def verified_chunks(
        self, resp: aiohttp.ClientResponse, expected: tuple[str, ...], what: str
    ) -> AsyncIterator[bytes]:
        """An open download's body in pieces of up to 1 MiB; at its end, a
        mismatch raises ``IntegrityError`` before the iteration completes."""
        crc = Crc32c()
        while True:
            try:
                chunk = await resp.content.read(1024 * 1024)
            except Exception as exc:
                failure = exc
            else:
                if not chunk:
                    self.verify(expected, crc.b64())
                    return
                crc.update(chunk)
                yield chunk
                continue
            self.fail(failure, what)
