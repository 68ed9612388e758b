"""A control room with a month of realistic content, for walking its pages in a browser.

    with newsroom_site(make_config, tmp_path, clock) as site:   # or the `newsroom` fixture of test_control_walk.py
        site.sign_in(page)

Three sources from the config file (one failing, one paused) and one added in chat; a route held for approval and
a catch-all; about 200 Telegram and email subscribers with hashtags and watch/mute words; 40 articles over 30
days with long titles and one hostile title (markup, a bidi override, a 300-character word); two items waiting
for approval and one decided; sent, failed and skipped deliveries; clicks counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.config import Config
from bot.ingest import Ingest
from bot.models import Article
from bot.store import AddedSource, OutboxItem, SourceState
from tests.conftest import FakeClock
from tests.control_helpers import ADMIN, AdminSite, admin_config, serve_admin_site

HOSTILE_TITLE = (
    '<script>alert("t")</script><b>Bold</b> \u202eevil\u202c reversed and a word of 300: ' + "Donaudampfschiff" * 19
)
LONG_TITLE = (
    "Council approves the long-delayed harbour renovation after a nine-hour session, with amendments on "
    "bridges, river front parks, cycling lanes and the old market hall"
)
ROUTES: list[dict[str, Any]] = [
    {"name": "politics", "hashtags": ["Politics"], "channels": ["telegram", "email"], "approval": True,
     "approval_timeout": "6h"},
    {"name": "everything-else", "hashtags": ["*"], "exclude": ["Politics"], "channels": ["telegram", "x", "email"]},
]  # fmt: skip
SOURCES: list[dict[str, Any]] = [
    {"name": "city-hall", "url": "https://cityhall.example.org/feed.xml", "hashtags": ["City"]},
    {"name": "wire", "url": "https://wire.example.com/rss?key=topsecret", "hashtags": ["Wire"]},
    {"name": "harbour-authority-press-releases",
     "url": "https://press.harbour-authority.example.net/releases/all/feed.atom?lang=en&category=everything"},
]  # fmt: skip
TAGS = ("Climate", "Politics", "City", "Sport", "Culture", "Harbour", "Verylonghashtag" + "x" * 49)


def newsroom_config(make_config: Callable[..., Config]) -> Config:
    return admin_config(make_config, analytics={"enabled": True}, routes=ROUTES, sources=SOURCES)


@contextmanager
def newsroom_site(make_config: Callable[..., Config], tmp_path: Path, clock: FakeClock) -> Iterator[AdminSite]:
    with serve_admin_site(newsroom_config(make_config), tmp_path / "state.sqlite", clock) as site:
        seed(site)
        yield site


def seed(site: AdminSite) -> None:
    _sources(site)
    _subscribers(site)
    _deliveries_and_clicks(site)
    _approvals(site)


def _sources(site: AdminSite) -> None:
    now, store = site.clock(), site.store
    store.save_source_state(
        SourceState("city-hall", primed=True, last_poll=now, last_success=now, next_poll=now + timedelta(minutes=15))
    )
    error = "HTTP 503 from https://wire.example.com/rss?key=topsecret: Service Unavailable " * 4
    store.save_source_state(
        SourceState(
            "wire",
            primed=True,
            last_poll=now,
            last_success=now - timedelta(days=2),
            next_poll=now + timedelta(hours=2),
            failures=7,
            last_error=error.strip(),
        )
    )
    store.set_source_paused("harbour-authority-press-releases", True)
    store.add_source(AddedSource("museum-blog", "https://museum.example.org/blog/", ("Culture",), str(ADMIN), now))


def _subscribers(site: AdminSite) -> None:
    now, store = site.clock(), site.store
    for n in range(120):
        chat = str(-1001000000000 - n) if n % 3 else str(100000 + n)
        store.subscribe("telegram", chat, now - timedelta(days=n % 30))
        store.set_subscriber_tags("telegram", chat, TAGS[n % 7 : n % 7 + 1 + n % 3], now)
        if n % 17 == 0:
            store.add_subscriber_words("telegram", chat, "watch", ["flood", "bridge"])
            store.add_subscriber_words("telegram", chat, "mute", ["football"])
    for n in range(80):
        address = (
            f"reader.{n}@example.org" if n % 9 else f"a.really.rather.long.address.number.{n}@subdomain.example.org"
        )
        store.request_email_subscription(address, TAGS[n % 5 : n % 5 + 2], now, name=f"Reader {n}")
        if n % 10:
            store.confirm_email(address, now)
    store.deactivate_subscriber("telegram", "100003", "blocked the bot", now)


def _article(site: AdminSite, key: str, title: str, tags: tuple[str, ...], days_ago: int) -> Article:
    seen = site.clock() - timedelta(days=days_ago, hours=days_ago % 5)
    link = f"https://news.example.com/{days_ago}/{key}"
    article = Article(key, "city-hall", title, link, "A summary of the story in two sentences. It is short.",
                      tags, None, seen)  # fmt: skip
    site.store.add_article(article)
    return article


def _deliveries_and_clicks(site: AdminSite) -> None:
    store = site.store
    for n in range(40):
        title = LONG_TITLE if n % 4 == 0 else f"Story {n}: the river, the market and the town"
        if n == 5:
            title = HOSTILE_TITLE
        article = _article(site, f"art{n:04d}", title, (TAGS[n % 7], "City"), n % 30)
        recipients = [("telegram", "channel"), ("x", "timeline"), ("telegram", str(100000 + n))]
        store.enqueue(
            [OutboxItem(article.key, ch, to, "everything-else", "", article.first_seen) for ch, to in recipients],
            article.first_seen,
        )
        for row in store.rows_for_article(article.key):
            at = article.first_seen + timedelta(minutes=5)
            if row.channel == "x" and n % 6 == 0:
                store.mark_failed(row.id, "403 Forbidden: You are not permitted to perform this action. " * 3, at)
            elif row.recipient != "channel" and n % 5 == 0:
                store.mark_skipped(row.id, "unsubscribed", at)
            elif n > 2:
                store.mark_sent(row.id, f"m{row.id}", at)
        for click in range((n * 7) % 13):
            store.count_click(article.key, "telegram" if click % 3 else "x", article.first_seen + timedelta(hours=1))


def _approvals(site: AdminSite) -> None:
    ingest = Ingest(site.store, site.config)
    for key, title in (("pol0001", LONG_TITLE), ("pol0002", "Mayor resigns"), ("pol0003", HOSTILE_TITLE)):
        ingest.route(_article(site, key, title, ("Politics",), 0), site.clock())
    first = site.store.waiting_approvals()[0]
    site.store.decide(first.id, "approved", str(ADMIN), site.clock(), site.clock())
