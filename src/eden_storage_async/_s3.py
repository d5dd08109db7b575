"""``S3Backend``: one object per artifact at ``<prefix>/<opaque_id>``, on aiobotocore.

Create-only is enforced by the service: every ``PutObject`` carries
``If-None-Match: *``, so a taken key answers 412 and nothing is overwritten.
aiobotocore is imported here, when a backend is built, and nowhere else; the
base package works without the ``s3`` extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from ._base import BackendBase
from ._errors import BackendError, ConfigError, ConflictRetriesExhausted
from ._retry import Backoff, retrying
from ._s3_client import S3Client, client_config_kwargs, import_sdk, object_body
from ._s3_errors import (
    LOAD_CODES,
    STORE_CODES,
    http_status,
    is_conditional_conflict,
    is_precondition_failed,
    map_s3_errors,
)
from ._s3_stream import MIN_PART_SIZE, CompleteConflict, Tally, upload_multipart
from ._settle import settle
from ._stream import ChunkSource, read_head

__all__ = ["S3Backend", "S3Client"]

# Sent as x-amz-meta-eden-write-nonce: tells our own lost-reply write apart
# from someone else's object when a retried PutObject answers 412.
_NONCE_KEY = "eden-write-nonce"
# S3's 409 ConditionalRequestConflict means "nothing written, try again"; four
# attempts over at most ~0.35 s of jittered sleep, then ConflictRetriesExhausted.
_CONFLICT_BACKOFF = Backoff(attempts=4, base_s=0.05, cap_s=1.0)
_DEFAULT_MAX_CONCURRENCY = 64
# store_stream buffers up to this much before switching to a multipart upload,
# whose parts are this size; load_stream reads the body in pieces of 1 MiB.
_MULTIPART_THRESHOLD = 8 * 1024 * 1024
_PART_SIZE = 8 * 1024 * 1024
_READ_CHUNK = 1024 * 1024


class S3Backend(BackendBase):
    """An ``ArtifactBackend`` storing each artifact as ``<prefix>/<opaque_id>`` in ``bucket``.

    Credentials come only from botocore's default chain (environment, shared
    config and credentials files with ``AWS_PROFILE``, container and instance
    metadata, web identity / IRSA); no parameter takes a secret.

    ``region`` defaults to botocore's chain (``AWS_DEFAULT_REGION``, the
    profile); with ``endpoint_url`` set and no region anywhere, ``us-east-1``.
    ``max_concurrency`` sizes the connection pool. Construction needs no
    running loop: the client is created on first use and closed by
    ``aclose()``. A ``client`` passed in is used as is and is NOT closed by
    ``aclose()``: whoever created it owns it.
    """

    def __init__(
        self,
        *,
        bucket: str,
        region: str | None = None,
        prefix: str = "",
        endpoint_url: str | None = None,
        client: S3Client | None = None,
        max_concurrency: int = _DEFAULT_MAX_CONCURRENCY,
        conflict_backoff: Backoff = _CONFLICT_BACKOFF,
        multipart_threshold: int = _MULTIPART_THRESHOLD,
        part_size: int = _PART_SIZE,
    ) -> None:
        if not isinstance(bucket, str) or not bucket or "/" in bucket:
            raise ConfigError(f"bucket must be a non-empty name without '/', got {bucket!r}")
        if not isinstance(prefix, str):
            raise ConfigError(f"prefix must be a str, got {prefix!r}")
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be a positive int, got {max_concurrency!r}")
        if not isinstance(part_size, int) or part_size < MIN_PART_SIZE:
            raise ConfigError(f"part_size must be an int of at least 5 MiB, got {part_size!r}")
        if not isinstance(multipart_threshold, int) or multipart_threshold < 0:
            raise ConfigError(
                f"multipart_threshold must be a non-negative int, got {multipart_threshold!r}"
            )
        if endpoint_url is not None and (urlsplit(endpoint_url).username is not None):
            raise ConfigError(
                "endpoint_url must not hold user info; credentials come from the default chain"
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
            f"endpoint_url={self._endpoint_url!r}, region={self._region!r})"
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
        # Building a session reads the shared config files and loading the S3
        # model reads and parses large JSON files: off the loop, once.
        session, region = await asyncio.to_thread(self._prepare_session)
        context = session.create_client(
            "s3",
            region_name=region,
            endpoint_url=self._endpoint_url,
            config=self._sdk.config_cls(**client_config_kwargs(self._max_concurrency)),
        )
        client: Any = await self._owned.enter_async_context(context)
        # botocore sends every PutObject with "Expect: 100-continue", so the body
        # waits one round trip for the server's go-ahead. A store cancelled in
        # that gap left an EMPTY object on SeaweedFS 4.48 in 45 of 120 tries
        # (0 of 120 without it), and small bodies gain nothing from the wait.
        client.meta.events.unregister("before-call.s3", self._sdk.add_expect_header)
        typed: S3Client = client
        return typed

    def _prepare_session(self) -> tuple[Any, str | None]:
        session = self._sdk.session_cls()
        region: str | None = self._region or session.get_config_variable("region")
        if region is None and self._endpoint_url is not None:
            # S3-compatible servers (MinIO, SeaweedFS) sign with us-east-1 by default.
            region = "us-east-1"
        session.get_config_variable("ca_bundle")  # cached: create_client reads it too
        # aiobotocore < 3.7 lacks it; there the S3 model still loads on the loop.
        warm_up = getattr(session, "warm_up_loader_caches", None)
        if warm_up is not None:
            warm_up("s3")
        return session, region

    async def _store(self, opaque_id: str, data: memoryview) -> None:
        key = self._key(opaque_id)
        what = f"cannot store artifact {opaque_id} at s3://{self._bucket}/{key}"
        body = object_body(data)
        nonce = secrets.token_hex(16)
        with map_s3_errors(what, STORE_CODES):
            client = await self._get_client()

            async def put() -> None:
                # settle: once the body is on the wire the server may commit it
                # even if we hang up, so a cancel waits for the answer. Without
                # this, a store cancelled 20 ms in was seen absent by a load and
                # then published moments later (seen once in a full CI run, on
                # SeaweedFS). The wait is bounded by botocore's read timeout.
                await settle(
                    client.put_object(
                        Bucket=self._bucket,
                        Key=key,
                        Body=body,
                        IfNoneMatch="*",
                        Metadata={_NONCE_KEY: nonce},
                    )
                )

            try:
                await retrying(
                    put, should_retry=is_conditional_conflict, backoff=self._conflict_backoff
                )
            except Exception as exc:
                # Every 412 is checked, not only those with RetryAttempts > 0:
                # aiohttp itself re-sends a PUT once when its connection drops,
                # and botocore never counts that. An earlier send may have
                # created the object and lost its reply.
                taken = is_precondition_failed(exc)
                if taken and await self._is_this_write(client, key, nonce, len(body), what):
                    return
                raise

    async def _is_this_write(
        self, client: S3Client, key: str, nonce: str, size: int, what: str
    ) -> bool:
        """True when the object at ``key`` is this store's own, whole write."""
        verify = f"{what}: checking whose object answered 412"
        with map_s3_errors(verify):
            try:
                head = await client.head_object(Bucket=self._bucket, Key=key)
            except Exception as exc:
                if http_status(exc) == 404:
                    # It existed a moment ago (412) and is gone now: whose it was
                    # cannot be known, and "exists" or "absent" would both be guesses.
                    raise BackendError(f"{verify}: the object vanished; outcome unknown") from exc
                raise
        metadata = head.get("Metadata") or {}
        if metadata.get(_NONCE_KEY) != nonce:
            return False
        if head.get("ContentLength") != size:
            # Our headers arrived but not our body: SeaweedFS 4.48 publishes an
            # empty object when the connection drops between the two.
            raise BackendError(
                f"{verify}: the service kept {head.get('ContentLength')} of {size} bytes"
                " of this write; the object at this id is damaged"
            )
        return True

    async def _load(self, opaque_id: str) -> bytes:
        key = self._key(opaque_id)
        with map_s3_errors(
            f"cannot load artifact {opaque_id} from s3://{self._bucket}/{key}", LOAD_CODES
        ):
            client = await self._get_client()
            response = await client.get_object(Bucket=self._bucket, Key=key)
            # The context closes the body even if the read fails or is cancelled,
            # so its connection goes back to the pool (or is dropped), never leaked.
            async with response["Body"] as stream:
                payload: bytes = await stream.read()
        return payload

    async def _store_stream(self, opaque_id: str, source: ChunkSource) -> None:
        key = self._key(opaque_id)
        what = f"cannot store artifact {opaque_id} at s3://{self._bucket}/{key}"
        attempt = 0
        while True:
            attempt += 1
            chunks = aiter(source)
            try:
                head, more = await read_head(chunks, self._multipart_threshold)
                if not more:
                    # The whole stream fits under the threshold: one PutObject.
                    await self._store(opaque_id, memoryview(head))
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
                            metadata={_NONCE_KEY: nonce},
                            head=head,
                            rest=chunks,
                            part_size=self._part_size,
                            tally=tally,
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
                        taken = is_precondition_failed(exc)
                        if taken and await self._is_this_write(
                            client, key, nonce, tally.size, what
                        ):
                            return
                        raise
            finally:
                await chunks.aclose()
            # A list or tuple of chunks: the whole upload starts over.
            await asyncio.sleep(self._conflict_backoff.delay(attempt))

    @contextlib.asynccontextmanager
    async def _load_stream(self, opaque_id: str) -> AsyncIterator[AsyncIterator[bytes]]:
        key = self._key(opaque_id)
        what = f"cannot load artifact {opaque_id} from s3://{self._bucket}/{key}"
        with map_s3_errors(what, LOAD_CODES):
            client = await self._get_client()
            response = await client.get_object(Bucket=self._bucket, Key=key)
        # Closed on exit, read to the end or not, so the connection is never leaked.
        async with response["Body"] as stream:
            yield _body_chunks(stream, what)

    async def _aclose(self) -> None:
        await self._owned.aclose()


async def _body_chunks(stream: Any, what: str) -> AsyncIterator[bytes]:
    while True:
        with map_s3_errors(what, LOAD_CODES):
            chunk: bytes = await stream.read(_READ_CHUNK)
        if not chunk:
            return
        yield chunk
