"""Which request path an ``S3Backend`` uses, and opening its client without leaks.

``request_path="lean"`` is a wish: a client passed in, or one that goes
through a proxy, uses the SDK path. ``RequestPath`` records what was asked,
what is used and why, so ``repr`` says the truth; the proxy fallback, found
only when the client is built, is logged once (WARNING on
``eden_storage_async.s3``: the caller's setting is not honoured and the SDK
path costs about three times the client CPU per call, yet nothing fails;
``request_path="sdk"`` silences it). The log line names no proxy: its URL may
carry a user name and password.

``open_routed_client`` builds the aiobotocore client, and the lean calls on
it, in a stack of their own, handed to the backend's only once all is built:
a failure on the way (an unreadable CA bundle, a refused setting) closes
what was opened, so a call that fails leaves nothing behind, and the next
call starts clean instead of stacking one more open client.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from .._core.retry import Backoff
from .client import S3Client, client_config_kwargs, open_client

__all__ = ["RequestPath", "open_routed_client"]

_log = logging.getLogger("eden_storage_async.s3")


@dataclass(slots=True)
class RequestPath:
    """The path asked for, the path in use, and why they differ (None: they don't)."""

    asked: str
    used: str
    reason: str | None = None

    def fall_back(self, reason: str) -> None:
        """Use the SDK path instead of the one asked for, because of ``reason``."""
        self.used = "sdk"
        self.reason = reason

    def __str__(self) -> str:
        if self.reason is None:
            return repr(self.used)
        return f"{self.used!r} (asked {self.asked!r}: {self.reason})"


async def open_routed_client(
    sdk: Any,
    stack: contextlib.AsyncExitStack,
    path: RequestPath,
    *,
    bucket: str,
    region: str | None,
    endpoint_url: str | None,
    max_concurrency: int,
    connect_timeout: float,
    read_timeout: float,
) -> S3Client:
    """The backend's client on ``path``'s request path, entered into ``stack``;
    nothing is left open when it raises."""
    async with contextlib.AsyncExitStack() as own:
        client = await open_client(
            sdk,
            own,
            region=region,
            endpoint_url=endpoint_url,
            config_kwargs=client_config_kwargs(max_concurrency, connect_timeout, read_timeout),
        )
        found = client
        if path.used == "lean":
            settings = {
                "max_concurrency": max_concurrency,
                "connect_timeout": connect_timeout,
                "read_timeout": read_timeout,
            }
            found = await _lean(client, own, path, bucket, settings)
        # All built: from here the backend's aclose() closes it.
        stack.push_async_exit(own.pop_all())
        return found


async def _lean(
    client: Any,
    own: contextlib.AsyncExitStack,
    path: RequestPath,
    bucket: str,
    settings: dict[str, Any],
) -> S3Client:
    from .lean.calls import LeanPathUnsupported, LeanRoutedClient, open_lean_calls

    try:
        # One try: the backend's own loop retries transients on both paths,
        # so attempts never multiply.
        lean = await open_lean_calls(client, retry=Backoff(attempts=1), **settings)
    except LeanPathUnsupported:
        path.fall_back("proxy configured")
        _log.warning(
            "S3Backend for bucket %r: request_path='lean' was asked, but the S3 client"
            " goes through a proxy (HTTP_PROXY / HTTPS_PROXY or the AWS config's proxies),"
            " which the lean path does not support; using the SDK path. Pass"
            " request_path='sdk' to choose it.",
            bucket,
        )
        typed: S3Client = client
        return typed
    own.push_async_callback(lean.aclose)
    # The lean calls take only the keywords the backend passes, which the
    # Protocol's **kwargs cannot say; the contract suite runs on both paths.
    routed: Any = LeanRoutedClient(client, lean)
    result: S3Client = routed
    return result
