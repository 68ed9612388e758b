"""The control room's Overview over HTTP: what it says about the queue, the last 24 hours, the digest, sources in
error and approvals, read from the same state chat's /status reads."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bot.config import DATABASE_URL_ENV
from bot.control.auth import CSRF_FIELD
from bot.models import Article
from bot.store import AddedSource, OutboxItem, SourceState
from tests.conftest import news_item, newsbot, rss
from tests.control_helpers import AdminSite, same_origin

SQLITE_ONLY = {DATABASE_URL_ENV: ""}  # `newsbot once` on the site's SQLite file, whatever the environment says


def _article(site: AdminSite, key: str) -> Article:
    now = site.clock()
    article = Article(key, "feed", f"Title {key}", f"https://example.com/{key}", "Text.", ("Climate",), None, now)
    site.store.add_article(article)
    return article


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _overview(site: AdminSite) -> str:
    with site.signed_in_client() as client:
        response = client.get("/admin/")
    assert response.status_code == 200
    return _text(response.text)


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


# --- Pause publishing / Resume publishing ----------------------------------------------------------------


def _installation(site: AdminSite, tmp_path: Path) -> Path:
    """A config.toml beside the site's state, as `newsbot once` reads it: one feed story, routed to telegram."""
    (tmp_path / "feed.xml").write_text(rss([news_item(1)]), encoding="utf-8")
    (tmp_path / "config.toml").write_text(
        f'[state]\npath = "{site.config.state.path}"\n[output]\ndry_run = true\ndir = "{tmp_path / "out"}"\n'
        '[[sources]]\nname = "f"\nurl = "feed.xml"\nbackfill = 1\n'
        '[[routes]]\nname = "all"\nhashtags = ["*"]\nchannels = ["telegram"]\n',
        encoding="utf-8",
    )
    return tmp_path / "out" / "telegram"


def _press(site: AdminSite, client: httpx.Client, action: str) -> str:
    """POST the Overview's button as its form does; the page the redirect leads to, as text."""
    response = site.post(client, f"/admin/{action}", {})
    assert response.status_code == 303 and response.headers["location"] == "/admin/#notice", response.text
    return _text(client.get(response.headers["location"]).text)


def test_pause_publishing_on_the_overview_holds_newsbot_once_and_resume_sends(
    admin_site: AdminSite, tmp_path: Path
) -> None:
    sent = _installation(admin_site, tmp_path)
    with admin_site.signed_in_client() as client:
        assert "Pause publishing" in client.get("/admin/").text
        shown = _press(admin_site, client, "pause")
        assert "Publishing is paused: nothing goes out until you resume. Articles keep being collected and queued." in (
            shown
        )
        assert "Resume publishing" in shown and "Pause publishing" not in shown
        assert admin_site.store.is_paused()

        held = newsbot("once", cwd=tmp_path, env=SQLITE_ONLY)  # polls and queues, sends nothing
        assert held.returncode == 0, held.stderr
        assert "1 queued, 0 sent" in held.stdout
        assert not list(sent.glob("*.html"))
        assert "telegram publishing 1 0 0 0 0 0" in _text(client.get("/admin/").text)  # it waits in the queue

        shown = _press(admin_site, client, "resume")
        assert "Publishing resumed: what is due goes out now." in shown and "Pause publishing" in shown
        assert not admin_site.store.is_paused()
        assert admin_site.store.drain_requests() > 0  # `newsbot run` drains at once, as after chat's /resume

        done = newsbot("once", cwd=tmp_path, env=SQLITE_ONLY)
        assert done.returncode == 0, done.stderr
        assert "1 sent" in done.stdout and len(list(sent.glob("*.html"))) == 1


@pytest.mark.parametrize("action", ["pause", "resume"])
def test_pause_or_resume_without_the_csrf_token_is_refused_and_changes_nothing(
    admin_site: AdminSite, action: str
) -> None:
    paused = action == "resume"  # each button as it is shown: Resume only while paused
    admin_site.store.set_paused(paused)
    requests = admin_site.store.drain_requests()
    with admin_site.signed_in_client() as client:
        missing = client.post(f"/admin/{action}", data={}, headers=same_origin(admin_site.base))
        wrong = client.post(f"/admin/{action}", data={CSRF_FIELD: "guess"}, headers=same_origin(admin_site.base))
    assert missing.status_code == 403 and wrong.status_code == 403
    assert admin_site.store.is_paused() == paused and admin_site.store.drain_requests() == requests
