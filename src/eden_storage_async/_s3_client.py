"""The aiobotocore side of ``S3Backend``: importing the SDK, the client settings
(each chosen from a measurement) and the calls the backend makes.

Imported only by ``_s3.py``; nothing here imports aiobotocore at module level.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from ._errors import MissingDependency

__all__ = ["S3Client", "client_config_kwargs", "import_sdk", "object_body"]

_INSTALL_HINT = "pip install 'eden-storage-async[s3]'"


class S3Client(Protocol):
    """The calls ``S3Backend`` makes; an aiobotocore S3 client has them.

    ``store_stream`` above the multipart threshold also calls
    ``create_multipart_upload``, ``upload_part``, ``complete_multipart_upload``
    and ``abort_multipart_upload``.
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


def client_config_kwargs(max_concurrency: int) -> dict[str, Any]:
    """botocore client settings, each chosen from a measurement (see docs/s3.md)."""
    return {
        # botocore's default pool of 10 has no wait timeout: the 11th concurrent
        # caller queues silently. Size it to the concurrency the caller asked for.
        "max_pool_connections": max_concurrency,
        # Our three calls always pass well-formed parameters; validating them
        # cost ~0.05 ms of the ~0.9 ms of client CPU a 4 KiB store takes.
        "parameter_validation": False,
        # botocore >= 1.36 otherwise CRC32s every PUT body (~0.5 ms per MiB) and
        # checks GET bodies on the loop thread; S3 requires neither here.
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
        # Over TLS botocore would SHA-256 every body on the loop (~0.9 ms per MiB)
        # though TLS already protects it in transit. Plain HTTP always signs.
        "s3": {"payload_signing_enabled": False},
    }


class _Sdk(NamedTuple):
    session_cls: Any
    config_cls: Any
    add_expect_header: Any


def import_sdk() -> _Sdk:
    """aiobotocore's session and config classes, or ``MissingDependency`` naming the extra."""
    try:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import AioSession
        from botocore.handlers import add_expect_header
    except ImportError as exc:
        raise MissingDependency(f"S3Backend needs aiobotocore; run: {_INSTALL_HINT}") from exc
    return _Sdk(AioSession, AioConfig, add_expect_header)


def object_body(data: memoryview) -> bytes:
    """The body to send, without a copy when the caller passed a whole ``bytes``.

    Anything mutable is copied once, so a retried request re-sends the same bytes
    even if the caller changes its buffer meanwhile.
    """
    owner = data.obj
    if type(owner) is bytes and len(owner) == data.nbytes:
        return owner
    return data.tobytes()
