"""``S3Backend``: one object per artifact at ``<prefix>/<opaque_id>``, on aiobotocore.

Create-only is enforced by the service: every ``PutObject`` carries
``If-None-Match: *``, so a taken key answers 412 and nothing is overwritten.
Every store carries the body's CRC32C and every load checks it
(``_s3/checksum.py``). Transient failures are retried by our own loop
(``retry``), not botocore's, within connect and read timeouts; see
``client_config_kwargs`` for why. aiobotocore is imported here, when a backend
is built, and nowhere else; the base package works without the ``s3`` extra.

The hot path talks to its client only through ``put_object``, ``get_object``
and ``head_object``, with the keyword arguments used here and in ``reads.py``
and ``stat.py``, so a lean client with just those three calls can stand in for
aiobotocore's (``stat``'s HeadBucket after a 404 goes to aiobotocore).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Literal, TypeVar

from .._core.attributes import ArtifactInfo, Attributes
from .._core.base import BackendBase
from .._core.checksum import crc32c_b64
from .._core.create_only import CanaryPath
from .._core.errors import ConfigError, ConflictRetriesExhausted
from .._core.ranges import ByteRange
from .._core.retry import Backoff, retrying
from .._core.settle import settle
from .._core.stream import ChunkSource, read_head
from .checksum import METADATA_KEY
from .client import S3Client, import_sdk, object_body
from .config import (
    DEFAULT_CONFLICT_BACKOFF,
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MULTIPART_THRESHOLD,
    DEFAULT_PART_SIZE,
    DEFAULT_READ_TIMEOUT_S,
    DEFAULT_RETRY,
    check_settings,
)
from .errors import (
    STORE_CODES,
    is_conditional_conflict,
    is_precondition_failed,
    is_transient,
    map_s3_errors,
)
from .listing import id_pages
from .multipart import CompleteConflict, Tally, upload_multipart
from .nonce import NONCE_KEY, is_this_write
from .reads import Reader
from .routing import RequestPath, open_routed_client

__all__ = ["S3Backend", "S3Client"]

_T = TypeVar("_T")


class S3Backend(BackendBase):
    """An ``ArtifactBackend`` storing each artifact as ``<prefix>/<opaque_id>`` in ``bucket``.

    Credentials come only from botocore's default chain (environment, shared
    config and credentials files with ``AWS_PROFILE``, container and instance
    metadata, web identity / IRSA); no parameter takes a secret.

    ``region`` defaults to botocore's chain (``AWS_DEFAULT_REGION``, the
    profile); with ``endpoint_url`` set and no region anywhere, ``us-east-1``.
    ``max_concurrency`` sizes the connection pool. ``connect_timeout`` and
    ``read_timeout`` (seconds) bound each attempt; ``retry`` bounds the retries
    of transient failures (resets, timeouts, 5xx, throttling, a body damaged
    on the way), its ``deadline_s`` the whole operation. Construction needs no
    running loop: the client is created on first use and closed by
    ``aclose()``. A ``client`` passed in is used as is and is NOT closed by
    ``aclose()``: whoever created it owns it.

    ``request_path="lean"`` (the default) sends the hot calls (PutObject,
    GetObject, HeadObject) through a lean request path that signs with
    botocore's own SigV4 signer and the client's own credentials, at about a
    third of the SDK's client CPU per call (docs/s3-lean.md); multipart
    uploads stay on aiobotocore. ``"sdk"`` sends everything through
    aiobotocore. A client that goes through a proxy, or one passed in as
    ``client``, always uses the SDK path: ``repr`` shows the path in use and
    why, and the proxy fallback is logged once (``_s3/routing.py``).
    """

    # MaxKeys of each listing page (``listing.py``); None: the service's
    # default. Tests make it small to cross pages.
    _list_page: int | None = None

    def __init__(
        self,
        *,
        bucket: str,
        region: str | None = None,
        prefix: str = "",
        endpoint_url: str | None = None,
        client: S3Client | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        conflict_backoff: Backoff = DEFAULT_CONFLICT_BACKOFF,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        part_size: int = DEFAULT_PART_SIZE,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
        read_timeout: float = DEFAULT_READ_TIMEOUT_S,
        retry: Backoff = DEFAULT_RETRY,
        request_path: Literal["lean", "sdk"] = "lean",
    ) -> None:
        if request_path not in ("lean", "sdk"):
            raise ConfigError(f"request_path must be 'lean' or 'sdk', got {request_path!r}")
        check_settings(
            bucket=bucket,
            prefix=prefix,
            endpoint_url=endpoint_url,
            max_concurrency=max_concurrency,
            multipart_threshold=multipart_threshold,
            part_size=part_size,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retry=retry,
        )
        self._sdk = import_sdk()
        self._bucket = bucket
        self._region = region
        # Slashes at either end would give keys like "/x" or "a//x".
        self._prefix = prefix.strip("/")
        self._endpoint_url = endpoint_url
        self._max_concurrency = max_concurrency
        self._conflict_backoff = conflict_backoff
        self._multipart_threshold = multipart_threshold
        self._part_size = part_size
        self._connect_timeout = float(connect_timeout)
        self._read_timeout = float(read_timeout)
        self._retry = retry
        self._request_path = request_path  # as asked; self._path says what is used
        # What repr shows: the path in use, and why when it is not the one asked.
        self._path = RequestPath(request_path, request_path)
        if client is not None and request_path == "lean":
            self._path.fall_back("client passed in")
        self._client: S3Client | None = client
        # The lock serialises only the first use, when many tasks may race to
        # build the one client; later calls never touch it.
        self._client_lock = asyncio.Lock()
        self._owned = contextlib.AsyncExitStack()

    @property
    def bucket(self) -> str:
        """The bucket holding the artifacts."""
        return self._bucket

    @property
    def prefix(self) -> str:
        """The key prefix, without slashes at either end ("" for none)."""
        return self._prefix

    def __repr__(self) -> str:
        return (
            f"S3Backend(bucket={self._bucket!r}, prefix={self._prefix!r}, "
            f"endpoint_url={self._endpoint_url!r}, region={self._region!r}, "
            f"request_path={self._path})"
        )

    def _key(self, opaque_id: str) -> str:
        return f"{self._prefix}/{opaque_id}" if self._prefix else opaque_id

    async def _get_client(self) -> S3Client:
        client = self._client
        if client is not None:
            return client
        async with self._client_lock:
            if self._client is None:
                with map_s3_errors(f"cannot create an S3 client for bucket {self._bucket!r}"):
                    self._client = await self._create_client()
            return self._client

    async def _create_client(self) -> S3Client:
        # routing.py: nothing is left open if this fails; a proxy is logged once.
        return await open_routed_client(
            self._sdk,
            self._owned,
            self._path,
            bucket=self._bucket,
            region=self._region,
            endpoint_url=self._endpoint_url,
            max_concurrency=self._max_concurrency,
            connect_timeout=self._connect_timeout,
            read_timeout=self._read_timeout,
        )

    async def _retrying(self, operation: Callable[[], Awaitable[_T]]) -> _T:
        """``operation`` retried on transient failures within ``retry``."""
        return await retrying(operation, should_retry=is_transient, backoff=self._retry)

    async def _store(self, opaque_id: str, data: memoryview, attributes: Attributes) -> None:
        key = self._key(opaque_id)
        what = f"cannot store artifact {opaque_id} at s3://{self._bucket}/{key}"
        body = object_body(data)
        crc = crc32c_b64(body)
        nonce = secrets.token_hex(16)
        # One request carries the attributes with the bytes: published together
        # or not at all. check_attributes refused our bookkeeping keys.
        metadata = {**attributes.metadata, NONCE_KEY: nonce, METADATA_KEY: crc}
        with map_s3_errors(what, STORE_CODES):
            client = await self._get_client()

            async def put() -> None:
                # settle: once the body is on the wire the server may commit it
                # even if we hang up, so a cancel waits for the answer. Without
                # this, a store cancelled 20 ms in was seen absent by a load and
                # then published moments later (seen once in a full CI run, on
                # SeaweedFS). The wait is bounded by the read timeout.
                await settle(
                    client.put_object(
                        Bucket=self._bucket,
                        Key=key,
                        Body=body,
                        IfNoneMatch="*",
                        Metadata=metadata,
                        ChecksumCRC32C=crc,
                        # The default too: stat then reads the same type back
                        # whatever the service would have defaulted to.
                        ContentType=attributes.effective_content_type,
                    )
                )

            try:
                # Transients retried inside, a 409 (nothing written) outside.
                await retrying(
                    lambda: self._retrying(put),
                    should_retry=is_conditional_conflict,
                    backoff=self._conflict_backoff,
                )
            except Exception as exc:
                # Every 412 is checked, not only after our own retries: the
                # HTTP layer itself re-sends a PUT once when a connection drops
                # (aiohttp on the sdk path, a stale keep-alive connection on the
                # lean one), uncounted. An earlier send may have created the
                # object and lost its reply.
                if is_precondition_failed(exc) and await self._is_this_write(
                    client, key, nonce, len(body), crc, what
                ):
                    return
                raise

    async def _is_this_write(
        self, client: S3Client, key: str, nonce: str, size: int, crc: str, what: str
    ) -> bool:
        return await is_this_write(
            client,
            bucket=self._bucket,
            key=key,
            nonce=nonce,
            size=size,
            crc32c=crc,
            what=what,
            retry=self._retry,
        )

    async def _store_stream(
        self,
        opaque_id: str,
        source: ChunkSource,
        attributes: Attributes,
        *,
        threshold: int | None = None,
    ) -> None:
        # ``threshold`` overrides multipart_threshold (0: always multipart, for
        # check_create_only's few-byte canary, _s3/canary.py).
        key = self._key(opaque_id)
        limit = self._multipart_threshold if threshold is None else threshold
        what = f"cannot store artifact {opaque_id} at s3://{self._bucket}/{key}"
        attempt = 0
        while True:
            attempt += 1
            chunks = aiter(source)
            try:
                head, more = await read_head(chunks, limit)
                if not more:
                    # The whole stream fits under the threshold: one PutObject.
                    await self._store(opaque_id, memoryview(head), attributes)
                    return
                nonce = secrets.token_hex(16)
                tally = Tally()
                with map_s3_errors(what, STORE_CODES):
                    client = await self._get_client()
                    try:
                        await upload_multipart(
                            client,
                            bucket=self._bucket,
                            key=key,
                            metadata={**attributes.metadata, NONCE_KEY: nonce},
                            content_type=attributes.effective_content_type,
                            head=head,
                            rest=chunks,
                            part_size=self._part_size,
                            tally=tally,
                            retry=self._retry,
                        )
                        return
                    except CompleteConflict as conflict:
                        if not source.replayable:
                            raise ConflictRetriesExhausted(
                                f"{what}: CompleteMultipartUpload answered 409"
                                " ConditionalRequestConflict, and a one-shot chunk iterable"
                                " cannot be sent again; nothing was written, store again"
                            ) from conflict.cause
                        if attempt >= self._conflict_backoff.attempts:
                            raise conflict.cause from None
                    except Exception as exc:
                        if is_precondition_failed(exc) and await self._is_this_write(
                            client, key, nonce, tally.size, tally.crc.b64(), what
                        ):
                            return
                        raise
            finally:
                await chunks.aclose()
            # A list or tuple of chunks: the whole upload starts over.
            await asyncio.sleep(self._conflict_backoff.delay(attempt))

    async def _reader(self, opaque_id: str, verb: str = "load") -> Reader:
        key = self._key(opaque_id)
        what = f"cannot {verb} artifact {opaque_id} from s3://{self._bucket}/{key}"
        with map_s3_errors(what):
            client = await self._get_client()
        return Reader(client, self._bucket, key, what, self._retry)

    async def _load(self, opaque_id: str) -> bytes:
        return await (await self._reader(opaque_id)).load()

    async def _stat(self, opaque_id: str) -> ArtifactInfo:
        return await (await self._reader(opaque_id, "stat")).stat()

    async def _load_range(self, opaque_id: str, byte_range: ByteRange) -> bytes:
        return await (await self._reader(opaque_id)).load_range(byte_range)

    @contextlib.asynccontextmanager
    async def _load_stream(self, opaque_id: str) -> AsyncIterator[AsyncIterator[bytes]]:
        async with (await self._reader(opaque_id)).load_stream() as chunks:
            yield chunks

    @contextlib.asynccontextmanager
    async def _load_range_stream(
        self, opaque_id: str, byte_range: ByteRange
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        async with (await self._reader(opaque_id)).load_range_stream(byte_range) as chunks:
            yield chunks

    def _id_pages(self) -> AsyncGenerator[list[str], None]:
        return id_pages(
            self._get_client,
            bucket=self._bucket,
            prefix=self._prefix,
            retry=self._retry,
            page_size=self._list_page,
        )

    def _canary_paths(self) -> list[CanaryPath]:
        """The upload paths ``check_create_only`` tries (``canary.py`` says which)."""
        from .canary import canary_paths

        return canary_paths(self)

    async def _aclose(self) -> None:
        await self._owned.aclose()
