"""The control room's Subscribers page over HTTP: search by chat id, address and prefix, counts by hashtag,
unsubscribe (the store call /stop makes: what waits for them is skipped), the CSV export, and hostile input."""

from __future__ import annotations

import csv
import io
import re

import httpx

from bot.email.web import confirm_url, preferences_url, unsubscribe_url
from bot.models import Article
from bot.store import PENDING, SKIPPED, OutboxItem
from bot.store.subscribers import MUTE, WATCH
from tests.control_helpers import AdminSite


def _text(response: httpx.Response) -> str:
    """The page's words; a <wbr> (a place a line may break) is no space."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text.replace("<wbr>", "")))


def _people(site: AdminSite) -> None:
    now = site.clock()
    store = site.store
    store.subscribe("telegram", "-100123", now)
    store.set_subscriber_tags("telegram", "-100123", ["Climate", "Politics"], now)
    store.add_subscriber_words("telegram", "-100123", WATCH, ["heatwave"])
    store.add_subscriber_words("telegram", "-100123", MUTE, ["football"])
    store.subscribe("telegram", "-100456", now)
    store.set_subscriber_tags("telegram", "-100456", ["Climate"], now)
    store.subscribe("telegram", "777", now)  # follows everything
    store.request_email_subscription("ann@example.org", ["Sport"], now, name="Ann")
    store.confirm_email("ann@example.org", now)


def _search(client: httpx.Client, **params: str) -> httpx.Response:
    return client.get("/admin/subscribers", params=params)


def test_search_by_chat_id_prefix_exact_and_address_in_any_case(admin_site: AdminSite) -> None:
    _people(admin_site)
    with admin_site.signed_in_client() as client:
        by_prefix = _text(_search(client, q="-100"))
        exact = _text(_search(client, q="-100", match="exact"))
        address = _text(_search(client, q="ANN@Example.org", match="exact"))
        everyone = _text(_search(client))

    assert "-100123" in by_prefix and "-100456" in by_prefix and " 777 " not in by_prefix
    assert "#Climate #Politics" in by_prefix and "watch: heatwave" in by_prefix and "mute: football" in by_prefix
    assert "No subscriber matches this search (exactly)" in exact
    assert "ann@example.org Ann email active #Sport" in address
    assert all(who in everyone for who in ("-100123", "-100456", " 777 ", "ann@example.org"))


def test_counts_by_hashtag_per_channel_with_those_who_follow_everything(admin_site: AdminSite) -> None:
    _people(admin_site)
    admin_site.store.deactivate_subscriber("telegram", "-100456", "blocked the bot", admin_site.clock())
    with admin_site.signed_in_client() as client:
        text = _text(_search(client))

    counts = text.split("Active subscribers by hashtag", 1)[1]
    assert "email Hashtag Active follows everything (no hashtag) 0 #Sport 1" in counts
    assert "telegram Hashtag Active follows everything (no hashtag) 1 #Climate 1 #Politics 1" in counts


def test_unsubscribe_asks_first_then_skips_what_waits_for_them_as_stop_does(admin_site: AdminSite) -> None:
    _people(admin_site)
    now = admin_site.clock()
    admin_site.store.add_article(Article("a1", "feed", "Heat", "https://example.com/a1", "T.", ("Climate",), None, now))
    admin_site.store.enqueue([OutboxItem("a1", "telegram", r, "all", "", now) for r in ("-100123", "-100456")], now)
    with admin_site.signed_in_client() as client:
        listed = _search(client, q="-100123", match="exact").text
        confirm_url = re.search(r'href="(/admin/subscribers/unsubscribe\?[^"]+)"', listed)
        assert confirm_url is not None
        confirm = client.get(confirm_url.group(1).replace("&amp;", "&"))
        assert "Unsubscribe -100123" in _text(confirm)
        assert admin_site.store.subscriber("telegram", "-100123").active  # type: ignore[union-attr]  # asking changes nothing

        done = admin_site.post(client, "/admin/subscribers/unsubscribe", {"channel": "telegram", "address": "-100123"})
        assert done.status_code == 303
        after = _text(client.get(done.headers["location"]))
        again = admin_site.post(client, "/admin/subscribers/unsubscribe", {"channel": "telegram", "address": "-100123"})
        again_text = _text(client.get(again.headers["location"]))

    assert "-100123 (telegram) is unsubscribed" in after and "inactive: unsubscribed by an admin" in after
    assert "was not subscribed, so nothing was changed" in again_text
    states = {row.recipient: (row.state, row.last_error) for row in admin_site.store.rows_for_article("a1")}
    assert states["-100123"] == (SKIPPED, "subscriber stopped: unsubscribed by an admin")
    assert states["-100456"][0] == PENDING


def test_unsubscribe_without_the_csrf_token_changes_nothing(admin_site: AdminSite) -> None:
    _people(admin_site)
    with admin_site.signed_in_client() as client:
        response = client.post(
            "/admin/subscribers/unsubscribe",
            data={"channel": "telegram", "address": "777"},
            headers={"Origin": admin_site.base, "Sec-Fetch-Site": "same-origin"},
        )
    assert response.status_code == 403
    assert admin_site.store.subscriber("telegram", "777").active  # type: ignore[union-attr]


def test_csv_export_of_one_channel_is_an_attachment_that_imports_and_neutralises_formulas(
    admin_site: AdminSite,
) -> None:
    now = admin_site.clock()
    admin_site.store.request_email_subscription("bob@example.org", ["Sport"], now, name='=HYPERLINK("http://evil")')
    admin_site.store.confirm_email("bob@example.org", now)
    admin_site.store.subscribe("telegram", "-1001", now)
    with admin_site.signed_in_client() as client:
        response = client.get("/admin/subscribers/export.csv", params={"channel": "email", "status": "active"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert re.fullmatch(
        r'attachment; filename="newsbot-subscribers-\d{4}-\d\d-\d\d\.csv"', response.headers["content-disposition"]
    )
    rows = list(csv.reader(io.StringIO(response.text, newline="")))
    assert rows[0][:4] == ["email", "hashtags", "name", "active"]
    assert rows[1][:4] == ["bob@example.org", "#Sport", '\'=HYPERLINK("http://evil")', "1"]
    assert len(rows) == 2  # the Telegram subscriber is not in an email search


def test_hostile_search_fields_get_a_message_and_a_400_never_a_500(admin_site: AdminSite) -> None:
    with admin_site.signed_in_client() as client:
        too_long = client.get("/admin/subscribers", params={"q": "1" * 300})
        control = client.get("/admin/subscribers", params={"q": "ann\x00@example.org"})
        channel = client.get("/admin/subscribers", params={"channel": "<script>alert(1)</script>"})
        page = client.get("/admin/subscribers", params={"after": "nope"})
        export = client.get("/admin/subscribers/export.csv", params={"q": "x" * 300})
        nobody = client.get("/admin/subscribers/unsubscribe", params={"channel": "telegram", "address": "1"})

    assert too_long.status_code == 400 and "longer than 254 characters" in too_long.text
    assert control.status_code == 400 and "control characters" in control.text
    assert channel.status_code == 400 and "<script>" not in channel.text and "&lt;script&gt;" in channel.text
    assert page.status_code == 400 and "Start again from the first page" in page.text
    assert export.status_code == 400 and export.headers["content-type"].startswith("text/html")
    assert nobody.status_code == 404 and "There is no telegram subscriber 1" in nobody.text


def test_names_and_addresses_are_escaped_on_the_page(admin_site: AdminSite) -> None:
    now = admin_site.clock()
    admin_site.store.request_email_subscription("eve@example.org", [], now, name="<b>Eve</b>")
    admin_site.store.confirm_email("eve@example.org", now)
    with admin_site.signed_in_client() as client:
        html = _search(client, q="eve").text
    assert "<b>Eve</b>" not in html and "&lt;b&gt;Eve&lt;/b&gt;" in html


def test_a_reader_an_admin_unsubscribed_is_told_so_on_their_own_pages_as_if_they_had_done_it(
    admin_site: AdminSite,
) -> None:
    """The reader's unsubscribe, preferences and old confirmation links say "was unsubscribed" and how to come
    back, word for word as for a reader who used their own unsubscribe link."""
    now = admin_site.clock()
    for address in ("ann@example.org", "bob@example.org"):
        admin_site.store.request_email_subscription(address, ["Sport"], now)
        admin_site.store.confirm_email(address, now)
    with admin_site.signed_in_client() as client:
        admin_site.post(client, "/admin/subscribers/unsubscribe", {"channel": "email", "address": "ann@example.org"})
    with admin_site.client() as reader:
        assert (
            reader.post(
                admin_site.local(unsubscribe_url(admin_site.config, admin_site.signer, "bob@example.org", now))
            ).status_code
            == 200
        )

        def own_pages(address: str) -> list[str]:
            links = [
                build(admin_site.config, admin_site.signer, address, now)
                for build in (unsubscribe_url, preferences_url, confirm_url)
            ]
            return [_text(reader.get(admin_site.local(link))).replace(address, "ADDRESS") for link in links]

        by_admin, by_self = own_pages("ann@example.org"), own_pages("bob@example.org")
    assert by_admin == by_self
    unsubscribe_page, preferences_page, confirm_page = by_admin
    assert "ADDRESS was unsubscribed and gets no digests" in unsubscribe_page and "Sign up again" in unsubscribe_page
    assert "ADDRESS was unsubscribed and gets no digests" in preferences_page and "Sign up again" in preferences_page
    assert "ADDRESS was unsubscribed after this link was sent" in confirm_page and "Sign up again" in confirm_page
    assert "not on the list" not in " ".join(by_admin)
