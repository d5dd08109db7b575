"""The aiobotocore side of ``S3Backend``: importing the SDK, the client settings
(each chosen from a measurement) and the calls the backend makes.

Imported only by ``_s3/backend.py``; nothing here imports aiobotocore at module level.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from .._core.errors import MissingDependency
from .checksum import drop_sdk_crc32c_validation
from .tls import check_ca_bundle

__all__ = [
    "S3Client",
    "client_config_kwargs",
    "import_sdk",
    "object_body",
    "open_client",
]


_INSTALL_HINT = "pip install 'eden-storage-async[s3]'"


class S3Client(Protocol):
    """The calls ``S3Backend`` makes; an aiobotocore S3 client has them.

    ``store_stream`` above the multipart threshold also calls
    ``create_multipart_upload``, ``upload_part``, ``complete_multipart_upload``
    and ``abort_multipart_upload``; ``iter_ids`` calls ``list_objects_v2``.
    """

    async def put_object(self, **kwargs: Any) -> Mapping[str, Any]:
        """PutObject."""
        ...

    async def get_object(self, **kwargs: Any) -> Mapping[str, Any]:
        """GetObject; the ``Body`` is an async context manager with ``read()``."""
        ...

    async def head_object(self, **kwargs: Any) -> Mapping[str, Any]:
        """HeadObject."""
        ...

    async def head_bucket(self, **kwargs: Any) -> Mapping[str, Any]:
        """HeadBucket: ``stat`` asks it only after a HeadObject's 404."""
        ...


def client_config_kwargs(
    max_concurrency: int, connect_timeout: float, read_timeout: float
) -> dict[str, Any]:
    """botocore client settings, each chosen from a measurement (see docs/s3.md)."""
    return {
        "connect_timeout": connect_timeout,
        "read_timeout": read_timeout,
        # One try per call: S3Backend's own loop (``retry``) retries, with a
        # deadline botocore lacks, the nonce check after it, and the same policy
        # for the lean request path, which has no botocore under it. Leaving
        # botocore's on too would multiply the attempts (4 x 4) and the wait.
        "retries": {"mode": "standard", "total_max_attempts": 1},
        # botocore's default pool of 10 has no wait timeout: the 11th concurrent
        # caller queues silently. Size it to the concurrency the caller asked for.
        "max_pool_connections": max_concurrency,
        # Our three calls always pass well-formed parameters; validating them
        # cost ~0.05 ms of the ~0.9 ms of client CPU a 4 KiB store takes.
        "parameter_validation": False,
        # botocore >= 1.36 otherwise CRC32s every PUT body (~0.5 ms per MiB) and
        # checks GET bodies on the loop thread; S3 requires neither here. Our
        # CRC32C goes in explicitly (``ChecksumCRC32C``), which botocore leaves
        # alone, and a load checks it itself (see _s3/checksum.py).
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
        # Over TLS botocore would SHA-256 every body on the loop (~0.9 ms per MiB)
        # though TLS already protects it in transit. With this off botocore
        # sends UNSIGNED-PAYLOAD over plain HTTP too (seen on the wire); the
        # CRC32C the service verifies still covers the body.
        "s3": {"payload_signing_enabled": False},
    }


class _Sdk(NamedTuple):
    session_cls: Any
    config_cls: Any
    add_expect_header: Any
    http_session_cls: Any


class _NoRedirects:
    """An aiohttp session whose requests never follow a redirect themselves."""

    __slots__ = ("_session",)

    def __init__(self, session: Any) -> None:
        self._session = session

    def request(self, *args: Any, **kwargs: Any) -> Any:
        return self._session.request(*args, allow_redirects=False, **kwargs)


def _no_redirect_session_cls(base: Any) -> Any:
    """aiobotocore's HTTP session, minus aiohttp's own redirect following.

    aiohttp follows a 301, 302 or 307 by itself, so a bucket's 307
    ``TemporaryRedirect`` never reached botocore's region redirector: the PUT,
    body and ``x-amz-*`` headers went to whatever host the ``Location`` named,
    and its 200 was taken for a store (seen on a loopback fake: the object was
    never written). botocore on urllib3 never follows (``redirect=False``);
    this restores that, and the redirector handles the answer as the lean
    path does (``_s3/lean/regions.py``).
    """

    class NoRedirectSession(base):  # type: ignore[misc]  # aiobotocore is untyped
        async def _get_session(self, proxy_url: Any) -> Any:
            return _NoRedirects(await super()._get_session(proxy_url))

    return NoRedirectSession


def import_sdk() -> _Sdk:
    """aiobotocore's session and config classes, or ``MissingDependency`` naming the extra."""
    try:
        from aiobotocore.config import AioConfig
        from aiobotocore.httpsession import AIOHTTPSession
        from aiobotocore.session import AioSession
        from botocore.handlers import add_expect_header
    except ImportError as exc:
        raise MissingDependency(f"S3Backend needs aiobotocore; run: {_INSTALL_HINT}") from exc
    return _Sdk(AioSession, AioConfig, add_expect_header, _no_redirect_session_cls(AIOHTTPSession))


async def open_client(
    sdk: _Sdk,
    stack: contextlib.AsyncExitStack,
    *,
    region: str | None,
    endpoint_url: str | None,
    config_kwargs: dict[str, Any],
) -> S3Client:
    """A new aiobotocore S3 client, entered into ``stack`` (closed with it)."""
    # Building a session reads the shared config files and loading the S3
    # model reads and parses large JSON files: off the loop, once.
    session, region = await asyncio.to_thread(_prepare_session, sdk, region, endpoint_url)
    context = session.create_client(
        "s3",
        region_name=region,
        endpoint_url=endpoint_url,
        config=sdk.config_cls(**config_kwargs, http_session_cls=sdk.http_session_cls),
    )
    client: Any = await stack.enter_async_context(context)
    # botocore sends every PutObject with "Expect: 100-continue", so the body
    # waits one round trip for the server's go-ahead. A store cancelled in
    # that gap left an EMPTY object on SeaweedFS 4.48 in 45 of 120 tries
    # (0 of 120 without it), and small bodies gain nothing from the wait.
    client.meta.events.unregister("before-call.s3", sdk.add_expect_header)
    client.meta.events.register("before-call.s3.GetObject", drop_sdk_crc32c_validation)
    typed: S3Client = client
    return typed


def _prepare_session(
    sdk: _Sdk, region: str | None, endpoint_url: str | None
) -> tuple[Any, str | None]:
    session = sdk.session_cls()
    region = region or session.get_config_variable("region")
    if region is None and endpoint_url is not None:
        # S3-compatible servers (MinIO, SeaweedFS) sign with us-east-1 by default.
        region = "us-east-1"
    # Cached: create_client reads it too. Checked before any client exists,
    # so an unreadable bundle is one clear TlsError and leaves nothing open.
    check_ca_bundle(session.get_config_variable("ca_bundle"))
    # aiobotocore < 3.7 lacks it; there the S3 model still loads on the loop.
    warm_up = getattr(session, "warm_up_loader_caches", None)
    if warm_up is not None:
        warm_up("s3")
    return session, region


def object_body(data: memoryview) -> bytes:
    """The body to send, without a copy when the caller passed a whole ``bytes``.

    Anything mutable is copied once, so a retried request re-sends the same bytes
    even if the caller changes its buffer meanwhile.
    """
    owner = data.obj
    if type(owner) is bytes and len(owner) == data.nbytes:
        return owner
    return data.tobytes()
