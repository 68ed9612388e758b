"""A click link in a real browser: a reader clicks the story in a digest and lands on the article's own page (served on
127.0.0.1), and the count goes up by one; a damaged link shows a short page that says so."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bot.clicks import click_links_from_config, clicks_from_config
from bot.config import Config
from bot.email.tokens import link_signing
from bot.models import Article
from bot.render import build_renderer
from bot.server import Server, serving
from bot.store import DailyClicks, SqliteStore, open_store
from tests.browser.test_pages import axe_violations, fits
from tests.conftest import FakeClock
from tests.test_ops import free_port

pytestmark = pytest.mark.browser

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SECRET = "browser-click-secret-0123456789"
# A person's Chrome: headless Chromium names itself HeadlessChrome, which newsbot rightly does not count.
CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
)


class _ArticleSite(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = b'<!doctype html><html lang="en"><title>The story</title><h1>The whole story</h1></html>'
        self.send_response(200 if self.path.startswith("/story") else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(body)


@dataclass
class ClickSite:
    config: Config
    store: SqliteStore
    article_url: str

    @property
    def base(self) -> str:
        return self.config.web.public_url


@pytest.fixture
def click_site(make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch) -> Iterator[ClickSite]:
    articles = ThreadingHTTPServer(("127.0.0.1", 0), _ArticleSite)
    threading.Thread(target=articles.serve_forever, daemon=True).start()
    port = free_port()
    config = make_config(
        analytics={"enabled": True},
        web={"public_url": f"http://127.0.0.1:{port}", "port": port},
        email={"sender": "News <news@example.com>", "utm": {"utm_source": "newsletter"}},
    )
    environ = {"NEWSBOT_SECRET_KEY": SECRET}
    article_url = f"http://127.0.0.1:{articles.server_address[1]}/story?id=7"
    store = open_store(config.state.path)
    store.add_article(
        Article("abc123def456", "feed", "Floods in the valley", article_url, "Text.", ("World",), None, NOW)
    )
    server = Server(
        config,
        open_store=lambda: open_store(config.state.path),
        clicks=clicks_from_config(config, link_signing(config.web, environ), FakeClock(NOW)),
    )
    try:
        with serving(server):
            yield ClickSite(config, store, article_url)
    finally:
        store.close()
        articles.shutdown()
        articles.server_close()


def test_a_reader_clicks_a_digest_link_lands_on_the_article_and_the_count_goes_up_by_one(
    browser: Any, click_site: ClickSite, shoot: Callable[[Any, str], None]
) -> None:
    config = click_site.config
    renderer = build_renderer(
        config, click_links_from_config(config, link_signing(config.web, {"NEWSBOT_SECRET_KEY": SECRET}))
    )
    digest = renderer.render_digest([click_site.store.get_article("abc123def456")], title="Weekly")  # type: ignore[list-item]
    context = browser.new_context(viewport={"width": 390, "height": 844}, user_agent=CHROME)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.set_content(digest.html)
        link = page.get_by_role("link", name="Floods in the valley")
        assert link.get_attribute("href").startswith(f"{click_site.base}/r/")

        with page.expect_navigation():
            link.click()

        assert page.url == f"{click_site.article_url}&utm_source=newsletter"
        assert page.get_by_role("heading", name="The whole story").is_visible()
        shoot(page, "article")
    finally:
        context.close()
    assert click_site.store.clicks_per_day(NOW.date()) == [DailyClicks(NOW.date(), "email", 1)]


def test_a_damaged_link_shows_a_short_page_that_says_so(
    page: Any, click_site: ClickSite, shoot: Callable[[Any, str], None]
) -> None:
    answer = page.goto(f"{click_site.base}/r/eyJwIjoiY2xpY2sifQ.bm90LWEtc2lnbmF0dXJl")

    assert answer.status == 400
    assert page.get_by_role("heading", name="This link is damaged").is_visible()
    assert fits(page)
    assert axe_violations(page) == []
    shoot(page, "damaged")
    assert click_site.store.clicks_per_day(NOW.date()) == []
