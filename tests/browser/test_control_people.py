"""The control room's Subscribers and Deliveries pages in Chromium: search, unsubscribe through the confirmation
page, filters and pages, at a phone's width (wide tables scroll in their own box) and at a desk's, axe-core clean."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

import pytest

from bot.models import Article
from bot.store import PENDING, SKIPPED, OutboxItem
from bot.store.reports import PAGE_SIZE
from tests.browser.test_control_auth import serious_violations
from tests.browser.test_pages import fits, overflow
from tests.control_helpers import AdminSite

pytestmark = pytest.mark.browser

DESK = {"width": 1280, "height": 900}


def _checked(page: Any, shoot: Callable[[Any, str], None], name: str) -> None:
    shoot(page, name)
    assert serious_violations(page) == [] and fits(page), overflow(page)


def _table_scrolls_in_its_box(page: Any) -> bool:
    box = page.locator(".table-box").first
    return bool(box.evaluate("b => b.scrollWidth > b.clientWidth"))


def test_an_admin_finds_a_subscriber_and_unsubscribes_them_so_what_waited_is_skipped(
    admin_site: AdminSite, page: Any, shoot: Callable[[Any, str], None]
) -> None:
    now = admin_site.clock()
    store = admin_site.store
    for chat, tags in (("-1001234567890", ["Climate", "Politics"]), ("-1009876543210", ["Climate"]), ("42", [])):
        store.subscribe("telegram", chat, now)
        store.set_subscriber_tags("telegram", chat, tags, now)
    store.request_email_subscription("a.very.long.address.for.testing@example.org", ["Sport"], now, name="Ann <A>")
    store.confirm_email("a.very.long.address.for.testing@example.org", now)
    store.add_article(Article("a1", "feed", "Heat", "https://example.com/a1", "T.", ("Climate",), None, now))
    store.enqueue([OutboxItem("a1", "telegram", c, "all", "", now) for c in ("-1001234567890", "-1009876543210")], now)

    admin_site.sign_in(page)
    page.get_by_role("link", name="Subscribers").click()
    _checked(page, shoot, "subscribers")
    page.get_by_label("Chat id or address").fill("-100123")
    with page.expect_navigation():
        page.get_by_role("button", name="Search").click()
    assert "q=-100123" in page.url  # a GET: the search is a link to keep
    table = page.get_by_role("region", name="Subscribers found (table)")
    assert "-1001234567890" in table.inner_text() and "-1009876543210" not in table.inner_text()
    assert _table_scrolls_in_its_box(page)
    _checked(page, shoot, "found")

    page.get_by_role("link", name="Unsubscribe -1001234567890").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Unsubscribe?"
    _checked(page, shoot, "confirm")
    with page.expect_navigation():
        page.get_by_role("button", name="Unsubscribe -1001234567890").click()
    assert "is unsubscribed" in page.get_by_role("status").inner_text()
    assert (
        "inactive: unsubscribed by an admin"
        in page.get_by_role("region", name="Subscribers found (table)").inner_text()
    )
    _checked(page, shoot, "unsubscribed")
    rows = {row.recipient: row.state for row in store.rows_for_article("a1")}
    assert rows == {"-1001234567890": SKIPPED, "-1009876543210": PENDING}

    page.set_viewport_size(DESK)
    page.goto(admin_site.url("/admin/subscribers"))
    assert "#Climate\t1" in page.get_by_role("region", name="telegram").inner_text()  # one left of two
    _checked(page, shoot, "desk")


def test_an_admin_filters_deliveries_reads_a_long_error_and_pages_on(
    admin_site: AdminSite, page: Any, shoot: Callable[[Any, str], None]
) -> None:
    now = admin_site.clock()
    store = admin_site.store
    title = "A rather long headline about the council's new budget for parks, bridges and the river <b>front</b>"
    store.add_article(Article("aa11", "feed", title, "https://example.com/aa11", "T.", ("City",), None, now))
    store.enqueue([OutboxItem("aa11", "telegram", str(-3000 - n), "all", "", now) for n in range(PAGE_SIZE + 3)], now)
    for n, row in enumerate(store.rows_for_article("aa11")):
        admin_site.clock.advance(seconds=1)
        if n % 10 == 0:
            error = "Bad Request: chat not found; the chat was deleted or the bot was removed from it " * 3
            store.mark_failed(row.id, error.strip(), admin_site.clock())
        else:
            store.mark_sent(row.id, str(n), admin_site.clock())

    admin_site.sign_in(page)
    page.get_by_role("link", name="Deliveries").click()
    assert _table_scrolls_in_its_box(page)
    _checked(page, shoot, "deliveries")
    page.get_by_label("Outcome").select_option("failed")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    listed = page.get_by_role("region", name="Deliveries (table)")
    assert listed.locator("tbody tr").count() == 6  # rows 0, 10, ..., 50
    summary = listed.locator("summary").first
    summary.click()
    assert "removed from it Bad Request" in listed.locator("details").first.inner_text()
    _checked(page, shoot, "failed")

    page.get_by_role("link", name="Clear filters").click()
    page.get_by_role("link", name="Next page").click()
    assert page.locator("tbody tr").count() == 3
    page.get_by_label("Recipient").fill("nobody")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    assert "Nothing matches these filters" in page.locator("main").inner_text()
    _checked(page, shoot, "nothing")

    page.set_viewport_size(DESK)
    page.goto(admin_site.url("/admin/deliveries"))
    _checked(page, shoot, "desk")


# The lines a cell's text is drawn on, as the browser broke it.
_LINES = """cell => {
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  const lines = [];
  let top = null;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.length; i++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const rect = range.getClientRects()[0];
      if (!rect || !rect.width) continue;
      if (top === null || rect.top > top + 2) { lines.push(""); top = rect.top; }
      lines[lines.length - 1] += node.data[i];
    }
  }
  return lines;
}"""
ADDRESSES = ("firstname.middlename.lastname@newsroom.example-university.org", "ann.lee@example.org")
HEADLINE = (
    "Council approves the long-delayed harbour renovation after a nine-hour session, with amendments on bridges, "
    "river front parks, cycling lanes, the old market hall, the tram depot and a new ferry pier for the islands"
)


def test_deliveries_rows_stay_short_at_a_phones_width_and_addresses_break_only_between_their_parts(
    admin_site: AdminSite, page: Any, shoot: Callable[[Any, str], None]
) -> None:
    now = admin_site.clock()
    store = admin_site.store
    for n in range(3):
        key = f"long{n}"
        store.add_article(
            Article(key, "feed", f"{HEADLINE} ({n})", f"https://example.com/{key}", "T.", ("City",), None, now)
        )
        store.enqueue([OutboxItem(key, "telegram", "-1001234567890", "all", "", now)], now)
    for address in ADDRESSES:
        store.request_email_subscription(address, [], now)
        store.confirm_email(address, now)
    store.create_digest("2024-W10", now, now)

    admin_site.sign_in(page)
    page.goto(admin_site.url("/admin/deliveries"))
    _checked(page, shoot, "deliveries-390")
    table = page.get_by_role("region", name="Deliveries (table)")
    table.evaluate("box => { box.scrollLeft = 400; }")  # the recipients, further right in their box
    shoot(page, "deliveries-390-recipients")
    article_links = table.get_by_role("link", name=f"{HEADLINE} (2)", exact=True)
    assert article_links.count() == 1  # a screen reader hears the whole title
    assert article_links.get_attribute("title") == f"{HEADLINE} (2)"  # a mouse shows it
    shown = article_links.locator('[aria-hidden="true"]').inner_text()
    assert shown.endswith("…") and len(shown) < 100 and f"{shown[:-1].rstrip()} " in f"{HEADLINE} "  # at a word's end
    heights = [row.bounding_box()["height"] for row in table.locator("tbody tr").all()]
    assert max(heights) < 150, heights  # the headline alone would be some 15 lines
    for address in ADDRESSES:
        lines = table.locator("td.address", has_text=address).first.evaluate(_LINES)
        assert "".join(lines) == address
        breaks = pairwise(lines)
        assert all(line.endswith(("@", "-")) or after.startswith(".") for line, after in breaks), lines
