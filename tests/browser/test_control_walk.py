"""Every page of the control room as a desk editor meets it, in Chromium, with a month of content (newsroom.py).

`test_every_registered_page` visits each page of bot.control.registry.PAGES (a page added later is covered
without a line here), seeded and empty, at 390 px: axe-core finds nothing serious, the page does not scroll
sideways, it has one h1, and every form control has an accessible name. `test_walk_every_state` goes through
the states a desk editor meets (notices, form errors, confirmation steps) at a phone's and a desk's width.
Set NEWSBOT_SCREENSHOTS=folder to keep a PNG of each (see tests/browser/conftest.py); they stay out of git.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config
from bot.control.registry import PAGES
from tests.browser.newsroom import HOSTILE_TITLE, newsroom_site
from tests.browser.test_control_auth import serious_violations
from tests.browser.test_pages import fits, overflow
from tests.conftest import FakeClock
from tests.control_helpers import AdminSite, admin_config, serve_admin_site
from tests.test_control_routes import HTML_PAGE

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 900}
# Form controls without a name: what axe's "label" rule misses for buttons, selects and summaries too.
UNNAMED_CONTROLS = """() => [...document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button, summary, a[href], [tabindex="0"]')]
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
    && !el.getAttribute('aria-labelledby') && !(el.textContent || '').trim())
  .map(el => el.outerHTML.slice(0, 120))"""


@pytest.fixture
def newsroom(make_config: Callable[..., Config], tmp_path: Path, clock: FakeClock) -> Iterator[AdminSite]:
    with newsroom_site(make_config, tmp_path, clock) as site:
        yield site


def looks_right(page: Any, shoot: Callable[[Any, str], None], name: str) -> None:
    """What every page of the control room keeps: it fits, one h1, named controls, nothing serious for axe."""
    shoot(page, name)
    assert fits(page), (name, overflow(page))
    assert page.locator("h1").count() == 1, name
    assert page.evaluate(UNNAMED_CONTROLS) == [], name
    assert serious_violations(page) == [], name


@pytest.fixture(params=["seeded", "empty"])
def control_room(request: pytest.FixtureRequest, make_config: Callable[..., Config], tmp_path: Path,
                 clock: FakeClock) -> Iterator[AdminSite]:  # fmt: skip
    """The control room with a month of content, and with none (its empty states)."""
    if request.param == "seeded":
        with newsroom_site(make_config, tmp_path, clock) as site:
            yield site
    else:
        with serve_admin_site(admin_config(make_config), tmp_path / "state.sqlite", clock) as site:
            yield site


@pytest.mark.parametrize("path", [page.path for page in PAGES])
def test_every_registered_page(
    control_room: AdminSite, page: Any, shoot: Callable[[Any, str], None], path: str
) -> None:
    control_room.sign_in(page)
    page.goto(control_room.url("/admin" + path))
    title = next(p.title for p in PAGES if p.path == path)
    assert page.get_by_role("heading", level=1).inner_text() == title
    assert page.locator('nav[aria-label="Control room"] a[aria-current="page"]').inner_text() == title
    looks_right(page, shoot, "390")


def _go(site: AdminSite, page: Any, path: str) -> None:
    page.goto(site.url("/admin" + path))


def _press(page: Any, button: str) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=button).first.click()


def _walk_overview(site: AdminSite, page: Any, look: Callable[[str], None]) -> None:
    _go(site, page, "/")
    _press(page, "Pause publishing")
    assert "Publishing is paused: nothing goes out until you resume." in page.get_by_role("status").inner_text()
    assert page.evaluate("document.activeElement.id") == "notice"
    assert site.store.is_paused()
    look("overview-paused-notice")
    _press(page, "Resume publishing")
    assert "Publishing resumed: what is due goes out now." in page.get_by_role("status").inner_text()
    assert not site.store.is_paused()
    look("overview-resumed-notice")


def _walk_approvals(site: AdminSite, page: Any, look: Callable[[str], None]) -> None:
    _go(site, page, "/approvals")
    look("approvals")
    # Several items: each button short on screen, named after its item for a screen reader.
    assert page.get_by_role("button", name="Approve “Mayor resigns”", exact=True).is_visible()
    assert page.get_by_role("button", name="Skip “Mayor resigns”", exact=True).bounding_box()["width"] < 100
    page.get_by_text("Edit the summary").first.click()
    page.get_by_label("New summary").first.fill("Far too long. " * 400)
    _press(page, "Save the summary")
    look("approvals-edit-refused")
    assert page.evaluate("document.activeElement.getAttribute('aria-invalid')") == "true"  # back at the field
    _press(page, "Approve")
    assert "approved" in page.get_by_role("status").inner_text()
    assert page.evaluate("document.activeElement.id") == "notice"  # read out, and Tab goes on from there
    look("approvals-approved")
    _press(page, "Skip")
    look("approvals-empty")


def _walk_sources(site: AdminSite, page: Any, look: Callable[[str], None]) -> None:
    _go(site, page, "/sources")
    look("sources")
    page.get_by_label("URL").fill("ftp://example.com/feed")
    page.get_by_label("Hashtags (optional)").fill("#Not-a-tag")
    _press(page, "Preview")
    look("sources-form-errors")
    assert page.evaluate("document.activeElement.id") == "source-url"
    _press(page, "Pause city-hall")
    look("sources-paused-notice")
    with page.expect_navigation():  # a link: wait for the next page before looking at it
        page.get_by_role("link", name="Remove museum-blog").click()
    look("sources-remove-confirm")


def _walk_routes(site: AdminSite, page: Any, look: Callable[[str], None]) -> None:
    _go(site, page, "/routes")
    look("routes")
    page.get_by_label("URL").fill("https://example.com/a")
    page.get_by_label("or the page, pasted").fill("Title\n\nText.")
    _press(page, "Show where it goes")
    look("routes-error")
    page.get_by_label("URL").fill("")
    page.get_by_label("or the page, pasted").fill(HTML_PAGE.replace("River flood", HOSTILE_TITLE))
    _press(page, "Show where it goes")
    look("routes-answer")


def _walk_subscribers(site: AdminSite, page: Any, look: Callable[[str], None]) -> None:
    _go(site, page, "/subscribers")
    look("subscribers")
    _go(site, page, "/subscribers?q=-100100000001&channel=telegram")
    look("subscribers-found")
    with page.expect_navigation():  # a link: wait for the next page before looking at it
        page.get_by_role("link", name="Unsubscribe -1001000000010").click()
    look("subscribers-unsubscribe-confirm")
    _press(page, "Unsubscribe -1001000000010")
    look("subscribers-unsubscribed-notice")
    _go(site, page, "/subscribers?q=nobody-here")
    look("subscribers-nothing-found")
    _go(site, page, "/subscribers?channel=pigeon")
    look("subscribers-bad-search")


def _walk_deliveries(site: AdminSite, page: Any, look: Callable[[str], None]) -> None:
    _go(site, page, "/deliveries")
    look("deliveries")
    _go(site, page, "/deliveries?outcome=failed")
    page.locator("details summary").first.click()
    look("deliveries-failed-open")
    _go(site, page, "/deliveries?recipient=nobody")
    look("deliveries-nothing")
    _go(site, page, "/deliveries?outcome=lost")
    look("deliveries-bad-filter")


def _walk_stats(site: AdminSite, page: Any, look: Callable[[str], None]) -> None:
    _go(site, page, "/stats")
    for summary in page.locator("summary").all():
        summary.click()
    look("stats")
    _go(site, page, "/stats?days=7")
    look("stats-7")
    _go(site, page, "/stats?days=5")
    look("stats-bad-period")


WALKS = [_walk_overview, _walk_approvals, _walk_sources, _walk_routes, _walk_subscribers, _walk_deliveries, _walk_stats]


@pytest.mark.parametrize("width", [PHONE, DESK], ids=["390", "1280"])
def test_walk_every_state(
    newsroom: AdminSite, page: Any, shoot: Callable[[Any, str], None], width: dict[str, int]
) -> None:
    page.set_viewport_size(width)
    page.goto(newsroom.url("/admin/"))
    looks_right(page, shoot, "signin")
    page.goto(newsroom.login_link())
    looks_right(page, shoot, "login")
    _press(page, "Sign in")
    looks_right(page, shoot, "overview")
    for walk in WALKS:
        walk(newsroom, page, lambda name: looks_right(page, shoot, name))
    _press(page, "Sign out")
    looks_right(page, shoot, "signed-out")


def test_the_keyboard_reaches_the_skip_link_first_and_it_moves_focus_to_the_page(
    newsroom: AdminSite, page: Any, shoot: Callable[[Any, str], None]
) -> None:
    newsroom.sign_in(page)
    page.goto(newsroom.url("/admin/approvals"))
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    assert skip.evaluate("el => el === document.activeElement") and skip.is_visible()
    shoot(page, "skip-link")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")  # the first control of the page itself, not the nav again
    assert page.evaluate("document.activeElement.closest('main') !== null")
