"""``GcsBackend``: one Google Cloud Storage object per artifact, on aiohttp and gcloud-aio.

Create-only is enforced by GCS itself: every upload carries
``ifGenerationMatch=0`` (multipart below ``resumable_threshold``, resumable
above it; never a media upload), and a 412 is a reused id. Each store also
writes a random nonce into the object's custom metadata, so that after a 412
one metadata read tells a lost reply to our own write (our nonce: success)
from another writer's object (``AlreadyExists``).

Integrity: every upload carries its CRC32C for GCS to verify, and every load
checks the bytes against the CRC32C GCS returns (and our own copy in the
object's metadata) before handing them back (``_gcs.outcomes``).

Attributes (``contentType``, the caller's metadata) travel in the object
resource of the request that creates the object, on every upload path, so no
object ever exists without them. ``stat`` reads the object resource; range
reads are ``Range`` media downloads, checked in ``_gcs.reads``.

The SDK and aiohttp are imported on construction, not with this module, so the
base package imports without the ``gcs`` extra: the modules that need them are
imported inside the methods (after construction they are cached, so that costs
a dict lookup).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from .._core.attributes import ArtifactInfo, Attributes
from .._core.base import BackendBase
from .._core.checksum import Crc32c, crc32c_b64
from .._core.create_only import CanaryPath
from .._core.errors import IntegrityError
from .._core.ranges import ByteRange
from .._core.retry import Backoff, retrying
from .._core.stream import ChunkSource, read_head
from .config import (
    DEFAULT_ENDPOINT,
    STREAM_PIECE,
    check_bucket,
    check_ca_bundle,
    check_limits,
    import_sdk,
    normalize_endpoint,
    normalize_prefix,
    without_userinfo,
)

if TYPE_CHECKING:
    import aiohttp

    from .client import GcsClient
    from .outcomes import Failed, Target

__all__ = ["GcsBackend"]

_T = TypeVar("_T")
_log = logging.getLogger("eden_storage_async.gcs")


class GcsBackend(BackendBase):
    """Stores each artifact as the GCS object ``<prefix>/<opaque_id>`` in ``bucket``.

    Credentials come only from the default chain (``GOOGLE_APPLICATION_CREDENTIALS``,
    gcloud's application-default file, or the metadata server / Workload
    Identity). ``endpoint_url``, else ``STORAGE_EMULATOR_HOST``, points the
    backend at an emulator, and then no credentials are sent at all.

    ``session``: an aiohttp session to use instead of one of our own. The caller
    owns it: ``aclose()`` leaves it open, and its connector's limits (and TLS)
    apply.

    ``ca_bundle``: a PEM file of the CAs that server certificates must chain
    to, in place of the system store (a private CA, a TLS-inspecting proxy);
    every call honours it, the lean upload and the aiohttp session alike. It
    is read at first use: a missing or unreadable file raises ``TlsError``
    naming it, and opens nothing. Not with ``session``, which brings its own
    TLS. A certificate that does not verify raises ``TlsError`` at once,
    never retried.

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
    ``retry`` (by default up to 5 attempts within 60 s); a store is safe to
    retry because of the nonce, and a streamed upload resumes from the offset
    the upload session reports.

    Every store sends its CRC32C, which GCS verifies (a mismatch raises
    ``IntegrityError`` and stores nothing); every load verifies the bytes
    before returning them (a mismatch is read again per ``retry``, then
    raises ``IntegrityError``). ``load_stream`` hands bytes out as they arrive and
    raises ``IntegrityError`` at the end of a stream that does not match: a
    stream is verified only once it ends without error.
    """

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
        timeout: float = 30.0,
        min_throughput: float = 1024 * 1024,
        max_concurrency: int = 64,
        resumable_threshold: int = 5 * 1024 * 1024,
        # The deadline bounds a call to about a minute plus one request's
        # timeout, where 5 attempts alone could stack 5 full timeouts.
        retry: Backoff = Backoff(attempts=5, base_s=0.2, cap_s=5.0, deadline_s=60.0),  # noqa: B008
    ) -> None:
        import_sdk()
        from .client import Timeouts

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
        check_limits(timeout, min_throughput, max_concurrency, resumable_threshold)
        self._ca_bundle = check_ca_bundle(ca_bundle, session)
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
        # store_stream's piece size, and the maxResults of a listing page (None:
        # the service's default); tests make them small to cross them cheaply.
        self._stream_piece = STREAM_PIECE
        self._list_page: int | None = None
        # Resuming a failed piece through a status query would publish a
        # partial object on fake-gcs-server v1.54.0 (see _gcs_resumable).
        self._resume_streams = not self._emulator

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

    async def _store(
        self,
        opaque_id: str,
        data: memoryview,
        attributes: Attributes,
        *,
        resumable: bool | None = None,
    ) -> None:
        # ``resumable`` forces the path (check_create_only, _gcs/canary.py);
        # by default the size decides.
        from .errors import is_transient, status_of
        from .outcomes import Failed

        target = await self._target(opaque_id)
        client, name = target.client, target.name
        nonce = secrets.token_hex(16)
        crc = crc32c_b64(data)
        if resumable is None:
            resumable = len(data) > self._resumable_threshold
        async with self._slots:
            outcome = await self._call(
                lambda: client.upload(name, data, nonce, crc, attributes, resumable=resumable)
            )
            if not isinstance(outcome, Failed):
                target.check_stored(outcome, crc)
                return
            if status_of(outcome.exc) == 412:
                await target.resolve_conflict(nonce, crc, outcome.exc)
                return
            if is_transient(outcome.exc):
                # The retries are spent, but an earlier attempt may have landed
                # with its reply lost: the nonce tells, so no stored object is
                # reported as a failure.
                await target.confirm_landed(nonce, crc, outcome.exc)
                return
        target.fail_store(outcome.exc)

    async def _load(self, opaque_id: str) -> bytes:
        from .errors import status_of
        from .outcomes import Failed

        target = await self._target(opaque_id)
        client, name = target.client, target.name

        async def fetch() -> bytes:
            got = await client.download(name)
            await target.verify_download(got.data, got.crc32c, got.own_crc32c)
            return got.data

        async with self._slots:
            # A mismatch is retried too: a body damaged on the way reads back
            # whole; one damaged at rest keeps failing, and then it is raised.
            outcome = await self._call(fetch, retry_mismatch=True)
            if not isinstance(outcome, Failed):
                return outcome
            if isinstance(outcome.exc, IntegrityError):
                raise outcome.exc
            if status_of(outcome.exc) == 404:
                await target.raise_absent(outcome.exc)
        target.fail(outcome.exc, f"GcsBackend: cannot load artifact {opaque_id} from {target.url}")

    async def _store_stream(
        self,
        opaque_id: str,
        source: ChunkSource,
        attributes: Attributes,
        *,
        threshold: int | None = None,
    ) -> None:
        # ``threshold`` overrides resumable_threshold (0: always resumable,
        # for check_create_only's few-byte canary, _gcs/canary.py).
        import aiohttp

        from .errors import SessionGone, is_transient, status_of

        chunks = aiter(source)
        try:
            limit = self._resumable_threshold if threshold is None else threshold
            head, more = await read_head(chunks, limit)
            if not more:
                # Small enough to hold: the single-request upload, with its retries.
                await self._store(opaque_id, memoryview(head), attributes)
                return
            target = await self._target(opaque_id)
            nonce = secrets.token_hex(16)
            crc = Crc32c()
            async with self._slots:
                try:
                    await target.client.resumable.upload_stream(
                        target.name, head, chunks, nonce, crc, attributes, piece=self._stream_piece
                    )
                    return
                except (TimeoutError, aiohttp.ClientError, SessionGone) as exc:
                    # Only the wire's failures: the caller's own chunks may
                    # raise anything, and that propagates as it is.
                    failure = exc
                if status_of(failure) == 412:
                    await target.resolve_conflict(nonce, crc.b64(), failure)
                    return
                if is_transient(failure) or isinstance(failure, SessionGone):
                    # The last piece may have landed with its reply lost (or,
                    # on the emulator, its session closed): the nonce tells.
                    await target.confirm_landed(nonce, crc.b64(), failure)
                    return
        finally:
            await chunks.aclose()
        target.fail_store(failure)

    @contextlib.asynccontextmanager
    async def _load_stream(self, opaque_id: str) -> AsyncIterator[AsyncIterator[bytes]]:
        from .errors import status_of
        from .outcomes import Failed
        from .wire import CRC_KEY, crc32c_of_hash_header

        target = await self._target(opaque_id)
        what = f"GcsBackend: cannot load artifact {opaque_id} from {target.url}"
        async with self._slots:
            opened = await self._call(lambda: target.client.download_stream(target.name))
            if isinstance(opened, Failed):
                if status_of(opened.exc) == 404:
                    await target.raise_absent(opened.exc)
                target.fail(opened.exc, what)
            try:
                expected = await target.expected_crcs(
                    crc32c_of_hash_header(opened.headers),
                    opened.headers.get(f"X-Goog-Meta-{CRC_KEY}"),
                )
                yield target.verified_chunks(opened, expected, what)
            finally:
                opened.release()

    async def _stat(self, opaque_id: str) -> ArtifactInfo:
        from .reads import stat

        target = await self._target(opaque_id)
        async with self._slots:
            return await stat(target)

    async def _load_range(self, opaque_id: str, byte_range: ByteRange) -> bytes:
        from .reads import read_range

        target = await self._target(opaque_id)
        async with self._slots:
            return await read_range(target, byte_range)

    @contextlib.asynccontextmanager
    async def _load_range_stream(
        self, opaque_id: str, byte_range: ByteRange
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        from .reads import open_range

        target = await self._target(opaque_id)
        async with self._slots, open_range(target, byte_range) as chunks:
            yield chunks

    async def _target(self, opaque_id: str) -> Target:
        from .outcomes import Target

        client = self._client or await self._ensure_client()
        return Target(client, self._call, self._bucket, opaque_id, self.object_name(opaque_id))

    def _id_pages(self) -> AsyncGenerator[list[str], None]:
        from .listing import id_pages

        return id_pages(self)

    def _canary_paths(self) -> list[CanaryPath]:
        """The upload paths ``check_create_only`` tries (``canary.py`` says which)."""
        from .canary import canary_paths

        return canary_paths(self)

    async def _aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _ensure_client(self) -> GcsClient:
        """The client, built on first use: a session needs a running loop."""
        async with self._client_lock:
            if self._client is None:
                from .client import open_client

                self._client = await open_client(
                    session=self._session,
                    api_root=self._endpoint,
                    emulator=self._emulator,
                    bucket=self._bucket,
                    max_concurrency=self._max_concurrency,
                    timeouts=self._timeouts,
                    retry=self._retry,
                    resume=self._resume_streams,
                    ca_bundle=self._ca_bundle,
                )
        return self._client

    async def _call(
        self, operation: Callable[[], Awaitable[_T]], *, retry_mismatch: bool = False
    ) -> _T | Failed:
        """Run ``operation`` with retries; a final failure is returned, not raised.

        Returning it lets the caller raise its translation outside any
        ``except`` block, so the SDK error (whose request headers hold the
        token) is not attached as ``__context__``. ``retry_mismatch`` also
        retries an ``IntegrityError``.
        """
        from .errors import is_transient, is_transient_or_mismatch
        from .outcomes import Failed

        should_retry = is_transient_or_mismatch if retry_mismatch else is_transient
        try:
            return await retrying(operation, should_retry=should_retry, backoff=self._retry)
        except Exception as exc:
            return Failed(exc)
