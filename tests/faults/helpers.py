"""Shared by the fault tests: the targets (S3 on both request paths, GCS), each
target's backend pointed at a ``FaultProxy`` or at the server itself, and the
reads and descriptions the outcomes are checked with.

``EDEN_FAULT_CONCURRENCY`` (default 32) bounds each backend, and the soak's workers.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from eden_storage_async import (
    ArtifactBackend,
    GcsBackend,
    NotFound,
    S3Backend,
    ServiceUnavailable,
)
from eden_storage_async._core.retry import Backoff

from ..support.fault_proxy_wire import Flavor
from ..support.s3 import use_test_credentials
from ..support.servers import RealServer

_CONCURRENCY = int(os.environ.get("EDEN_FAULT_CONCURRENCY", "32"))
# Short client timeouts so a stall ends fast; the proxy holds a stalled
# exchange until the client hangs up, or _STALL_S at most.
_TIMEOUT_S = 1.0
_STALL_S = 5.0
_RETRY = Backoff(attempts=5, base_s=0.01, cap_s=0.2, deadline_s=20.0)
# Above this, S3 store_stream goes multipart and GCS uploads go resumable, so
# the soak reaches those paths with payloads of a few hundred KiB.
_LARGE = 256 * 1024


def _suffix(request_path: str | None) -> str:
    # The lean path is S3Backend's default, so it gets the plain name, as in
    # tests/support/backends.py.
    return "-sdk" if request_path == "sdk" else ""


@dataclass(frozen=True)
class Target:
    """A backend on a real server, and why (if so) corrupt uploads are not injected.

    ``request_path`` is S3Backend's switch between the aiobotocore calls and
    the lean path, when the backend has it; each path is tested on its own.
    """

    name: str
    flavor: Flavor
    server: str
    unverified_uploads: str | None = None
    request_path: str | None = None


_MOTO_GAP = "moto 5.2.5 ignores a wrong x-amz-checksum-crc32c"
_S3_PATHS: tuple[str | None, ...] = (
    ("sdk", "lean") if "request_path" in inspect.signature(S3Backend).parameters else (None,)
)
TARGETS = [
    *(Target(f"s3-seaweedfs{_suffix(p)}", "s3", "seaweedfs", None, p) for p in _S3_PATHS),
    *(Target(f"s3-moto{_suffix(p)}", "s3", "moto", _MOTO_GAP, p) for p in _S3_PATHS),
    Target(
        "gcs-fake-gcs-server",
        "gcs",
        "fake_gcs",
        "fake-gcs-server v1.54.0 ignores an upload's crc32c and recomputes it",
    ),
]
_BY_NAME = {target.name: target for target in TARGETS}


def _path_setting(target: Target) -> dict[str, Any]:
    return {} if target.request_path is None else {"request_path": target.request_path}


@contextlib.asynccontextmanager
async def _backend_on(
    target: Target,
    server: RealServer,
    monkeypatch: pytest.MonkeyPatch,
    *,
    endpoint_url: str,
    prefix: str,
    bucket: str | None = None,
    timeout_s: float = _TIMEOUT_S,
    max_concurrency: int = _CONCURRENCY,
) -> AsyncIterator[ArtifactBackend]:
    """The target's backend on ``endpoint_url`` (the proxy, or the server itself)."""
    built: ArtifactBackend
    if target.flavor == "s3":
        use_test_credentials(monkeypatch)
        built = S3Backend(
            bucket=bucket or server.bucket,
            prefix=prefix,
            endpoint_url=endpoint_url,
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            retry=_RETRY,
            multipart_threshold=_LARGE,
            max_concurrency=max_concurrency,
            **_path_setting(target),
        )
    else:
        built = GcsBackend(
            bucket=bucket or server.bucket,
            prefix=prefix,
            endpoint_url=endpoint_url,
            timeout=timeout_s,
            resumable_threshold=_LARGE,
            retry=_RETRY,
            max_concurrency=max_concurrency,
        )
    async with built as backend:
        yield backend


async def _clean_read(backend: ArtifactBackend, opaque_id: str) -> bytes | Exception | None:
    """The bytes at ``opaque_id`` seen without faults: None if absent, the error if any."""
    for attempt in range(3):
        try:
            return await backend.load(opaque_id)
        except NotFound:
            return None
        except ServiceUnavailable as exc:
            # The clean path has no faults, but the shared machine may be slow.
            if attempt == 2:
                return exc
        except Exception as exc:
            return exc
    raise AssertionError("unreachable")


async def _load_via(backend: ArtifactBackend, opaque_id: str, stream: bool) -> bytes:
    if not stream:
        return await backend.load(opaque_id)
    received = bytearray()
    async with backend.load_stream(opaque_id) as chunks:
        async for chunk in chunks:
            received += chunk
    return bytes(received)


def _describe(got: object, payload: bytes) -> str:
    if got is None:
        return "nothing"
    if isinstance(got, Exception):
        return f"an unreadable object ({got!r})"
    assert isinstance(got, bytes)
    if got == payload:
        return "the exact bytes"
    differ = sum(a != b for a, b in zip(got, payload, strict=False))
    return f"other bytes ({len(got)} of {len(payload)}, {differ} differ in the common part)"
