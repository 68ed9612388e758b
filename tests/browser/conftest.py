"""Real-browser tests: the web pages in Debian's Chromium, driven by Playwright, checked by axe-core.

One browser for these tests, a fresh page (browser context) per test. Each test gets the app served by uvicorn on
127.0.0.1 on a free port, with its own state file, a fake clock and a list that catches the mails it sends. Links
in mails are built on the public URL and rewritten to the local server (`Site.local`).

Without /usr/bin/chromium the tests are skipped, with the reason, unless CI is set: in CI they must run (.ci/run
installs Chromium first). Playwright's own browser download is not used. Set NEWSBOT_SCREENSHOTS to a folder to
keep a full-page PNG of every page checked (`shoot`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config
from bot.email.tokens import TokenSigner
from bot.email.web import build_app, confirm_url, preferences_url, start_in_thread, unsubscribe_url
from bot.models import Article
from bot.store import OutboxItem, SqliteStore, open_store
from tests.conftest import FakeClock, confirmation_of
from tests.store_sql import count_articles

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",  # no calls home: tests reach only 127.0.0.1
    "--disable-component-update",
    "--disable-sync",
]
PUBLIC = "https://news.example.com"
SECRET = b"browser-test-secret-0123456789"
READER = "reader@example.org"
_LINK = re.compile(r"https://news\.example\.com/(?:confirm|preferences|unsubscribe)\?token=[A-Za-z0-9_.-]+")


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for every browser test; closed after the last, so no event loop lingers for other tests."""
    if not CHROMIUM.exists() and not os.environ.get("CI"):
        pytest.skip(f"real-browser tests need Chromium at {CHROMIUM} (apt-get install chromium); CI always runs them")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page at a phone's width (390 px); tests that need another width set it first."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@dataclass
class Site:
    """The app as served to the browser, with what it touches."""

    base: str
    store: SqliteStore
    clock: FakeClock
    signer: TokenSigner
    config: Config
    sent: list[EmailMessage] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path

    def local(self, link: str) -> str:
        """A link from a mail, pointing at this server instead of the public URL."""
        return link.replace(PUBLIC, self.base, 1)

    def links_in_last_mail(self) -> list[str]:
        body = self.sent[-1].get_body(("plain",))
        assert isinstance(body, EmailMessage)
        return [self.local(link) for link in _LINK.findall(str(body.get_content()))]

    def link(self, purpose: str, address: str = READER) -> str:
        build = {"confirm": confirm_url, "unsubscribe": unsubscribe_url, "preferences": preferences_url}[purpose]
        return self.local(build(self.config, self.signer, address, self.clock()))

    def signed_up(self, address: str = READER, hashtags: Sequence[str] = ("Climate",)) -> None:
        self.store.request_email_subscription(address, hashtags, self.clock())

    def subscribed(self, address: str = READER, hashtags: Sequence[str] = ("Climate",)) -> None:
        self.signed_up(address, hashtags)
        self.store.confirm_email(address, self.clock())

    def in_the_news(self, *tag_lists: Sequence[str]) -> None:
        """One article routed to the digest per list of hashtags, first seen in the last day."""
        for tags in tag_lists:
            number = count_articles(self.store)
            seen = self.clock() - timedelta(days=1) + timedelta(minutes=number)
            article = Article(
                f"a{number}", "feed", "Title", f"https://example.com/{number}", "Text.", tuple(tags), None, seen
            )
            self.store.add_article(article)
            self.store.enqueue([OutboxItem(article.key, "email", "digest", "all", "", seen)], seen)


@pytest.fixture
def site(make_config: Callable[..., Config], tmp_path: Path, clock: FakeClock) -> Iterator[Site]:
    config = make_config(
        web={"public_url": PUBLIC, "subscribe_per_hour": 100},
        email={"sender": "Example News <news@example.com>", "list_name": "Example News weekly"},
    )
    state = tmp_path / "state.sqlite"
    sent: list[EmailMessage] = []
    signer = TokenSigner(SECRET)
    app = build_app(
        config,
        store_factory=lambda: open_store(state),
        signer=signer,
        send_mail=sent.append,
        make_confirmation=confirmation_of(config),
        clock=clock,
    )
    server, thread = start_in_thread(app, "127.0.0.1", 0)
    store = open_store(state)
    try:
        port = server.servers[0].sockets[0].getsockname()[1]
        yield Site(f"http://127.0.0.1:{port}", store, clock, signer, config, sent)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


@pytest.fixture
def shoot(request: pytest.FixtureRequest) -> Callable[[Any, str], None]:
    """Saves a full-page screenshot to $NEWSBOT_SCREENSHOTS, when set, named after the test and `name`."""
    folder = os.environ.get("NEWSBOT_SCREENSHOTS", "")

    def take(page: Any, name: str) -> None:
        if folder:
            stem = re.sub(r"[^\w-]+", "_", f"{request.node.name}-{name}").strip("_")
            page.screenshot(path=str(Path(folder) / f"{stem}.png"), full_page=True)

    return take
