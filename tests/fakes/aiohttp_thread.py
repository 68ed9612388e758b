"""The shared life cycle of the fake HTTP servers: an aiohttp app on 127.0.0.1 at a free port, served from a
background thread with its own event loop, so synchronous tests and the code under test can talk to it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Self

from aiohttp import web


class ThreadedAiohttpServer:
    """Subclasses implement `_handle` (every path and method comes there) and may set the class attributes."""

    server_name = "fake server"
    base_path = ""  # appended to http://127.0.0.1:PORT to make `base_url`
    client_max_size = 1024**2

    def __init__(self) -> None:
        self.base_url = ""
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    def start(self) -> None:
        """Serve on 127.0.0.1 at a free port, from a background thread with its own event loop."""
        if self._thread is not None:
            raise RuntimeError(f"{self.server_name} is already started")
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._serve, args=(ready, failure), name=self.server_name, daemon=True)
        self._thread.start()
        if not ready.wait(10.0):
            raise RuntimeError(f"{self.server_name} did not start within 10 s")
        if failure:
            self._thread.join()
            self._thread = None
            raise RuntimeError(f"{self.server_name} failed to start") from failure[0]

    def stop(self) -> None:
        """Stop serving; requests still in progress (a delayed answer) are cancelled. Recorded state stays readable."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(loop.stop)
        thread.join(10.0)
        self._thread = self._loop = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _serve(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        app = web.Application(client_max_size=self.client_max_size)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=0.5, handler_cancellation=True
        )
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            port = runner.addresses[0][1]
        except BaseException as error:
            failure.append(error)
            loop.close()
            ready.set()
            return
        self.base_url = f"http://127.0.0.1:{port}{self.base_path}"
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()
