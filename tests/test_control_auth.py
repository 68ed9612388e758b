"""The control room's sign-in over HTTP, on the real server: one-time links, sessions, CSRF and Origin checks."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import Config
from bot.control.auth import COOKIE_NAME, cookie_settings
from bot.email.tokens import link_signing
from tests.conftest import FakeClock
from tests.control_helpers import NOT_ADMIN, AdminSite, admin_config, serve_admin_site, session_headers


def test_admin_without_a_session_is_sent_to_the_sign_in_page_which_shows_nothing_of_the_state(
    admin_site: AdminSite,
) -> None:
    admin_site.store.set_paused(True)
    with admin_site.client() as client:
        root = client.get("/admin")
        assert root.status_code == 307 and root.headers["location"] == "admin/"
        overview = client.get("/admin/")
        assert overview.status_code == 303 and overview.headers["location"] == "/admin/signin"
        signin = client.get("/admin/signin")
    assert signin.status_code == 200
    assert "/login" in signin.text and "newsbot admin-link --admin YOUR_ID" in signin.text
    assert "paused" not in signin.text.lower() and "Sign out" not in signin.text


def test_a_sign_in_link_opens_a_page_with_a_button_and_is_used_only_by_the_post(admin_site: AdminSite) -> None:
    link = admin_site.login_link()
    with admin_site.client() as client:
        for _ in range(3):  # a link preview, a mail scanner, the admin: none of them uses the link up
            page = client.get(link)
            assert page.status_code == 200 and "Sign in</button>" in page.text
            assert COOKIE_NAME not in page.headers.get("set-cookie", "")
    session = admin_site.sign_in_session(link)
    with admin_site.client(**session_headers(session)) as client:
        overview = client.get("/admin/")
    assert overview.status_code == 200 and "Overview" in overview.text and "Sign out" in overview.text


def test_the_session_cookie_is_httponly_strict_secure_and_scoped_to_admin(admin_site: AdminSite) -> None:
    with admin_site.client() as client:
        response = client.post(admin_site.login_link(), headers={"Origin": admin_site.base})
    cookie = response.headers["set-cookie"].lower()
    assert response.status_code == 303 and response.headers["location"] == "/admin/"
    for attribute in ("httponly", "samesite=strict", "secure", "path=/admin", "max-age=43200"):
        assert attribute in cookie


def test_the_cookie_is_not_secure_over_plain_http_and_follows_a_proxy_prefix(
    make_config: Callable[..., Config],
) -> None:
    config = admin_config(make_config, web={"public_url": "http://news.example.com/newsbot"})
    assert cookie_settings(config)["secure"] is False
    assert cookie_settings(config)["path"] == "/newsbot/admin"


def test_a_link_used_twice_is_refused_the_second_time(admin_site: AdminSite) -> None:
    link = admin_site.login_link()
    admin_site.sign_in_session(link)
    with admin_site.client() as client:
        again = client.post(link, headers={"Origin": admin_site.base})
    assert again.status_code == 400 and "used already" in again.text and "/login" in again.text
    assert COOKIE_NAME not in again.headers.get("set-cookie", "")


@pytest.mark.parametrize("minutes", [10, 60])
def test_an_expired_link_is_refused_and_says_how_to_get_a_new_one(admin_site: AdminSite, minutes: int) -> None:
    link = admin_site.login_link()
    admin_site.clock.advance(minutes=minutes)
    with admin_site.client() as client:
        page, post = client.get(link), client.post(link, headers={"Origin": admin_site.base})
    for response in (page, post):
        assert response.status_code == 400 and "expired" in response.text and "/login" in response.text
        assert "Sign in</button>" not in response.text


def test_a_forged_link_and_a_non_admins_link_are_refused(admin_site: AdminSite) -> None:
    with admin_site.client() as client:
        forged = client.post(admin_site.forged_link(), headers={"Origin": admin_site.base})
        stranger = client.post(admin_site.link_for(NOT_ADMIN), headers={"Origin": admin_site.base})
        broken = client.get("/admin/login?token=nonsense")
    assert forged.status_code == 400 and "not a valid sign-in link" in forged.text
    assert stranger.status_code == 403 and "not an admin" in stranger.text
    assert broken.status_code == 400
    assert COOKIE_NAME not in forged.headers.get("set-cookie", "") + stranger.headers.get("set-cookie", "")


def test_an_admin_taken_off_the_list_loses_access_at_once(
    tmp_path: Path, make_config: Callable[..., Config], clock: FakeClock
) -> None:
    state = tmp_path / "state.sqlite"
    with serve_admin_site(admin_config(make_config), state, clock) as site:
        session = site.sign_in_session()
    demoted = admin_config(make_config, telegram={"admins": [1]})
    with serve_admin_site(demoted, state, clock) as site, site.client(**session_headers(session)) as client:
        assert client.get("/admin/").status_code == 303


def test_a_session_ends_after_admin_session_hours(admin_site: AdminSite) -> None:
    with admin_site.signed_in_client() as client:
        admin_site.clock.advance(hours=11, minutes=59)
        assert client.get("/admin/").status_code == 200
        admin_site.clock.advance(minutes=1)
        assert client.get("/admin/").status_code == 303


def test_sign_out_ends_the_session_on_the_server(admin_site: AdminSite) -> None:
    session = admin_site.sign_in_session()
    with admin_site.client(**session_headers(session)) as client:
        out = admin_site.post(client, "/admin/signout", {})
        assert out.status_code == 303 and out.headers["location"] == "/admin/signin?signed_out=1"
        assert COOKIE_NAME in out.headers["set-cookie"]  # the browser drops it...
        assert client.get("/admin/").status_code == 303  # ...and the same cookie no longer works anywhere


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(admin_site: AdminSite) -> None:
    with admin_site.signed_in_client() as client:
        headers = {"Origin": admin_site.base, "Sec-Fetch-Site": "same-origin"}
        missing = client.post("/admin/signout", data={}, headers=headers)
        wrong = client.post("/admin/signout", data={"csrf_token": "guess"}, headers=headers)
        assert missing.status_code == 403 and wrong.status_code == 403
        assert client.get("/admin/").status_code == 200  # still signed in: the sign-out did not happen


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://evil.news.example.com"},
    ],
)
def test_a_post_from_another_site_is_refused_even_with_the_token(
    admin_site: AdminSite, headers: dict[str, str]
) -> None:
    with admin_site.signed_in_client() as client:
        token = admin_site.csrf_token(client)
        refused = client.post("/admin/signout", data={"csrf_token": token}, headers=headers)
        assert refused.status_code == 403 and "another web site" in refused.text
        assert client.get("/admin/").status_code == 200
    with admin_site.client() as client:
        login = client.post(admin_site.login_link(), headers=headers)
    assert login.status_code == 403 and COOKIE_NAME not in login.headers.get("set-cookie", "")


def test_admin_pages_send_a_strict_content_security_policy(admin_site: AdminSite) -> None:
    with admin_site.signed_in_client() as client:
        for path in ("/admin/", "/admin/signin", "/admin/style.css"):
            csp = client.get(path).headers["content-security-policy"]
            assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "base-uri 'none'" in csp
            assert "form-action 'self'" in csp and "script-src" not in csp
        # the subscription pages keep their own
        assert "frame-ancestors" not in client.get("/subscribe").headers["content-security-policy"]


def test_the_state_keeps_only_a_hash_of_the_session_id(admin_site: AdminSite) -> None:
    session = admin_site.sign_in_session()
    rows = admin_site.store._db.execute("SELECT session_hash FROM admin_sessions").fetchall()
    assert rows and all(session not in str(row[0]) for row in rows)


def test_a_webhook_may_not_hide_the_control_room(make_config: Callable[..., Config]) -> None:
    from bot.errors import ConfigError
    from bot.webhook import WEBHOOK_SECRET_ENV, webhook_from_config

    for path in ("/admin", "/admin/signin"):
        config = make_config(telegram={"webhook_url": f"https://news.example.com{path}"})
        with pytest.raises(ConfigError, match="one of newsbot's own pages"):
            webhook_from_config(config, {WEBHOOK_SECRET_ENV: "a-secret-telegram-accepts"})


def test_newsbot_run_serves_the_control_room_with_public_url_admins_and_the_secret(
    make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    import httpx

    from bot.cli import web_server

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = admin_config(make_config, web={"public_url": "https://news.example.com", "port": port})
    monkeypatch.setenv("NEWSBOT_SECRET_KEY", "run-test-secret-0123456789")
    with web_server(config, None, link_signing(config.web, os.environ)):
        answer = httpx.get(f"http://127.0.0.1:{port}/admin/signin", timeout=10)
    assert answer.status_code == 200 and "/login" in answer.text
    monkeypatch.delenv("NEWSBOT_SECRET_KEY")
    with web_server(
        config, None, link_signing(config.web, os.environ)
    ):  # without the secret: off, and the log says which variable to set
        pass
    assert "control_room_off" in caplog.text and "NEWSBOT_SECRET_KEY" in caplog.text
