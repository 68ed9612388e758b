"""Every page of the control room given hostile query strings and form fields, on SQLite and PostgreSQL: what
cannot be used gets an answer that says so (400, or a notice on the next page), never a server error; and a state
that cannot be reached gets a 503 page that says to try again, with the control room's headers."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx

from bot.config import Config, StateConfig
from bot.control.app import build_control_app
from bot.control.auth import login_link
from bot.control.registry import PAGES
from bot.email.tokens import TokenSigner
from bot.email.web import start_in_thread
from bot.render import build_renderer
from bot.server import Server, build_server_app
from bot.store import open_store
from tests.conftest import FakeClock
from tests.control_helpers import (
    ADMIN,
    PUBLIC,
    SECRET,
    AdminSite,
    admin_config,
    same_origin,
    serve_admin_site,
    session_headers,
)

# NUL (PostgreSQL refuses it in text), longer than any field, not a number, LIKE's wildcards and escape
HOSTILE = ("a\x00b", "x" * 5000, "99999999999999999999999", "%_\\", "nope")
QUERY_FIELDS = (
    "q",
    "match",
    "channel",
    "status",
    "after",
    "article",
    "recipient",
    "outcome",
    "days",
    "name",
    "address",
)
FORM_FIELDS = ("approval", "summary", "url", "hashtags", "name", "channel", "address", "page")


def _config(make_config: Callable[..., Config]) -> Config:
    return admin_config(make_config, sources=[{"name": "wire", "url": "https://example.com/feed.xml"}])


def _text(response: httpx.Response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text))


def _server_errors(site: AdminSite, client: httpx.Client) -> list[tuple[str, str, str, int]]:
    token = site.csrf_token(client)
    failed = []
    for page in PAGES:
        prefix = "/admin" + page.path.rstrip("/")
        for path in [prefix + "/", *(f"{prefix}/{name}" for name in page.views)]:
            for name in QUERY_FIELDS:
                for value in HOSTILE:
                    answer = client.get(path, params={name: value})
                    if answer.status_code >= 500:
                        failed.append((f"GET {path}", name, value[:8], answer.status_code))
        for action in page.actions:
            for name in FORM_FIELDS:
                for value in HOSTILE:
                    fields = {"csrf_token": token, "url": "https://example.com/x", "channel": "telegram", name: value}
                    answer = client.post(f"{prefix}/{action}", data=fields, headers=same_origin(site.base))
                    if answer.status_code >= 500:
                        failed.append((f"POST {prefix}/{action}", name, value[:8], answer.status_code))
    return failed


def test_no_hostile_query_string_or_form_field_gets_a_server_error(
    make_config: Callable[..., Config], state: StateConfig, clock: FakeClock
) -> None:
    with serve_admin_site(_config(make_config), state, clock) as site, site.signed_in_client() as client:
        assert _server_errors(site, client) == []


def test_a_source_name_with_a_nul_byte_is_refused_with_a_notice_on_either_backend(
    make_config: Callable[..., Config], state: StateConfig, clock: FakeClock
) -> None:
    with serve_admin_site(_config(make_config), state, clock) as site, site.signed_in_client() as client:
        for action in ("pause", "resume", "remove"):
            answer = site.post(client, f"/admin/sources/{action}", {"name": "wi\x00re"})
            assert answer.status_code == 303, action
            shown = _text(client.get(answer.headers["location"].replace("https://news.example.com", "")))
            assert "Nothing was changed: The source name holds control characters" in shown, action
        confirm = client.get("/admin/sources/remove", params={"name": "wi\x00re"})
        assert confirm.status_code == 303
        assert not site.store.source_state("wire").paused


def test_an_unreachable_state_gets_a_503_page_that_says_to_try_again(
    make_config: Callable[..., Config], tmp_path: Path, clock: FakeClock
) -> None:
    (tmp_path / "not-a-folder").write_text("a file where the state's folder should be")
    state = tmp_path / "not-a-folder" / "state.sqlite"
    signer = TokenSigner(SECRET)
    config = admin_config(make_config)
    control = build_control_app(
        config, open_store=lambda: open_store(state), signer=signer, clock=clock, posts=build_renderer(config)
    )
    server, thread = start_in_thread(
        build_server_app(Server(config, lambda: open_store(state), control=control)), "127.0.0.1", 0
    )
    try:
        base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        link = login_link(config, signer, ADMIN, clock()).replace(PUBLIC, base, 1)
        with httpx.Client(base_url=base, timeout=15, headers=session_headers("some-session")) as client:
            page = client.get("/admin/")
            sign_in = client.post(link, headers=same_origin(base))
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    for answer in (page, sign_in):
        assert answer.status_code == 503
        assert "cannot reach its state" in _text(answer) and "try again" in _text(answer)
        assert "not-a-folder" not in answer.text  # the log says where; the page shows nothing of the setup
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
