"""The control room's Deliveries page over HTTP: filters by article, channel, recipient and outcome, newest first,
pages by cursor, a damaged cursor, error texts escaped and shortened, digest mails, the CSV export, empty states."""

from __future__ import annotations

import csv
import io
import re

import httpx

from bot.models import Article
from bot.store import OutboxItem
from bot.store.reports import PAGE_SIZE
from tests.control_helpers import AdminSite


def _text(response: httpx.Response) -> str:
    """The page's words; a <wbr> (a place a line may break) is no space."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text.replace("<wbr>", "")))


def _sent(site: AdminSite, key: str, title: str, recipients: list[str], error: str = "") -> None:
    """`key` queued for Telegram to each of `recipients`, then sent (or failed with `error`), a minute apart."""
    now = site.clock()
    site.store.add_article(Article(key, "feed", title, f"https://example.com/{key}", "T.", ("Climate",), None, now))
    site.store.enqueue([OutboxItem(key, "telegram", r, "all", "", now) for r in recipients], now)
    for row in site.store.rows_for_article(key):
        site.clock.advance(minutes=1)
        if error:
            site.store.mark_failed(row.id, error, site.clock())
        else:
            site.store.mark_sent(row.id, "m", site.clock())


def _list(client: httpx.Client, **params: str) -> httpx.Response:
    return client.get("/admin/deliveries", params=params)


def test_filters_by_article_prefix_recipient_and_outcome_newest_first(admin_site: AdminSite) -> None:
    _sent(admin_site, "aa11", "Heat wave", ["-1001", "-1002"])
    _sent(admin_site, "bb22", "Floods <b>now</b>", ["-1001"], error="Forbidden: bot was blocked by the user")
    with admin_site.signed_in_client() as client:
        everything = _list(client)
        by_article = _text(_list(client, article="AA"))
        by_recipient = _text(_list(client, recipient="-1001"))
        failed = _text(_list(client, outcome="failed", channel="telegram"))
        nothing = _text(_list(client, recipient="-9999"))

    text = _text(everything)
    assert text.index("Floods") < text.index("Heat wave")  # newest first
    assert "Floods <b>now</b>" not in everything.text and "Floods &lt;b&gt;now&lt;/b&gt;" in everything.text
    assert 'href="https://example.com/aa11"' in everything.text  # the title links to the article
    assert by_article.count("Heat wave") == 2 and "Floods" not in by_article
    assert "-1002" not in by_recipient and "Heat wave" in by_recipient and "Floods" in by_recipient
    assert "Floods" in failed and "Heat wave" not in failed and "Forbidden: bot was blocked by the user" in failed
    assert "Nothing matches these filters" in nothing and "clear the filters" in nothing


def test_a_long_error_is_shortened_with_the_whole_text_one_click_away_and_credentials_redacted(
    admin_site: AdminSite,
) -> None:
    error = "Timeout talking to https://user:secret@api.example.com/send " + "x" * 200 + " <end>"
    _sent(admin_site, "cc33", "Storm", ["-1001"], error=error)
    with admin_site.signed_in_client() as client:
        html = _list(client).text
    assert "<details><summary>" in html and "x" * 200 + " &lt;end&gt;" in html
    assert "secret" not in html


def test_pages_by_cursor_without_gaps_or_repeats_and_a_damaged_cursor_says_start_again(
    admin_site: AdminSite,
) -> None:
    _sent(admin_site, "dd44", "Many", [str(-2000 - n) for n in range(PAGE_SIZE + 5)])
    with admin_site.signed_in_client() as client:
        first = _list(client, article="dd44")
        next_link = re.search(r'href="(/admin/deliveries\?[^"]+)" rel="next"', first.text)
        assert next_link is not None
        second = client.get(next_link.group(1).replace("&amp;", "&"))
        damaged = _list(client, after="2024-01-01~9~x")

    shown = re.findall(r">(-2\d{3})</td>", first.text + second.text)
    assert sorted(shown) == sorted(str(-2000 - n) for n in range(PAGE_SIZE + 5))
    assert 'rel="next"' not in second.text and "First page" in second.text
    assert damaged.status_code == 400 and "start again from the first page" in damaged.text


def test_digest_mails_show_their_digest_id(admin_site: AdminSite) -> None:
    now = admin_site.clock()
    admin_site.store.request_email_subscription("ann@example.org", [], now)
    admin_site.store.confirm_email("ann@example.org", now)
    admin_site.store.create_digest("2024-W10", now, now)
    with admin_site.signed_in_client() as client:
        text = _text(_list(client, channel="email", recipient="Ann@Example.org"))
    assert "Digest 2024-W10 email ann@example.org pending" in text


def test_csv_export_of_the_filter_is_a_streamed_attachment_with_formulas_neutralised(admin_site: AdminSite) -> None:
    _sent(admin_site, "ee55", '=HYPERLINK("http://evil")', ["-1001"])
    _sent(admin_site, "ff66", "Other", ["-1002"])
    with admin_site.signed_in_client() as client:
        response = client.get("/admin/deliveries/export.csv", params={"article": "ee"})
        bad = client.get("/admin/deliveries/export.csv", params={"outcome": "exploded"})

    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert re.fullmatch(
        r'attachment; filename="newsbot-deliveries-\d{4}-\d\d-\d\d\.csv"', response.headers["content-disposition"]
    )
    rows = list(csv.reader(io.StringIO(response.text, newline="")))
    assert rows[0] == ["when", "channel", "recipient", "outcome", "article", "title", "digest", "error"]
    assert [r[1:6] for r in rows[1:]] == [["telegram", "-1001", "sent", "ee55", '\'=HYPERLINK("http://evil")']]
    assert bad.status_code == 400 and "Outcome “exploded” is not one of" in bad.text


def test_an_empty_ledger_says_so_and_hostile_fields_get_a_message(admin_site: AdminSite) -> None:
    with admin_site.signed_in_client() as client:
        empty = _text(_list(client))
        long = _list(client, recipient="9" * 300)
        nul = _list(client, article="aa\x00")
    assert "Nothing has been sent or queued yet" in empty
    assert long.status_code == 400 and "longer than 254 characters" in long.text
    assert nul.status_code == 400 and "control characters" in nul.text


def test_a_long_title_is_cut_at_a_words_end_with_the_whole_title_kept_for_readers_and_a_mouse(
    admin_site: AdminSite,
) -> None:
    title = "Council approves the long-delayed harbour renovation <b>after</b> a nine-hour session on the bridges"
    _sent(admin_site, "k1", title, ["-100123"])
    _sent(admin_site, "k2", "Short & sweet", ["-100123"])
    with admin_site.signed_in_client() as client:
        page = _list(client).text
    escaped = title.replace("<", "&lt;").replace(">", "&gt;")
    shown = "Council approves the long-delayed harbour renovation…"  # not "&lt;b&gt;af…": whole words
    assert f'title="{escaped}"><span aria-hidden="true">{shown}</span>' in page
    assert f'<span class="visually-hidden">{escaped}</span></a>' in page
    assert 'rel="noopener noreferrer">Short &amp; sweet</a>' in page  # short enough: shown whole, no tooltip


def test_an_address_may_wrap_only_after_its_at_and_before_its_dots(admin_site: AdminSite) -> None:
    now = admin_site.clock()
    admin_site.store.request_email_subscription("ann.lee@news.example.org", [], now)
    admin_site.store.confirm_email("ann.lee@news.example.org", now)
    admin_site.store.create_digest("2024-W10", now, now)
    with admin_site.signed_in_client() as client:
        deliveries = _list(client, channel="email").text
        subscribers = client.get("/admin/subscribers", params={"q": "ann"}).text
    wrapped = "ann<wbr>.lee@<wbr>news<wbr>.example<wbr>.org"
    assert f'<td class="address">{wrapped}</td>' in deliveries
    assert f'<th scope="row" class="address">{wrapped}' in subscribers
