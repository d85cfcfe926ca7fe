"""A real aiohttp server for tests, on a free loopback port, in its own thread and event loop
(the code under test keeps the test's thread, and may run its own loop there)."""

from __future__ import annotations

import asyncio
import threading
from typing import Self

from aiohttp import web


class ThreadedServer:
    """Subclasses add their routes in ``routes``; ``start`` then serves them until ``stop``."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class RecordingServer(ThreadedServer):
    """Answers every POST with 200 and keeps what it got: ``received`` holds (path, headers,
    body) in arrival order."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[tuple[str, dict[str, str], bytes]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{path:.*}", self._record)

    async def _record(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append((request.path, dict(request.headers), body))
        return web.Response(text="ok")
