"""The Stats and Routes pages of the control room in Chromium: axe-core finds nothing serious, the charts and
tables fit a 390 px phone and a 1280 px desktop, and "where would this article go" works from the form."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config
from tests.browser.test_control_auth import serious_violations
from tests.browser.test_pages import fits, overflow
from tests.conftest import FakeClock
from tests.control_helpers import AdminSite, admin_config, serve_admin_site
from tests.test_control_routes import HTML_PAGE, ROUTES
from tests.test_control_stats import HOSTILE, add_article, seed_sends_and_clicks

pytestmark = pytest.mark.browser


@pytest.fixture
def busy_site(make_config: Callable[..., Config], tmp_path: Path, clock: FakeClock) -> Iterator[AdminSite]:
    """The control room with clicks counted, the test routes, and a month of sends and clicks."""
    config = admin_config(make_config, analytics={"enabled": True}, routes=ROUTES, fetch={"allow_private": True})
    with serve_admin_site(config, tmp_path / "state.sqlite", clock) as site:
        seed_sends_and_clicks(site)
        add_article(
            site, "bad000000001", HOSTILE + " and a title long enough to need wrapping on a phone", "javascript:x"
        )
        for days in range(0, 28, 3):
            site.store.count_click("bad000000001", "email", site.clock() - timedelta(days=days))
        yield site


@pytest.mark.parametrize("width", [390, 1280])
def test_the_stats_page_fits_and_passes_axe(
    busy_site: AdminSite, page: Any, shoot: Callable[[Any, str], None], width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    busy_site.sign_in(page)
    page.goto(busy_site.url("/admin/stats"))
    assert page.get_by_role("heading", level=1).inner_text() == "Stats"
    assert page.locator("svg[role=img]").count() == 4
    assert page.get_by_role("link", name="A fine story").count() == 0  # no such article: only seeded ones
    assert page.locator('a[href^="javascript:"]').count() == 0
    for table in ("sends", "clicks"):
        page.get_by_text(f"{table.capitalize()} per day as a table").click()  # open the <details>
    shoot(page, f"stats-{width}")
    assert serious_violations(page) == [] and fits(page), overflow(page)
    chart_width = page.locator("figure.chart svg").first.bounding_box()["width"]
    assert chart_width <= width


def test_the_period_links_switch_to_7_days(busy_site: AdminSite, page: Any) -> None:
    busy_site.sign_in(page)
    page.goto(busy_site.url("/admin/stats"))
    with page.expect_navigation():
        page.get_by_role("link", name="7 days").click()
    assert page.locator('nav.periods a[aria-current="page"]').inner_text() == "7 days"
    assert "Chat /stats gives the same figures" in page.locator("main").inner_text()


@pytest.mark.parametrize("width", [390, 1280])
def test_where_would_it_go_from_a_pasted_page_in_the_browser(
    busy_site: AdminSite, page: Any, shoot: Callable[[Any, str], None], width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    busy_site.sign_in(page)
    page.goto(busy_site.url("/admin/routes"))
    shoot(page, f"routes-{width}")
    assert serious_violations(page) == [] and fits(page), overflow(page)
    page.get_by_label("or the page, pasted").fill(HTML_PAGE)
    with page.expect_navigation():
        page.get_by_role("button", name="Show where it goes").click()
    answer = page.locator(".answer").inner_text()
    assert "#Weather #Floods" in answer and "floods" in answer
    shoot(page, f"where-{width}")
    assert serious_violations(page) == [] and fits(page), overflow(page)


def test_a_refused_url_is_shown_as_an_error_by_the_field(busy_site: AdminSite, page: Any) -> None:
    busy_site.sign_in(page)
    page.goto(busy_site.url("/admin/routes"))
    page.get_by_label("URL").fill("https://example.com/a")
    page.get_by_label("or the page, pasted").fill("Title\n\nText.")
    with page.expect_navigation():
        page.get_by_role("button", name="Show where it goes").click()
    error = page.get_by_role("alert")
    assert "not both" in error.inner_text()
    assert page.get_by_label("URL").get_attribute("aria-describedby") == "where-error"
    assert serious_violations(page) == []
