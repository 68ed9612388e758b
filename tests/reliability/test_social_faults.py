"""Publishing to Mastodon and Bluesky through random faults: 429 with the network's own rate-limit headers, 5xx,
time-outs and dropped connections after the post was made (the lost answer), slow answers.

newsbot runs in-process (`App` on a FakeClock) against the fake Mastodon instance and the fake Bluesky PDS, with
seeded random faults on every create. Each test drains until nothing is pending, two fake minutes apart, then
checks what a reader would see: every article posted exactly once (a lost answer is resolved by the
Idempotency-Key and the timeline on Mastodon, by the fixed record key on Bluesky, never by a second post), every
rate limit waited out from the stored state (no create before the announced reset), threads chained part to part
even when a fault hits mid-thread, every ledger row sent. The figures are printed (see them with -s).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.config import Config
from bot.store import PENDING, SENT
from tests.conftest import FakeClock, news_item, rss
from tests.fakes.bluesky_api import FakeBluesky
from tests.fakes.mastodon_api import FakeMastodon

ARTICLES = 12
THREADS = 4
RATE = 0.4
SEED = 7
RESET_IN = 600  # the announced reset of an injected 429, in seconds: five drains away
REQUEST_TIMEOUT = 0.5  # newsbot's time-out here; "timeout" faults answer after 1.0 s, "slow" ones after 0.2 s
INTERRUPTING = ("429", "5xx", "timeout", "drop")  # faults that stop a thread or hide a part's answer
MAX_ROUNDS = 80  # drains before a test gives up: far more than the faults need
Drains = list[tuple[datetime, int, int]]  # (fake time, creates before the drain, creates after it)


def articles(count: int, thread: bool) -> list[dict[str, str]]:
    """`count` stories; for a thread, each long enough for several parts, every sentence its own."""
    stories = [news_item(n) for n in range(1, count + 1)]
    if thread:
        for n, story in enumerate(stories, 1):
            story["description"] = " ".join(
                f"Report {n}, finding {k}: the council's review explains one more detail of plan {n}."
                for k in range(14)
            )
    return stories


def social_config(
    make_config: Callable[..., Config], tmp_path: Path, channel: str, table: dict[str, Any], stories: list[Any]
) -> Config:
    feed = tmp_path / "feed.xml"
    feed.write_text(rss(stories), encoding="utf-8")
    return make_config(
        output={"dir": str(tmp_path / "out"), "dry_run": False},
        sources=[{"name": "feed", "url": str(feed), "backfill": len(stories)}],
        routes=[{"name": "all", "hashtags": ["*"], "channels": [channel]}],
        **{channel: {"request_timeout": REQUEST_TIMEOUT, **table}},
    )


def drain_until_sent(app: App, channel: str, clock: FakeClock, creates: Callable[[], int]) -> Drains:
    """Poll once, then drain two fake minutes apart until nothing is pending; every drain's create counts."""
    app.poll_due_sources(poll_all=True)
    drains: Drains = []
    while app.store.queue_counts().get((channel, PENDING), 0) and len(drains) < MAX_ROUNDS:
        before = creates()
        app.drain()
        drains.append((clock(), before, creates()))
        clock.advance(minutes=2)
    return drains


def assert_429_waited_out(statuses: Sequence[int], drains: Drains) -> None:
    """The create after each 429 came no earlier than the announced reset, in the app's (stored) time."""

    def drain_time(create_index: int) -> datetime:
        return next(at for at, before, after in drains if before <= create_index < after)

    for index, status in enumerate(statuses):
        if status == 429 and index + 1 < len(statuses):
            waited = drain_time(index + 1) - drain_time(index)
            assert waited >= timedelta(seconds=RESET_IN - 1), f"create {index + 1} came {waited} after the 429"


def sent_ids(app: App) -> Iterator[list[str]]:
    """Each ledger row's remote ids (one per part), all rows asserted sent."""
    for article in app.store.recent_articles(100):
        for row in app.store.rows_for_article(article.key):
            assert row.state == SENT, (article.key, row.state, row.error)
            yield row.remote_id.split(",")


# --- Mastodon ------------------------------------------------------------------------------------------------


@pytest.fixture
def mastodon(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMastodon]:
    with FakeMastodon(max_characters=500) as fake:
        monkeypatch.setenv("NEWSBOT_MASTODON_TOKEN", fake.token)
        yield fake


def run_mastodon(
    make_config: Callable[..., Config], tmp_path: Path, fake: FakeMastodon, clock: FakeClock, thread: bool
) -> tuple[list[list[str]], Drains]:
    count = THREADS if thread else ARTICLES
    table = {"api_base_url": fake.base_url, "thread": thread}
    config = social_config(make_config, tmp_path, "mastodon", table, articles(count, thread))
    fake.random_faults(RATE, seed=SEED, reset_in=RESET_IN, timeout_delay=1.0, slow_delay=0.2)
    with App(config, clock=clock) as app:
        drains = drain_until_sent(app, "mastodon", clock, lambda: len(fake.creates()))
        assert app.store.queue_counts() == {("mastodon", SENT): count}
        ledger = list(sent_ids(app))
    creates = fake.creates()
    lookups = [r for r in fake.requests if r.method == "GET" and "/statuses" in r.path]
    print(
        f"\nmastodon{' threads' if thread else ''}: {count} articles, {len(fake.statuses)} statuses,"
        f" faults {fake.fault_counts()}, creates {len(creates)}, timeline reads {len(lookups)}"
        f" (after-delivery faults {fake.after_delivery_faults()}), drains {len(drains)}"
    )
    faults = fake.fault_counts()
    assert all(n > 0 for n in faults.values()), f"seed {SEED} no longer brings every fault kind: {faults}"
    assert_429_waited_out([r.status for r in creates], drains)
    assert len(creates) <= sum(len(ids) for ids in ledger) + sum(faults.values())
    assert len(lookups) <= fake.after_delivery_faults()  # one timeline read per lost answer, at most
    return ledger, drains


def test_mastodon_posts_each_article_once_through_random_faults_and_waits_for_the_stored_reset(
    make_config: Callable[..., Config], tmp_path: Path, mastodon: FakeMastodon, clock: FakeClock
) -> None:
    ledger, _ = run_mastodon(make_config, tmp_path, mastodon, clock, thread=False)
    texts = [status.text for status in mastodon.statuses]
    assert len(texts) == ARTICLES == len(set(texts))  # exactly once: a lost answer never made a second status
    assert sorted(ids[0] for ids in ledger) == sorted(status.id for status in mastodon.statuses)


def test_mastodon_threads_chain_part_to_part_when_faults_hit_mid_thread(
    make_config: Callable[..., Config], tmp_path: Path, mastodon: FakeMastodon, clock: FakeClock
) -> None:
    ledger, _ = run_mastodon(make_config, tmp_path, mastodon, clock, thread=True)
    by_id = {status.id: status for status in mastodon.statuses}
    assert len(by_id) == len(mastodon.statuses) == sum(len(ids) for ids in ledger)  # no part posted twice
    assert len({status.text for status in mastodon.statuses}) == len(mastodon.statuses)
    for ids in ledger:
        assert len(ids) >= 2 and by_id[ids[0]].in_reply_to_id is None
        for parent, reply in itertools.pairwise(ids):
            assert by_id[reply].in_reply_to_id == parent
    mid_thread = [r for r in mastodon.creates() if r.form.get("in_reply_to_id") and r.fault in INTERRUPTING]
    assert mid_thread, "no fault hit a thread's later part: the seed no longer tests resuming"


# --- Bluesky -------------------------------------------------------------------------------------------------


@pytest.fixture
def bluesky(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBluesky]:
    fake = FakeBluesky()
    fake.start()
    monkeypatch.setenv("NEWSBOT_BLUESKY_APP_PASSWORD", fake.password)
    try:
        yield fake
    finally:
        fake.stop()


def run_bluesky(
    make_config: Callable[..., Config], tmp_path: Path, fake: FakeBluesky, clock: FakeClock, thread: bool
) -> list[list[str]]:
    count = THREADS if thread else ARTICLES
    table = {"service_url": fake.base_url, "handle": fake.handle, "thread": thread}
    config = social_config(make_config, tmp_path, "bluesky", table, articles(count, thread))
    fake.random_faults(RATE, seed=SEED, reset_in=RESET_IN, timeout_delay=1.0, slow_delay=0.2)
    with App(config, clock=clock) as app:
        drains = drain_until_sent(app, "bluesky", clock, lambda: len(fake.create_log))
        assert app.store.queue_counts() == {("bluesky", SENT): count}
        ledger = list(sent_ids(app))
    faults = fake.fault_counts()
    lookups = fake.count("com.atproto.repo.getRecord")
    print(
        f"\nbluesky{' threads' if thread else ''}: {count} articles, {len(fake.records)} records, faults {faults},"
        f" creates {len(fake.create_log)}, getRecord {lookups}"
        f" (after-delivery faults {fake.after_delivery_faults()}), drains {len(drains)}"
    )
    assert all(n > 0 for n in faults.values()), f"seed {SEED} no longer brings every fault kind: {faults}"
    assert_429_waited_out([attempt.status for attempt in fake.create_log], drains)
    assert len(fake.create_log) <= sum(len(ids) for ids in ledger) + sum(faults.values())
    assert lookups <= faults["5xx"] + fake.after_delivery_faults()  # a look-up only where a record may exist
    assert fake.count("com.atproto.server.createSession") == 1
    return ledger


def test_bluesky_posts_each_article_once_through_random_faults_and_waits_for_the_stored_reset(
    make_config: Callable[..., Config], tmp_path: Path, bluesky: FakeBluesky, clock: FakeClock
) -> None:
    ledger = run_bluesky(make_config, tmp_path, bluesky, clock, thread=False)
    texts = [record.value["text"] for record in bluesky.records]
    assert len(texts) == ARTICLES == len(set(texts))  # exactly once: a lost answer is found by its record key
    assert sorted(ids[0] for ids in ledger) == sorted(f"{r.uri}|{r.cid}" for r in bluesky.records)


def test_bluesky_threads_chain_part_to_part_when_faults_hit_mid_thread(
    make_config: Callable[..., Config], tmp_path: Path, bluesky: FakeBluesky, clock: FakeClock
) -> None:
    ledger = run_bluesky(make_config, tmp_path, bluesky, clock, thread=True)
    by_ref = {f"{r.uri}|{r.cid}": r for r in bluesky.records}
    assert len(by_ref) == len(bluesky.records) == sum(len(ids) for ids in ledger)  # no part posted twice
    assert len({r.value["text"] for r in bluesky.records}) == len(bluesky.records)
    for ids in ledger:
        assert len(ids) >= 2 and "reply" not in by_ref[ids[0]].value
        root = by_ref[ids[0]]
        for parent, reply in itertools.pairwise(ids):
            refs = by_ref[reply].value["reply"]
            assert (refs["root"]["uri"], refs["root"]["cid"]) == (root.uri, root.cid)
            assert f"{refs['parent']['uri']}|{refs['parent']['cid']}" == parent
    mid_thread = [a for a in bluesky.create_log if a.reply and a.fault in INTERRUPTING]
    assert mid_thread, "no fault hit a thread's later part: the seed no longer tests resuming"
