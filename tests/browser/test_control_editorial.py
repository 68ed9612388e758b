"""The Approval and Sources pages in Chromium: approve and edit from the browser while the same item waits in chat
(the fake Telegram shows the decision), a source previewed, added, paused and removed; axe-core and a phone's
width on every page on the way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_control_auth import serious_violations
from tests.browser.test_pages import fits, overflow
from tests.control_helpers import AdminSite
from tests.test_approval import OTHER_ADMIN, route_and_preview, states
from tests.test_commands_subscriber import ADMIN, add_article
from tests.test_control_editorial import _edited_previews, _previews, chat_and_site
from tests.test_control_editorial import feed as feed  # the fixtures
from tests.test_control_editorial import lan_site as lan_site

pytestmark = pytest.mark.browser


def _looks_right(page: Any, shoot: Callable[[Any, str], None], name: str) -> None:
    shoot(page, name)
    assert serious_violations(page) == [] and fits(page), overflow(page)


def test_approve_and_edit_from_the_browser_while_it_waits_in_chat(
    tmp_path: Path, page: Any, shoot: Callable[[Any, str], None]
) -> None:
    with chat_and_site(tmp_path) as (chat, site):
        first = route_and_preview(chat, add_article(chat.store, "a1", "Budget vote"))
        _previews(chat)
        site.sign_in(page, site.login_link(ADMIN))
        with page.expect_navigation():  # a link: wait for the next page before looking at it
            page.get_by_role("link", name="review them").click()
        assert page.get_by_role("heading", level=1).inner_text() == "Approval"
        _looks_right(page, shoot, "approval")

        page.get_by_text("Edit the summary").click()
        page.get_by_label("New summary").fill("Far too long. " * 400)
        with page.expect_navigation():
            page.get_by_role("button", name="Save the summary").click()
        field = page.get_by_label("New summary")
        assert field.get_attribute("aria-invalid") == "true" and field.input_value().startswith("Far too long.")
        assert "characters over its limit of 280" in page.locator("main").inner_text()
        _looks_right(page, shoot, "approval_edit_refused")

        field.fill("The council passed the budget.")
        with page.expect_navigation():
            page.get_by_role("button", name="Save the summary").click()
        assert "summary saved" in page.get_by_role("status").inner_text()
        _edited_previews(chat, "The council passed the budget.")

        with page.expect_navigation():
            page.get_by_role("button", name="Approve").click()
        assert "“Budget vote”: approved." in page.get_by_role("status").inner_text()
        assert "Nothing waits for approval." in page.locator("main").inner_text()
        _looks_right(page, shoot, "approval_decided")
        _edited_previews(chat, "Approved by admin 1000")
        assert states(chat.store, "a1") == {"pending"}

        second = route_and_preview(chat, add_article(chat.store, "a2", "Harbour plan"))
        _previews(chat)
        page.reload()
        chat.fake.press_button(f"ap:{second}:s", user_id=OTHER_ADMIN)  # chat decides while the page is open
        chat.fake.wait_until(lambda: chat.store.get_approval(second).decision == "skipped")  # type: ignore[union-attr]
        with page.expect_navigation():
            page.get_by_role("button", name="Approve").click()
        assert "already skipped by admin 1001" in page.get_by_role("status").inner_text()
        assert first != second


def test_a_source_is_previewed_added_paused_and_removed_in_the_browser(
    lan_site: AdminSite, feed: Any, page: Any, shoot: Callable[[Any, str], None]
) -> None:
    lan_site.sign_in(page)
    with page.expect_navigation():  # a link: wait for the next page before looking at it
        page.get_by_role("link", name="Sources").click()
    _looks_right(page, shoot, "sources")
    page.get_by_label("URL").fill(feed.url)
    page.get_by_label("Hashtags (optional)").fill("#Local")
    with page.expect_navigation():
        page.get_by_role("button", name="Preview").click()
    assert "Story number 1 about the council vote" in page.locator("main").inner_text()
    _looks_right(page, shoot, "sources_preview")
    with page.expect_navigation():
        page.get_by_role("button", name="Add source").click()
    assert "Added source 127.0.0.1-1" in page.get_by_role("status").inner_text()

    with page.expect_navigation():
        page.get_by_role("button", name="Pause wire").click()
    assert "wire is paused" in page.get_by_role("status").inner_text()
    assert lan_site.store.source_state("wire").paused
    page.set_viewport_size({"width": 1280, "height": 900})
    _looks_right(page, shoot, "sources_desktop")
    page.set_viewport_size({"width": 390, "height": 844})

    page.get_by_role("link", name="Remove 127.0.0.1-1").click()
    _looks_right(page, shoot, "source_remove")
    with page.expect_navigation():
        page.get_by_role("button", name="Remove 127.0.0.1-1").click()
    assert "Removed source 127.0.0.1-1." in page.get_by_role("status").inner_text()
    assert lan_site.store.added_sources() == []
