"""The control room's Stats page over HTTP: the figures of seeded sends and clicks, the same as chat /stats gives
for the same period, the note when clicks are not counted, and hostile article titles and links kept harmless."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.commands.admin import stats as chat_stats
from bot.commands.context import CommandContext, Request
from bot.config import Config
from bot.email.tokens import link_signing
from bot.models import Article
from bot.render import build_renderer
from bot.store import OutboxItem
from bot.telegram_html import visible_text
from tests.conftest import FakeClock
from tests.control_helpers import ADMIN, AdminSite, admin_config, serve_admin_site


def add_article(site: AdminSite, key: str, title: str = "", link: str = "") -> Article:
    article = Article(
        key, "feed", title or f"Title {key}", link or f"https://example.com/{key}", "Text.", ("Climate",), None,
        site.clock(),
    )  # fmt: skip
    site.store.add_article(article)
    return article


def add_outcome(site: AdminSite, key: str, channel: str, recipient: str, at: datetime, failed: bool = False) -> None:
    site.store.enqueue([OutboxItem(key, channel, recipient, "all", "", at)], at)
    row = next(r for r in site.store.rows_for_article(key) if (r.channel, r.recipient) == (channel, recipient))
    if failed:
        site.store.mark_failed(row.id, "Forbidden", at)
    else:
        site.store.mark_sent(row.id, f"m{row.id}", at)


def seed_sends_and_clicks(site: AdminSite) -> None:
    now = site.clock()
    for key in ("a1", "a2", "a3"):
        add_article(site, key)
    add_outcome(site, "a1", "telegram", "channel", now)
    add_outcome(site, "a1", "telegram", "21", now - timedelta(days=2))
    add_outcome(site, "a1", "telegram", "22", now - timedelta(days=3), failed=True)
    add_outcome(site, "a2", "x", "timeline", now - timedelta(days=1))
    add_outcome(site, "a3", "telegram", "channel", now - timedelta(days=10))  # in 30 days, not in 7
    for _ in range(3):
        site.store.count_click("a1", "telegram", now)
    site.store.count_click("a2", "x", now - timedelta(days=6))  # the 7th day back: still in the week
    site.store.count_click("a3", "telegram", now - timedelta(days=7))  # the 8th: only in 30 days


def _page(site: AdminSite, query: str = "") -> tuple[int, str]:
    with site.signed_in_client() as client:
        response = client.get(f"/admin/stats{query}")
    return response.status_code, response.text


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _page_totals(html: str) -> dict[str, tuple[int, int, int]]:
    """Per channel (sent, failed, clicks) from the page's "Per channel" table."""
    table = html.split('id="totals-caption"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<th scope="row">(\w+)</th><td class="num">(\d+)</td><td class="num">(\d+)</td>\s*'
                      r'<td class="num">(\d+)</td>', table)  # fmt: skip
    return {channel: (int(sent), int(failed), int(clicks)) for channel, sent, failed, clicks in rows}


def _chat_totals(site: AdminSite, args: str = "") -> dict[str, tuple[int, int, int]]:
    """Per channel (sent, failed, clicks) from chat /stats, run on the same state and clock."""
    context = CommandContext(site.config, build_renderer(site.config), site.clock, link_signing(site.config.web, {}))
    try:
        reply = chat_stats(context, Request(ADMIN, ADMIN, "private", "stats", args))
    finally:
        context.close()
    text = visible_text("\n".join(reply.parts))
    sends = {c: (int(s), int(f)) for c, s, f in re.findall(r"^(\w+): (\d+) sent, (\d+) failed", text, re.M)}
    clicks_line = text.split("Clicks, last", 1)[1].splitlines()[1]
    clicks = {c: int(n) for c, n in re.findall(r"(\w+): (\d+)", clicks_line)}
    return {channel: (*sends[channel], clicks[channel]) for channel in sends}


@pytest.fixture
def counting_site(make_config: Callable[..., Config], tmp_path: Path, clock: FakeClock) -> Iterator[AdminSite]:
    """The control room with [analytics] enabled = true."""
    config = admin_config(make_config, analytics={"enabled": True})
    with serve_admin_site(config, tmp_path / "state.sqlite", clock) as site:
        yield site


def test_the_page_shows_the_seeded_figures_and_opens_on_30_days(counting_site: AdminSite) -> None:
    seed_sends_and_clicks(counting_site)
    status, html = _page(counting_site)
    assert status == 200
    assert 'aria-current="page">30 days' in html
    assert "2026-10-25 to 2026-11-23" in _text(html)  # 30 UTC days, today included
    assert _page_totals(html) == {"email": (0, 0, 0), "telegram": (3, 1, 4), "x": (1, 0, 1)}
    assert _page_totals(_page(counting_site, "?days=7")[1]) == {
        "email": (0, 0, 0),
        "telegram": (2, 1, 3),
        "x": (1, 0, 1),
    }
    assert html.count("<svg") == 4  # sends, failures, clicks, most clicked
    assert '<caption id="sends-table-caption">Sends per day</caption>' in html


@pytest.mark.parametrize("days", [7, 30, 90])
def test_chat_stats_gives_the_same_figures_as_the_page(counting_site: AdminSite, days: int) -> None:
    seed_sends_and_clicks(counting_site)
    page = _page_totals(_page(counting_site, f"?days={days}")[1])
    chat = _chat_totals(counting_site, "" if days == 7 else str(days))
    assert chat == page


def test_a_period_not_offered_is_refused_with_the_choices(counting_site: AdminSite) -> None:
    status, html = _page(counting_site, "?days=5")
    assert status == 400
    assert "choose a period of 7, 30 or 90 days" in _text(html)


def test_without_analytics_the_page_says_how_to_count_clicks(admin_site: AdminSite) -> None:
    _seed_sends_only(admin_site)
    status, html = _page(admin_site)
    text = _text(html)
    assert status == 200
    assert "Clicks are not counted. To count them, set enabled = true under [analytics]" in text
    assert "Most clicked articles" not in text and html.count("<svg") == 1  # sends only: none failed
    assert "No send failed in this period." in text
    assert "telegram 1 0 not counted" in text


def _seed_sends_only(site: AdminSite) -> None:
    add_article(site, "a1")
    add_outcome(site, "a1", "telegram", "channel", site.clock())


HOSTILE = '<script>alert("t")</script><img src=x onerror=alert(1)> \u202e"evil'


def test_hostile_titles_and_links_are_escaped_in_the_svg_and_the_table(counting_site: AdminSite) -> None:
    now = counting_site.clock()
    add_article(counting_site, "bad000000001", HOSTILE, "javascript:alert(document.cookie)")
    add_article(counting_site, "good00000001", "A fine story", "https://example.com/fine?a=1&b=2")
    counting_site.store.count_click("bad000000001", "telegram", now)
    counting_site.store.count_click("good00000001", "telegram", now)
    counting_site.store.count_click("good00000001", "x", now)

    status, html = _page(counting_site)

    assert status == 200
    assert "<script" not in html and "<img" not in html  # the title is text, never markup
    assert "javascript:" not in html
    assert "&lt;script&gt;" in html  # shown, as text, in the chart and the table
    assert '<a href="https://example.com/fine?a=1&amp;b=2" rel="noopener noreferrer">A fine story</a>' in html
    svg = re.findall(r"<svg.*?</svg>", html, re.S)[-1]  # the most clicked articles
    assert "1. A fine story" in svg and "&lt;script&gt;alert" in svg
