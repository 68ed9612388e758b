"""The control room with Mastodon and Bluesky in a route, in Chromium: Overview and Deliveries list both, rate
limited, and the pages still fit a phone, with nothing serious for axe (see test_control_walk.looks_right)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config
from bot.models import Article
from bot.store import OutboxItem, blocked_until_key, to_db_time
from tests.browser.test_control_walk import looks_right
from tests.conftest import FakeClock
from tests.control_helpers import admin_config, serve_admin_site

pytestmark = pytest.mark.browser

ROUTES = [{"name": "social", "hashtags": ["*"], "channels": ["telegram", "x", "mastodon", "bluesky", "email"]}]


def test_overview_and_deliveries_show_mastodon_and_bluesky(
    page: Any, shoot: Callable[[Any, str], None], make_config: Callable[..., Config], tmp_path: Path, clock: FakeClock
) -> None:
    config = admin_config(make_config, routes=ROUTES, bluesky={"handle": "news.example.com"})
    with serve_admin_site(config, tmp_path / "state.sqlite", clock) as site:
        now = clock()
        article = Article("abc123", "feed", "Council approves the plan", "https://news.example.com/a", "Text.",
                          ("Politics",), None, now)  # fmt: skip
        site.store.add_article(article)
        site.store.enqueue(
            [OutboxItem("abc123", c, "timeline", "social", "", now) for c in ("mastodon", "bluesky")], now
        )
        for row in site.store.pending_rows("mastodon") + site.store.pending_rows("bluesky"):
            site.store.defer(
                row.id, now + timedelta(minutes=10), f"{row.channel} rate limit reached", now, count_attempt=False
            )
            site.store.set_meta(blocked_until_key(row.channel), to_db_time(now + timedelta(minutes=10)))
        site.sign_in(page)
        page.goto(site.url("/admin/"))
        looks_right(page, shoot, "overview")
        table = page.locator("table").first.inner_text()
        assert "mastodon" in table and "bluesky" in table and table.count("rate limited until") == 2, table
        page.goto(site.url("/admin/deliveries?channel=bluesky"))
        looks_right(page, shoot, "deliveries")
        assert "bluesky rate limit reached" in page.inner_text("main")
        assert "mastodon rate limit" not in page.inner_text("main")
