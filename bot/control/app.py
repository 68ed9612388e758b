"""The control room's Starlette app, mounted at /admin by bot.server: sign-in, sign-out and the registry's pages.

    GET  /admin/signin           how to get a sign-in link (public; shows nothing of the state)
    GET  /admin/login?token=     one **Sign in** button; uses nothing up (previews and scanners fetch links)
    POST /admin/login?token=     use the link once, open the session, 303 to /admin/
    POST /admin/signout          end the session (CSRF-checked like every POST)
    GET  /admin/style.css        the one stylesheet (templates/admin/style.css)
    GET  /admin/<page>...        the pages of bot.control.registry.PAGES, for a signed-in admin

Without a session a page redirects to /admin/signin and a POST gets 403. Every POST that changes something is
checked in one place (`_Requests.checked`): a `Sec-Fetch-Site` or `Origin` of another site, or a CSRF token that is
not the session's, gets 403 and reaches no handler.

Responses carry CSP (CONTROL_CSP): nothing loads but the stylesheet from this server ('self', not inline styles,
so an injected <style> or style attribute does nothing), no script at all, forms only to this server, no framing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.config import Config
from bot.control.auth import (
    COOKIE_NAME,
    CSRF_FIELD,
    LoginRefused,
    SignedIn,
    admin_path,
    check_link,
    cookie_settings,
    csrf_matches,
    redeem_login,
    sign_out,
    signed_in,
)
from bot.control.cells import breakable
from bot.control.page import ControlContext, ControlStore, Handler, Page
from bot.email.tokens import LinkSigning, TokenSigner
from bot.email.web import cross_site
from bot.logs import kv
from bot.render import Renderer, build_environment
from bot.slash_redirects import relative_slash_redirects
from bot.store import StoreError

__all__ = ["CONTROL_CSP", "build_control_app", "control_from_config"]

log = logging.getLogger("newsbot.control")

CONTROL_CSP: Final = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": CONTROL_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the sign-in link's token must not leak into a Referer
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class _Headers:
    """The control room's security headers on every response (set before bot.server's Guard, which keeps them)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers if scope["type"] == "http" else send)


class _Requests:
    """The endpoints; one per app, holding what every request shares."""

    def __init__(
        self,
        config: Config,
        pages: tuple[Page, ...],
        open_store: Callable[[], ControlStore],
        signer: TokenSigner,
        clock: Callable[[], datetime],
        posts: Renderer,
    ) -> None:
        self._config = config
        self._pages = pages
        self._open_store = open_store
        self._signer = signer
        self._clock = clock
        self._posts = posts
        self._env = build_environment(config.templates.dir)
        self._env.filters["breakable"] = breakable
        self._base = admin_path(config)

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [
            Route("/signin", self.signin_page, methods=["GET"]),
            Route("/login", self.login_page, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/signout", self.checked(_sign_out), methods=["POST"]),
            Route("/style.css", self.stylesheet, methods=["GET"]),
        ]
        for page in self._pages:
            prefix = page.path.rstrip("/")
            routes.append(Route(page.path, self.signed_in_only(page.view), methods=["GET"]))
            routes += [Route(f"{prefix}/{n}", self.signed_in_only(v), methods=["GET"]) for n, v in page.views.items()]
            routes += [Route(f"{prefix}/{n}", self.checked(a), methods=["POST"]) for n, a in page.actions.items()]
        return routes

    # -- the one place every page request goes through ---------------------------------------------

    def signed_in_only(self, handler: Handler) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return await run_in_threadpool(self._serve, request, handler, None)

        return endpoint

    def checked(self, handler: Handler) -> Callable[[Request], Any]:
        """A POST endpoint: refused (403) from another site, without a session, or without the session's CSRF token.

        The first two are refused before the body is read: a stranger cannot make the server wait for, and read,
        a body up to the server's limit."""

        async def endpoint(request: Request) -> Response:
            if cross_site(request, self._config.web.public_url):
                log.warning("%s", kv(event="admin_cross_site_refused", path=request.url.path))
                return self._public(request, "message", 403, title="Refused", lines=_CROSS_SITE)
            if not await run_in_threadpool(self._has_session, request):
                return self._public(request, "message", 403, title="Signed out", lines=_SIGNED_OUT)
            form = await request.form()
            return await run_in_threadpool(self._serve, request, handler, form)

        return endpoint

    def _has_session(self, request: Request) -> bool:
        """Whether the request's cookie is a live session; `_serve` checks again (it may end while the body comes)."""
        cookie = request.cookies.get(COOKIE_NAME)
        if not cookie:
            return False
        store = self._open_store()
        try:
            return signed_in(store, self._config, cookie, self._clock()) is not None
        finally:
            store.close()

    def _serve(self, request: Request, handler: Handler, form: FormData | None) -> Response:
        now = self._clock()
        store = self._open_store()
        try:
            session = signed_in(store, self._config, request.cookies.get(COOKIE_NAME), now)
            if session is None:
                if form is None:
                    return RedirectResponse(f"{self._base}/signin", status_code=303)
                return self._public(request, "message", 403, title="Signed out", lines=_SIGNED_OUT)
            if form is not None and not csrf_matches(session.csrf_token, _text(form, CSRF_FIELD)):
                log.warning("%s", kv(event="admin_csrf_refused", path=request.url.path, admin=session.admin_id))
                return self._public(request, "message", 403, title="Refused", lines=_STALE_FORM)
            context = self._context(request, store, session, form, now)
            return handler(context)
        finally:
            store.close()

    def _context(
        self, request: Request, store: ControlStore, session: SignedIn, form: FormData | None, now: datetime
    ) -> ControlContext:
        notice = session.notice
        if notice and request.method == "GET":  # shown on this page, so not again (a HEAD shows nothing)
            store.set_admin_notice(session.session_hash, "")

        return ControlContext(
            request=request,
            config=self._config,
            store=store,
            now=now,
            clock=self._clock,
            admin_id=session.admin_id,
            csrf_token=session.csrf_token,
            form=form,
            base=self._base,
            renderer=lambda ctx, template, **values: self._render_page(ctx, template, notice, **values),
            leave_notice=lambda text: store.set_admin_notice(session.session_hash, text),
            open_store=self._open_store,
            posts=self._posts,
        )

    # -- rendering ----------------------------------------------------------------------------------

    def _render_page(
        self, ctx: ControlContext, template: str, notice: str, *, title: str, status: int, **values: Any
    ) -> Response:
        current = ctx.request.url.path.removeprefix(ctx.request.scope.get("root_path", ""))
        nav = [(ctx.url(p.path), p.title, _is_current(p.path, current)) for p in self._pages]
        html = self._template(template).render(
            base=self._base,
            title=title,
            nav=nav,
            signed_in=True,
            csrf_field=CSRF_FIELD,
            csrf_token=ctx.csrf_token,
            admin_id=ctx.admin_id,
            notice=notice if ctx.form is None else "",
            **values,
        )
        return HTMLResponse(html, status_code=status)

    def _public(self, request: Request, template: str, status: int, *, title: str, **values: Any) -> Response:
        """A page for someone not signed in: no nav, nothing of the state."""
        html = self._template(template).render(
            base=self._base, title=title, nav=[], signed_in=False, notice="", **values
        )
        return HTMLResponse(html, status_code=status)

    def _template(self, name: str) -> jinja2.Template:
        return self._env.get_template(f"admin/{name}.html.j2")

    # -- signing in and out -------------------------------------------------------------------------

    async def signin_page(self, request: Request) -> Response:
        signed_out = request.query_params.get("signed_out") == "1"
        return self._public(request, "signin", 200, title="Sign in to the control room", signed_out=signed_out)

    async def login_page(self, request: Request) -> Response:
        token = request.query_params.get("token", "")
        try:
            check_link(self._config, self._signer, token, self._clock())
        except LoginRefused as refused:
            return self._refused(request, refused)
        return self._public(request, "login", 200, title="Sign in to the control room", token=token)

    async def login(self, request: Request) -> Response:
        if cross_site(request, self._config.web.public_url):
            log.warning("%s", kv(event="admin_cross_site_refused", path=request.url.path))
            return self._public(request, "message", 403, title="Refused", lines=_CROSS_SITE)
        token = request.query_params.get("token", "")
        try:
            session = await run_in_threadpool(self._redeem, token, request.cookies.get(COOKIE_NAME))
        except LoginRefused as refused:
            return self._refused(request, refused)
        log.info("%s", kv(event="admin_signed_in", admin=session.admin_id))
        response = RedirectResponse(f"{self._base}/", status_code=303)
        response.set_cookie(value=session.session_id, **cookie_settings(self._config))
        return response

    def _redeem(self, token: str, earlier_session: str | None) -> Any:
        """Opens the new session, and ends the one this browser had (the new cookie replaces it; left alone, it
        would stay valid, unseen, until it expired)."""
        store = self._open_store()
        try:
            now = self._clock()
            session = redeem_login(store, self._config, self._signer, token, now)
            earlier = signed_in(store, self._config, earlier_session, now)
            if earlier is not None:
                sign_out(store, earlier.session_hash)
            return session
        finally:
            store.close()

    def _refused(self, request: Request, refused: LoginRefused) -> Response:
        log.info("%s", kv(event="admin_sign_in_refused", reason=refused.reason))
        return self._public(
            request, "message", refused.status, title="This link cannot sign you in", lines=[refused.message]
        )

    async def server_error(self, request: Request, error: Exception) -> Response:
        """A page that failed: Starlette answers with this outside the app's middleware, so the headers go here."""
        lines = ["Something went wrong on the server, so this page cannot be shown. The log says what; try again."]
        response = self._public(request, "message", 500, title="Server error", lines=lines)
        response.headers.update(_HEADERS)
        return response

    async def state_unreachable(self, request: Request, error: Exception) -> Response:
        """The state cannot be read or written just now (PostgreSQL down, the disk gone): 503, try again."""
        log.warning("%s", kv(event="admin_state_unreachable", path=request.url.path, error=str(error)))
        lines = ["The control room cannot reach its state just now, so this page cannot be shown. Wait a minute and "
                 "try again (after a form, look first whether it was done); the server's log says why."]  # fmt: skip
        return self._public(request, "message", 503, title="Try again in a minute", lines=lines)

    async def stylesheet(self, request: Request) -> Response:
        css = self._env.get_template("admin/style.css").render()
        return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


def _sign_out(ctx: ControlContext) -> Response:
    """Ends the session in the state (the cookie alone would still be a valid session id) and drops the cookie."""
    session = signed_in(ctx.store, ctx.config, ctx.request.cookies.get(COOKIE_NAME), ctx.now)
    if session is not None:
        sign_out(ctx.store, session.session_hash)
    log.info("%s", kv(event="admin_signed_out", admin=ctx.admin_id))
    response = RedirectResponse(ctx.url("/signin?signed_out=1"), status_code=303)
    settings = cookie_settings(ctx.config)
    settings.pop("max_age")
    response.delete_cookie(**settings)
    return response


_CROSS_SITE: Final = [
    "This form was sent from another web site, so nothing was changed. Use the control room's own pages."
]
_SIGNED_OUT: Final = ["You are not signed in (or your session has ended), so nothing was changed. Sign in again."]
_STALE_FORM: Final = [
    "This form is out of date (it belongs to an earlier session), so nothing was changed. "
    "Reload the page and try again."
]


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _is_current(path: str, current: str) -> bool:
    return current == path or (path != "/" and current.startswith(path.rstrip("/") + "/"))


def build_control_app(
    config: Config,
    *,
    open_store: Callable[[], ControlStore],
    signer: TokenSigner,
    clock: Callable[[], datetime],
    posts: Renderer,
    pages: tuple[Page, ...] | None = None,
) -> Starlette:
    """The control room, to be mounted at /admin; `posts`: the renderer of posts, built as App builds its own
    (bot.clicks.renderer_of), or App's; `pages` defaults to bot.control.registry.PAGES."""
    from bot.control.registry import PAGES

    requests = _Requests(config, PAGES if pages is None else pages, open_store, signer, clock, posts)
    app = Starlette(
        routes=requests.routes(),
        middleware=[Middleware(_Headers)],
        exception_handlers={StoreError: requests.state_unreachable, 500: requests.server_error},
    )
    relative_slash_redirects(app.router)
    return app


def control_from_config(
    config: Config,
    environ: Mapping[str, str],
    signing: LinkSigning,
    *,
    clock: Callable[[], datetime] | None = None,
    posts: Renderer | None = None,
) -> Starlette | None:
    """The control room as `newsbot run` and `newsbot web` serve it, or None when it is off: no `[web] public_url`,
    no `[telegram] admins`, or no usable signing secret (then a warning says which variable to set).

    `signing`: the process's one link signer; `posts`: App's renderer (`newsbot run`); without it (`newsbot web`)
    one is built here the same way."""
    if not config.web.public_url or not config.telegram.admins:
        return None
    from bot.clicks import renderer_of
    from bot.clock import utc_now
    from bot.errors import ConfigError
    from bot.store import open_store

    try:
        signer = signing.signer()
        posts = posts if posts is not None else renderer_of(config, environ, signing)
    except ConfigError as error:
        log.warning("%s", kv(event="control_room_off", reason=str(error)))
        return None
    return build_control_app(
        config, open_store=lambda: open_store(config.state), signer=signer, clock=clock or utc_now, posts=posts
    )
