"""The reference server's app: its settings, its routes, and its lifecycle.

``create_app`` checks the settings and mounts the routes (``deposit.py``,
``fetch.py``, ``legacy_fetch.py``); ``serve`` listens until a signal, then
drains. aiohttp is imported inside the functions, not at module level, so
that ``import eden_storage_async`` works on the base install, which has no
aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import os
import signal
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .._core.errors import ConfigError, MissingDependency
from .._core.protocol import ArtifactBackend
from .auth import Authenticator, Principals, load_principals
from .binding import check_experiment_id_setting
from .legacy import DEFAULT_LEGACY_MAX_BYTES, LEGACY_ROUTE, check_legacy_root
from .problems import problem_middleware
from .state import ServerState

if TYPE_CHECKING:
    from aiohttp import web
    from aiohttp.typedefs import Middleware

__all__ = [
    "ARTIFACTS_ROUTE",
    "DEFAULT_BODY_TIMEOUT_S",
    "DEFAULT_MAX_ARTIFACT_BYTES",
    "check_listen_policy",
    "create_app",
    "require_aiohttp",
    "serve",
]

DEFAULT_MAX_ARTIFACT_BYTES = 256 * 1024 * 1024
# A client that sends nothing for this long in the middle of a deposit is cut
# off, and nothing is stored: a stalled upload must not hold a slot forever.
DEFAULT_BODY_TIMEOUT_S = 30.0
ARTIFACTS_ROUTE = "/v0/experiments/{experiment_id}/artifacts"
_READ_SIZE = 1024 * 1024
# In-flight requests get this long to finish after SIGTERM before they are cut.
_SHUTDOWN_TIMEOUT_S = 30.0
# aiohttp's own shutdown runs after our drain, so it only meets what the drain
# gave up on (or a second signal cut short): those are cancelled quickly.
_CUT_TIMEOUT_S = 1.0

_Handler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]
_StateHandler = Callable[[ServerState, "web.Request"], Awaitable["web.StreamResponse"]]


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
    principals: Principals | str | os.PathLike[str] | None = None,
    admin_principals: Iterable[str] = (),
    experiment_id: str | None = None,
    max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES,
    artifacts_dir: str | os.PathLike[str] | None = None,
    body_timeout: float = DEFAULT_BODY_TIMEOUT_S,
) -> web.Application:
    """Return an aiohttp ``Application`` speaking eden's artifact wire over ``backend``.

    ``token`` is one shared bearer, which authenticates as ``admin``;
    ``principals`` (a ``--principals-file`` path, or its loaded form) holds
    ``principal:secret`` lines; ``admin_principals`` may fetch any artifact,
    as ``admin`` does. With neither token nor principals every request is
    ``anonymous`` and the ACL is off. ``experiment_id`` pins the one
    experiment served. Deposits above ``max_artifact_bytes`` answer 413, and a
    deposit silent for ``body_timeout`` seconds 408; neither stores anything.
    ``artifacts_dir`` serves legacy ``file://`` rows, read only. The caller
    owns ``backend``: the app never closes it. Raises ``MissingDependency``
    without aiohttp and ``ConfigError`` for a bad setting.
    """
    return _build_app(
        backend,
        token=token,
        principals=principals,
        admin_principals=admin_principals,
        experiment_id=experiment_id,
        max_artifact_bytes=max_artifact_bytes,
        artifacts_dir=artifacts_dir,
        body_timeout=body_timeout,
    )[0]


def _build_app(
    backend: ArtifactBackend,
    *,
    token: str | None,
    principals: Principals | str | os.PathLike[str] | None,
    admin_principals: Iterable[str],
    experiment_id: str | None,
    max_artifact_bytes: int,
    artifacts_dir: str | os.PathLike[str] | None,
    body_timeout: float,
) -> tuple[web.Application, _Lifecycle]:
    require_aiohttp()
    from aiohttp import web

    from .deposit import deposit
    from .fetch import fetch, fetch_by_id
    from .legacy_fetch import fetch_legacy

    if max_artifact_bytes < 0:
        raise ConfigError(f"max_artifact_bytes must not be negative (got {max_artifact_bytes})")
    if not (isinstance(body_timeout, int | float) and 0 < body_timeout < math.inf):
        raise ConfigError(f"body_timeout must be a positive number of seconds (got {body_timeout})")
    if principals is not None and not isinstance(principals, Principals):
        principals = load_principals(principals)
    state = ServerState(
        backend=backend,
        authenticator=Authenticator(
            principals=principals, shared_token=token, admin_principals=admin_principals
        ),
        experiment_id=None if experiment_id is None else check_experiment_id_setting(experiment_id),
        max_artifact_bytes=max_artifact_bytes,
        body_timeout=float(body_timeout),
        read_size=_READ_SIZE,
        legacy_root=None if artifacts_dir is None else check_legacy_root(artifacts_dir),
        legacy_max_bytes=DEFAULT_LEGACY_MAX_BYTES,
    )
    lifecycle = _Lifecycle()
    # The lifecycle outermost: a refusal answered by the problem middleware is
    # still a request under way, and still closes its connection while draining.
    app = web.Application(middlewares=[lifecycle.middleware(), problem_middleware()])

    def bound(handler: _StateHandler) -> _Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            return await handler(state, request)

        return run

    app.router.add_post(ARTIFACTS_ROUTE, bound(deposit))
    # HEAD is served from stat alone (fetch.py), so it costs no load.
    app.router.add_get(ARTIFACTS_ROUTE, bound(fetch))
    app.router.add_get(ARTIFACTS_ROUTE + "/{opaque_id}", bound(fetch_by_id))
    app.router.add_get(LEGACY_ROUTE, bound(fetch_legacy))
    return app, lifecycle


def check_listen_policy(host: str, token: str | None, *, principals: object | None = None) -> None:
    """Raise ``ConfigError`` if ``host`` reaches beyond loopback with no authentication.

    Either ``token`` or ``principals`` counts. Only literal loopback
    addresses and ``localhost`` count as loopback; any other name might
    resolve to a public interface.
    """
    if token is None and principals is None and not _is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host or 'every interface'!r} without a bearer token: "
            "pass --principals-file FILE or --token-file FILE, or set EDEN_BLOB_TOKEN, "
            "or listen on 127.0.0.1"
        )


async def serve(
    backend: ArtifactBackend,
    *,
    host: str,
    port: int,
    on_ready: Callable[[str], None],
    token: str | None = None,
    principals: Principals | str | os.PathLike[str] | None = None,
    admin_principals: Iterable[str] = (),
    experiment_id: str | None = None,
    max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES,
    artifacts_dir: str | os.PathLike[str] | None = None,
    body_timeout: float = DEFAULT_BODY_TIMEOUT_S,
) -> None:
    """Serve ``create_app(backend, ...)`` on ``host:port`` until SIGTERM or SIGINT.

    ``on_ready`` receives the URL actually bound (the real port when ``port`` is
    0). On the first signal the listener closes and requests under way, uploads
    still arriving included, get up to 30 s to finish; a second signal cuts
    that short. Then this returns; the caller closes ``backend`` afterwards.
    """
    check_listen_policy(host, token, principals=principals)
    app, lifecycle = _build_app(
        backend,
        token=token,
        principals=principals,
        admin_principals=admin_principals,
        experiment_id=experiment_id,
        max_artifact_bytes=max_artifact_bytes,
        artifacts_dir=artifacts_dir,
        body_timeout=body_timeout,
    )
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
                    await lifecycle.drain(until=stop_now)
    finally:
        await runner.cleanup()


class _Lifecycle:
    """Counts the requests under way, so that a shutdown can wait for them."""

    def __init__(self) -> None:
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._draining = False

    def middleware(self) -> Middleware:
        from aiohttp import web

        @web.middleware
        async def counted(request: web.Request, handler: _Handler) -> web.StreamResponse:
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

        return counted

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
