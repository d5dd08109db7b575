"""The loopback TCP server under the suite's proxies and scripted servers.

Listens on 127.0.0.1 on a free port, on the test's own event loop, keeps every
connection's handler task, and on exit stops listening, gives the handlers
``grace_s`` to end by themselves, then cancels the rest. Subclasses implement
``handle(reader, writer)`` for one connection. ``LoopbackApp`` is the same for
a scripted HTTP server written as an aiohttp app: every request goes to its
``_handle``.
"""

from __future__ import annotations

import asyncio
from typing import Self

from aiohttp import web

__all__ = ["LoopbackApp", "LoopbackServer"]


class LoopbackApp:
    """An aiohttp app on 127.0.0.1, on a free port, that sends every request
    to ``_handle``; ``endpoint_url`` is set once it listens."""

    endpoint_url = ""
    _runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.endpoint_url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


class LoopbackServer:
    """A TCP server on 127.0.0.1; ``handle`` runs once per connection."""

    # StreamReader buffer limit (asyncio's default); a proxy reading long
    # header blocks raises it.
    stream_limit = 2**16
    # Seconds the handlers get to see the client's close before being cancelled.
    grace_s = 0.0

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The port it listens on."""
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def endpoint_url(self) -> str:
        """Where clients connect."""
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection."""
        raise NotImplementedError

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.handle(reader, writer)
        finally:
            self._tasks.discard(task)

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", 0, limit=self.stream_limit
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        if self._tasks and self.grace_s > 0:
            await asyncio.wait(set(self._tasks), timeout=self.grace_s)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
