"""The control room's read-only queries (bot/store/reports.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.config import StateConfig
from bot.models import Article
from bot.store import FAILED, SENT, SKIPPED, OutboxItem, Store, open_store
from bot.store.digests import Delivery
from bot.store.reports import (
    DaySends,
    DeliveryCursor,
    DeliveryFilter,
    HashtagCounts,
    SubscriberFilter,
)
from bot.store.subscribers import MUTE, WATCH

DAY1 = datetime(2024, 3, 4, 23, 30, tzinfo=UTC)
DAY2 = DAY1 + timedelta(hours=1)  # just after midnight UTC: the next day


def article(key: str, title: str = "") -> Article:
    return Article(
        key=key, source="feed", title=title or f"Story {key}", link=f"https://example.org/{key}", text="",
        hashtags=(), published=None, first_seen=DAY1 - timedelta(days=1),
    )  # fmt: skip


def queue(store: Store, key: str, channel: str, recipient: str) -> int:
    store.enqueue([OutboxItem(key, channel, recipient, "all", "", DAY1)], DAY1 - timedelta(days=1))
    return next(r.id for r in store.rows_for_article(key) if r.channel == channel and r.recipient == recipient)


def finish(store: Store, row_id: int, state: str, when: datetime) -> None:
    if state == SENT:
        store.mark_sent(row_id, "remote", when)
    elif state == FAILED:
        store.mark_failed(row_id, "403: bot was blocked", when)
    else:
        store.mark_skipped(row_id, "nothing", when)


def mailed(store: Store, addresses: list[str], when: datetime, states: list[str]) -> str:
    """A digest started at `when` whose delivery to each address ended in the state given for it."""
    digest_id = "digest-" + when.strftime("%Y%m%dT%H%M%S")
    for address in addresses:
        store.request_email_subscription(address, [], when)
        store.confirm_email(address, when)
    store.create_digest(digest_id, when, when)
    for address, state in zip(addresses, states, strict=True):
        store.finish_delivery(Delivery(digest_id, address.lower(), "pending", when, 0, 0, "", "", when), state, when)
    return digest_id


@pytest.fixture
def store(state: StateConfig) -> Store:
    opened = open_store(state)
    opened.add_articles([article("aa11"), article("aa22"), article("bb33", "<b>Title</b> & more")])
    return opened


def test_sends_per_day_count_posts_from_the_outbox_and_mails_from_the_digest_by_utc_day(store: Store) -> None:
    finish(store, queue(store, "aa11", "telegram", "channel"), SENT, DAY1)
    finish(store, queue(store, "aa11", "telegram", "101"), FAILED, DAY1)
    finish(store, queue(store, "aa22", "telegram", "channel"), SENT, DAY2)
    finish(store, queue(store, "aa22", "x", "timeline"), SENT, DAY2)
    finish(store, queue(store, "bb33", "x", "timeline"), SKIPPED, DAY2)  # neither a send nor a failure
    finish(store, queue(store, "aa11", "email", "digest"), SENT, DAY2)  # taken by a digest: not a mail
    mailed(store, ["a@example.org", "b@example.org", "c@example.org"], DAY2, [SENT, SENT, FAILED])
    finish(store, queue(store, "bb33", "telegram", "channel"), SENT, DAY1 - timedelta(days=3))  # before `since`

    assert store.sends_per_day(DAY1 - timedelta(days=1)) == [
        DaySends(date(2024, 3, 4), "telegram", 1, 1),
        DaySends(date(2024, 3, 5), "email", 2, 1),
        DaySends(date(2024, 3, 5), "telegram", 1, 0),
        DaySends(date(2024, 3, 5), "x", 1, 0),
    ]


def test_deliveries_are_listed_newest_first_with_title_and_error_and_digest_mails_as_email_rows(store: Store) -> None:
    finish(store, queue(store, "aa11", "telegram", "101"), FAILED, DAY1)
    finish(store, queue(store, "bb33", "email", "digest"), SENT, DAY1 + timedelta(minutes=1))
    digest_id = mailed(store, ["Reader@Example.org"], DAY2, [SENT])
    page = store.deliveries(DeliveryFilter())

    assert [(r.channel, r.recipient, r.state, r.title, r.article_key) for r in page.rows] == [
        ("email", "reader@example.org", SENT, f"Digest {digest_id}", ""),
        ("email", "digest", SENT, "<b>Title</b> & more", "bb33"),
        ("telegram", "101", FAILED, "Story aa11", "aa11"),
    ]
    assert page.rows[0].digest_id == digest_id
    assert page.rows[1].digest_id == "remote"  # the article's email row names the digest that took it
    assert page.rows[2].error == "403: bot was blocked"
    assert page.rows[2].at == DAY1
    assert page.next is None


def test_deliveries_filter_by_article_prefix_channel_recipient_and_outcome(store: Store) -> None:
    finish(store, queue(store, "aa11", "telegram", "101"), FAILED, DAY1)
    finish(store, queue(store, "aa22", "telegram", "102"), SENT, DAY1)
    queue(store, "bb33", "telegram", "101")
    mailed(store, ["reader@example.org"], DAY2, [FAILED])

    def keys(where: DeliveryFilter) -> list[tuple[str, str]]:
        return [(r.article_key, r.recipient) for r in store.deliveries(where).rows]

    assert keys(DeliveryFilter(article="AA")) == [("aa22", "102"), ("aa11", "101")]
    assert keys(DeliveryFilter(article="aa11")) == [("aa11", "101")]
    assert keys(DeliveryFilter(article="_a11")) == []  # no wildcard from the user's text
    assert keys(DeliveryFilter(recipient="101")) == [("aa11", "101"), ("bb33", "101")]
    assert keys(DeliveryFilter(outcome="pending")) == [("bb33", "101")]
    assert keys(DeliveryFilter(outcome=FAILED)) == [("", "reader@example.org"), ("aa11", "101")]
    assert keys(DeliveryFilter(recipient="READER@example.org")) == [("", "reader@example.org")]
    assert keys(DeliveryFilter(channel="email")) == [("", "reader@example.org")]
    assert keys(DeliveryFilter(channel="x")) == []
    with pytest.raises(ValueError, match="unknown outcome “lost”: expected one of pending, sent"):
        DeliveryFilter(outcome="lost")


def test_deliveries_page_on_without_gaps_or_repeats_when_many_rows_share_a_moment(store: Store) -> None:
    for n in range(7):
        finish(store, queue(store, "aa11", "telegram", str(100 + n)), SENT, DAY1)
    mailed(store, [f"r{n}@example.org" for n in range(5)], DAY1, [SENT] * 5)
    seen: list[tuple[str, str]] = []
    after: DeliveryCursor | None = None
    while True:
        page = store.deliveries(DeliveryFilter(), DeliveryCursor.parse(after.token) if after else None, limit=3)
        seen += [(r.channel, r.recipient) for r in page.rows]
        if page.next is None:
            break
        after = page.next

    assert len(seen) == len(set(seen)) == 12
    assert seen[:7] == [("telegram", str(n)) for n in range(106, 99, -1)]  # posts first at the same moment
    assert seen[7:] == [("email", f"r{n}@example.org") for n in range(4, -1, -1)]
    assert [(r.channel, r.recipient) for r in store.iter_deliveries(DeliveryFilter(), batch=5)] == seen


def test_a_cursor_that_is_not_one_is_refused_in_words() -> None:
    with pytest.raises(ValueError, match="start again from the first page"):
        DeliveryCursor.parse("2024-01-01~1")


def test_subscribers_are_found_by_chat_id_or_address_in_any_case_with_their_hashtags(store: Store) -> None:
    store.subscribe("telegram", "-100123", DAY1)
    store.set_subscriber_tags("telegram", "-100123", ["Climate", "politics"], DAY1)
    store.subscribe("telegram", "-100999", DAY1)
    store.deactivate_subscriber("telegram", "-100999", "blocked the bot", DAY1)
    store.request_email_subscription("Ann@Example.org", ["Climate"], DAY1, name="Ann")
    store.confirm_email("ann@example.org", DAY1)

    def found(**where: object) -> list[str]:
        return [s.address for s in store.find_subscribers(SubscriberFilter(**where))]  # type: ignore[arg-type]

    assert found(query="-100") == ["-100999", "-100123"]
    assert found(query="-100", prefix=False) == []
    assert found(query="ANN@example.ORG", prefix=False) == ["ann@example.org"]
    assert found(query="AN") == ["ann@example.org"]
    assert found(active=False) == ["-100999"]
    assert found(channel="email") == ["ann@example.org"]
    [chat] = store.find_subscribers(SubscriberFilter(query="-100123"))
    assert (chat.hashtags, chat.active, chat.name) == (("Climate", "politics"), True, "")
    [gone] = store.find_subscribers(SubscriberFilter(query="-100999"))
    assert (gone.active, gone.status_reason) == (False, "blocked the bot")
    assert [s.address for s in store.iter_found_subscribers(SubscriberFilter(), batch=2)] == [
        "ann@example.org", "-100999", "-100123",
    ]  # fmt: skip


def test_hashtag_counts_are_active_subscribers_per_channel_most_followed_first(store: Store) -> None:
    for chat, tags in (("1", ["Climate", "Politics"]), ("2", ["climate"]), ("3", []), ("4", ["Sport"])):
        store.subscribe("telegram", chat, DAY1)
        store.set_subscriber_tags("telegram", chat, tags, DAY1)
    store.deactivate_subscriber("telegram", "4", "left", DAY1)
    store.request_email_subscription("ann@example.org", ["Sport"], DAY1)
    store.confirm_email("ann@example.org", DAY1)
    store.request_email_subscription("bob@example.org", ["Sport"], DAY1)  # not confirmed: not active

    assert store.hashtag_counts() == [
        HashtagCounts("email", 0, (("Sport", 1),)),
        HashtagCounts("telegram", 1, (("Climate", 2), ("Politics", 1))),
    ]


def test_found_subscribers_carry_their_watch_and_mute_words_and_deliveries_the_articles_link(store: Store) -> None:
    store.subscribe("telegram", "-100123", DAY1)
    store.add_subscriber_words("telegram", "-100123", WATCH, ["Heatwave", "flood"])
    store.add_subscriber_words("telegram", "-100123", MUTE, ["football"])
    store.subscribe("telegram", "42", DAY1)
    finish(store, queue(store, "aa11", "telegram", "-100123"), SENT, DAY1)

    found = {s.address: (s.watching, s.muting) for s in store.find_subscribers(SubscriberFilter())}
    assert found == {"-100123": (("flood", "Heatwave"), ("football",)), "42": ((), ())}
    [row] = store.deliveries(DeliveryFilter(article="aa11")).rows
    assert row.link == "https://example.org/aa11"
