"""The control room served for tests: the full server of bot.server (control room at /admin, the subscription
pages beside it) on 127.0.0.1 by the real uvicorn, with an SQLite state, a fake clock and one admin (ADMIN).

    with serve_admin_site(make_config, tmp_path, clock) as site:   # or the `admin_site` fixture of tests/browser
        client = site.signed_in_client()                           # httpx, signed in through the real link flow
        client.get("/admin/")
        site.post(client, "/admin/signout", {})                    # a form POST with the session's CSRF token
        site.sign_in(page)                                         # a Playwright page, through the same flow

Links are built on PUBLIC (https, so the cookie is Secure) and rewritten to the local server (`local`). httpx
would not send a Secure cookie over http, so the helpers send the session cookie themselves (`session_headers`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.clicks import renderer_of
from bot.config import Config, StateConfig
from bot.control.app import build_control_app
from bot.control.auth import COOKIE_NAME, CSRF_FIELD, LINK_TTL, LOGIN_PURPOSE, login_link
from bot.email.tokens import TokenSigner, link_signing
from bot.email.web import build_app, start_in_thread
from bot.server import Server, build_server_app
from bot.store import Store, open_store
from tests.conftest import FakeClock

PUBLIC = "https://news.example.com"
SECRET = b"control-test-secret-0123456789"
ADMIN = 4242
OTHER_ADMIN = 4343
NOT_ADMIN = 777
_CSRF = re.compile(rf'name="{CSRF_FIELD}" value="([^"]+)"')


@dataclass
class AdminSite:
    """The running server and what it touches."""

    base: str
    config: Config
    store: Store
    clock: FakeClock
    signer: TokenSigner

    def url(self, path: str) -> str:
        return self.base + path

    def local(self, link: str) -> str:
        """A link built on the public URL, pointing at this server instead."""
        return link.replace(PUBLIC, self.base, 1)

    def login_link(self, admin: int = ADMIN) -> str:
        """A fresh one-time sign-in link for `admin` (an id in [telegram] admins), on this server."""
        return self.local(login_link(self.config, self.signer, admin, self.clock()))

    def link_for(self, user: int, signer: TokenSigner | None = None) -> str:
        """A sign-in link for any `user` (an admin or not), signed by `signer` (default: the server's own)."""
        token = (signer or self.signer).make(LOGIN_PURPOSE, str(user), self.clock(), ttl=LINK_TTL, ref=f"n{user}")
        return self.url(f"/admin/login?{urlencode({'token': token})}")

    def forged_link(self, admin: int = ADMIN) -> str:
        """A link for `admin` signed with another secret."""
        return self.link_for(admin, TokenSigner(b"not-the-secret-0123456789"))

    def sign_in(self, page: Any, link: str | None = None) -> None:
        """Sign a Playwright page in as an admin through the real flow: open the link, press Sign in."""
        page.goto(link or self.login_link())
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in").click()

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.base, follow_redirects=False, headers=headers, timeout=15)

    def sign_in_session(self, link: str | None = None) -> str:
        """The session id (cookie value) the real link flow gives: POST the sign-in link as its button does."""
        with self.client() as client:
            response = client.post(link or self.login_link(), headers=same_origin(self.base))
        assert response.status_code == 303, response.text
        cookie = response.cookies.get(COOKIE_NAME)
        assert cookie, response.headers
        return cookie

    def signed_in_client(self, link: str | None = None) -> httpx.Client:
        """An httpx client of an admin signed in through the real link flow (close it, or use it in `with`)."""
        return self.client(**session_headers(self.sign_in_session(link)))

    def csrf_token(self, client: httpx.Client, path: str = "/admin/") -> str:
        """The CSRF token a signed-in page's forms carry."""
        found = _CSRF.search(client.get(path).text)
        assert found, f"no CSRF field on {path}"
        return found.group(1)

    def post(self, client: httpx.Client, path: str, fields: Mapping[str, str], **headers: str) -> httpx.Response:
        """A form POST as the page's own form sends it: the session's CSRF token and a same-origin browser's headers."""
        data = {CSRF_FIELD: self.csrf_token(client), **fields}
        return client.post(path, data=data, headers={**same_origin(self.base), **headers})


def same_origin(base: str) -> dict[str, str]:
    return {"Origin": base, "Sec-Fetch-Site": "same-origin"}


def session_headers(session_id: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE_NAME}={session_id}"}


def admin_config(make_config: Callable[..., Config], **tables: Any) -> Config:
    """A config with the control room on: PUBLIC, ADMIN and OTHER_ADMIN in [telegram] admins."""
    defaults: dict[str, Any] = {
        "web": {"public_url": PUBLIC, "subscribe_per_hour": 100},
        "telegram": {"admins": [ADMIN, OTHER_ADMIN]},
        "email": {"sender": "Example News <news@example.com>", "list_name": "Example News weekly"},
    }
    return make_config(**{**defaults, **tables})


@contextmanager
def serve_admin_site(config: Config, state: Path | StateConfig, clock: FakeClock) -> Iterator[AdminSite]:
    """bot.server's whole app (control room and subscription pages) for `config`, with its state at `state` (an
    SQLite file, or the `state` fixture's [state] on either backend)."""
    signer = TokenSigner(SECRET)
    pages = build_app(config, store_factory=lambda: open_store(state), signer=signer, send_mail=None, clock=clock)
    posts = renderer_of(
        config, {}, link_signing(config.web, {config.web.secret_key_env: SECRET.decode()})
    )  # as App builds its renderer
    control = build_control_app(config, open_store=lambda: open_store(state), signer=signer, clock=clock, posts=posts)
    app = build_server_app(Server(config, open_store=lambda: open_store(state), pages=pages, control=control))
    server, thread = start_in_thread(app, "127.0.0.1", 0)
    store = open_store(state)
    try:
        port = server.servers[0].sockets[0].getsockname()[1]
        yield AdminSite(f"http://127.0.0.1:{port}", config, store, clock, signer)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()
