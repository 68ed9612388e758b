"""What `newsbot run` publishes at once instead of at its next drain interval: the store asks for a drain when rows
that are due now are queued (a poll, /post, a broadcast) or publishing resumes, and a drain answers what was asked
before it started.

The run loop itself is shown as a process in tests/test_run_process.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from bot.app import App
from bot.config import Config
from bot.models import Article
from bot.store import OutboxItem
from tests.conftest import FakeClock, news_item


def a_feed_to_telegram(
    make_config: Callable[..., Config], feed_file: Callable[..., Path], **route: object
) -> Callable[[list[dict[str, str]]], Config]:
    def build(items: list[dict[str, str]]) -> Config:
        path = feed_file(items)
        return make_config(
            sources=[{"name": "feed", "url": str(path), "backfill": 0}],
            routes=[{"name": "all", "hashtags": ["*"], "channels": ["telegram"], **route}],
            telegram={"admins": [1000]},
        )

    return build


def test_a_poll_that_queues_a_new_article_asks_for_a_drain_and_the_drain_answers_it(
    make_config: Callable[..., Config], feed_file: Callable[..., Path], clock: FakeClock
) -> None:
    config = a_feed_to_telegram(make_config, feed_file)([news_item(1)])
    with App(config, clock=clock) as app:
        [first] = app.poll_due_sources(poll_all=True)  # the backlog is marked seen: nothing queued
        assert (first.new, first.queued, app.drain_requested()) == (1, 0, False)
        feed_file([news_item(2), news_item(1)])
        [second] = app.poll_due_sources(poll_all=True)
        assert (second.queued, app.drain_requested()) == (1, True)
        assert app.drain().sent == 1
        assert not app.drain_requested()


def test_a_poll_that_queued_nothing_asks_for_no_drain(
    make_config: Callable[..., Config], feed_file: Callable[..., Path], clock: FakeClock
) -> None:
    config = a_feed_to_telegram(make_config, feed_file)([news_item(1)])
    with App(config, clock=clock) as app:
        app.run_cycle(poll_all=True)
        feed_file([news_item(1)])  # the same story again: seen, nothing queued
        clock.advance(minutes=20)
        [poll] = app.poll_due_sources(poll_all=True)
        assert (poll.new, poll.queued, app.drain_requested()) == (0, 0, False)


def test_an_article_waiting_for_its_posting_slot_asks_for_no_drain(
    make_config: Callable[..., Config], feed_file: Callable[..., Path], clock: FakeClock
) -> None:
    # The clock says 12:00 UTC: the 09:00 slot is tomorrow's.
    config = a_feed_to_telegram(make_config, feed_file, at=["09:00"], timezone="UTC")([news_item(1)])
    with App(config, clock=clock) as app:
        app.poll_due_sources(poll_all=True)
        feed_file([news_item(2), news_item(1)])
        [poll] = app.poll_due_sources(poll_all=True)
        assert (poll.queued, app.drain_requested()) == (1, False)


def test_post_broadcast_rows_and_resume_ask_for_a_drain_and_pausing_does_not(
    make_config: Callable[..., Config], clock: FakeClock
) -> None:
    tomorrow = clock.now + timedelta(days=1)
    with App(make_config(), clock=clock) as app:
        app.drain()
        app.store.add_article(
            Article(key="k", source="s", title="T", link="", text="", hashtags=(), published=None, first_seen=clock.now)
        )
        app.store.enqueue([OutboxItem("k", "telegram", "channel", "all", "", tomorrow)], clock.now)
        app.store.set_paused(True)
        assert not app.drain_requested()
        assert app.store.release_now("k", clock.now) == 1  # an admin's /post
        assert app.drain_requested()
        app.drain()  # paused: sends nothing, but it has seen the request
        assert not app.drain_requested()
        app.store.enqueue([OutboxItem("k", "telegram", "21", "all", "", clock.now)], clock.now)  # a broadcast
        assert app.drain_requested()
        app.drain()
        app.store.set_paused(False)  # /resume
        assert app.drain_requested()


def test_a_held_article_asks_for_a_drain_that_queues_its_previews_and_an_approval_asks_for_another(
    make_config: Callable[..., Config], feed_file: Callable[..., Path], clock: FakeClock
) -> None:
    from bot.store.approvals import APPROVED

    config = a_feed_to_telegram(make_config, feed_file, approval=True)([news_item(1)])
    with App(config, clock=clock) as app:
        app.poll_due_sources(poll_all=True)
        feed_file([news_item(2), news_item(1)])
        [poll] = app.poll_due_sources(poll_all=True)
        assert (poll.queued, app.drain_requested()) == (1, True)
        assert app.drain().sent == 0  # held: nothing goes out, but the admin's preview is queued now
        assert [n.chat_id for n in app.store.unsent_notices()] == [1000]
        assert not app.drain_requested()

        [approval] = app.store.waiting_approvals()
        assert app.store.decide(approval.id, APPROVED, "1000", clock(), clock())
        assert app.drain_requested()
        assert app.drain().sent == 1
