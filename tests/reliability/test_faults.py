"""Publishing through random faults: 429 with retry_after, 5xx, time-outs, dropped connections, slow answers.

newsbot runs in-process (`App` on a FakeClock) against the fake Telegram, X and SMTP servers with seeded random
faults on every send. Each test drains until nothing is pending, advancing the fake clock past the backoffs,
then checks what a reader would see: every message arrived; a duplicate only where the fake hid the answer to
a delivered send (Telegram has no idempotency); every rate limit was waited out; the number of requests stays
within "one per message plus one per fault", so nothing loops. The figures are printed (see them with -s).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.config import Config
from bot.email.delivery import RETRY_BASE
from bot.store import PENDING, SENT, UNKNOWN
from tests.conftest import FakeClock, news_item, rss
from tests.fakes.smtp_server import FakeSmtp
from tests.fakes.telegram_api import SEND_METHODS, FakeTelegram
from tests.fakes.x_api import FakeX
from tests.store_sql import delivery_counts, latest_digest

CHANNEL = "-1001234567890"
SUBSCRIBERS = range(701, 711)
ARTICLES = 3
RATE = 0.25
SEED = 7  # every fault kind comes up within the first sends with this seed (asserted below)
REQUEST_TIMEOUT = 0.5  # newsbot's time-out in these tests; "timeout" faults answer after 1.0 s, "slow" after 0.2 s
MAX_ROUNDS = 60  # drains before a test gives up: far more than the backoffs need


def items(count: int, tag: str = "PoliticsNews") -> list[dict[str, str]]:
    return [news_item(n, tag=tag) for n in range(1, count + 1)]


def live_config(make_config: Callable[..., Config], tmp_path: Path, channel: str, count: int, **table: Any) -> Config:
    feed = tmp_path / "feed.xml"
    feed.write_text(rss(items(count)), encoding="utf-8")
    return make_config(
        output={"dir": str(tmp_path / "out"), "dry_run": False},
        sources=[{"name": "feed", "url": str(feed), "backfill": count}],
        routes=[{"name": "all", "hashtags": ["*"], "channels": [channel]}],
        **table,
    )


def pending(app: App, channel: str) -> int:
    return app.store.queue_counts().get((channel, PENDING), 0)


# --- Telegram ------------------------------------------------------------------------------------------------


def test_telegram_delivers_every_message_through_random_faults_and_never_retries_early(
    make_config: Callable[..., Config],
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSBOT_TELEGRAM_TOKEN", fake_telegram.token)
    config = live_config(
        make_config, tmp_path, "telegram", ARTICLES,
        telegram={"base_url": fake_telegram.base_url, "channel": CHANNEL, "request_timeout": REQUEST_TIMEOUT},
    )  # fmt: skip
    retry_after = 2  # above the 1 s per-chat spacing, so an early retry would show
    fake_telegram.random_faults(RATE, seed=SEED, retry_after=retry_after, timeout_delay=1.0, slow_delay=0.2)
    chats = [CHANNEL, *(str(chat) for chat in SUBSCRIBERS)]
    with App(config, clock=clock) as app:
        for chat in SUBSCRIBERS:
            app.store.subscribe("telegram", str(chat), clock())
        app.run_cycle(poll_all=True)
        rounds = 1
        while pending(app, "telegram") and rounds < MAX_ROUNDS:
            clock.advance(minutes=5)  # past every outbox backoff so far
            app.drain()
            rounds += 1
        assert app.store.queue_counts() == {("telegram", SENT): ARTICLES * len(chats)}

    faults = fake_telegram.fault_counts()
    log = fake_telegram.fault_log
    sends = [r for r in fake_telegram.requests if r.method in SEND_METHODS]
    duplicates = len(fake_telegram.messages()) - ARTICLES * len(chats)
    print(
        f"\ntelegram: {ARTICLES * len(chats)} messages, faults {faults}, sends {len(sends)},"
        f" requests {len(fake_telegram.requests)}, 429 answered {fake_telegram.count_429},"
        f" duplicates {duplicates} (after-delivery faults {fake_telegram.after_delivery_faults()}), drains {rounds}"
    )
    assert all(count > 0 for count in faults.values()), f"seed {SEED} no longer brings every fault kind: {faults}"

    # Every chat has every article, and a second copy only where a delivered send's answer was lost.
    for chat in chats:
        texts = [message.text for message in fake_telegram.messages(int(chat))]
        assert len(set(texts)) == ARTICLES, chat
        assert len(texts) == ARTICLES + fake_telegram.after_delivery_faults(chat), chat

    # Every 429 was waited out: the next send to that chat came at least retry_after later.
    injected_429 = {(f.target, f.at) for f in log if f.kind == "429"}
    for index, refused in enumerate(sends):
        if refused.status != 429:
            continue
        chat = str(refused.params["chat_id"])
        wait = retry_after if (chat, refused.at) in injected_429 else 1  # a flood-limit 429 says at least 1 s
        later = [r for r in sends[index + 1 :] if str(r.params["chat_id"]) == chat]
        assert later, f"no retry after the 429 to {chat}"
        assert later[0].at - refused.at >= wait, (chat, later[0].at - refused.at)

    # No busy loop: one send per message, plus at most one more per fault (or per 429 the flood limits gave).
    flood_429 = fake_telegram.count_429 - faults["429"]
    assert len(sends) <= ARTICLES * len(chats) + sum(faults.values()) + flood_429
    assert len(fake_telegram.requests) - len(sends) <= 2  # getMe, and nothing else


# --- X -------------------------------------------------------------------------------------------------------


def test_x_posts_each_article_once_through_random_faults_and_waits_for_the_stored_reset(
    make_config: Callable[..., Config],
    tmp_path: Path,
    fake_x: FakeX,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "NEWSBOT_X_CONSUMER_KEY": "ck-test",
        "NEWSBOT_X_CONSUMER_SECRET": "cs-test",
        "NEWSBOT_X_ACCESS_TOKEN": "at-test",
        "NEWSBOT_X_ACCESS_TOKEN_SECRET": "ats-test",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("NEWSBOT_X_BEARER_TOKEN", raising=False)
    posts = 6
    reset_in = 900
    config = live_config(
        make_config, tmp_path, "x", posts, x={"api_base_url": fake_x.base_url, "request_timeout": REQUEST_TIMEOUT}
    )
    fake_x.random_faults(0.4, seed=SEED, reset_in=reset_in, timeout_delay=1.0, slow_delay=0.2)

    def creates() -> list[Any]:
        return [r for r in fake_x.requests if r.method == "POST"]

    drains: list[tuple[datetime, int, int]] = []  # (fake time, creates before, creates after)
    with App(config, clock=clock) as app:
        app.poll_due_sources(poll_all=True)
        while pending(app, "x") and len(drains) < MAX_ROUNDS:
            before = len(creates())
            app.drain()
            drains.append((clock(), before, len(creates())))
            clock.advance(minutes=2)
        assert app.store.queue_counts() == {("x", SENT): posts}

    faults = fake_x.fault_counts()
    made = creates()
    lookups = [r for r in fake_x.requests if r.method == "GET"]
    print(
        f"\nx: {posts} posts, faults {faults}, creates {len(made)}, timeline/me lookups {len(lookups)},"
        f" duplicates {len(fake_x.tweets) - posts} (after-delivery faults {fake_x.after_delivery_faults()}),"
        f" drains {len(drains)}"
    )
    assert all(count > 0 for count in faults.values()), f"seed {SEED} no longer brings every fault kind: {faults}"
    # Exactly once: a lost answer is looked up on the timeline, never posted again.
    assert len(fake_x.tweets) == posts == len({tweet.text for tweet in fake_x.tweets})

    def drain_time(create_index: int) -> datetime:
        return next(at for at, before, after in drains if before <= create_index < after)

    for index, request in enumerate(made):
        if request.status == 429 and index + 1 < len(made):
            waited = drain_time(index + 1) - drain_time(index)
            assert waited >= timedelta(seconds=reset_in - 1), f"create {index + 1} came {waited} after the 429"

    assert len(made) <= posts + sum(faults.values())
    assert len(lookups) <= 1 + fake_x.after_delivery_faults()  # /users/me once, one timeline read per lost answer


# --- email ---------------------------------------------------------------------------------------------------


def test_digest_reaches_everyone_through_random_smtp_faults_with_at_most_one_resend(
    make_config: Callable[..., Config],
    tmp_path: Path,
    fake_smtp: FakeSmtp,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSBOT_SECRET_KEY", "a-test-secret-that-is-long-enough")
    config = live_config(
        make_config, tmp_path, "email", 2,
        email={
            "smtp_host": fake_smtp.host, "smtp_port": fake_smtp.port, "security": "none",
            "sender": "Example News <news@example.com>", "send_rate": 1000, "smtp_timeout": REQUEST_TIMEOUT,
            "connections": 1,  # one connection, so the count of reconnections below is exact
        },
        web={"public_url": "https://news.example.com/newsbot"},
    )  # fmt: skip
    readers = [f"reader{n}@example.org" for n in range(1, 13)]
    fake_smtp.random_faults(0.35, seed=SEED, timeout_delay=1.0, slow_delay=0.2)
    calls: list[tuple[datetime, int, int]] = []  # (fake time, DATA ends before, after)
    with App(config, clock=clock) as app:
        app.poll_due_sources(poll_all=True)
        for address in readers:
            app.store.request_email_subscription(address, (), clock())
            app.store.confirm_email(address, clock())
        calls.append((clock(), 0, 0))
        app.digest(force=True)
        calls[-1] = (calls[-1][0], 0, len(fake_smtp.data_log))
        latest = latest_digest(app.store)
        assert latest is not None
        while delivery_counts(app.store, latest[0]).get(PENDING) and len(calls) < MAX_ROUNDS:
            clock.advance(minutes=30)
            before = len(fake_smtp.data_log)
            app.digest()
            calls.append((clock(), before, len(fake_smtp.data_log)))
        states = dict(
            app.store._db.execute(  # the ledger as an admin would query it
                "SELECT address, state FROM digest_deliveries WHERE digest_id = ?", (latest[0],)
            ).fetchall()
        )

    faults = fake_smtp.fault_counts()
    copies = Counter(address for m in fake_smtp.messages for address in m.rcpt_tos)
    print(
        f"\nsmtp: {len(readers)} digests, faults {faults}, DATA {len(fake_smtp.data_log)},"
        f" connections {fake_smtp.connections}, copies {sum(copies.values())}"
        f" (after-delivery faults {fake_smtp.after_delivery_faults()}), states {Counter(states.values())},"
        f" rounds {len(calls)}"
    )
    assert all(count > 0 for count in faults.values()), f"seed {SEED} no longer brings every fault kind: {faults}"
    for address in readers:
        # Delivered at least once, never a third copy; a second one only after a lost answer.
        assert 1 <= copies[address] <= 2, address
        assert states[address] in (SENT, UNKNOWN), address
        assert copies[address] == fake_smtp.after_delivery_faults(address) + (states[address] == SENT), address

    def call_time(data_index: int) -> datetime:
        return next(at for at, before, after in calls if before <= data_index < after)

    log = fake_smtp.data_log
    for index, (address, fault) in enumerate(log):
        if fault == "ok":
            continue
        retries = [i for i in range(index + 1, len(log)) if log[i][0] == address]
        if retries:  # a deferral or a lost answer is retried later, never in the same run
            assert call_time(retries[0]) - call_time(index) >= RETRY_BASE, (address, fault)

    assert len(log) <= len(readers) + sum(faults.values())
    # One connection per batch (a batch's connections close when it ends), and a new one only after a drop or a
    # time-out.
    assert fake_smtp.connections <= len(calls) + faults["drop"] + faults["timeout"]
