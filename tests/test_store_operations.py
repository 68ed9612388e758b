"""What admins' commands, the X budget, threads, posting slots and the digest schedule read and write in the store,
on both backends (the `state` fixture: SQLite and a real PostgreSQL). Their callers' tests run on SQLite; here each
store method runs its SQL on PostgreSQL too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import StateConfig
from bot.models import Article
from bot.store import (
    APPROVED,
    PENDING,
    SENT,
    SKIPPED,
    UNKNOWN,
    OutboxItem,
    Store,
    open_store,
)
from tests.store_sql import approval_events, due_deliveries

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(state: StateConfig) -> Iterator[Store]:
    opened = open_store(state)
    yield opened
    opened.close()


def article(key: str, seen: datetime = NOW) -> Article:
    return Article(key, "wire", f"Title {key}", f"https://news.example.com/{key}", "Body.", (), None, seen)


def queue(
    store: Store, key: str, channel: str, recipients: list[str], route: str = "all", when: datetime = NOW
) -> None:
    store.enqueue([OutboxItem(key, channel, recipient, route, "", when) for recipient in recipients], NOW)


def row_ids(store: Store, key: str) -> dict[str, int]:
    return {row.recipient: row.id for row in store.rows_for_article(key)}


def test_the_x_budget_counts_what_was_sent_since_and_when_the_last_one_went(store: Store) -> None:
    store.add_article(article("a1"))
    queue(store, "a1", "x", ["account", "other"])
    queue(store, "a1", "telegram", ["@news"])
    assert store.sent_since("x", NOW - timedelta(days=1)) == (0, None)
    ids = row_ids(store, "a1")
    store.mark_sent(ids["account"], "t1", NOW + timedelta(minutes=5))
    store.mark_sent(ids["other"], "t2", NOW + timedelta(minutes=9))
    store.mark_sent(ids["@news"], "m1", NOW + timedelta(minutes=10))
    assert store.sent_since("x", NOW) == (2, NOW + timedelta(minutes=9))
    assert store.sent_since("x", NOW + timedelta(minutes=6)) == (1, NOW + timedelta(minutes=9))


def test_a_threads_progress_and_an_unknown_outcome_are_kept_for_the_retry(store: Store) -> None:
    store.add_article(article("a1"))
    queue(store, "a1", "x", ["account"])
    [row] = store.rows_for_article("a1")
    store.save_progress(row.id, ["111", "222"], NOW)
    store.mark_unknown(row.id, "the answer was lost", NOW + timedelta(seconds=1))
    [kept] = store.rows_for_article("a1")
    assert (kept.state, kept.progress, kept.last_error) == (UNKNOWN, ("111", "222"), "the answer was lost")
    assert [r.id for r in store.rows_in_state(UNKNOWN)] == [row.id]


def test_admins_skip_or_release_an_articles_waiting_rows_and_see_the_queue(store: Store) -> None:
    for key in ("a1", "a2", "a3"):
        store.add_article(article(key))
    queue(store, "a1", "telegram", ["1", "2"], when=NOW + timedelta(hours=2))
    queue(store, "a2", "telegram", ["1"], when=NOW + timedelta(hours=1))
    queue(store, "a3", "x", ["account"], when=NOW + timedelta(hours=3))
    assert store.pending_articles() == [
        ("a2", "telegram", 1, NOW + timedelta(hours=1)),
        ("a1", "telegram", 2, NOW + timedelta(hours=2)),
        ("a3", "x", 1, NOW + timedelta(hours=3)),
    ]
    assert store.release_now("a1", NOW) == 2
    assert store.drain_requests() == 1, "a /post asks the outbox to drain at once"
    assert {r.state for r in store.rows_for_article("a1")} == {PENDING}
    assert all(r.not_before == NOW for r in store.rows_for_article("a1"))
    assert store.skip_pending("a2", "skipped by admin 7", NOW) == 1
    [skipped] = store.rows_for_article("a2")
    assert (skipped.state, skipped.last_error) == (SKIPPED, "skipped by admin 7")
    assert store.skip_pending("a2", "again", NOW) == 0
    assert [key for key, *_ in store.pending_articles()] == ["a1", "a3"]


def test_rows_of_a_slotted_route_that_are_due_are_found_in_queue_order(store: Store) -> None:
    store.add_article(article("a1"))
    store.add_article(article("a2"))
    queue(store, "a1", "telegram", ["@news"], route="morning")
    queue(store, "a2", "telegram", ["@news"], route="morning", when=NOW + timedelta(hours=1))
    queue(store, "a2", "x", ["account"], route="morning")
    queue(store, "a1", "x", ["account"], route="all")
    assert [r.article_key for r in store.due_slotted_rows("morning", "telegram", NOW)] == ["a1"]
    assert [r.article_key for r in store.due_slotted_rows("morning", "telegram", NOW + timedelta(hours=1))] == [
        "a1",
        "a2",
    ]
    assert [r.article_key for r in store.due_slotted_rows("morning", "x", NOW)] == ["a2"]


def test_an_article_is_found_by_the_start_of_its_key_in_any_case_newest_first(store: Store) -> None:
    store.add_article(article("AbC123"))
    store.add_article(article("abc999", seen=NOW + timedelta(minutes=1)))
    store.add_article(article("xyz"))
    assert [a.key for a in store.find_articles("ABC")] == ["abc999", "AbC123"]
    assert [a.key for a in store.find_articles("abc1")] == ["AbC123"]
    assert store.find_articles("a%") == store.find_articles("a"), "a wildcard typed by the admin is no wildcard"
    assert [a.key for a in store.find_articles("abc", limit=1)] == ["abc999"]


def test_subscribers_are_counted_and_listed_in_batches(store: Store) -> None:
    for chat in range(1, 6):
        store.subscribe("telegram", str(chat), NOW)
    store.deactivate_subscriber("telegram", "3", "blocked the bot", NOW)
    assert store.count_subscribers("telegram") == {True: 4, False: 1}
    assert store.count_subscribers("email") == {True: 0, False: 0}
    listed = list(store.iter_subscribers("telegram", batch=2))
    assert [(s.address, s.active) for s in listed] == [("1", True), ("2", True), ("3", False), ("4", True), ("5", True)]
    assert listed[2].status_reason == "blocked the bot"


def test_an_edited_summary_reaches_the_article_until_a_decision_and_decisions_are_listed_newest_first(
    store: Store,
) -> None:
    store.add_article(article("a1"))
    store.add_article(article("a2"))
    first, second = store.add_approval("a1", "desk", NOW, None), store.add_approval("a2", "desk", NOW, None)
    assert first is not None and second is not None
    assert store.edit_approval(first, "The council's plan, in short.", "7", NOW)
    edited = store.get_article("a1")
    assert edited is not None and edited.summary == "The council's plan, in short."
    assert store.decide(first, APPROVED, "7", NOW + timedelta(minutes=1), NOW)
    assert store.decide(second, APPROVED, "8", NOW + timedelta(minutes=2), NOW)
    assert not store.edit_approval(first, "Too late.", "7", NOW + timedelta(minutes=3)), "decided: no more edits"
    assert [(a.id, a.decided_by) for a in store.decided_approvals()] == [(second, "8"), (first, "7")]
    assert [action for action, *_ in approval_events(store, first)] == ["held", "edited", APPROVED]


def test_the_digest_schedule_and_metrics_read_the_latest_digest(store: Store) -> None:
    assert store.latest_period_end() is None and store.latest_digest_counts() == {}
    for reader in ("a@example.org", "b@example.org"):
        store.request_email_subscription(reader, [], NOW)
        store.confirm_email(reader, NOW)
    store.create_digest("week-47", NOW - timedelta(days=7), NOW - timedelta(days=7))
    store.create_digest("week-48", NOW, NOW)
    due = due_deliveries(store, NOW)
    assert [d.digest_id for d in due] == ["week-47", "week-47", "week-48", "week-48"]
    for delivery in due[:3]:
        store.finish_delivery(delivery, SENT, NOW, message_id=f"<{delivery.address}>")
    assert store.latest_period_end() == NOW
    assert store.latest_digest_counts() == {SENT: 1, PENDING: 1}, "the latest digest's deliveries only"
