"""The Telegram publisher end to end: newsbot → python-telegram-bot → real HTTP → the fake Bot API server."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.config import Config
from bot.errors import PublishError
from bot.models import Post, Receipt
from bot.publishers.telegram import TelegramPublisher, retry_seconds
from bot.store import PENDING, SENT, SKIPPED
from tests.conftest import FakeClock, news_item, rss
from tests.fakes.telegram_api import FakeTelegram

CHANNEL = "-1001234567890"


@pytest.fixture
def token_env(fake_telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch) -> FakeTelegram:
    monkeypatch.setenv("NEWSBOT_TELEGRAM_TOKEN", fake_telegram.token)
    return fake_telegram


@pytest.fixture
def live_config(
    make_config: Callable[..., Config], tmp_path: Path, token_env: FakeTelegram
) -> Iterator[Callable[..., Config]]:
    feed = tmp_path / "feed.xml"

    def build(items: list[dict[str, str]], **telegram: Any) -> Config:
        feed.write_text(rss(items), encoding="utf-8")
        return make_config(
            output={"dir": str(tmp_path / "out"), "dry_run": False},
            sources=[{"name": "feed", "url": str(feed), "backfill": len(items)}],
            routes=[{"name": "all", "hashtags": ["*"], "channels": ["telegram"]}],
            telegram={"base_url": token_env.base_url, "channel": CHANNEL, "request_timeout": 2, **telegram},
        )

    yield build


def subscribe(app: App, chat_id: int, *tags: str) -> None:
    app.store.subscribe("telegram", str(chat_id), app.clock())
    app.store.set_subscriber_tags("telegram", str(chat_id), tags, app.clock())


def ledger(app: App) -> dict[str, str]:
    """recipient -> state of every outbox row."""
    return {
        row.recipient: row.state
        for article in app.store.recent_articles(50)
        for row in app.store.rows_for_article(article.key)
    }


def test_article_goes_to_the_channel_and_to_subscribers_whose_hashtags_match(
    live_config: Callable[..., Config], fake_telegram: FakeTelegram, clock: FakeClock
) -> None:
    config = live_config([])
    with App(config, clock=clock) as app:
        app.run_cycle(poll_all=True)  # primes the empty feed
        subscribe(app, 501, "ClimateNews")
        subscribe(app, 502)  # no tags: everything
        subscribe(app, 503, "Sports")
        # The feed now gets one article tagged #ClimateNews.
        Path(config.sources[0].url).write_text(rss([news_item(1, tag="ClimateNews")]), encoding="utf-8")
        clock.advance(hours=1)
        report = app.run_cycle(poll_all=True)
        assert ledger(app) == {"channel": SENT, "501": SENT, "502": SENT}
    assert report.drain.sent == 3
    [post] = fake_telegram.messages(int(CHANNEL))
    assert post.parse_mode == "HTML"
    assert post.text.startswith("<b>Story number 1 about the council vote</b>")
    assert "#ClimateNews" in post.text
    buttons = [b for row in (post.reply_markup or {})["inline_keyboard"] for b in row]
    assert [b["text"] for b in buttons][:2] == ["X", "Telegram"]
    assert all(b["url"].startswith("https://") for b in buttons)  # Telegram refuses mailto: buttons
    assert post.link_preview_options == {"is_disabled": False}
    assert [m.text for m in fake_telegram.messages(501)] == [post.text]
    assert fake_telegram.messages(503) == []


def test_blocked_subscriber_is_deactivated_and_not_retried(
    live_config: Callable[..., Config], fake_telegram: FakeTelegram, clock: FakeClock
) -> None:
    config = live_config([news_item(1)], channel="")
    fake_telegram.block(601)
    with App(config, clock=clock) as app:
        subscribe(app, 601)
        subscribe(app, 602)
        app.run_cycle(poll_all=True)
        clock.advance(hours=3)
        app.drain()
        assert ledger(app) == {"601": SKIPPED, "602": SENT}
        subscriber = app.store.subscriber("telegram", "601")
        assert subscriber is not None and not subscriber.active
        assert "blocked" in subscriber.status_reason
    assert len([r for r in fake_telegram.calls("sendMessage") if str(r.params["chat_id"]) == "601"]) == 1


def test_retry_after_is_waited_out_exactly_and_the_message_is_delivered_once(
    live_config: Callable[..., Config], fake_telegram: FakeTelegram, clock: FakeClock
) -> None:
    config = live_config([news_item(1)])
    fake_telegram.retry_after(2, times=1)
    with App(config, clock=clock) as app:
        report = app.run_cycle(poll_all=True)
    assert report.drain.sent == 1
    refused, delivered = fake_telegram.calls("sendMessage")
    assert (refused.status, delivered.status) == (429, 200)
    assert delivered.at - refused.at >= 2.0
    assert len(fake_telegram.messages(int(CHANNEL))) == 1


def test_server_errors_keep_the_message_queued_until_a_later_attempt_succeeds(
    live_config: Callable[..., Config], fake_telegram: FakeTelegram, clock: FakeClock
) -> None:
    config = live_config([news_item(1)])
    fake_telegram.fail(502, times=1)
    with App(config, clock=clock) as app:
        first = app.run_cycle(poll_all=True)
        assert (first.drain.sent, first.drain.retry_later) == (0, 1)
        assert ledger(app) == {"channel": PENDING}
        clock.advance(minutes=1)
        assert app.drain().sent == 1
    assert len(fake_telegram.messages(int(CHANNEL))) == 1


def test_migrated_group_gets_the_message_and_the_subscription_follows(
    live_config: Callable[..., Config], fake_telegram: FakeTelegram, clock: FakeClock
) -> None:
    config = live_config([news_item(1)], channel="")
    fake_telegram.migrate(-4001, -1009999)
    with App(config, clock=clock) as app:
        subscribe(app, -4001)
        app.run_cycle(poll_all=True)
        assert app.store.subscriber("telegram", "-4001") is None
        moved = app.store.subscriber("telegram", "-1009999")
        assert moved is not None and moved.active
    assert len(fake_telegram.messages(-1009999)) == 1


def test_html_telegram_refuses_is_sent_once_as_plain_text_and_logged(
    live_config: Callable[..., Config],
    fake_telegram: FakeTelegram,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A template can only produce valid HTML (the renderer checks), so talk to the publisher directly.
    config = live_config([])
    publisher = TelegramPublisher(config.telegram, fake_telegram.token)
    try:
        publisher.publish(Post("k", "telegram", "<b>Bold &amp; <tg-emoji>x</tg-emoji></b>", 10, 4096, recipient="77"))
    finally:
        publisher.close()
    [message] = fake_telegram.messages(77)
    assert (message.text, message.parse_mode) == ("Bold & x", None)
    assert "event=telegram_template_problem" in caplog.text


def test_refused_token_stops_the_channel_and_keeps_the_queue(
    live_config: Callable[..., Config], fake_telegram: FakeTelegram, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_TELEGRAM_TOKEN", "999:WRONG")
    config = live_config([news_item(1), news_item(2)])
    with App(config, clock=clock) as app:
        report = app.run_cycle(poll_all=True)
        assert app.store.queue_counts() == {("telegram", PENDING): 2}
    assert "token was refused" in report.drain.halted["telegram"]
    assert fake_telegram.messages() == []


def test_article_with_an_image_goes_as_a_photo_with_caption(
    live_config: Callable[..., Config], fake_telegram: FakeTelegram, clock: FakeClock
) -> None:
    item = dict(news_item(1), description='<img src="https://news.example.com/img/1.jpg"> Council approves it. #Vote')
    config = live_config([item])
    with App(config, clock=clock) as app:
        app.run_cycle(poll_all=True)
    [photo] = fake_telegram.messages(int(CHANNEL))
    assert (photo.kind, photo.photo) == ("photo", "https://news.example.com/img/1.jpg")
    assert photo.text.startswith("<b>Story number 1")


def test_text_over_the_limit_is_split_without_breaking_tags_and_buttons_come_last(
    live_config: Callable[..., Config], fake_telegram: FakeTelegram
) -> None:
    config = live_config([])
    paragraph = "<b>Bold start</b> " + "A sentence that goes on. " * 80
    text = "\n\n".join([paragraph] * 3)
    from bot.models import ShareLink

    share = (ShareLink("x", "X", "https://x.com/intent/post?url=a"),)
    publisher = TelegramPublisher(config.telegram, fake_telegram.token)
    try:
        receipt = publisher.publish(Post("k", "telegram", text, 0, 4096, share_links=share, recipient="88"))
    finally:
        publisher.close()
    messages = fake_telegram.messages(88)
    assert len(messages) == 2 == len(receipt.remote_id.split(","))
    assert messages[0].reply_markup is None and messages[1].reply_markup is not None


def test_a_429_on_the_second_part_of_a_long_post_resends_only_that_part(
    live_config: Callable[..., Config], fake_telegram: FakeTelegram
) -> None:
    config = live_config([])
    text = "\n\n".join(["A sentence that goes on. " * 80] * 3)  # two messages' worth
    fake_telegram.retry_after(1, times=1, chat_id=88, after=1)  # the first part goes through, the second gets 429
    publisher = TelegramPublisher(config.telegram, fake_telegram.token)
    try:
        receipt = publisher.publish(Post("k", "telegram", text, 0, 4096, recipient="88"))
    finally:
        publisher.close()
    first, second = fake_telegram.messages(88)  # not three: the first part was not sent again
    assert [call.status for call in fake_telegram.calls("sendMessage")] == [200, 429, 200]
    assert receipt.remote_id == f"{first.message_id},{second.message_id}"
    assert first.text.startswith("A sentence") and second.text.endswith("goes on.")


def test_a_long_post_cut_off_by_a_server_error_is_resumed_later_without_repeating_a_part(
    live_config: Callable[..., Config], fake_telegram: FakeTelegram
) -> None:
    config = live_config([])
    text = "\n\n".join(["A sentence that goes on. " * 80] * 3)  # two messages' worth
    post = Post("k", "telegram", text, 0, 4096, recipient="88")
    fake_telegram.fail(502, times=1, after=1)  # the first part goes through, the second gets 502
    outcomes: list[Receipt | PublishError] = []
    publisher = TelegramPublisher(config.telegram, fake_telegram.token)
    try:
        publisher.publish_batch([post], lambda _post, outcome: outcomes.append(outcome))
        [error] = outcomes
        assert isinstance(error, PublishError)
        # What the outbox keeps in the ledger and hands back on its retry.
        receipt = publisher.publish(replace(post, posted=error.progress))
    finally:
        publisher.close()
    first, second = fake_telegram.messages(88)  # not three: the first part was not sent again
    assert error.progress == (str(first.message_id),)
    assert receipt.remote_id == f"{first.message_id},{second.message_id}"
    assert [call.status for call in fake_telegram.calls("sendMessage")] == [200, 502, 200]


def test_a_stop_request_does_not_wait_out_a_long_retry_after_and_the_post_stays_queued(
    live_config: Callable[..., Config], fake_telegram: FakeTelegram
) -> None:
    config = live_config([])
    fake_telegram.retry_after(50, times=1, chat_id=88)  # under the inline limit: the publisher waits it out itself
    stop = threading.Event()
    outcomes: list[object] = []

    def ask_to_stop_once_refused() -> None:
        while not fake_telegram.count_429:
            time.sleep(0.01)
        stop.set()

    asker = threading.Thread(target=ask_to_stop_once_refused, daemon=True)
    asker.start()
    publisher = TelegramPublisher(config.telegram, fake_telegram.token)
    try:
        # Without a stop-aware wait this would wait 50 s and then send (pytest-timeout would not fail it; the
        # assertions below would).
        publisher.publish_batch(
            [Post("k", "telegram", "Hello", 0, 4096, recipient="88")],
            lambda post, outcome: outcomes.append(outcome),
            stop.is_set,
        )
    finally:
        publisher.close()
    asker.join()
    assert outcomes == []  # no outcome: the outbox keeps it queued for the next start
    assert fake_telegram.messages(88) == []
    assert [call.status for call in fake_telegram.calls("sendMessage")] == [429]


def test_fan_out_respects_every_rate_limit(
    live_config: Callable[..., Config], fake_telegram: FakeTelegram, clock: FakeClock
) -> None:
    config = live_config([news_item(1)], messages_per_second=20)
    with App(config, clock=clock) as app:
        for chat in range(700, 745):
            subscribe(app, chat)
        report = app.run_cycle(poll_all=True)
    assert report.drain.sent == 46
    assert fake_telegram.count_429 == 0
    assert len(fake_telegram.messages()) == 46


def test_paused_publishing_sends_nothing_until_resumed(
    live_config: Callable[..., Config], fake_telegram: FakeTelegram, clock: FakeClock
) -> None:
    config = live_config([news_item(1)])
    with App(config, clock=clock) as app:
        app.store.set_paused(True)
        report = app.run_cycle(poll_all=True)
        assert "paused" in report.drain.halted["telegram"]
        assert fake_telegram.messages() == []
        app.store.set_paused(False)
        assert app.drain().sent == 1


def test_missing_token_is_a_config_error_naming_the_variable(
    live_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.errors import ConfigError

    config = live_config([])
    monkeypatch.delenv("NEWSBOT_TELEGRAM_TOKEN")
    with pytest.raises(ConfigError, match="NEWSBOT_TELEGRAM_TOKEN is not set"):
        App(config)


def test_every_configured_channel_gets_the_post(
    live_config: Callable[..., Config], fake_telegram: FakeTelegram, clock: FakeClock
) -> None:
    config = live_config([news_item(1)], channel=[CHANNEL, "@secondnews"])
    with App(config, clock=clock) as app:
        app.run_cycle(poll_all=True)
        assert ledger(app) == {"channel": SENT, "channel:@secondnews": SENT}
    assert len(fake_telegram.messages(int(CHANNEL))) == 1
    assert len(fake_telegram.messages("@secondnews")) == 1


@pytest.mark.parametrize("future_type", [False, True])
def test_retry_after_reads_as_seconds_whether_ptb_gives_a_number_or_a_timedelta(
    monkeypatch: pytest.MonkeyPatch, future_type: bool
) -> None:
    """One reader serves posts and chat replies; PTB 22 gives an int, or a timedelta once PTB_TIMEDELTA is set."""
    from telegram.error import RetryAfter

    if future_type:
        monkeypatch.setenv("PTB_TIMEDELTA", "true")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB's own handling of the value when it builds the error
        errors = [RetryAfter(timedelta(seconds=7)), RetryAfter(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the reader keeps PTB's deprecation warning out of the logs
        assert [retry_seconds(error) for error in errors] == [7.0, 3.0]
