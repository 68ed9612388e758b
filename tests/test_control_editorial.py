"""The control room's Approval and Sources pages over HTTP, beside the chat bot on the same state: a decision made
on the web shows in the admins' chat previews (fake Telegram), a chat decision made first is what the web is told,
two decisions at once settle once; a source added from the page is polled; pause, resume, remove."""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from bot import approvals
from bot.clicks import renderer_of
from bot.email.tokens import link_signing
from bot.ingest import Ingest, PollReport
from bot.render import build_renderer
from bot.store import HELD, PENDING, SKIPPED
from bot.telegram_html import visible_text
from tests.conftest import FakeClock, news_item, rss
from tests.control_helpers import PUBLIC, SECRET, AdminSite, same_origin, serve_admin_site
from tests.store_sql import approval_events
from tests.test_approval import OTHER_ADMIN, ROUTE, route_and_preview, states
from tests.test_commands_subscriber import ADMIN, NOW, BotChat, add_article, running_bot


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@contextmanager
def chat_and_site(tmp_path: Path, **tables: Any) -> Iterator[tuple[BotChat, AdminSite]]:
    """The chat bot (fake Telegram) and the control room on one state file, ADMIN and OTHER_ADMIN in both."""
    clock = FakeClock(NOW)
    with running_bot(
        tmp_path, clock=clock, telegram={"admins": [ADMIN, OTHER_ADMIN]}, routes=[ROUTE],
        web={"public_url": PUBLIC, "subscribe_per_hour": 100}, **tables,
    ) as chat, serve_admin_site(chat.config, tmp_path / "state.sqlite", clock) as site:  # fmt: skip
        yield chat, site


def _previews(chat: BotChat) -> None:
    for admin in (ADMIN, OTHER_ADMIN):
        chat.fake.wait_until(lambda a=admin: any(m.reply_markup for m in chat.fake.messages(a)))


def _edited_previews(chat: BotChat, words: str) -> None:
    for admin in (ADMIN, OTHER_ADMIN):
        chat.fake.wait_until(
            lambda a=admin: any(m.edited and words in visible_text(m.text) for m in chat.fake.messages(a))
        )


def _decide(site: AdminSite, client: httpx.Client, action: str, approval: int, **fields: str) -> httpx.Response:
    return site.post(client, f"/admin/approvals/{action}", {"approval": str(approval), **fields})


def _after(client: httpx.Client, response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    return _text(client.get(response.headers["location"]).text)


# --- Approval --------------------------------------------------------------------------------------------


def test_the_approval_page_shows_each_channel_and_approving_there_updates_the_chat_previews(tmp_path: Path) -> None:
    with chat_and_site(tmp_path) as (chat, site):
        approval = route_and_preview(chat, add_article(chat.store, "a1", "Budget vote"))
        _previews(chat)
        with site.signed_in_client(site.login_link(ADMIN)) as client:
            page = _text(client.get("/admin/approvals").text)
            assert "Budget vote" in page and "Route desk" in page
            assert "telegram (Telegram HTML" in page
            assert re.search(r"x \(X text, \d+ of 280 weighted characters\)", page)
            assert "It waits for an admin however long it takes." in page
            shown = _after(client, _decide(site, client, "approve", approval))
        assert "“Budget vote”: approved." in shown and "Nothing waits for approval." in shown
        assert re.search(r"Budget vote approved admin 1000 2026-11-23 12:00", shown)  # the ledger
        assert states(chat.store, "a1") == {PENDING}
        _edited_previews(chat, "Approved by admin 1000 at 2026-11-23 12:00 UTC")


def test_the_overview_links_to_the_approval_page(admin_site: AdminSite) -> None:
    now = admin_site.clock()
    add_article(admin_site.store, "a1", "Held")
    admin_site.store.add_approval("a1", "all", now, None)
    with admin_site.signed_in_client() as client:
        overview = client.get("/admin/").text
        assert 'href="/admin/approvals"' in overview
        assert client.get("/admin/approvals").status_code == 200


def test_a_chat_decision_made_first_is_what_the_web_button_says(tmp_path: Path) -> None:
    with chat_and_site(tmp_path) as (chat, site):
        approval = route_and_preview(chat, add_article(chat.store, "a1", "Budget vote"))
        _previews(chat)
        with site.signed_in_client(site.login_link(ADMIN)) as client:
            site.csrf_token(client, "/admin/approvals")  # the page was open before the chat decision
            chat.fake.press_button(f"ap:{approval}:s", user_id=OTHER_ADMIN)
            chat.fake.wait_until(lambda: chat.store.get_approval(approval).decision == "skipped")  # type: ignore[union-attr]
            shown = _after(client, _decide(site, client, "approve", approval))
        assert "Nothing changed: it was already skipped by admin 1001 at 2026-11-23 12:00 UTC." in shown
        assert states(chat.store, "a1") == {SKIPPED}
        assert [e[0] for e in approval_events(chat.store, approval)] == ["held", "skipped"]


def test_two_decisions_at_once_from_two_tabs_settle_once(tmp_path: Path) -> None:
    with chat_and_site(tmp_path) as (chat, site):
        approval = route_and_preview(chat, add_article(chat.store, "a1", "Budget vote"))
        clients = [site.signed_in_client(site.login_link(admin)) for admin in (ADMIN, OTHER_ADMIN)]
        tokens = [site.csrf_token(client) for client in clients]
        results: dict[str, httpx.Response] = {}
        start = threading.Barrier(2)

        def press(action: str, client: httpx.Client, token: str) -> None:
            start.wait()
            results[action] = client.post(
                f"/admin/approvals/{action}", data={"csrf_token": token, "approval": str(approval)},
                headers=same_origin(site.base),
            )  # fmt: skip

        pressed = zip(("approve", "skip"), clients, tokens, strict=True)
        threads = [threading.Thread(target=press, args=(a, c, t)) for a, c, t in pressed]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        notices = {action: _text(client.get("/admin/approvals").text) for action, client in zip(
            ("approve", "skip"), clients, strict=True)}  # fmt: skip
        for client in clients:
            client.close()
        settled = chat.store.get_approval(approval)
        assert settled is not None and settled.decision in ("approved", "skipped")
        loser = "skip" if settled.decision == "approved" else "approve"
        assert f"Nothing changed: it was already {settled.decision}" in notices[loser]
        assert [e[0] for e in approval_events(chat.store, approval)] == ["held", settled.decision]
        assert all(response.status_code == 303 for response in results.values())


def test_editing_on_the_web_checks_the_summary_like_chat_and_updates_the_previews(tmp_path: Path) -> None:
    with chat_and_site(tmp_path) as (chat, site):
        article = add_article(chat.store, "a1", "Budget vote")
        approval = route_and_preview(chat, article)
        _previews(chat)
        too_long = ("Far too long. " * 400).strip()
        expected = approvals.summary_problems(build_renderer(chat.config), chat.config, article, "desk", too_long)
        assert expected
        with site.signed_in_client(site.login_link(ADMIN)) as client:
            refused = _decide(site, client, "edit", approval, summary=too_long)
            assert refused.status_code == 400
            assert 'aria-invalid="true"' in refused.text and too_long in refused.text
            assert all(problem in _text(refused.text) for problem in expected)
            assert chat.store.get_approval(approval).summary == ""  # type: ignore[union-attr]
            shown = _after(client, _decide(site, client, "edit", approval, summary="The council passed the budget."))
            assert "summary saved; it still waits for approval" in shown and "summary edited" in shown
        assert chat.store.get_approval(approval).summary == "The council passed the budget."  # type: ignore[union-attr]
        assert states(chat.store, "a1") == {HELD}
        _edited_previews(chat, "The council passed the budget.")


def test_a_summary_with_control_characters_is_refused_on_the_web_and_a_textareas_line_breaks_are_kept(
    tmp_path: Path,
) -> None:
    with chat_and_site(tmp_path) as (chat, site):
        approval = route_and_preview(chat, add_article(chat.store, "a1", "Budget vote"))
        _previews(chat)
        with site.signed_in_client(site.login_link(ADMIN)) as client:
            refused = _decide(site, client, "edit", approval, summary="The council\x00 passed\x1b[2J it.")
            assert refused.status_code == 400
            assert "The summary holds control or invisible formatting characters" in _text(refused.text)
            assert chat.store.get_approval(approval).summary == ""  # type: ignore[union-attr]
            saved = _decide(site, client, "edit", approval, summary="It passed.\r\nBy one vote.")  # a textarea's
            assert saved.status_code == 303
        assert chat.store.get_approval(approval).summary == "It passed.\nBy one vote."  # type: ignore[union-attr]


def test_an_approval_post_without_the_csrf_token_is_refused(admin_site: AdminSite) -> None:
    add_article(admin_site.store, "a1", "Held")
    approval = admin_site.store.add_approval("a1", "all", admin_site.clock(), None)
    with admin_site.signed_in_client() as client:
        response = client.post(
            "/admin/approvals/approve", data={"approval": str(approval)}, headers=same_origin(admin_site.base)
        )
    assert response.status_code == 403
    assert admin_site.store.get_approval(approval).decision == ""  # type: ignore[union-attr]


# --- Sources ---------------------------------------------------------------------------------------------


class _Feed(BaseHTTPRequestHandler):
    items: ClassVar[list[dict[str, str]]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path != "/feed.xml":
            self.send_error(404)
            return
        body = rss(type(self).items).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def feed() -> Iterator[type[_Feed]]:
    handler = type("Feed", (_Feed,), {"items": [news_item(1), news_item(2)]})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_port}/feed.xml"  # type: ignore[attr-defined]
    yield handler
    server.shutdown()
    server.server_close()


@pytest.fixture
def lan_site(make_config: Any, tmp_path: Path, clock: FakeClock) -> Iterator[AdminSite]:
    """The control room allowed to fetch from private addresses ([fetch] allow_private), one config source."""
    from tests.control_helpers import admin_config

    config = admin_config(
        make_config, fetch={"allow_private": True}, sources=[{"name": "wire", "url": "http://127.0.0.1:9/wire.xml"}]
    )
    with serve_admin_site(config, tmp_path / "state.sqlite", clock) as site:
        yield site


def _poll_reports(site: AdminSite) -> list[PollReport]:
    """One poll of whatever is due, as the main loop does it."""
    ingest = Ingest(site.store, site.config)
    return ingest.poll_many(ingest.due_sources(site.clock()), site.clock())


def _poll(site: AdminSite) -> list[str]:
    """The sources one poll polls."""
    return [report.source for report in _poll_reports(site)]


def test_a_source_added_from_the_page_after_a_preview_is_polled(lan_site: AdminSite, feed: Any) -> None:
    with lan_site.signed_in_client() as client:
        previewed = lan_site.post(client, "/admin/sources/preview", {"url": feed.url, "hashtags": "#Local"})
        assert previewed.status_code == 200
        text = _text(previewed.text)
        assert "2 entries" in text and "Story number 1 about the council vote" in text
        assert "https://news.example.com/2026/11/story-2" in text
        assert lan_site.store.added_sources() == []  # a preview adds nothing
        shown = _after(client, lan_site.post(client, "/admin/sources/add", {"url": feed.url, "hashtags": "#Local"}))
        assert "Added source 127.0.0.1-1 (2 entries found now)" in shown
        again = lan_site.post(client, "/admin/sources/add", {"url": feed.url, "hashtags": ""})
        assert again.status_code == 400 and "That URL is already a source: 127.0.0.1-1." in _text(again.text)
    [added] = lan_site.store.added_sources()
    assert (added.name, added.hashtags, added.added_by) == ("127.0.0.1-1", ("Local",), "4242")
    assert "127.0.0.1-1" in _poll(lan_site)  # first poll: the existing entries are only marked seen
    feed.items = [news_item(3), *feed.items]
    lan_site.clock.advance(hours=1)
    [report] = [r for r in _poll_reports(lan_site) if r.source == "127.0.0.1-1"]
    assert [a.title for a in report.new_articles] == ["Story number 3 about the council vote"]
    assert "Local" in report.new_articles[0].hashtags


def test_a_private_url_is_refused_without_allow_private(admin_site: AdminSite) -> None:
    with admin_site.signed_in_client() as client:
        response = admin_site.post(client, "/admin/sources/preview", {"url": "http://127.0.0.1:9/feed.xml"})
    assert response.status_code == 400
    text = _text(response.text)
    assert "127.0.0.1 is a loopback address" in text and "allow_private" in text
    assert 'aria-invalid="true"' in response.text and 'value="http://127.0.0.1:9/feed.xml"' in response.text


def test_pause_stops_polling_and_resume_restarts_it(lan_site: AdminSite) -> None:
    with lan_site.signed_in_client() as client:
        shown = _after(client, lan_site.post(client, "/admin/sources/pause", {"name": "wire"}))
        assert "wire is paused" in shown and "Resume wire" in client.get("/admin/sources").text
        assert _poll(lan_site) == []
        assert lan_site.store.source_state("wire").paused
        shown = _after(client, lan_site.post(client, "/admin/sources/resume", {"name": "wire"}))
        assert "wire is resumed" in shown
    assert _poll(lan_site) == ["wire"]
    assert not lan_site.store.source_state("wire").paused


def test_remove_asks_first_and_a_config_source_is_refused(lan_site: AdminSite, feed: Any) -> None:
    with lan_site.signed_in_client() as client:
        _after(client, lan_site.post(client, "/admin/sources/add", {"url": feed.url}))
        confirm = client.get("/admin/sources/remove", params={"name": "127.0.0.1-1"})
        assert confirm.status_code == 200 and "Remove 127.0.0.1-1?" in confirm.text
        assert lan_site.store.added_sources() != []  # asking removes nothing
        shown = _after(client, lan_site.post(client, "/admin/sources/remove", {"name": "127.0.0.1-1"}))
        assert "Removed source 127.0.0.1-1." in shown and lan_site.store.added_sources() == []
        refused = client.get("/admin/sources/remove", params={"name": "wire"})
        assert "remove it there and restart newsbot" in _after(client, refused)


def test_a_sources_post_without_the_csrf_token_is_refused(lan_site: AdminSite) -> None:
    with lan_site.signed_in_client() as client:
        response = client.post("/admin/sources/pause", data={"name": "wire"}, headers=same_origin(lan_site.base))
    assert response.status_code == 403 and not lan_site.store.source_state("wire").paused


def test_chat_pausesource_and_the_sources_list(tmp_path: Path) -> None:
    with chat_and_site(tmp_path, sources=[{"name": "wire", "url": "http://127.0.0.1:9/wire.xml"}]) as (chat, site):
        assert "Source wire is paused: it is not polled until /resumesource wire." in chat.ask(
            "/pausesource wire", user_id=ADMIN
        )
        assert site.store.source_state("wire").paused
        assert "wire http://127.0.0.1:9/wire.xml every 900 s — paused (/resumesource wire)" in chat.ask(
            "/sources", user_id=ADMIN
        )
        assert "No source is called “nope”" in chat.ask("/pausesource nope", user_id=ADMIN)
        assert "polled again" in chat.ask("/resumesource wire", user_id=ADMIN)
        assert not site.store.source_state("wire").paused


def test_the_approval_page_previews_the_post_with_its_click_link_as_chat_and_the_post_do(tmp_path: Path) -> None:
    with chat_and_site(tmp_path, analytics={"enabled": True}) as (chat, site):
        article = add_article(chat.store, "a1", "Budget vote")
        approval = route_and_preview(chat, article)
        posts = renderer_of(
            chat.config, {}, link_signing(chat.config.web, {"NEWSBOT_SECRET_KEY": SECRET.decode()})
        )  # as App builds its renderer
        expected = approvals.channel_previews(posts, chat.config, article, chat.store.get_approval(approval))  # type: ignore[arg-type]
        with site.signed_in_client(site.login_link(ADMIN)) as client:
            page = client.get("/admin/approvals").text
    shown = [html.unescape(part) for part in re.findall(r'<pre class="post">(.*?)</pre>', page, re.S)]
    assert shown == [part for channel in expected for part in channel.parts]
    assert any(f"{PUBLIC}/r/" in part for part in shown) and not any(article.link in part for part in shown)
    for channel in expected:
        assert f"{channel.length} of {channel.limit} {channel.unit}" in _text(page)
