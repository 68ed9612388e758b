"""The web pages as a visitor's browser shows them: phone widths, keyboard focus, accessibility (axe-core)."""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest

from bot.email.message import MailIdentity, build_confirmation_message
from tests.browser.conftest import READER, Site
from tests.conftest import FakeClock

pytestmark = pytest.mark.browser

PHONE_WIDTHS = (320, 390)
LONG_TAG = "Verylonghashtag" + "x" * 49  # 64 characters, the most a hashtag may have
IN_THE_NEWS = [["TechNews", "Climate"], ["TechNews"], ["PoliticsNews", "Europe"], ["Wahl_2026"], [LONG_TAG]]


def overflow(page: Any) -> tuple[int, int]:
    """(width of the content, width of the window): a page that fits has the first no larger than the second."""
    width, window = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    return int(width), int(window)


def fits(page: Any) -> bool:
    width, window = overflow(page)
    return width <= window


def axe_violations(page: Any) -> list[str]:
    """axe-core's violations on the page, one line each: rule, impact and the elements."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {[node['target'] for node in v['nodes']]}" for v in results.response["violations"]
    ]


def submit(page: Any, button: str) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=button).click()


def sign_up_in_the_form(site: Site, page: Any, email: str = READER, hashtags: str = "") -> None:
    page.goto(site.url("/"))
    page.get_by_label("Email address").fill(email)
    page.locator("#hashtags").fill(hashtags)  # labelled "Other hashtags" next to checkboxes, else "Hashtags"
    submit(page, "Subscribe")


# -- every page: axe-core finds nothing, and it fits a 320 px screen ----------------------------------------------


def _subscribe(site: Site, page: Any) -> None:
    page.goto(site.url("/"))


def _subscribe_error(site: Site, page: Any) -> None:
    sign_up_in_the_form(site, page, hashtags="#Cli-mate")


def _check_your_inbox(site: Site, page: Any) -> None:
    sign_up_in_the_form(site, page, hashtags="#Politics")


def _confirm(site: Site, page: Any) -> None:
    site.signed_up(hashtags=("TechNews", LONG_TAG))
    page.goto(site.link("confirm"))


def _confirmed(site: Site, page: Any) -> None:
    _confirm(site, page)
    submit(page, "Confirm my subscription")


def _unsubscribe(site: Site, page: Any) -> None:
    site.subscribed()
    page.goto(site.link("unsubscribe"))


def _unsubscribed(site: Site, page: Any) -> None:
    _unsubscribe(site, page)
    submit(page, "Unsubscribe")


def _preferences(site: Site, page: Any) -> None:
    site.subscribed(hashtags=("TechNews", LONG_TAG, "Gardening"))
    page.goto(site.link("preferences"))


def _too_much_data(site: Site, page: Any) -> None:
    page.goto(site.url("/"))
    page.get_by_label("Email address").fill(READER)
    field = page.locator("#hashtags")
    field.evaluate("input => input.removeAttribute('maxlength')")  # what a browser would not let anyone type
    field.fill("#Tag " * 3000)
    submit(page, "Subscribe")


def _bad_link(site: Site, page: Any) -> None:
    page.goto(site.url("/confirm?token=not-a-token"))


PAGES: dict[str, Callable[[Site, Any], None]] = {
    "subscribe": _subscribe,
    "subscribe error": _subscribe_error,
    "check your inbox": _check_your_inbox,
    "confirm": _confirm,
    "confirmed": _confirmed,
    "unsubscribe": _unsubscribe,
    "unsubscribed": _unsubscribed,
    "preferences": _preferences,
    "too much data": _too_much_data,
    "bad link": _bad_link,
}


@pytest.mark.parametrize("name", PAGES)
def test_axe_finds_no_violations_and_the_page_fits_320_px(
    site: Site, page: Any, shoot: Callable[[Any, str], None], name: str
) -> None:
    site.in_the_news(*IN_THE_NEWS)
    page.set_viewport_size({"width": 320, "height": 640})
    PAGES[name](site, page)
    shoot(page, "320")
    assert page.locator("h1").count() == 1
    assert fits(page), overflow(page)
    assert axe_violations(page) == []


# -- what the issue named -------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", PHONE_WIDTHS)
def test_the_sign_up_form_fits_phone_widths_without_sideways_scrolling(
    site: Site, page: Any, shoot: Callable[[Any, str], None], width: int
) -> None:
    site.in_the_news(*IN_THE_NEWS)
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(site.url("/"))
    shoot(page, f"{width}")
    assert page.get_by_role("checkbox").count() == 6
    assert fits(page), overflow(page)


def test_the_preferences_page_with_a_64_character_hashtag_fits_390_px(
    site: Site, page: Any, shoot: Callable[[Any, str], None]
) -> None:
    site.in_the_news(*IN_THE_NEWS)
    site.subscribed(hashtags=(LONG_TAG, "Gardening" + "y" * 55))  # one offered as a checkbox, one typed
    page.goto(site.link("preferences"))
    shoot(page, "390")
    assert page.get_by_role("checkbox", name=f"#{LONG_TAG}").is_checked()
    assert fits(page), overflow(page)


@pytest.mark.parametrize(
    ("email", "hashtags", "field", "says"),
    [
        ("reader@localhost", "", "Email address", "needs a domain"),  # the browser's own check lets it through
        (READER, "#Cli-mate", "Other hashtags", "is not a hashtag"),
    ],
)
def test_a_rejected_submit_moves_focus_to_the_error_and_marks_the_field(
    site: Site, page: Any, shoot: Callable[[Any, str], None], email: str, hashtags: str, field: str, says: str
) -> None:
    site.in_the_news(*IN_THE_NEWS)
    sign_up_in_the_form(site, page, email, hashtags)
    shoot(page, "error")
    error = page.locator("#form-error")
    assert says in error.inner_text()
    assert page.evaluate("document.activeElement.id") == "form-error"
    marked = page.get_by_label(field)
    assert marked.get_attribute("aria-invalid") == "true"
    assert "form-error" in (marked.get_attribute("aria-describedby") or "").split()
    assert page.locator("[aria-invalid]").count() == 1
    assert marked.input_value() == (email if field == "Email address" else hashtags)  # what was typed is kept
    assert not site.sent


def test_the_confirm_page_button_confirms(site: Site, page: Any, shoot: Callable[[Any, str], None]) -> None:
    site.in_the_news(*IN_THE_NEWS)
    page.goto(site.url("/"))
    page.get_by_label("Email address").fill(READER)
    page.get_by_role("checkbox", name="#TechNews").check()
    page.get_by_label("Other hashtags").fill("climate")
    submit(page, "Subscribe")
    assert page.locator("h1").inner_text() == "Check your inbox"
    (confirm,) = site.links_in_last_mail()
    page.goto(confirm)
    shoot(page, "confirm")
    subscriber = site.store.email_subscriber(READER)
    assert subscriber is not None and not subscriber.active  # opening the link confirmed nothing
    assert "with news tagged #TechNews, #Climate." in page.locator("main").inner_text()  # as chosen, as the mail said
    submit(page, "Confirm my subscription")
    shoot(page, "confirmed")
    assert page.locator("h1").inner_text() == "You're subscribed"
    subscriber = site.store.email_subscriber(READER)
    assert subscriber is not None and subscriber.active and subscriber.hashtags == ("Climate", "TechNews")


def test_the_too_much_data_page_keeps_the_form_and_focuses_the_error(site: Site, page: Any) -> None:
    _too_much_data(site, page)
    assert page.evaluate("document.activeElement.id") == "form-error"
    assert "Too much data" in page.locator("#form-error").inner_text()
    assert page.get_by_role("button", name="Subscribe").is_visible()


@pytest.mark.parametrize("width", PHONE_WIDTHS)
def test_the_confirmation_mail_fits_a_phone(page: Any, shoot: Callable[[Any, str], None], width: int) -> None:
    link = "https://news.example.com/confirm?token=" + "eyJhIjoicmVhZGVyQGV4YW1wbGUub3JnIn0" * 3 + ".c2lnbmF0dXJl"
    message = build_confirmation_message(
        identity=MailIdentity(sender="Example News <news@example.com>", list_name="Example News weekly"),
        to="a.rather.long.address.for.a.reader@subdomain.example.org",
        confirm_url=link,
        hashtags=["TechNews", LONG_TAG],
        now=FakeClock()(),
    )
    body = message.get_body(("html",))
    assert isinstance(body, EmailMessage)
    page.set_viewport_size({"width": width, "height": 700})
    page.set_content(str(body.get_content()))
    shoot(page, f"{width}")
    assert page.get_by_role("link", name="Confirm my subscription").is_visible()
    assert fits(page), overflow(page)
