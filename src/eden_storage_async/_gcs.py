"""``GcsBackend``: one Google Cloud Storage object per artifact, on gcloud-aio-storage.

Create-only is enforced by GCS itself: every upload carries
``ifGenerationMatch=0`` (multipart below ``resumable_threshold``, resumable
above it; never a media upload), and a 412 is a reused id. Each store also
writes a random nonce into the object's custom metadata, so that after a 412
one metadata read tells a lost reply to our own write (our nonce: success)
from another writer's object (``AlreadyExists``).

The SDK and aiohttp are imported on construction, not with this module, so the
base package imports without the ``gcs`` extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn, TypeVar

from ._base import BackendBase
from ._errors import AlreadyExists, BucketNotFound, ConfigError, MissingDependency, NotFound
from ._gcs_config import (
    DEFAULT_ENDPOINT,
    check_bucket,
    normalize_endpoint,
    normalize_prefix,
    without_userinfo,
)
from ._retry import Backoff, retrying
from ._stream import ChunkSource, read_head

if TYPE_CHECKING:
    import aiohttp

    from ._gcs_client import GcsClient

__all__ = ["GcsBackend"]

_T = TypeVar("_T")
_log = logging.getLogger("eden_storage_async.gcs")

_PIP_HINT = "pip install 'eden-storage-async[gcs]'"


class GcsBackend(BackendBase):
    """Stores each artifact as the GCS object ``<prefix>/<opaque_id>`` in ``bucket``.

    Credentials come only from the default chain (``GOOGLE_APPLICATION_CREDENTIALS``,
    gcloud's application-default file, or the metadata server / Workload
    Identity). ``endpoint_url``, else ``STORAGE_EMULATOR_HOST``, points the
    backend at an emulator, and then no credentials are sent at all.

    ``session``: an aiohttp session to use instead of one of our own. The caller
    owns it: ``aclose()`` leaves it open, and its connector's limits apply.

    ``timeout`` (seconds) bounds connecting and every wait without progress
    (the reply's first byte, each read). An upload's total limit is
    ``timeout + size / min_throughput`` (bytes per second), so it grows with
    the body; a download has no total, only the no-progress limit. The SDK's
    default, 10 s total covering the body too, fails any artifact that takes
    longer than 10 s to transfer (a 1 GiB one at 50 MB/s needs 21 s) however
    healthy the connection, and a larger fixed total would leave a dead
    connection undetected for just as long.

    ``max_concurrency`` sizes the connection pool and caps the operations in
    flight, so a request's timeout never runs while it queues for a connection.
    Transient failures (408, 429, 5xx, resets, timeouts) are retried per
    ``retry``; a store is safe to retry because of the nonce.
    """

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        min_throughput: float = 1024 * 1024,
        max_concurrency: int = 64,
        resumable_threshold: int = 5 * 1024 * 1024,
        retry: Backoff = Backoff(attempts=5, base_s=0.2, cap_s=5.0),  # noqa: B008 - frozen
    ) -> None:
        _import_sdk()
        from ._gcs_client import Timeouts

        self._bucket = check_bucket(bucket)
        self._prefix = normalize_prefix(prefix)
        endpoint = endpoint_url or os.environ.get("STORAGE_EMULATOR_HOST") or None
        self._emulator = endpoint is not None
        self._endpoint = normalize_endpoint(endpoint or DEFAULT_ENDPOINT)
        if endpoint_url is None and self._emulator:
            # An inherited variable silently turning production traffic into
            # unauthenticated emulator traffic must at least be visible.
            _log.warning(
                "GcsBackend: STORAGE_EMULATOR_HOST is set; bucket %r goes to the emulator at %s "
                "without credentials",
                self._bucket,
                self._endpoint,
            )
        for name, value in (("timeout", timeout), ("min_throughput", min_throughput)):
            if not value > 0:
                raise ConfigError(f"GcsBackend: {name} must be positive, got {value!r}")
        if max_concurrency < 1:
            raise ConfigError(
                f"GcsBackend: max_concurrency must be at least 1, got {max_concurrency}"
            )
        if resumable_threshold < 0:
            raise ConfigError("GcsBackend: resumable_threshold must not be negative")
        self._session = session
        self._timeouts = Timeouts(idle_s=timeout, min_bytes_per_s=min_throughput)
        self._max_concurrency = max_concurrency
        self._resumable_threshold = resumable_threshold
        self._retry = retry
        # asyncio primitives bind to a loop on first use, not here, so
        # construction needs no running loop.
        self._slots = asyncio.Semaphore(max_concurrency)
        self._client_lock = asyncio.Lock()
        self._client: GcsClient | None = None

    @property
    def bucket(self) -> str:
        """The bucket holding the artifacts."""
        return self._bucket

    @property
    def prefix(self) -> str:
        """The normalized prefix: no leading or trailing slash, empty for none."""
        return self._prefix

    def object_name(self, opaque_id: str) -> str:
        """The GCS object name for ``opaque_id``: ``<prefix>/<opaque_id>``."""
        return f"{self._prefix}/{opaque_id}" if self._prefix else opaque_id

    def __repr__(self) -> str:
        return (
            f"GcsBackend(bucket={self._bucket!r}, prefix={self._prefix!r}, "
            f"endpoint={without_userinfo(self._endpoint)!r})"
        )

    async def _store(self, opaque_id: str, data: memoryview) -> None:
        from ._gcs_errors import status_of

        client = await self._ensure_client()
        name = self.object_name(opaque_id)
        nonce = secrets.token_hex(16)
        resumable = len(data) > self._resumable_threshold
        async with self._slots:
            outcome = await self._call(
                lambda: client.upload(name, data, nonce, resumable=resumable)
            )
            if not isinstance(outcome, _Failed):
                return
            status = status_of(outcome.exc)
            if status == 412:
                await self._resolve_conflict(client, opaque_id, name, nonce, outcome.exc)
                return
        if status == 404:
            # An upload has no object to miss: its 404 is the bucket.
            raise BucketNotFound(
                f"GcsBackend: cannot store artifact {opaque_id}: "
                f"bucket {self._bucket!r} does not exist"
            ) from _scrubbed(client, outcome.exc)
        _raise(
            client,
            outcome.exc,
            f"GcsBackend: cannot store artifact {opaque_id} at {self._url(name)}",
        )

    async def _load(self, opaque_id: str) -> bytes:
        from ._gcs_errors import status_of

        client = await self._ensure_client()
        name = self.object_name(opaque_id)
        async with self._slots:
            outcome = await self._call(lambda: client.download(name))
            if not isinstance(outcome, _Failed):
                return outcome
            if status_of(outcome.exc) == 404:
                await self._raise_absent(client, opaque_id, name, outcome.exc)
        _raise(
            client,
            outcome.exc,
            f"GcsBackend: cannot load artifact {opaque_id} from {self._url(name)}",
        )

    async def _store_stream(self, opaque_id: str, source: ChunkSource) -> None:
        import aiohttp

        from ._gcs_errors import status_of

        chunks = aiter(source)
        try:
            head, more = await read_head(chunks, self._resumable_threshold)
            if not more:
                # Small enough to hold: the single-request upload, with its retries.
                await self._store(opaque_id, memoryview(head))
                return
            client = await self._ensure_client()
            name = self.object_name(opaque_id)
            nonce = secrets.token_hex(16)
            async with self._slots:
                # Not retried: the chunks already sent cannot be asked for again.
                try:
                    await client.upload_stream(name, head, chunks, nonce)
                    return
                except (TimeoutError, aiohttp.ClientError) as exc:
                    # Only the wire's failures: the caller's own chunks may
                    # raise anything, and that propagates as it is.
                    failure = exc
                if status_of(failure) == 412:
                    await self._resolve_conflict(client, opaque_id, name, nonce, failure)
                    return
        finally:
            await chunks.aclose()
        if status_of(failure) == 404:
            raise BucketNotFound(
                f"GcsBackend: cannot store artifact {opaque_id}: "
                f"bucket {self._bucket!r} does not exist"
            ) from _scrubbed(client, failure)
        _raise(
            client, failure, f"GcsBackend: cannot store artifact {opaque_id} at {self._url(name)}"
        )

    @contextlib.asynccontextmanager
    async def _load_stream(self, opaque_id: str) -> AsyncIterator[AsyncIterator[bytes]]:
        from ._gcs_errors import status_of

        client = await self._ensure_client()
        name = self.object_name(opaque_id)
        what = f"GcsBackend: cannot load artifact {opaque_id} from {self._url(name)}"
        async with self._slots:
            opened = await self._call(lambda: client.download_stream(name))
            if isinstance(opened, _Failed):
                if status_of(opened.exc) == 404:
                    await self._raise_absent(client, opaque_id, name, opened.exc)
                _raise(client, opened.exc, what)
            try:
                yield _media_chunks(client, opened, what)
            finally:
                opened.release()

    async def _aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _ensure_client(self) -> GcsClient:
        """The client, built on first use: a session needs a running loop."""
        if self._client is None:
            async with self._client_lock:
                if self._client is None:
                    from ._gcs_client import open_client

                    self._client = await open_client(
                        session=self._session,
                        api_root=self._endpoint,
                        emulator=self._emulator,
                        bucket=self._bucket,
                        max_concurrency=self._max_concurrency,
                        timeouts=self._timeouts,
                    )
        return self._client

    async def _call(self, operation: Callable[[], Awaitable[_T]]) -> _T | _Failed:
        """Run ``operation`` with retries; a final failure is returned, not raised.

        Returning it lets the caller raise its translation outside any
        ``except`` block, so the SDK error (whose request headers hold the
        token) is not attached as ``__context__``.
        """
        from ._gcs_errors import is_transient

        try:
            return await retrying(operation, should_retry=is_transient, backoff=self._retry)
        except Exception as exc:
            return _Failed(exc)

    async def _resolve_conflict(
        self, client: GcsClient, opaque_id: str, name: str, nonce: str, conflict: Exception
    ) -> None:
        """After a 412: return if the object is our own write, else raise AlreadyExists."""
        from ._gcs_errors import status_of

        owner = await self._call(lambda: client.nonce_of(name))
        if isinstance(owner, _Failed):
            # 404: the object existed at our write and is gone now; the 412 stands.
            if status_of(owner.exc) != 404:
                _raise(
                    client,
                    owner.exc,
                    f"GcsBackend: store of artifact {opaque_id} got 412 and could not read "
                    f"{self._url(name)} to tell whether the object is its own write",
                )
        elif owner == nonce:
            # An earlier attempt of this very store landed; only its reply was lost.
            _log.debug("store of %s: the 412 was our own earlier attempt", opaque_id)
            return
        raise AlreadyExists(
            f"GcsBackend: artifact {opaque_id} already exists at {self._url(name)}"
        ) from _scrubbed(client, conflict)

    async def _raise_absent(
        self, client: GcsClient, opaque_id: str, name: str, miss: Exception
    ) -> NoReturn:
        """After a 404 on a read: the bucket metadata says which of the two is missing."""
        exists = await self._call(client.bucket_exists)
        if isinstance(exists, _Failed):
            _raise(
                client,
                exists.exc,
                f"GcsBackend: load of artifact {opaque_id} got 404 and could not check "
                f"whether bucket {self._bucket!r} exists",
            )
        if exists is False:
            raise BucketNotFound(
                f"GcsBackend: cannot load artifact {opaque_id}: "
                f"bucket {self._bucket!r} does not exist"
            ) from _scrubbed(client, miss)
        if exists is None:
            # Least-privilege roles lack storage.buckets.get; the object 404 is
            # then taken at its word (documented in docs/gcs.md).
            _log.debug("bucket metadata refused (403); treating the 404 as an absent object")
        raise NotFound(
            f"GcsBackend: artifact {opaque_id} not found at {self._url(name)}"
        ) from _scrubbed(client, miss)

    def _url(self, name: str) -> str:
        return f"gs://{self._bucket}/{name}"


@dataclass(frozen=True)
class _Failed:
    """The final failure of a retried call."""

    exc: Exception


async def _media_chunks(
    client: GcsClient, resp: aiohttp.ClientResponse, what: str
) -> AsyncIterator[bytes]:
    """The body of an open download in pieces of up to 1 MiB, errors translated."""
    while True:
        try:
            chunk = await resp.content.read(1024 * 1024)
        except Exception as exc:
            failure = exc
        else:
            if not chunk:
                return
            yield chunk
            continue
        _raise(client, failure, what)


def _scrubbed(client: GcsClient, exc: Exception) -> BaseException:
    from ._gcs_errors import scrubbed

    return scrubbed(exc, client.known_secrets())


def _raise(client: GcsClient, exc: Exception, what: str) -> NoReturn:
    """Raise the translation of ``exc``, chained to its credential-free copy."""
    from ._gcs_errors import translate

    known = client.known_secrets()
    raise translate(exc, what, known) from _scrubbed(client, exc)


def _import_sdk() -> None:
    """Import the ``gcs`` extra now, so a missing one fails at construction."""
    try:
        for module in ("aiohttp", "gcloud.aio.auth", "gcloud.aio.storage"):
            importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            f"GcsBackend needs gcloud-aio-storage and aiohttp, which are not installed: "
            f"run {_PIP_HINT}"
        ) from exc
