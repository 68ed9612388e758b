"""The one web server of `newsbot run` and `newsbot web`, on `[web] host` and `port`: what is turned on, mounted.

    GET  /healthz     200 "ok" while the process runs
    GET  /readyz      200 "ready" when a cheap read of the state works and (in `newsbot run`) the scheduler came
                      round within two of its intervals (bot.scheduler.Heartbeat); else 503 with the reasons
    GET  /metrics     with `[web] metrics = true`: Prometheus's text format (bot.metrics); with NEWSBOT_METRICS_TOKEN
                      set, only for `Authorization: Bearer <token>` (else 401). Off: 404
    GET  /r/TOKEN     with `[analytics] enabled`: a click link (bot.clicks) redirects to its article's own link and
                      counts the click; HEAD answers the same without counting; 400 for a damaged link, 404 for an
                      article the state does not hold
    POST <path>       with `[telegram] webhook_url`: Telegram's updates, handed to the chat commands (bot.webhook);
                      403 without the right secret header, 400 for a body that is not an update
    /admin/...        the control room (bot.control), when `[web] public_url` and `[telegram] admins` are set;
                      /admin itself redirects to /admin/
    the rest          the subscription pages (bot.email.web), when the email digest is live

The whole server keeps the pages' limits (bot.email.web.build_server: request deadline, head size, connection
cap, proxy handling) and their security headers; a body over MAX_UPDATE_BYTES gets 413 (the pages keep their
own, smaller limit). A path that a route takes only without its trailing slash, or only with one, is redirected
there by a relative Location (bot.slash_redirects), here and in both apps, so the redirect keeps a proxy's path
prefix. The state is read through a connection of the server's own, opened on first use, used by one request at a
time from the thread pool (a slow state never stalls the pages' event loop), and opened again after a failure.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from bot.clicks import CLICK_PATH, BadToken, Clicks, ClickStore
from bot.config import Config
from bot.control.app import CONTROL_CSP
from bot.email.web import Guard, start_in_thread
from bot.logs import kv
from bot.metrics import Metrics, StateFigures
from bot.slash_redirects import relative_slash_redirects
from bot.store import PENDING
from bot.webhook import MAX_UPDATE_BYTES, SECRET_HEADER, NotAnUpdate, Webhook, secret_matches

__all__ = ["METRICS_TOKEN_ENV", "OpsStore", "Server", "build_server_app", "serving"]

log = logging.getLogger("newsbot.server")

METRICS_TOKEN_ENV: Final = "NEWSBOT_METRICS_TOKEN"
_READ_KEY: Final = "schema_version"  # any key will do: the read is the check
_T = TypeVar("_T")


class OpsStore(ClickStore, Protocol):
    """What the server reads of the state (`bot.store.SqliteStore` is one)."""

    def get_meta(self, key: str) -> str | None: ...
    def queue_counts(self) -> dict[tuple[str, str], int]: ...
    def latest_digest_counts(self) -> dict[str, int]: ...
    def close(self) -> None: ...


class Heartbeat(Protocol):
    def problem(self) -> str: ...


class StateUnreachable(Exception):
    pass


class _StateReader:
    """The server's own connection to the state, opened on first use and again after a failure."""

    def __init__(self, open_store: Callable[[], OpsStore]) -> None:
        self._open_store = open_store
        self._store: OpsStore | None = None
        self._lock = threading.Lock()  # one request at a time on the connection

    def read(self, what: Callable[[OpsStore], _T]) -> _T:
        with self._lock:
            try:
                if self._store is None:
                    self._store = self._open_store()
                return what(self._store)
            except Exception as error:  # whatever the state says, the answer is "not reachable, because …"
                self._close()
                raise StateUnreachable(str(error) or type(error).__name__) from None

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            try:
                store.close()
            except Exception:  # already broken; nothing more to do with it
                log.debug("%s", kv(event="state_close_failed"))

    def figures(self) -> StateFigures:
        try:
            queue = self.read(lambda store: store.queue_counts())
            digest = self.read(lambda store: store.latest_digest_counts())
        except StateUnreachable:  # /readyz says why; the counters are still worth a scrape
            return StateFigures()
        depth = dict.fromkeys((channel for channel, _state in queue), 0)  # a channel with none waiting shows 0
        for (channel, state), count in queue.items():
            if state == PENDING:
                depth[channel] += count
        return StateFigures(queue_depth=depth, digest=digest)


@dataclass(frozen=True)
class Server:
    """What one server serves; each part None is off."""

    config: Config
    open_store: Callable[[], OpsStore]
    pages: Starlette | None = None
    control: Starlette | None = None  # the control room (bot.control.app), mounted at /admin
    metrics: Metrics | None = None
    metrics_token: str = ""  # empty: /metrics wants no token
    heartbeat: Heartbeat | None = None  # None (`newsbot web`): /readyz checks the state only
    webhook: Webhook | None = None
    feed: Callable[[Mapping[str, Any]], None] | None = None  # hands a webhook update to the chat commands
    clicks: Clicks | None = None  # [analytics] on: /r/ click links


class _Endpoints:
    def __init__(self, server: Server) -> None:
        self._server = server
        self._state = _StateReader(server.open_store)
        if server.metrics is not None:
            server.metrics.read_state_with(self._state.figures)

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
        ]
        if self._server.metrics is not None:
            routes.append(Route("/metrics", self.metrics, methods=["GET"]))
        if self._server.webhook is not None and self._server.feed is not None:
            routes.append(Route(self._server.webhook.path, self.webhook, methods=["POST"]))
        if self._server.clicks is not None:
            routes.append(Route(CLICK_PATH, self.click, methods=["GET", "HEAD"]))
        if self._server.control is not None:
            # every method, so no request for /admin falls through to the subscription pages mounted below
            routes.append(Route("/admin", _to_control_room, methods=_ALL_METHODS))
            routes.append(Mount("/admin", app=self._server.control))
        if self._server.pages is not None:
            routes.append(Mount("", app=self._server.pages))
        return routes

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        try:
            if self._server.pages is None:
                yield
            else:
                async with self._server.pages.router.lifespan_context(self._server.pages):
                    yield
        finally:
            self._state.close()

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(self, request: Request) -> Response:
        problems = []
        try:
            await run_in_threadpool(self._state.read, lambda store: store.get_meta(_READ_KEY))
        except StateUnreachable as error:
            problems.append(f"the state is not reachable: {error}")
        if self._server.heartbeat is not None and (stalled := self._server.heartbeat.problem()):
            problems.append(stalled)
        if problems:
            return PlainTextResponse("not ready: " + "; ".join(problems) + "\n", status_code=503)
        return PlainTextResponse("ready\n")

    async def metrics(self, request: Request) -> Response:
        metrics = self._server.metrics
        assert metrics is not None  # the route exists only then
        token = self._server.metrics_token
        if token and not secret_matches(f"Bearer {token}", request.headers.get("authorization")):
            return PlainTextResponse(
                "unauthorized: send Authorization: Bearer <the token in $NEWSBOT_METRICS_TOKEN>\n",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        body, content_type = await run_in_threadpool(metrics.exposition)
        return Response(body, headers={"Content-Type": content_type})

    async def webhook(self, request: Request) -> Response:
        webhook, feed = self._server.webhook, self._server.feed
        assert webhook is not None and feed is not None  # the route exists only then
        if not secret_matches(webhook.secret, request.headers.get(SECRET_HEADER)):
            log.warning("%s", kv(event="webhook_refused", reason="missing or wrong secret header"))
            return PlainTextResponse("forbidden\n", status_code=403)
        try:
            data = json.loads(await request.body())
            if not isinstance(data, dict):
                raise NotAnUpdate("not a JSON object")
            await run_in_threadpool(feed, data)
        except (ValueError, NotAnUpdate) as error:  # json's errors are ValueErrors too
            log.warning("%s", kv(event="webhook_bad_update", reason=str(error)[:200]))
            return PlainTextResponse("not a Telegram update\n", status_code=400)
        except RuntimeError:  # the commands are not running: Telegram retries later
            return PlainTextResponse("not ready for updates\n", status_code=503)
        return PlainTextResponse("ok\n")

    async def click(self, request: Request) -> Response:
        clicks = self._server.clicks
        assert clicks is not None  # the route exists only then
        try:
            key, channel = clicks.links.read(request.path_params["token"])
        except BadToken as error:
            log.info("%s", kv(event="click_bad_token", reason=error.reason))
            return _click_page(
                400, "This link is damaged", "Copy the whole link from the message, or find the story on the site."
            )
        method, headers = request.method, request.headers
        try:
            followed = await run_in_threadpool(
                self._state.read, lambda store: clicks.follow(store, key, channel, method, headers)
            )
        except StateUnreachable:
            return _click_page(
                503, "Try again in a minute", "This link works, but the server cannot look it up just now."
            )
        if not followed.target:
            return _click_page(404, "This story is gone", "The story this link led to is no longer kept here.")
        if followed.not_counted:
            log.debug("%s", kv(event="click_not_counted", channel=channel, reason=followed.not_counted))
        return RedirectResponse(followed.target, status_code=302, headers=_CLICK_HEADERS)


# No referrer to the article's site (it would name this server's /r/ link), and no cache: every click asks again.
_CLICK_HEADERS: Final = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _click_page(status: int, title: str, text: str) -> Response:
    body = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<style>body{font-family:system-ui,sans-serif;line-height:1.5;max-width:36rem;margin:2rem auto;"
        "padding:0 1rem;color:#1a1a1a}h1{font-size:1.5rem}</style></head>"
        f"<body><main><h1>{title}</h1><p>{text}</p></main></body></html>"
    )
    return HTMLResponse(body, status_code=status, headers=_CLICK_HEADERS)


_ALL_METHODS: Final = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def _to_control_room(request: Request) -> Response:
    """GET /admin: 307 to /admin/; any other method 405 (the control room's forms post to paths below /admin/).

    With the control room's own headers, which its app adds to everything below /admin/ (bot.control.app)."""
    headers = {"Content-Security-Policy": CONTROL_CSP}  # the Guard adds the other security headers
    if request.method not in ("GET", "HEAD"):
        return PlainTextResponse("method not allowed\n", status_code=405, headers={**headers, "Allow": "GET, HEAD"})
    return RedirectResponse("admin/", status_code=307, headers=headers)  # relative: right behind a proxy's prefix


def build_server_app(server: Server) -> Starlette:
    endpoints = _Endpoints(server)
    app = Starlette(
        routes=endpoints.routes(),
        middleware=[Middleware(Guard, max_body=MAX_UPDATE_BYTES)],
        lifespan=endpoints.lifespan,
    )
    relative_slash_redirects(app.router)
    return app


@contextmanager
def serving(server: Server) -> Iterator[None]:
    """Serve in a background thread while the block runs (`newsbot run`); stopped when it ends."""
    web = server.config.web
    uvicorn_server, thread = start_in_thread(
        build_server_app(server), web.host, web.port, forwarded_allow_ips=web.forwarded_allow_ips
    )
    log.info("%s", kv(event="web_listening", host=web.host, port=web.port))
    try:
        yield
    finally:
        uvicorn_server.should_exit = True
        thread.join(timeout=10)
