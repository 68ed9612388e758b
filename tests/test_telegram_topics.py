"""Forum topics and per-route Telegram channels, end to end: config → routing → outbox → python-telegram-bot →
real HTTP → the fake Bot API server, which records each message's message_thread_id."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.config import Config
from bot.models import Post
from bot.publishers.telegram import TelegramPublisher
from bot.store import PENDING, SENT, OutboxItem
from tests.conftest import FakeClock, news_item, rss
from tests.fakes.telegram_api import FakeTelegram, Message

CHANNEL = "-1001234567890"
FORUM = "@newsforum"
ALL = [{"name": "all", "hashtags": ["*"], "channels": ["telegram"]}]


@pytest.fixture
def live_config(
    make_config: Callable[..., Config], tmp_path: Path, fake_telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Config]]:
    """A config that publishes to the fake Bot API: a feed of `items`, `channel` as [telegram] channel."""
    monkeypatch.setenv("NEWSBOT_TELEGRAM_TOKEN", fake_telegram.token)
    feed = tmp_path / "feed.xml"

    def build(items: list[dict[str, str]], channel: Any, routes: list[dict[str, Any]] = ALL, **telegram: Any) -> Config:
        feed.write_text(rss(items), encoding="utf-8")
        return make_config(
            output={"dir": str(tmp_path / "out"), "dry_run": False},
            sources=[{"name": "feed", "url": str(feed), "backfill": len(items)}],
            routes=routes,
            telegram={"base_url": fake_telegram.base_url, "channel": channel, "request_timeout": 2, **telegram},
        )

    yield build


def ledger(app: App) -> dict[str, str]:
    """recipient -> state of every outbox row."""
    return {
        row.recipient: row.state
        for article in app.store.recent_articles(50)
        for row in app.store.rows_for_article(article.key)
    }


def stories(messages: list[Message]) -> set[tuple[int | None, str]]:
    """(topic, "Story number N") of each message."""
    return {(m.message_thread_id, m.text.removeprefix("<b>")[: len("Story number 1")]) for m in messages}


def test_a_post_to_chat_slash_topic_arrives_in_that_topic_and_plain_chats_get_none(
    live_config: Callable[..., Config], fake_telegram: FakeTelegram, clock: FakeClock
) -> None:
    fake_telegram.forum(FORUM, [42])
    config = live_config([news_item(1)], channel=[CHANNEL, "@secondnews", f"{FORUM}/42"])
    with App(config, clock=clock) as app:
        app.run_cycle(poll_all=True)
        # The first two recipients are spelled as before topics existed: rows queued then still go there.
        assert ledger(app) == {"channel": SENT, "channel:@secondnews": SENT, f"channel:{FORUM}/42": SENT}
    [in_topic] = fake_telegram.messages(FORUM)
    assert in_topic.message_thread_id == 42
    assert in_topic.text.startswith("<b>Story number 1")
    assert [m.message_thread_id for m in fake_telegram.messages(int(CHANNEL))] == [None]
    assert [m.message_thread_id for m in fake_telegram.messages("@secondnews")] == [None]


def test_two_topics_of_one_chat_are_two_targets_and_a_photo_caption_goes_to_each(
    live_config: Callable[..., Config], fake_telegram: FakeTelegram, clock: FakeClock
) -> None:
    item = dict(news_item(1), description='<img src="https://news.example.com/img/1.jpg"> Council approves it.')
    config = live_config([item], channel=[f"{CHANNEL}/7", f"{CHANNEL}/9"])
    with App(config, clock=clock) as app:
        app.run_cycle(poll_all=True)
        assert ledger(app) == {"channel": SENT, f"channel:{CHANNEL}/9": SENT}
    posts = fake_telegram.messages(int(CHANNEL))
    assert sorted(m.message_thread_id or 0 for m in posts) == [7, 9]
    assert {(m.kind, m.photo) for m in posts} == {("photo", "https://news.example.com/img/1.jpg")}
    assert all(m.text.startswith("<b>Story number 1") for m in posts)


def test_a_long_post_sends_every_part_to_the_topic(
    live_config: Callable[..., Config], fake_telegram: FakeTelegram
) -> None:
    fake_telegram.forum(FORUM, [42])
    config = live_config([], channel=f"{FORUM}/42")
    text = "\n\n".join(["<b>Bold start</b> " + "A sentence that goes on. " * 80] * 3)
    publisher = TelegramPublisher(config.telegram, fake_telegram.token)
    try:
        receipt = publisher.publish(Post("k", "telegram", text, 0, 4096, recipient="channel"))
    finally:
        publisher.close()
    parts = fake_telegram.messages(FORUM)
    assert len(parts) == 2 == len(receipt.remote_id.split(","))
    assert [m.message_thread_id for m in parts] == [42, 42]


def test_a_route_with_telegram_channels_posts_only_there_and_subscribers_still_get_it(
    live_config: Callable[..., Config], fake_telegram: FakeTelegram, clock: FakeClock
) -> None:
    fake_telegram.forum(FORUM, [42, 43])
    routes = [
        {"name": "sport", "hashtags": ["Sports"], "channels": ["telegram"], "telegram_channels": [f"{FORUM}/43"]},
        {"name": "rest", "hashtags": ["*"], "channels": ["telegram"]},
    ]
    config = live_config([], channel=[CHANNEL, f"{FORUM}/42", f"{FORUM}/43"], routes=routes)
    with App(config, clock=clock) as app:
        app.run_cycle(poll_all=True)  # primes the empty feed
        app.store.subscribe("telegram", "501", clock())
        Path(config.sources[0].url).write_text(
            rss([news_item(1, tag="Sports"), news_item(2, tag="PoliticsNews")]), encoding="utf-8"
        )
        clock.advance(hours=1)
        app.run_cycle(poll_all=True)
    sport, politics = "Story number 1", "Story number 2"
    assert stories(fake_telegram.messages(FORUM)) == {(43, sport), (42, politics), (43, politics)}
    assert len(fake_telegram.messages(FORUM)) == 3
    assert stories(fake_telegram.messages(int(CHANNEL))) == {(None, politics)}
    assert stories(fake_telegram.messages(501)) == {(None, sport), (None, politics)}


def test_a_topic_telegram_does_not_know_stops_the_channel_with_the_fix_and_keeps_the_post(
    live_config: Callable[..., Config], fake_telegram: FakeTelegram, clock: FakeClock
) -> None:
    fake_telegram.forum(FORUM, [42])
    config = live_config([news_item(1)], channel=f"{FORUM}/44")
    with App(config, clock=clock) as app:
        report = app.run_cycle(poll_all=True)
        assert ledger(app) == {"channel": PENDING}
    halted = report.drain.halted["telegram"]
    assert "Message thread not found: check the topic of CHAT/TOPIC in [telegram] channel" in halted
    assert "t.me/c/<chat>/<topic>/<message>" in halted
    assert fake_telegram.messages() == []


def test_a_row_queued_before_the_upgrade_still_goes_to_its_chat(
    live_config: Callable[..., Config], fake_telegram: FakeTelegram, clock: FakeClock
) -> None:
    config = live_config([news_item(1)], channel=[f"{FORUM}/42", "@secondnews"])
    with App(config, clock=clock) as app:
        app.run_cycle(poll_all=True)
        [article] = app.store.recent_articles(1)
        # Queued by the old version for an entry since removed from the config: it still goes where it was meant.
        old = OutboxItem(article.key, "telegram", "channel:@oldnews", "all", "", clock() - timedelta(days=1))
        app.store.enqueue([old], clock())
        app.drain()
        assert ledger(app) == {"channel": SENT, "channel:@secondnews": SENT, "channel:@oldnews": SENT}
    assert [m.message_thread_id for m in fake_telegram.messages("@oldnews")] == [None]
    assert [m.message_thread_id for m in fake_telegram.messages(FORUM)] == [42]
