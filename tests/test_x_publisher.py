"""The X publisher end to end: newsbot → tweepy → real HTTP → the fake X API v2 server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.config import Config
from bot.errors import PublishError
from bot.models import Post, Receipt
from bot.publishers.x import XCredentials, XPublisher, seconds_until_reset
from bot.store import PENDING, SENT, SKIPPED, UNKNOWN, blocked_until_key, from_db_time
from bot.xtext import links_and_mentions, weighted_length
from tests.conftest import FakeClock, news_item, rss
from tests.fakes.x_api import FakeX

OAUTH1 = {
    "NEWSBOT_X_CONSUMER_KEY": "ck-test",
    "NEWSBOT_X_CONSUMER_SECRET": "cs-test",
    "NEWSBOT_X_ACCESS_TOKEN": "at-test",
    "NEWSBOT_X_ACCESS_TOKEN_SECRET": "ats-test",
}


@pytest.fixture
def x_config(
    make_config: Callable[..., Config], tmp_path: Path, fake_x: FakeX, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Config]:
    for name, value in OAUTH1.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("NEWSBOT_X_BEARER_TOKEN", raising=False)
    feed = tmp_path / "feed.xml"

    def build(items: list[dict[str, str]], **x: Any) -> Config:
        feed.write_text(rss(items), encoding="utf-8")
        return make_config(
            output={"dir": str(tmp_path / "out"), "dry_run": False},
            sources=[{"name": "feed", "url": str(feed), "backfill": len(items)}],
            routes=[{"name": "all", "hashtags": ["*"], "channels": ["x"]}],
            x={"api_base_url": fake_x.base_url, "request_timeout": 2, **x},
        )

    return build


def states(app: App) -> list[str]:
    return [row.state for a in app.store.recent_articles(50) for row in app.store.rows_for_article(a.key)]


def test_post_fits_280_keeps_the_link_and_is_signed_with_oauth1(
    x_config: Callable[..., Config], fake_x: FakeX, clock: FakeClock
) -> None:
    long_link = "https://news.example.com/2026/11/" + "a-very-long-slug-" * 12
    config = x_config([dict(news_item(1), link=long_link, guid="g1")])
    with App(config, clock=clock) as app:
        report = app.run_cycle(poll_all=True)
        [row] = app.store.rows_for_article(app.store.recent_articles(1)[0].key)
    assert report.drain.sent == 1
    [tweet] = fake_x.tweets
    assert tweet.auth == "oauth1"
    assert long_link in tweet.text and weighted_length(tweet.text) <= 280
    assert (row.state, row.remote_id) == (SENT, tweet.id)


def test_an_oauth2_user_token_is_used_when_set(
    x_config: Callable[..., Config], fake_x: FakeX, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_X_BEARER_TOKEN", "bearer-test")
    config = x_config([news_item(1)])
    with App(config, clock=clock) as app:
        app.run_cycle(poll_all=True)
    assert [t.auth for t in fake_x.tweets] == ["bearer"]


def test_cjk_and_emoji_text_is_fitted_by_xs_weighted_count(
    x_config: Callable[..., Config], fake_x: FakeX, clock: FakeClock
) -> None:
    cjk = "東京都は新しい気候計画を発表した。" * 12
    item = dict(news_item(1), title="気候計画👍🏽" * 20, description=cjk + " #気候")
    config = x_config([item])
    with App(config, clock=clock) as app:
        assert app.run_cycle(poll_all=True).drain.sent == 1
    [tweet] = fake_x.tweets
    assert weighted_length(tweet.text) <= 280
    assert "https://news.example.com/2026/11/story-1" in tweet.text


def test_rate_limit_waits_for_the_announced_reset_even_across_a_restart(
    x_config: Callable[..., Config], fake_x: FakeX, clock: FakeClock
) -> None:
    config = x_config([news_item(1)])
    fake_x.rate_limit(reset_in=600, daily=True)
    with App(config, clock=clock) as app:
        report = app.run_cycle(poll_all=True)
        until = from_db_time(app.store.get_meta(blocked_until_key("x")))
    assert report.drain.retry_later == 1 and "rate limit" in report.drain.halted["x"]
    assert until is not None and 590 <= (until - clock()).total_seconds() <= 602
    creates = len([r for r in fake_x.requests if r.method == "POST"])
    clock.advance(seconds=300)
    with App(config, clock=clock) as app:  # a restarted process remembers the reset
        assert "rate limited until" in app.drain().halted["x"]
        assert len([r for r in fake_x.requests if r.method == "POST"]) == creates
        clock.advance(seconds=305)
        assert app.drain().sent == 1


def test_reset_is_the_later_of_the_window_and_the_24_hour_cap() -> None:
    headers = {
        "x-rate-limit-remaining": "0",
        "x-rate-limit-reset": "1000",
        "x-user-limit-24hour-remaining": "0",
        "x-user-limit-24hour-reset": "5000",
    }
    assert seconds_until_reset(headers, now=900) == 4100
    assert seconds_until_reset({**headers, "x-user-limit-24hour-remaining": "3"}, now=900) == 100


def test_duplicate_content_is_skipped_with_the_reason(
    x_config: Callable[..., Config], fake_x: FakeX, clock: FakeClock
) -> None:
    twin = dict(news_item(2), title=news_item(1)["title"], description=news_item(1)["description"])
    twin["link"] = news_item(1)["link"]
    config = x_config([news_item(1)])
    with App(config, clock=clock) as app:
        app.run_cycle(poll_all=True)
        # The same text again under another identity (a re-published story): X refuses it as a duplicate.
        article = app.store.recent_articles(1)[0]
        from dataclasses import replace

        from bot.store import OutboxItem

        copy = replace(article, key="copy1", aliases=("guid:copy1",))
        app.store.add_article(copy)
        app.store.enqueue([OutboxItem("copy1", "x", "timeline", "all", "", clock())], clock())
        app.drain()
        [row] = app.store.rows_for_article("copy1")
    assert row.state == SKIPPED and "duplicate" in row.last_error
    assert len(fake_x.tweets) == 1


def test_refused_credentials_stop_x_and_keep_the_queue(
    x_config: Callable[..., Config], fake_x: FakeX, clock: FakeClock
) -> None:
    config = x_config([news_item(1), news_item(2)])
    fake_x.reject_credentials()
    with App(config, clock=clock) as app:
        report = app.run_cycle(poll_all=True)
        assert states(app) == [PENDING, PENDING]
        assert "credentials" in (app.store.get_meta("x.unauthorized") or "")
    assert "credentials refused" in report.drain.halted["x"]
    assert len([r for r in fake_x.requests if r.method == "POST"]) == 1


def test_server_error_is_retried_later_and_posted_once(
    x_config: Callable[..., Config], fake_x: FakeX, clock: FakeClock
) -> None:
    config = x_config([news_item(1)])
    fake_x.fail(503)
    with App(config, clock=clock) as app:
        assert app.run_cycle(poll_all=True).drain.retry_later == 1
        clock.advance(minutes=1)
        assert app.drain().sent == 1
    assert len(fake_x.tweets) == 1


def test_lost_answer_is_found_on_the_timeline_instead_of_posting_twice(
    x_config: Callable[..., Config], fake_x: FakeX, clock: FakeClock
) -> None:
    config = x_config([news_item(1)])
    fake_x.create_then_drop()
    with App(config, clock=clock) as app:
        assert app.run_cycle(poll_all=True).drain.sent == 1
        [row] = app.store.rows_for_article(app.store.recent_articles(1)[0].key)
    [tweet] = fake_x.tweets
    assert (row.state, row.remote_id) == (SENT, tweet.id)


def test_lost_answer_without_a_readable_timeline_waits_for_an_admin(
    x_config: Callable[..., Config], fake_x: FakeX, clock: FakeClock
) -> None:
    config = x_config([news_item(1)])
    fake_x.create_then_delay(3.0)
    fake_x.timeline_unavailable()
    with App(config, clock=clock) as app:
        app.run_cycle(poll_all=True)
        key = app.store.recent_articles(1)[0].key
        [row] = app.store.rows_for_article(key)
        assert row.state == UNKNOWN and "/post to send again" in row.last_error
        clock.advance(hours=2)
        assert app.drain().sent == 0  # never retried by itself
        assert app.store.release_now(key, clock()) == 1  # an admin's /post queues it again
    assert len(fake_x.tweets) == 1


def test_a_thread_chains_replies_and_carries_the_link_once(
    x_config: Callable[..., Config], fake_x: FakeX, clock: FakeClock
) -> None:
    sentences = " ".join(f"Sentence number {n} of the council report explains one more detail." for n in range(12))
    config = x_config([dict(news_item(1), description=sentences)], thread=True, thread_link="last")
    with App(config, clock=clock) as app:
        app.run_cycle(poll_all=True)
        [row] = app.store.rows_for_article(app.store.recent_articles(1)[0].key)
    tweets = fake_x.tweets
    assert len(tweets) >= 3
    assert tweets[0].in_reply_to is None
    assert [t.in_reply_to for t in tweets[1:]] == [t.id for t in tweets[:-1]]
    assert [("news.example.com" in t.text) for t in tweets] == [False] * (len(tweets) - 1) + [True]
    assert row.remote_id == ",".join(t.id for t in tweets)


def test_an_interrupted_thread_resumes_after_the_parts_already_posted(fake_x: FakeX) -> None:
    from bot.config import XConfig

    publisher = XPublisher(XConfig(api_base_url=fake_x.base_url), XCredentials(*OAUTH1.values()))
    parts = ("Part one of the story.", "Part two of the story.", "Part three of the story.")
    first = publisher.publish(Post("k", "x", parts[0], 0, 280, parts=parts[:1]))
    fake_x.fail(503)
    with pytest.raises(PublishError) as stopped:
        publisher.publish(Post("k", "x", parts[0], 0, 280, parts=parts, posted=(first.remote_id,)))
    assert stopped.value.progress == (first.remote_id,)
    done: Receipt = publisher.publish(Post("k", "x", parts[0], 0, 280, parts=parts, posted=stopped.value.progress))
    publisher.close()
    assert [t.text for t in fake_x.tweets] == list(parts)
    assert done.remote_id.split(",")[0] == first.remote_id


def test_daily_limit_caps_posts_per_rolling_day_and_order_takes_the_newest(
    x_config: Callable[..., Config], fake_x: FakeX, clock: FakeClock
) -> None:
    config = x_config([news_item(1, day=18), news_item(2, day=19), news_item(3, day=20)], daily_limit=2)
    with App(config, clock=clock) as app:
        report = app.run_cycle(poll_all=True)
        assert report.drain.sent == 2
        clock.advance(hours=23)
        assert "daily limit of 2" in app.drain().halted["x"]
        clock.advance(hours=1, seconds=1)
        assert app.drain().sent == 1
    assert "story-3" in fake_x.tweets[0].text  # newest first (x.order = "newest")


def test_spread_spaces_the_daily_budget_over_the_day(
    x_config: Callable[..., Config], fake_x: FakeX, clock: FakeClock
) -> None:
    config = x_config([news_item(n) for n in range(3)], daily_limit=4, spread=True)
    with App(config, clock=clock) as app:
        assert app.run_cycle(poll_all=True).drain.sent == 1
        clock.advance(hours=5)
        assert "spreading 4 posts" in app.drain().halted["x"]
        clock.advance(hours=1)
        assert app.drain().sent == 1
    assert len(fake_x.tweets) == 2


def test_missing_credentials_name_the_variables(
    x_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.errors import ConfigError

    config = x_config([])
    monkeypatch.delenv("NEWSBOT_X_ACCESS_TOKEN_SECRET")
    with pytest.raises(ConfigError, match="NEWSBOT_X_ACCESS_TOKEN_SECRET") as err:
        App(config)
    assert "ats-test" not in str(err.value) and "ck-test" not in str(err.value)


def test_mentions_and_bare_links_in_feed_text_do_not_go_out_as_mentions_and_links(
    x_config: Callable[..., Config], fake_x: FakeX, clock: FakeClock
) -> None:
    item = dict(
        news_item(1),
        title="@elonmusk @POTUS cc @jack: see evil.example.com",
        description="Thanks @elonmusk @POTUS cc @jack. Log in at https://evil.example.com/login?next=1 or Amazon.com.",
        category="Climate",
    )
    config = x_config([item])
    with App(config, clock=clock) as app:
        assert app.run_cycle(poll_all=True).drain.sent == 1
    [tweet] = fake_x.tweets
    link = "https://news.example.com/2026/11/story-1"  # the feed's own utm_source is dropped
    # What X makes of the text it received, by twitter-text's rules: the article link, and nothing else.
    assert [(e.kind, e.text) for e in links_and_mentions(tweet.text)] == [("url", link)]
    assert tweet.text.startswith("Thanks elonmusk POTUS cc jack. Log in at evil[.]example[.]com or Amazon[.]com.\n\n")
    assert tweet.text.endswith(f"{link} #Climate")
    assert weighted_length(tweet.text) <= 280
