"""Crash and restart on Mastodon and Bluesky: `newsbot run` as a real process posting to the fake Mastodon instance
and the fake Bluesky PDS, killed with SIGKILL in the middle of its cycles, restarted, and checked afterwards.

Both fakes answer every create a moment after they made the post, like a real round trip, so a kill often lands
between a post being made and the ledger recording it; and the first kill on each channel is made to land there
(the fake holds the answer of a post it made until the process is dead). What holds even then: each article is
posted exactly once. The retry after the restart carries the same Idempotency-Key (Mastodon gives back the status it
made) or the same record key (Bluesky refuses a second record there, and newsbot counts the one that exists as sent).

The other kill points come from `random.Random(seed)`, as in the crash tests: the seed is printed, and
NEWSBOT_RELIABILITY_SEED=<seed> replays them.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator

import pytest

from bot.store import SENT
from tests.conftest import news_item, rss
from tests.fakes.bluesky_api import FakeBluesky
from tests.fakes.mastodon_api import FakeMastodon
from tests.reliability.conftest import Installation
from tests.reliability.test_crash_and_restart import FINISH_TIMEOUT, SEED_ENV, START_TIMEOUT, settle

ARTICLES = 20
KILLS = 4  # at random points, alternating between the channels
ANSWER_DELAY = 0.1  # each create is answered this long after the post was made
LONGEST_PAUSE = 0.4  # after a run's first create on the watched channel, the kill comes within this


@pytest.fixture
def rng() -> random.Random:
    seed = int(os.environ.get(SEED_ENV) or random.SystemRandom().randrange(2**32))
    print(f"kill points from random.Random({seed}); {SEED_ENV}={seed} replays them")
    return random.Random(seed)


@pytest.fixture
def social() -> Iterator[tuple[FakeMastodon, FakeBluesky]]:
    bluesky = FakeBluesky()
    bluesky.start()
    try:
        with FakeMastodon() as mastodon:
            for fake in (mastodon, bluesky):
                fake.random_faults(1.0, kinds=("slow",), slow_delay=ANSWER_DELAY)
            yield mastodon, bluesky
    finally:
        bluesky.stop()


def configure(home: Installation, mastodon: FakeMastodon, bluesky: FakeBluesky) -> None:
    (home.home / "feed.xml").write_text(rss([news_item(n) for n in range(1, ARTICLES + 1)]), encoding="utf-8")
    (home.home / "config.toml").write_text(
        f"""
[state]
path = "state.sqlite"

[outbox]
drain_interval = 1

[[sources]]
name = "wire"
url = "feed.xml"
interval = 1
backfill = {ARTICLES}

[[routes]]
name = "everything"
hashtags = ["*"]
channels = ["mastodon", "bluesky"]

[mastodon]
api_base_url = "{mastodon.base_url}"
max_posts_per_cycle = 5

[bluesky]
service_url = "{bluesky.base_url}"
handle = "{bluesky.handle}"
max_posts_per_cycle = 5
""",
        encoding="utf-8",
    )
    home.extra_env.update(NEWSBOT_MASTODON_TOKEN=mastodon.token, NEWSBOT_BLUESKY_APP_PASSWORD=bluesky.password)


def test_run_killed_repeatedly_posts_each_article_once_to_mastodon_and_bluesky(
    installation: Installation, social: tuple[FakeMastodon, FakeBluesky], rng: random.Random
) -> None:
    mastodon, bluesky = social
    configure(installation, mastodon, bluesky)

    def creates() -> int:
        return len(mastodon.creates()) + len(bluesky.create_log)

    for fake in (mastodon, bluesky):  # one kill on each channel while a post it made waits for its answer
        fake.answers.close()
        process = installation.start("run")
        try:
            process.wait_until(lambda: fake.answers.held > 0, START_TIMEOUT)  # noqa: B023 (waited for at once)
            process.kill()
        finally:
            fake.answers.open()
        settle(creates)

    channel_creates = (lambda: len(mastodon.creates()), lambda: len(bluesky.create_log))
    for kill in range(KILLS):
        process = installation.start("run")
        watched = channel_creates[kill % 2]  # the kills alternate between the channels' sends
        before = watched()
        process.wait_until(lambda: watched() > before, START_TIMEOUT)  # noqa: B023 (waited for at once)
        time.sleep(rng.uniform(0.0, LONGEST_PAUSE))
        process.kill()
        settle(creates)
        assert len(mastodon.statuses) + len(bluesky.records) < 2 * ARTICLES, "finished before the kill (fewer pauses)"

    final = installation.start("run")
    final.wait_until(lambda: len(mastodon.statuses) == len(bluesky.records) == ARTICLES, FINISH_TIMEOUT)
    final.wait_until(
        lambda: (
            [state for channel in ("mastodon", "bluesky") for state, _ in rows(installation, channel)]
            == [SENT] * 2 * ARTICLES
        ),
        FINISH_TIMEOUT,
    )
    final.terminate()
    assert final.wait() == 0, final.tail()
    settle(creates)

    keys = [r.headers.get("idempotency-key", "") for r in mastodon.creates()]
    replays = {"mastodon": len(keys) - len(set(keys)), "bluesky": len(bluesky.create_log) - len(bluesky.records)}
    print(
        f"\nkilled {2 + KILLS} times: mastodon {len(mastodon.statuses)} statuses from {len(keys)} creates,"
        f" bluesky {len(bluesky.records)} records from {len(bluesky.create_log)} creates; repeated creates {replays}"
    )
    # Each channel's post made just before a kill was created again after the restart, under its key.
    assert min(replays.values()) > 0, f"a post made before a kill was not created again under its key: {replays}"
    # Exactly once: every article one post, whatever the kills cut short.
    assert len({s.text for s in mastodon.statuses}) == len(mastodon.statuses) == ARTICLES
    assert len({r.value["text"] for r in bluesky.records}) == len(bluesky.records) == ARTICLES
    # The ledger names the post that is there.
    assert sorted(remote for _, remote in rows(installation, "mastodon")) == sorted(s.id for s in mastodon.statuses)
    assert sorted(remote for _, remote in rows(installation, "bluesky")) == sorted(
        f"{r.uri}|{r.cid}" for r in bluesky.records
    )


def rows(home: Installation, channel: str) -> list[tuple[str, str]]:
    """(state, remote id) of the channel's outbox rows, one per article: the ledger as an admin would query it."""
    if not home.state.exists():
        return []
    store = home.store()
    try:
        found = store._db.execute("SELECT state, remote_id FROM outbox WHERE channel = ?", (channel,)).fetchall()
    finally:
        store.close()
    return [(str(state), str(remote)) for state, remote in found]
