"""An attacker's look at the control room's sign-in and sessions and at the click links, over the real server.

Each test is one attack (or one curious non-admin) and what must come of it: nothing changed, nothing shown."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from starlette.responses import Response

from bot.clicks import ClickLinks, Clicks
from bot.config import Config
from bot.control.app import build_control_app
from bot.control.auth import COOKIE_NAME, LINK_TTL, LOGIN_PURPOSE, _hash
from bot.control.page import ControlContext, Page
from bot.email.tokens import TokenSigner
from bot.email.web import REQUEST_TIMEOUT_SECONDS, start_in_thread
from bot.models import Article
from bot.render import build_renderer
from bot.server import Server, build_server_app
from bot.store import open_store
from bot.webhook import MAX_UPDATE_BYTES
from tests.conftest import FakeClock
from tests.control_helpers import (
    ADMIN,
    PUBLIC,
    SECRET,
    AdminSite,
    admin_config,
    same_origin,
    session_headers,
)


def _control_headers_ok(response: httpx.Response) -> bool:
    csp = response.headers.get("content-security-policy", "")
    return (
        "frame-ancestors 'none'" in csp
        and response.headers.get("cache-control") == "no-store"
        and response.headers.get("x-content-type-options") == "nosniff"
    )


# -- headers and routes ---------------------------------------------------------------------------


def test_every_admin_answer_carries_the_control_rooms_headers_and_a_post_to_admin_reaches_no_other_app(
    admin_site: AdminSite,
) -> None:
    with admin_site.client() as client:
        answers = {
            "GET /admin": client.get("/admin"),
            "POST /admin": client.post("/admin", headers=same_origin(admin_site.base)),
            "PUT /admin": client.put("/admin", headers=same_origin(admin_site.base)),
            "GET /admin/nope": client.get("/admin/nope"),
            "GET /admin/../r/x": client.get("/admin/%2e%2e/r/x"),
            "GET /admin/signout": client.get("/admin/signout"),
            "HEAD /admin/signout": client.head("/admin/signout"),
            "POST /admin/signout signed out": client.post("/admin/signout", headers=same_origin(admin_site.base)),
            "POST /admin/ (a 307 followed)": client.post("/admin/", headers=same_origin(admin_site.base)),
            "GET /admin/login bad": client.get("/admin/login?token=x"),
            "GET /admin/": client.get("/admin/"),
        }
    wrong = [(name, answer.status_code) for name, answer in answers.items() if not _control_headers_ok(answer)]
    assert wrong == []
    assert answers["GET /admin"].status_code == 307 and answers["GET /admin"].headers["location"] == "admin/"
    for name in ("POST /admin", "PUT /admin", "POST /admin/ (a 307 followed)"):
        assert answers[name].status_code == 405, name


@contextmanager
def _serve_pages(config: Config, state: Path, clock: FakeClock, *pages: Page) -> Iterator[str]:
    control = build_control_app(
        config, open_store=lambda: open_store(state), signer=TokenSigner(SECRET), clock=clock,
        posts=build_renderer(config), pages=pages,
    )  # fmt: skip
    app = build_server_app(Server(config, open_store=lambda: open_store(state), control=control))
    server, thread = start_in_thread(app, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_page_that_fails_answers_500_with_the_control_rooms_headers(
    tmp_path: Path, make_config: Callable[..., Config], clock: FakeClock
) -> None:
    def broken(ctx: ControlContext) -> Response:
        raise RuntimeError("a bug in a page")

    config = admin_config(make_config)
    state = tmp_path / "state.sqlite"
    with _serve_pages(config, state, clock, Page("/", "Overview", view=broken)) as base:
        link = login_link_for(config, clock).replace(PUBLIC, base, 1)
        with httpx.Client(base_url=base, timeout=15) as client:
            session = client.post(link, headers=same_origin(base)).cookies[COOKIE_NAME]
            answer = client.get("/admin/", headers=session_headers(session))
    assert answer.status_code == 500 and _control_headers_ok(answer)
    assert "a bug in a page" not in answer.text


def login_link_for(config: Config, clock: FakeClock, admin: int = ADMIN) -> str:
    from bot.control.auth import login_link

    return login_link(config, TokenSigner(SECRET), admin, clock())


# -- sign-in links --------------------------------------------------------------------------------


def test_two_requests_with_one_link_at_once_open_one_session(admin_site: AdminSite) -> None:
    link = admin_site.login_link()
    start = threading.Barrier(4)
    answers: list[int] = []

    def press_sign_in() -> None:
        with admin_site.client() as client:
            start.wait()
            answers.append(client.post(link, headers=same_origin(admin_site.base)).status_code)

    threads = [threading.Thread(target=press_sign_in) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [303, 400, 400, 400]
    assert admin_site.store._db.execute("SELECT COUNT(*) FROM admin_sessions").fetchone()[0] == 1


def test_a_link_made_by_a_clock_that_runs_ahead_still_works_only_once(admin_site: AdminSite) -> None:
    # `newsbot admin-link` or /login on another worker whose clock is 30 minutes ahead of the web server's
    ahead = admin_site.signer.make(
        LOGIN_PURPOSE, str(ADMIN), admin_site.clock.advance(minutes=30), ttl=LINK_TTL, ref="nonce-ahead"
    )
    admin_site.clock.advance(minutes=-30)
    link = admin_site.url(f"/admin/login?token={ahead}")
    admin_site.sign_in_session(link)
    admin_site.clock.advance(minutes=15)
    admin_site.sign_in_session()  # anyone signing in clears the used links that have expired
    with admin_site.client() as client:
        again = client.post(link, headers=same_origin(admin_site.base))
    assert again.status_code == 400 and COOKIE_NAME not in again.headers.get("set-cookie", "")


@pytest.mark.parametrize("purpose", ["confirm", "unsubscribe", "preferences", "click"])
def test_a_token_of_another_purpose_does_not_sign_in(admin_site: AdminSite, purpose: str) -> None:
    token = admin_site.signer.make(purpose, str(ADMIN), admin_site.clock(), ttl=None, ref="x")
    with admin_site.client() as client:
        page = client.get(f"/admin/login?token={token}")
        post = client.post(f"/admin/login?token={token}", headers=same_origin(admin_site.base))
    assert page.status_code == post.status_code == 400
    assert "Sign in</button>" not in page.text and COOKIE_NAME not in post.headers.get("set-cookie", "")


@pytest.mark.parametrize("token", ["a" * 5000, "x.y", "..", "%00", "é.é", ""])
def test_a_malformed_or_huge_token_gets_a_plain_400(admin_site: AdminSite, token: str) -> None:
    with admin_site.client() as client:
        page = client.get("/admin/login", params={"token": token})
        post = client.post("/admin/login", params={"token": token}, headers=same_origin(admin_site.base))
    assert page.status_code == post.status_code == 400 and "not a valid sign-in link" in post.text


def test_a_cookie_value_an_attacker_chose_never_becomes_a_session(admin_site: AdminSite) -> None:
    chosen = "attacker-chosen-session-id-0123456789"
    with admin_site.client(**session_headers(chosen)) as client:
        signed_in = client.post(admin_site.login_link(), headers=same_origin(admin_site.base))
        assert signed_in.cookies[COOKIE_NAME] != chosen
        assert client.get("/admin/").status_code == 303


@pytest.mark.parametrize("cookie", ["", f"{COOKIE_NAME}=attacker-guessed-session-id"])
def test_a_post_without_a_session_is_refused_before_its_body_is_read(admin_site: AdminSite, cookie: str) -> None:
    """A stranger announces a body as big as the server takes and sends a few bytes of it: the 403 comes at once,
    not after the server waited REQUEST_TIMEOUT_SECONDS (10 s) for the rest."""
    port = int(admin_site.base.rsplit(":", 1)[1])
    head = (
        f"POST /admin/pause HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Origin: {admin_site.base}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {MAX_UPDATE_BYTES}\r\n" + (f"Cookie: {cookie}\r\n" if cookie else "") + "\r\n"
    )
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT_SECONDS / 2) as stranger:
        stranger.sendall(head.encode() + b"csrf=x&a=")
        answer = b""
        while b"</html>" not in answer and (chunk := stranger.recv(65536)):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]
    assert b"You are not signed in" in answer
    assert time.monotonic() - started < REQUEST_TIMEOUT_SECONDS / 2
    assert admin_site.store.is_paused() is False


def test_no_token_session_id_or_csrf_token_reaches_the_log(
    admin_site: AdminSite, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    link = admin_site.login_link()
    token = link.split("token=", 1)[1]
    with admin_site.client() as client:
        client.get(link)
        session = admin_site.sign_in_session(link)
        client.post(link, headers=same_origin(admin_site.base))  # used twice
        client.get(link.replace("token=", "token=x"))  # tampered
    with admin_site.client(**session_headers(session)) as client:
        csrf = admin_site.csrf_token(client)
        client.post("/admin/signout", data={"csrf_token": "wrong"}, headers=same_origin(admin_site.base))
        client.post("/admin/signout", data={"csrf_token": csrf}, headers={"Origin": "https://evil.example"})
        admin_site.post(client, "/admin/signout", {})
    server_side = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]  # the test's client
    logged = "\n".join(f"{record.getMessage()} {record.exc_text or ''}" for record in server_side)
    assert "admin_signed_in" in logged
    for secret in (token, token[:40], session, _hash(session), csrf):
        assert secret not in logged


# -- sessions -------------------------------------------------------------------------------------


def test_a_head_request_does_not_use_up_the_notice_meant_for_the_next_page(admin_site: AdminSite) -> None:
    session = admin_site.sign_in_session()
    admin_site.store.set_admin_notice(_hash(session), "Approved.")
    with admin_site.client(**session_headers(session)) as client:
        assert client.head("/admin/").status_code == 200
        assert "Approved." in client.get("/admin/").text
        assert "Approved." not in client.get("/admin/").text  # shown once


def test_signing_in_again_ends_the_session_the_browser_had(admin_site: AdminSite) -> None:
    old = admin_site.sign_in_session()
    with admin_site.client(**session_headers(old)) as client:
        client.post(admin_site.login_link(), headers=same_origin(admin_site.base))
        assert client.get("/admin/").status_code == 303
    assert admin_site.store._db.execute("SELECT COUNT(*) FROM admin_sessions").fetchone()[0] == 1


# -- click links ----------------------------------------------------------------------------------


class _Articles:
    def __init__(self, link: str) -> None:
        self.link = link
        self.counted = 0

    def get_article(self, key: str) -> Article | None:
        return Article(key, "feed", "A story", self.link, "Text.", ("World",), None, datetime(2026, 11, 23))

    def count_click(self, article_key: str, channel: str, now: datetime) -> None:
        self.counted += 1

    def last_digest_mail_at(self) -> datetime | None:
        return None


@pytest.mark.parametrize(
    "stored",
    [
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "https://www.bbc.co.uk@evil.example/news",
        "https://user:secret@example.org/feed-item",
        "https://www.bbc.co.uk\\@evil.example/",
        "//evil.example/",
        "ftp://example.org/file",
    ],
)
def test_a_hostile_stored_link_is_never_wrapped_nor_followed(make_config: Callable[..., Config], stored: str) -> None:
    config = make_config(web={"public_url": PUBLIC}, analytics={"enabled": True})
    links = ClickLinks(PUBLIC, TokenSigner(SECRET))
    assert links.link("abc123def456", "telegram", stored) == stored
    clicks = Clicks(links, config, FakeClock())
    store = _Articles(stored)
    followed = clicks.follow(store, "abc123def456", "telegram", "GET", {"user-agent": "Mozilla/5.0 Firefox/130.0"})
    assert followed.target == "" and store.counted == 0


def test_a_sign_in_token_is_no_click_token_and_a_click_token_no_sign_in(admin_site: AdminSite) -> None:
    from bot.email.tokens import BadToken

    links = ClickLinks(PUBLIC, admin_site.signer)
    login_token = admin_site.login_link().split("token=", 1)[1]
    with pytest.raises(BadToken):
        links.read(login_token)
    click_token = links.link(str(ADMIN), "telegram", "https://example.org/a").rsplit("/", 1)[1]
    with admin_site.client() as client:
        answer = client.post(f"/admin/login?token={click_token}", headers=same_origin(admin_site.base))
    assert answer.status_code == 400
