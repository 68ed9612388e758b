"""The control room's Overview over HTTP: what it says about the queue, the last 24 hours, the digest, sources in
error and approvals, read from the same state chat's /status reads."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.models import Article
from bot.store import AddedSource, OutboxItem, SourceState
from tests.control_helpers import AdminSite


def _article(site: AdminSite, key: str) -> Article:
    now = site.clock()
    article = Article(key, "feed", f"Title {key}", f"https://example.com/{key}", "Text.", ("Climate",), None, now)
    site.store.add_article(article)
    return article


def _overview(site: AdminSite) -> str:
    with site.signed_in_client() as client:
        response = client.get("/admin/")
    assert response.status_code == 200
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text))


def test_the_overview_shows_queue_last_24_hours_paused_and_approvals(admin_site: AdminSite) -> None:
    now = admin_site.clock()
    for key in ("a1", "a2", "a3"):
        _article(admin_site, key)
    admin_site.store.enqueue(
        [OutboxItem(key, "telegram", f"chat{n}", "all", "", now) for n, key in enumerate(("a1", "a2", "a3"))], now
    )
    rows = admin_site.store.pending_rows("telegram")
    admin_site.store.mark_sent(rows[0].id, "m1", now)
    admin_site.store.mark_failed(rows[1].id, "Forbidden: bot was blocked", now - timedelta(hours=25))  # too old
    admin_site.store.add_approval("a3", "all", now, None)
    admin_site.store.set_paused(True)

    text = _overview(admin_site)
    assert "Publishing is paused for every channel" in text
    assert "1 item(s) wait for an admin's decision" in text
    # telegram: publishing; waiting 1, held 0, no answer 0; in the last 24 hours: 1 sent, 0 failed (25 h ago), 0 skipped
    assert "telegram publishing 1 0 0 1 0 0" in text


def test_the_overview_names_a_failing_source_and_what_to_do(admin_site: AdminSite) -> None:
    admin_site.store.add_source(
        AddedSource("city", "https://user:pw@feeds.example.com/city.xml", ("City",), "admin", admin_site.clock())
    )
    admin_site.store.save_source_state(
        SourceState("city", failures=3, last_error="HTTP 404 from https://user:pw@feeds.example.com/city.xml")
    )
    text = _overview(admin_site)
    assert "city : 3 poll(s) in a row failed (last worked: never)" in text
    assert "pw@" not in text
    assert "newsbot preview https://" in text and "/removesource city if it is gone" in text


def test_the_overview_gives_the_next_digest(admin_site: AdminSite) -> None:
    text = _overview(admin_site)  # the test config routes to email; the digest is weekly (Monday 08:00 UTC)
    assert re.search(r"Next digest \w+day \d{4}-\d\d-\d\d \d\d:\d\d UTC", text), text


def test_the_overview_names_the_paused_sources(admin_site: AdminSite) -> None:
    assert "Paused sources No source is paused." in _overview(admin_site)
    for name in ("city", "wire"):
        admin_site.store.add_source(
            AddedSource(name, f"https://feeds.example.com/{name}.xml", (), "admin", admin_site.clock())
        )
    admin_site.store.set_source_paused("wire", True)  # /pausesource wire, or Pause on the Sources page

    text = _overview(admin_site)
    assert "Paused sources Not polled until an admin resumes them on the Sources page" in text
    assert "/resumesource NAME in chat): wire Sources in error" in text  # only wire is listed
