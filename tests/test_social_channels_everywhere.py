"""Mastodon and Bluesky everywhere else: a real cycle against the fake instance and the fake PDS, both rate
limited, then what each admin view says of it — chat /status and /routes, the control room's Overview, Routes,
Deliveries (filter and CSV) and Approval pages, and /metrics."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot import approvals
from bot.app import App
from bot.clicks import renderer_of
from bot.config import Config
from bot.email.tokens import link_signing
from bot.models import Article
from tests.conftest import FakeClock, news_item, newsbot, rss
from tests.control_helpers import admin_config, serve_admin_site
from tests.fakes.bluesky_api import FakeBluesky
from tests.fakes.mastodon_api import FakeMastodon
from tests.test_commands_subscriber import ADMIN, running_bot
from tests.test_ops import samples, served

ROUTES = [{"name": "social", "hashtags": ["*"], "channels": ["mastodon", "bluesky"]}]


@dataclass
class LimitedCycle:
    config: Config
    state: Path
    metrics_text: str
    article_key: str


@pytest.fixture
def fake_mastodon_server() -> Iterator[FakeMastodon]:
    with FakeMastodon() as server:
        yield server


@pytest.fixture
def limited_cycle(
    make_config: Callable[..., Config],
    tmp_path: Path,
    clock: FakeClock,
    fake_bluesky: FakeBluesky,
    fake_mastodon_server: FakeMastodon,
    monkeypatch: pytest.MonkeyPatch,
) -> LimitedCycle:
    """One story routed to Mastodon and Bluesky; both answer 429 for the next ten minutes."""
    monkeypatch.setenv("NEWSBOT_MASTODON_TOKEN", fake_mastodon_server.token)
    monkeypatch.setenv("NEWSBOT_BLUESKY_APP_PASSWORD", fake_bluesky.password)
    feed = tmp_path / "feed.xml"
    feed.write_text(rss([news_item(1)]), encoding="utf-8")
    config = admin_config(
        make_config,
        output={"dir": str(tmp_path / "out"), "dry_run": False},
        sources=[{"name": "feed", "url": str(feed), "backfill": 1}],
        routes=ROUTES,
        mastodon={"api_base_url": fake_mastodon_server.base_url, "request_timeout": 2, "max_characters": 500},
        bluesky={"service_url": fake_bluesky.base_url, "handle": fake_bluesky.handle, "request_timeout": 2},
        web={"public_url": "https://news.example.com", "metrics": True},
    )
    fake_mastodon_server.spend_window(reset_in=600)
    fake_bluesky.rate_limit(reset_in=600)
    with App(config, clock=clock) as app:
        report = app.run_cycle(poll_all=True)
        with served(config, metrics=app.metrics) as client:
            metrics_text = client.get("/metrics").text
        [article] = app.store.recent_articles(1)
    assert report.drain.retry_later == 2, report
    assert fake_mastodon_server.statuses == [] and fake_bluesky.records == []
    return LimitedCycle(config, tmp_path / "state.sqlite", metrics_text, article.key)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _get(cycle: LimitedCycle, clock: FakeClock, path: str) -> str:
    with serve_admin_site(cycle.config, cycle.state, clock) as site, site.signed_in_client() as client:
        response = client.get(path)
    assert response.status_code == 200, response.text
    return response.text


def test_metrics_count_each_channels_429_and_its_queue(limited_cycle: LimitedCycle) -> None:
    figures = samples(limited_cycle.metrics_text)
    for channel in ("mastodon", "bluesky"):
        assert figures[("newsbot_rate_limited_total", (("channel", channel),))] == 1
        assert 590 <= figures[("newsbot_rate_limited_seconds_total", (("channel", channel),))] <= 601
        assert figures[("newsbot_queue_depth", (("channel", channel),))] == 1
        assert figures[("newsbot_sends_total", (("channel", channel), ("outcome", "wait")))] == 1


def test_chat_status_names_both_channels_and_their_rate_limit(
    limited_cycle: LimitedCycle, tmp_path: Path, fake_bluesky: FakeBluesky, clock: FakeClock
) -> None:
    with running_bot(tmp_path, clock=clock, routes=ROUTES, bluesky={"handle": fake_bluesky.handle}) as bot:
        status = bot.ask("/status", user_id=ADMIN)
        routes = bot.ask("/routes", user_id=ADMIN)
    assert re.search(r"mastodon: rate limited until \S+", status), status
    assert re.search(r"bluesky: rate limited until \S+", status), status
    assert "social: * → mastodon, bluesky (@newsbot.test)" in routes, routes
    assert "NEWSBOT_BLUESKY_APP_PASSWORD" not in status and fake_bluesky.password not in status


def test_overview_lists_both_channels_rate_limited(limited_cycle: LimitedCycle, clock: FakeClock) -> None:
    text = _text(_get(limited_cycle, clock, "/admin/"))
    # waiting 1, held 0, no answer 0; in the last 24 hours: 0 sent, 0 failed, 0 skipped
    assert re.search(r"bluesky rate limited until \d{4}-\d\d-\d\d \d\d:\d\d UTC 1 0 0 0 0 0", text), text
    assert re.search(r"mastodon rate limited until \d{4}-\d\d-\d\d \d\d:\d\d UTC 1 0 0 0 0 0", text), text


def test_routes_page_names_the_channels_and_the_bluesky_account(limited_cycle: LimitedCycle, clock: FakeClock) -> None:
    text = _text(_get(limited_cycle, clock, "/admin/routes"))
    assert "mastodon, bluesky (@newsbot.test)" in text, text


def test_deliveries_filter_and_csv_by_the_new_channels(limited_cycle: LimitedCycle, clock: FakeClock) -> None:
    page = _get(limited_cycle, clock, "/admin/deliveries")
    assert '<option value="mastodon"' in page and '<option value="bluesky"' in page
    mastodon_only = _text(_get(limited_cycle, clock, "/admin/deliveries?channel=mastodon"))
    assert "mastodon" in mastodon_only and "Mastodon rate limit reached" in mastodon_only
    assert "Bluesky rate limit" not in mastodon_only
    exported = _get(limited_cycle, clock, "/admin/deliveries/export.csv?channel=bluesky")
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [row["channel"] for row in rows] == ["bluesky"], rows
    assert [row["recipient"] for row in rows] == ["timeline"]


SPOILER_ROUTES = [
    {
        "name": "social",
        "hashtags": ["*"],
        "channels": ["mastodon", "bluesky"],
        "approval": True,
        "spoiler_text": "Local politics",
    }
]


def test_approval_page_previews_both_posts_with_the_content_warning_counted(
    make_config: Callable[..., Config], tmp_path: Path, clock: FakeClock
) -> None:
    config = admin_config(make_config, routes=SPOILER_ROUTES, bluesky={"handle": "news.example.com"})
    with serve_admin_site(config, tmp_path / "state.sqlite", clock) as site:
        _held_article(site.store, clock)
        with site.signed_in_client() as client:
            page = _text(client.get("/admin/approvals").text)
    # Mastodon counts the warning in its 500; the text alone is 80 (its link 23)
    assert "mastodon (Mastodon text, 94 of 500 characters) CW: Local politics Council approves the plan" in page
    # Bluesky counts the text as sent: its link written "news.example.com/a"
    assert "bluesky (Bluesky text, 75 of 300 graphemes) Council approves the plan" in page, page


def test_chat_approval_preview_shows_the_content_warning(tmp_path: Path, clock: FakeClock) -> None:
    with running_bot(tmp_path, clock=clock, routes=SPOILER_ROUTES, bluesky={"handle": "news.example.com"}) as bot:
        _held_article(bot.store, clock)
        html = approvals.preview_html(bot_renderer(bot.config), bot.config, *_held(bot.store))
        preview = "\n".join(m.text for m in bot.send("/preview abc123", user_id=ADMIN, replies=3))
    assert "<b>mastodon</b> (Mastodon text, 94/500 characters):\n<blockquote>CW: Local politics\n\nCouncil" in html, (
        html
    )
    assert "<b>bluesky</b> (Bluesky text, 75/300 graphemes):" in html, html
    assert "<b>mastodon</b>: 94 of 500 characters\n<pre>CW: Local politics\n\nCouncil approves" in preview, preview


def test_cli_preview_of_mastodon_shows_the_routes_content_warning(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(rss([news_item(1)]), encoding="utf-8")
    (tmp_path / "config.toml").write_text(
        '[[routes]]\nname = "social"\nhashtags = ["*"]\nchannels = ["mastodon", "bluesky"]\n'
        'spoiler_text = "Local politics"\n[bluesky]\nhandle = "news.example.com"\n'
        '[mastodon]\napi_base_url = "https://mastodon.example"\n',
        encoding="utf-8",
    )
    mastodon = newsbot("preview", str(feed), "--channel", "mastodon", cwd=tmp_path)
    bluesky = newsbot("preview", str(feed), "--channel", "bluesky", cwd=tmp_path)
    assert mastodon.returncode == 0 and bluesky.returncode == 0, mastodon.stderr + bluesky.stderr
    assert mastodon.stdout.startswith("CW: Local politics\n\nStory number 1 about the council vote")
    assert re.search(r"-- mastodon: \d+/500 characters", mastodon.stderr), mastodon.stderr
    assert bluesky.stdout.startswith("Story number 1 about the council vote")
    assert re.search(r"-- bluesky: \d+/300 graphemes", bluesky.stderr), bluesky.stderr


def bot_renderer(config: Config) -> Any:
    return renderer_of(config, {}, link_signing(config.web, {"NEWSBOT_SECRET_KEY": "x" * 32}))


def _held(store: Any) -> tuple[Any, Any]:
    [approval] = store.waiting_approvals(5)
    return store.get_article(approval.article_key), approval


def _held_article(store: Any, clock: FakeClock) -> None:
    article = Article(
        "abc123", "feed", "Council approves the plan", "https://news.example.com/a", "The council voted.",
        ("Politics",), None, clock(),
    )  # fmt: skip
    store.add_article(article)
    store.add_approval(article.key, "social", clock(), None)


def test_dry_run_writes_the_content_warning_beside_the_mastodon_post(
    make_config: Callable[..., Config], tmp_path: Path, clock: FakeClock
) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(rss([news_item(1)]), encoding="utf-8")
    routes = [{**SPOILER_ROUTES[0], "approval": False}]
    config = make_config(
        sources=[{"name": "feed", "url": str(feed), "backfill": 1}],
        routes=routes,
        bluesky={"handle": "news.example.com"},
        mastodon={"api_base_url": "https://mastodon.example"},
    )
    with App(config, clock=clock) as app:
        assert app.run_cycle(poll_all=True).drain.sent == 2
    [warning] = (tmp_path / "out" / "mastodon").glob("*.warning")
    assert warning.read_text(encoding="utf-8") == "Local politics\n"
    assert warning.with_suffix(".txt").read_text(encoding="utf-8").startswith("Story number 1")
    assert list((tmp_path / "out" / "bluesky").glob("*.warning")) == []  # Bluesky has no content warnings


@pytest.mark.parametrize("language", ["de", ""])
def test_a_routes_language_tags_both_posts_without_a_model_and_none_is_guessed(
    make_config: Callable[..., Config],
    tmp_path: Path,
    clock: FakeClock,
    fake_bluesky: FakeBluesky,
    fake_mastodon_server: FakeMastodon,
    monkeypatch: pytest.MonkeyPatch,
    language: str,
) -> None:
    monkeypatch.setenv("NEWSBOT_MASTODON_TOKEN", fake_mastodon_server.token)
    monkeypatch.setenv("NEWSBOT_BLUESKY_APP_PASSWORD", fake_bluesky.password)
    feed = tmp_path / "feed.xml"
    german = {
        **news_item(1),
        "title": "Der Rat stimmt dem Plan zu",
        "description": "Der Rat hat am Dienstag abgestimmt.",
    }
    feed.write_text(rss([german]), encoding="utf-8")
    route: dict[str, Any] = {**ROUTES[0], **({"language": language} if language else {})}
    config = make_config(
        output={"dir": str(tmp_path / "out"), "dry_run": False},
        sources=[{"name": "feed", "url": str(feed), "backfill": 1}],
        routes=[route],
        mastodon={"api_base_url": fake_mastodon_server.base_url, "request_timeout": 2},
        bluesky={"service_url": fake_bluesky.base_url, "handle": fake_bluesky.handle, "request_timeout": 2},
    )
    assert not config.summarize.uses_model
    with App(config, clock=clock) as app:
        assert app.run_cycle(poll_all=True).drain.sent == 2
    [status] = fake_mastodon_server.statuses
    [record] = fake_bluesky.records
    # The summary stays the article's own sentence, in German: without a model nothing is translated.
    assert "Der Rat hat am Dienstag abgestimmt." in status.text
    assert "Der Rat hat am Dienstag abgestimmt." in record.value["text"]
    [create] = fake_mastodon_server.creates()
    if language:
        assert status.language == "de" and create.form["language"] == "de"
        assert record.value["langs"] == ["de"]
    else:
        assert "language" not in create.form
        assert "langs" not in record.value
