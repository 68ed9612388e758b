"""Several workers on one state: leases on claimed work, one sender per channel (bot.store.leases).

The store's claims run on both backends: on PostgreSQL another worker's live lease is respected until it runs out;
on SQLite one process holds the file (bot.lock), so a lease found there was left by a process that is gone and is
taken over at once. The sender locks and the write lock are PostgreSQL's, against a real server.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from bot.app import App
from bot.channels import REGISTRY
from bot.config import DATABASE_URL_ENV, Config, StateConfig
from bot.models import Article, Post, Receipt
from bot.store import PENDING, UPDATES_LOCK, Lease, OutboxItem, SourceState, Store, open_store
from bot.store.db import MIGRATION_LOCK, WRITE_LOCK
from bot.store.leases import PostgresSenderLocks, sender_lock_key
from bot.store.postgres import postgres_connection
from tests.conftest import REPO, FakeClock, news_item

A = Lease("host-a:1:aaaa", 60)
B = Lease("host-b:2:bbbb", 60)


@pytest.fixture
def store(state: StateConfig) -> Iterator[Store]:
    opened = open_store(state)
    yield opened
    opened.close()


def queue(store: Store, now: datetime, recipients: int) -> str:
    """One article with a pending Telegram row for chats 1..`recipients`."""
    store.add_article(Article("a1", "wire", "Title", "https://news.example.com/1", "", (), None, now))
    store.enqueue((OutboxItem("a1", "telegram", str(chat), "all", "", now) for chat in range(1, recipients + 1)), now)
    return "a1"


def test_claimed_rows_wait_for_another_worker_until_the_lease_runs_out(
    store: Store, backend: str, clock: FakeClock
) -> None:
    key = queue(store, clock(), 10)
    first = store.claim_rows("telegram", key, clock(), A, limit=4)
    assert [row.recipient for row in first] == ["1", "2", "3", "4"]
    others = store.claim_rows("telegram", key, clock(), B)
    if backend == "postgres":  # A's four stay A's while its lease lives: B gets the other six
        assert [row.recipient for row in others] == ["5", "6", "7", "8", "9", "10"]
    else:  # one process per SQLite file: a lease there is a dead process's
        assert len(others) == 10
    store.mark_sent(first[0].id, "m1", clock())
    clock.advance(seconds=61)  # A died: its lease ran out
    again = store.claim_rows("telegram", key, clock(), B)
    assert [row.recipient for row in again] == [str(n) for n in range(2, 11)], "taken over; the sent one is done"


def test_a_worker_keeps_its_own_claims_and_recording_an_outcome_ends_the_lease(
    store: Store, backend: str, clock: FakeClock
) -> None:
    key = queue(store, clock(), 2)
    [one, two] = store.claim_rows("telegram", key, clock(), A)
    assert [row.id for row in store.claim_rows("telegram", key, clock(), A)] == [one.id, two.id]
    store.defer(one.id, clock(), "retry", clock(), count_attempt=True)
    taken = [row.id for row in store.claim_rows("telegram", key, clock(), B)]
    assert taken == ([one.id] if backend == "postgres" else [one.id, two.id])


def test_one_worker_at_a_time_polls_a_source(store: Store, backend: str, clock: FakeClock) -> None:
    assert store.claim_sources(["wire", "blog"], clock(), A) == ["wire", "blog"]
    assert store.claim_sources(["wire", "blog"], clock(), B) == ([] if backend == "postgres" else ["wire", "blog"])
    store.save_source_state(SourceState("wire", next_poll=clock()))  # A polled it: due again now, lease over
    assert store.claim_sources(["wire", "blog"], clock(), B) == (
        ["wire"] if backend == "postgres" else ["wire", "blog"]
    )
    clock.advance(seconds=61)
    assert store.claim_sources(["blog"], clock(), B) == ["blog"]


def test_a_digest_batch_is_shared_out_in_chunks(store: Store, backend: str, clock: FakeClock) -> None:
    with store.transaction():
        for n in range(5):
            store.request_email_subscription(f"r{n}@example.org", (), clock())
            store.confirm_email(f"r{n}@example.org", clock())
    store.create_digest("d1", clock(), clock())
    first = store.claim_deliveries(clock(), A, limit=2)
    second = store.claim_deliveries(clock(), B, limit=10)
    assert [d.address for d in first] == ["r0@example.org", "r1@example.org"]
    if backend == "postgres":
        assert [d.address for d in second] == ["r2@example.org", "r3@example.org", "r4@example.org"]
    clock.advance(seconds=61)
    assert len(store.claim_deliveries(clock(), B, limit=10)) == 5  # A's chunk, and B's own again


# -- one sender per channel (PostgreSQL) -------------------------------------------------------------------------


def test_one_worker_sends_on_a_channel_and_another_takes_over_when_it_stops(postgres_url: str) -> None:
    first, second = PostgresSenderLocks(postgres_url), PostgresSenderLocks(postgres_url)
    try:
        assert first.holds("telegram")
        assert not second.holds("telegram")
        assert second.holds("x"), "each channel has its own sender"
        assert first.holds("telegram") and not first.holds("x")
        first.close()
        assert second.holds("telegram")
    finally:
        first.close()
        second.close()


def test_a_killed_worker_loses_its_channel_to_the_next_one(postgres_url: str, tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from bot.store.leases import PostgresSenderLocks as L; l = L(sys.argv[1]);"
         " print(l.holds('telegram'), flush=True); sys.stdin.read()", postgres_url],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    locks = PostgresSenderLocks(postgres_url)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        assert not locks.holds("telegram")
        holder.kill()
        holder.wait()
        with postgres_connection(postgres_url) as admin:  # the server notices the closed socket at once; wait for it
            admin.execute("SELECT pg_sleep(0.01)")
            for _ in range(500):
                if locks.holds("telegram"):
                    break
                admin.execute("SELECT pg_sleep(0.01)")
        assert locks.holds("telegram")
    finally:
        locks.close()
        if holder.poll() is None:
            holder.kill()


def test_the_sender_lock_never_waits_for_the_write_lock(postgres_url: str) -> None:
    """A worker in a write transaction holds WRITE_LOCK; another taking or checking its channel does not wait."""
    writer = open_store(StateConfig(url=postgres_url))
    locks = PostgresSenderLocks(postgres_url)
    try:
        with writer.transaction():
            writer.set_meta("busy", "1")  # WRITE_LOCK is held until the block ends
            assert locks.holds("telegram")
            assert locks.holds("telegram")
    finally:
        writer.close()
        locks.close()


class WriteLockChecker:
    """A publisher that, at each send, checks from another connection that no write transaction is open."""

    def __init__(self, url: str) -> None:
        self._connection = postgres_connection(url)
        self.free_at_send: list[bool] = []

    def publish(self, post: Post) -> Receipt:
        with self._connection.transaction():
            row = self._connection.execute("SELECT pg_try_advisory_xact_lock(%s)", (WRITE_LOCK,)).fetchone()
        self.free_at_send.append(bool(row and row[0]))
        return Receipt(remote_id=f"m{len(self.free_at_send)}")

    def close(self) -> None:
        self._connection.close()


def test_no_send_happens_inside_a_write_transaction_and_leases_show_in_metrics(
    make_config: Callable[..., Config],
    feed_file: Callable[..., Path],
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    clock: FakeClock,
) -> None:
    monkeypatch.setenv(DATABASE_URL_ENV, postgres_url)
    config = make_config(
        sources=[{"name": "feed", "url": str(feed_file([news_item(i) for i in range(3)])), "backfill": 3}],
        routes=[{"name": "all", "hashtags": ["*"], "channels": ["telegram"]}],
        web={"metrics": True},
    )
    publisher = WriteLockChecker(postgres_url)
    with App(config, clock=clock, publishers={"telegram": publisher}) as app:
        report = app.run_cycle(poll_all=True)
        body = app.metrics.exposition()[0].decode()
        assert app.store.queue_counts().get(("telegram", PENDING), 0) == 0
    assert report.drain.sent == 3
    assert publisher.free_at_send == [True, True, True]
    assert 'newsbot_leases_held{kind="sender"} 1.0' in body
    assert 'newsbot_leases_held{kind="outbox"} 0.0' in body, "every claim ended with its outcome"


def test_sender_lock_keys_differ_by_channel_and_from_the_store_locks() -> None:
    keys = {sender_lock_key(channel) for channel in REGISTRY}
    assert len(keys) == len(REGISTRY) and WRITE_LOCK not in keys and MIGRATION_LOCK not in keys
    assert all(-(2**63) <= key < 2**63 for key in keys)
    assert sender_lock_key(UPDATES_LOCK) not in keys | {WRITE_LOCK}, "the getUpdates poller's lock is its own"


def test_each_admin_notice_is_claimed_by_one_worker(store: Store, backend: str, clock: FakeClock) -> None:
    first = store.add_notice(1, "source down", clock())
    second = store.add_notice(2, "source down", clock())
    assert [n.id for n in store.claim_notices(1, clock(), A)] == [first]
    taken = [n.id for n in store.claim_notices(10, clock(), B)]
    assert taken == ([second] if backend == "postgres" else [first, second])
    store.notice_sent(second, 77, clock())
    clock.advance(seconds=61)
    assert [n.id for n in store.claim_notices(10, clock(), B)] == [first], "A died: B sends it; the sent one is done"


def test_a_worker_that_stops_gives_its_claims_back_at_once(store: Store, clock: FakeClock) -> None:
    key = queue(store, clock(), 3)
    store.claim_rows("telegram", key, clock(), A)
    store.claim_sources(["wire"], clock(), A)
    assert store.release_leases(A.worker) == 4
    assert len(store.claim_rows("telegram", key, clock(), B)) == 3
    assert store.claim_sources(["wire"], clock(), B) == ["wire"]


class Recorder:
    """A publisher that keeps what it was given."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def publish(self, post: Post) -> Receipt:
        self.sent.append(post.article_key)
        return Receipt(remote_id=f"p{len(self.sent)}")

    def close(self) -> None:
        pass


def test_mastodon_and_bluesky_are_sent_on_by_one_worker_at_a_time_like_telegram_and_x(
    make_config: Callable[..., Config],
    feed_file: Callable[..., Path],
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    clock: FakeClock,
) -> None:
    monkeypatch.setenv(DATABASE_URL_ENV, postgres_url)
    config = make_config(
        sources=[{"name": "feed", "url": str(feed_file([news_item(i) for i in range(2)])), "backfill": 2}],
        routes=[{"name": "all", "hashtags": ["*"], "channels": ["mastodon", "bluesky"]}],
        mastodon={"api_base_url": "https://mastodon.example"},
        bluesky={"handle": "news.example.com"},
    )
    other_worker = PostgresSenderLocks(postgres_url)
    mastodon, bluesky = Recorder(), Recorder()
    try:
        assert other_worker.holds("mastodon") and other_worker.holds("bluesky")
        with App(config, clock=clock, publishers={"mastodon": mastodon, "bluesky": bluesky}) as app:
            assert app.run_cycle(poll_all=True).drain.sent == 0, "the other worker sends on both"
            assert (mastodon.sent, bluesky.sent) == ([], [])
            assert (
                app.store.queue_counts()[("mastodon", PENDING)] == 2 == app.store.queue_counts()[("bluesky", PENDING)]
            )
            other_worker.close()  # it died: its connection, and its locks, are gone
            clock.advance(minutes=1)
            assert app.run_cycle().drain.sent == 4
        assert len(mastodon.sent) == len(bluesky.sent) == 2
    finally:
        other_worker.close()
