"""The control room's sign-in in Chromium: the link flow, refusals, a forged cross-site form, sign out, axe-core and
a phone's width."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.test_pages import axe_violations, fits, overflow
from tests.control_helpers import NOT_ADMIN, AdminSite

pytestmark = pytest.mark.browser

SERIOUS = ("serious", "critical")


def serious_violations(page: Any) -> list[str]:
    return [line for line in axe_violations(page) if any(f"({impact})" in line for impact in SERIOUS)]


def test_signing_in_by_link_shows_the_overview_and_the_link_works_once(
    admin_site: AdminSite, page: Any, shoot: Callable[[Any, str], None]
) -> None:
    link = admin_site.login_link()
    page.goto(link)
    shoot(page, "login")
    assert serious_violations(page) == [] and fits(page), overflow(page)
    admin_site.sign_in(page, link)
    assert page.url.endswith("/admin/")
    assert page.get_by_role("heading", level=1).inner_text() == "Overview"
    assert page.locator('nav a[aria-current="page"]').inner_text() == "Overview"
    shoot(page, "overview")
    assert serious_violations(page) == [] and fits(page), overflow(page)

    page.goto(link)  # the same link again: its page says so, and no button
    assert "used already" not in page.content()  # reading it uses nothing up...
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert "used already" in page.content()  # ...but it signs in once


@pytest.mark.parametrize("which", ["expired", "forged", "not an admin"])
def test_a_bad_link_says_what_to_do_and_shows_nothing(
    admin_site: AdminSite, page: Any, which: str, shoot: Callable[[Any, str], None]
) -> None:
    admin_site.store.set_paused(True)
    link = {"expired": admin_site.login_link, "forged": admin_site.forged_link}.get(
        which, lambda: admin_site.link_for(NOT_ADMIN)
    )()
    if which == "expired":
        admin_site.clock.advance(minutes=11)
    response = page.goto(link)
    assert response.status in (400, 403)
    text = page.locator("main").inner_text()
    assert "/login" in text or "admins" in text
    assert "paused" not in text.lower() and page.get_by_role("button", name="Sign in").count() == 0
    shoot(page, which.replace(" ", "_"))
    assert serious_violations(page) == [] and fits(page), overflow(page)


def test_admin_without_a_session_goes_to_the_sign_in_page(
    admin_site: AdminSite, page: Any, shoot: Callable[[Any, str], None]
) -> None:
    page.goto(admin_site.url("/admin"))
    assert page.url.endswith("/admin/signin")
    assert "newsbot admin-link --admin YOUR_ID" in page.locator("main").inner_text()
    shoot(page, "signin")
    assert serious_violations(page) == [] and fits(page), overflow(page)


def test_a_form_on_another_site_cannot_sign_the_admin_out(admin_site: AdminSite, page: Any, browser: Any) -> None:
    admin_site.sign_in(page)
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    evil = page.context.new_page()  # the same browser, signed in, visits another site with a hidden form
    for fields in ("", f'<input name="csrf_token" value="{token}">'):
        html = f'<form method="post" action="{admin_site.url("/admin/signout")}">{fields}<button>Win</button></form>'
        evil.route("http://evil.test/", _serving(html))
        evil.goto("http://evil.test/")
        with evil.expect_navigation():
            evil.get_by_role("button", name="Win").click()
        # SameSite=Strict keeps the cookie off a cross-site POST, and the Origin check refuses it anyway
        assert "nothing was changed" in evil.content()
        evil.unroute("http://evil.test/")
    page.reload()
    assert page.get_by_role("heading", level=1).inner_text() == "Overview"  # still signed in


def _serving(html: str) -> Callable[[Any], None]:
    return lambda route: route.fulfill(body=html, content_type="text/html")


def test_a_same_site_form_with_a_wrong_token_is_refused(admin_site: AdminSite, page: Any) -> None:
    admin_site.sign_in(page)
    page.locator('input[name="csrf_token"]').first.evaluate("input => input.value = 'wrong'")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    assert "out of date" in page.content()
    page.goto(admin_site.url("/admin/"))
    assert page.get_by_role("heading", level=1).inner_text() == "Overview"


def test_sign_out_ends_the_session(admin_site: AdminSite, page: Any, shoot: Callable[[Any, str], None]) -> None:
    admin_site.sign_in(page)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    assert page.url.endswith("/admin/signin?signed_out=1") and "You are signed out" in page.content()
    shoot(page, "signed_out")
    page.goto(admin_site.url("/admin/"))
    assert page.url.endswith("/admin/signin")


def test_the_overview_fits_a_desktop_too(admin_site: AdminSite, page: Any, shoot: Callable[[Any, str], None]) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    admin_site.sign_in(page)
    shoot(page, "desktop")
    assert fits(page)
