"""The reference deposit server: artifacts in and out over HTTP, on any ArtifactBackend.

``POST /v0/experiments/{experiment_id}/artifacts`` stores the request body
under an opaque_id the server mints and answers ``eden://artifacts/<id>``;
``GET`` with ``?uri=eden://artifacts/<id>`` loads it back. The opaque_id is
the key and the capability: the experiment id is validated and logged, never
used to build a storage path.

aiohttp is imported inside the functions, not at module level, so that
``import eden_storage_async`` works on the base install, which has no aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import re
import signal
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from .._core.errors import ConfigError, MissingDependency, NotFound, StorageError
from .._core.ids import mint_opaque_id
from .._core.protocol import ArtifactBackend

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "ARTIFACT_URI_PREFIX",
    "DEFAULT_MAX_ARTIFACT_BYTES",
    "check_listen_policy",
    "create_app",
    "require_aiohttp",
    "serve",
]

_log = logging.getLogger("eden_storage_async")

DEFAULT_MAX_ARTIFACT_BYTES = 256 * 1024 * 1024
ARTIFACT_URI_PREFIX = "eden://artifacts/"
ARTIFACTS_ROUTE = "/v0/experiments/{experiment_id}/artifacts"
# Starts with a letter or digit so "." and ".." are refused even though the id
# never reaches a path: one grammar everywhere is easier to reason about.
_EXPERIMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_ARTIFACT_URI = re.compile(re.escape(ARTIFACT_URI_PREFIX) + r"([0-9a-f]{32})")
# In-flight requests get this long to finish after SIGTERM before they are cut.
_SHUTDOWN_TIMEOUT_S = 30.0
# aiohttp's own shutdown runs after our drain, so it only meets what the drain
# gave up on (or a second signal cut short): those are cancelled quickly.
_CUT_TIMEOUT_S = 1.0

_Handler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]


def require_aiohttp() -> None:
    """Raise ``MissingDependency`` naming the extra to install if aiohttp is absent."""
    try:
        import aiohttp.web  # noqa: F401
    except ImportError as exc:
        raise MissingDependency(
            "the deposit server needs aiohttp: pip install 'eden-storage-async[server]'"
        ) from exc


def create_app(
    backend: ArtifactBackend,
    *,
    token: str | None = None,
    max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES,
) -> web.Application:
    """Return an aiohttp ``Application`` serving the deposit routes over ``backend``.

    With ``token``, every request must carry ``Authorization: Bearer <token>``.
    Bodies above ``max_artifact_bytes`` are refused with 413 and nothing is
    stored. The caller owns ``backend``: the app never closes it. Raises
    ``MissingDependency`` without aiohttp and ``ConfigError`` for a bad setting.
    """
    return _build_app(backend, token, max_artifact_bytes)[0]


def _build_app(
    backend: ArtifactBackend, token: str | None, max_artifact_bytes: int
) -> tuple[web.Application, _ArtifactRoutes]:
    require_aiohttp()
    from aiohttp import web

    if token is not None and not _is_sendable_token(token):
        raise ConfigError("the bearer token must be non-empty printable ASCII without spaces")
    if max_artifact_bytes < 0:
        raise ConfigError(f"max_artifact_bytes must not be negative (got {max_artifact_bytes})")
    routes = _ArtifactRoutes(backend, token, max_artifact_bytes)
    app = web.Application()
    app.router.add_post(ARTIFACTS_ROUTE, routes.tracked(routes.deposit))
    # No HEAD: it would load the whole artifact only to throw the bytes away.
    app.router.add_get(ARTIFACTS_ROUTE, routes.tracked(routes.fetch), allow_head=False)
    return app, routes


def check_listen_policy(host: str, token: str | None) -> None:
    """Raise ``ConfigError`` if ``host`` reaches beyond loopback and there is no token.

    Only literal loopback addresses and ``localhost`` count as loopback; any
    other name might resolve to a public interface.
    """
    if token is None and not _is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host or 'every interface'!r} without a bearer token: "
            "pass --token-file FILE or set EDEN_BLOB_TOKEN, or listen on 127.0.0.1"
        )


async def serve(
    backend: ArtifactBackend,
    *,
    host: str,
    port: int,
    token: str | None,
    max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES,
    on_ready: Callable[[str], None],
) -> None:
    """Serve ``create_app(backend, ...)`` on ``host:port`` until SIGTERM or SIGINT.

    ``on_ready`` receives the URL actually bound (the real port when ``port`` is
    0). On the first signal the listener closes and requests under way, uploads
    still arriving included, get up to 30 s to finish; a second signal cuts
    that short. Then this returns; the caller closes ``backend`` afterwards.
    """
    check_listen_policy(host, token)
    app, routes = _build_app(backend, token, max_artifact_bytes)
    from aiohttp import web

    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=_CUT_TIMEOUT_S)
    await runner.setup()
    try:
        # Handlers go in before the announcement: whoever reads it may signal
        # at once, and the default action would kill us without a cleanup.
        with _signals() as (stop, stop_now):
            site = web.TCPSite(runner, host, port)
            await site.start()
            on_ready(_url(runner.addresses[0]))
            await stop.wait()
            # Drain before aiohttp's own shutdown: that one stops reading every
            # connection at once, so an upload still arriving could never finish.
            await site.stop()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_SHUTDOWN_TIMEOUT_S):
                    await routes.drain(until=stop_now)
    finally:
        await runner.cleanup()


class _ArtifactRoutes:
    """The two handlers, sharing the backend, the token and the size limit."""

    def __init__(self, backend: ArtifactBackend, token: str | None, max_bytes: int) -> None:
        self._backend = backend
        self._token = None if token is None else token.encode("ascii")
        self._max_bytes = max_bytes
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._draining = False

    def tracked(self, handler: _Handler) -> _Handler:
        """``handler``, counted while it runs so that ``drain`` can wait for it."""

        async def run(request: web.Request) -> web.StreamResponse:
            self._inflight += 1
            self._idle.clear()
            try:
                response = await handler(request)
            finally:
                self._inflight -= 1
                if self._inflight == 0:
                    self._idle.set()
            if self._draining:
                # No next request on this keep-alive connection: we are leaving.
                response.force_close()
            return response

        return run

    async def drain(self, *, until: asyncio.Event) -> None:
        """Refuse keep-alive from now on; return once no handler runs or ``until`` is set."""
        self._draining = True
        waiters = [asyncio.ensure_future(self._idle.wait()), asyncio.ensure_future(until.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    async def deposit(self, request: web.Request) -> web.StreamResponse:
        """``POST``: store the body under a fresh opaque_id; 201 with its URI."""
        from aiohttp import web

        refusal = self._refusal(request)
        if refusal is not None:
            # Close rather than read and discard the body a refused client sent.
            refusal.force_close()
            return refusal
        # Content-Length is checked before reading a byte; the running count
        # below covers chunked bodies and Content-Encoding (aiohttp inflates
        # gzip as it reads, so the limit applies to the bytes we would store).
        declared = request.content_length
        if declared is not None and declared > self._max_bytes:
            return self._too_large()
        body = bytearray()
        async for chunk in request.content.iter_any():
            body += chunk
            if len(body) > self._max_bytes:
                return self._too_large()
        opaque_id = mint_opaque_id()
        try:
            await self._backend.store(opaque_id, body)
        except Exception as exc:
            return _backend_failed("store", exc)
        _log.info(
            "stored artifact %s for experiment %s (%d bytes)",
            opaque_id,
            request.match_info["experiment_id"],
            len(body),
        )
        return web.json_response({"artifacts_uri": ARTIFACT_URI_PREFIX + opaque_id}, status=201)

    async def fetch(self, request: web.Request) -> web.StreamResponse:
        """``GET ?uri=eden://artifacts/<id>``: the stored bytes, or 404."""
        from aiohttp import web

        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        uris = request.query.getall("uri", [])
        match = _ARTIFACT_URI.fullmatch(uris[0]) if len(uris) == 1 else None
        if match is None:
            return _error(400, f"uri must be one {ARTIFACT_URI_PREFIX}<32 lowercase hex> value")
        try:
            data = await self._backend.load(match[1])
        except NotFound:
            return _error(404, "artifact not found")
        except Exception as exc:
            return _backend_failed("load", exc)
        return web.Response(body=data, content_type="application/octet-stream")

    def _refusal(self, request: web.Request) -> web.StreamResponse | None:
        # Authorization first: an unauthenticated client learns nothing, not
        # even whether its experiment id was well formed.
        unauthorized = self._authorize(request)
        if unauthorized is not None:
            return unauthorized
        return _check_experiment_id(request)

    def _authorize(self, request: web.Request) -> web.StreamResponse | None:
        if self._token is None:
            return None
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        # Constant time, so response timing does not reveal how much of a guess matched.
        matches = hmac.compare_digest(
            presented.strip().encode("utf-8", "surrogateescape"), self._token
        )
        if scheme.lower() == "bearer" and matches:
            return None
        response = _error(401, "missing or wrong bearer token")
        response.headers["WWW-Authenticate"] = 'Bearer realm="eden-blob"'
        return response

    def _too_large(self) -> web.StreamResponse:
        response = _error(413, f"artifact larger than {self._max_bytes} bytes")
        # The client may still be sending; closing the connection stops it
        # instead of reading (and discarding) the rest of a huge body.
        response.force_close()
        return response


def _check_experiment_id(request: web.Request) -> web.StreamResponse | None:
    if _EXPERIMENT_ID.fullmatch(request.match_info["experiment_id"]) is None:
        return _error(400, "experiment_id must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}")
    return None


def _backend_failed(operation: str, exc: Exception) -> web.StreamResponse:
    # The response names the error class only: the message stays in the server
    # log, and a traceback never leaves the process.
    if isinstance(exc, StorageError):
        _log.error("%s failed: %s: %s", operation, type(exc).__name__, exc)
        kind = type(exc).__name__
    else:
        _log.exception("%s failed with an unexpected error", operation)
        kind = "BackendError"
    return _error(503, f"the storage backend failed to {operation} the artifact", kind=kind)


def _error(status: int, message: str, **extra: Any) -> web.StreamResponse:
    from aiohttp import web

    return web.json_response({"error": message, **extra}, status=status)


def _is_sendable_token(token: str) -> bool:
    return bool(token) and token.isascii() and token.isprintable() and " " not in token


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url(address: Any) -> str:
    host, port = address[0], address[1]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


@contextlib.contextmanager
def _signals() -> Iterator[tuple[asyncio.Event, asyncio.Event]]:
    """Yield two events: the first SIGTERM/SIGINT sets one, the next sets the other."""
    loop = asyncio.get_running_loop()
    first, second = asyncio.Event(), asyncio.Event()

    def on_signal() -> None:
        (second if first.is_set() else first).set()

    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, on_signal)
    try:
        yield first, second
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
