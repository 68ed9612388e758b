"""The state file under stress: another process holding the write lock, a full disk, a path that cannot be
written, a failure between publishing and recording, an output folder that cannot be written.

Each gives a clear error that names the file and what to do, never a corrupted ledger, and never more than the
one item in flight sent twice.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest

import bot.store.sqlite
from bot.app import App
from bot.cli import main
from bot.config import Config
from bot.logs import _CHATTY_LOGGERS
from bot.models import Post, Receipt
from bot.publishers.file_sink import FileSink
from bot.scheduler import build_schedule, run_forever
from bot.store import PENDING, SENT, SqliteStore, StoreError, open_store
from tests.conftest import REPO, FakeClock, news_item, rss

BUSY_TIMEOUT = 0.2  # seconds a write waits for the lock in these tests (newsbot's default is 10)


class CountingSink(FileSink):
    """The dry-run file sink, counting what it was asked to publish per article."""

    def __init__(self, out_dir: Path) -> None:
        super().__init__(out_dir, "telegram")
        self.published: Counter[str] = Counter()

    def publish(self, post: Post) -> Receipt:
        receipt = super().publish(post)
        self.published[post.article_key] += 1
        return receipt


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.store.sqlite, "BUSY_TIMEOUT_SECONDS", BUSY_TIMEOUT)


@pytest.fixture
def cli_logging() -> Iterator[None]:
    """`main` points the root logger at the stderr of the moment; give pytest its handlers back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    chatty = {name: logging.getLogger(name).level for name in _CHATTY_LOGGERS}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, chatty_level in chatty.items():
            logging.getLogger(name).setLevel(chatty_level)


@pytest.fixture
def config(make_config: Callable[..., Config], tmp_path: Path) -> Config:
    feed = tmp_path / "feed.xml"
    feed.write_text(rss([news_item(1), news_item(2)]), encoding="utf-8")
    return make_config(
        sources=[{"name": "feed", "url": str(feed), "backfill": 2}],
        routes=[{"name": "all", "hashtags": ["*"], "channels": ["telegram"]}],
    )


@contextmanager
def write_locked(path: Path) -> Iterator[sqlite3.Connection]:
    """Another process's write transaction on the state file, held until the block ends."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        yield other
    finally:
        other.execute("ROLLBACK")
        other.close()


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as check:
        return str(check.execute("PRAGMA integrity_check").fetchone()[0])


def states(app: App) -> list[str]:
    return sorted(state for (_channel, state), n in app.store.queue_counts().items() for _ in range(n))


def write_config(tmp_path: Path, state: Path, out: Path) -> Path:
    feed = tmp_path / "feed.xml"
    feed.write_text(rss([news_item(1)]), encoding="utf-8")
    path = tmp_path / "config.toml"
    path.write_text(
        f'[state]\npath = "{state}"\n[output]\ndir = "{out}"\ndry_run = true\n'
        f'[[sources]]\nname = "feed"\nurl = "{feed}"\nbackfill = 1\n'
        '[[routes]]\nname = "all"\nhashtags = ["*"]\nchannels = ["telegram"]\n',
        encoding="utf-8",
    )
    return path


# --- another process writing ----------------------------------------------------------------------------------


def test_write_lock_held_elsewhere_is_a_clear_error_and_the_ledger_survives_intact(
    config: Config, clock: FakeClock, short_busy_timeout: None
) -> None:
    sink = CountingSink(config.output.dir)
    with App(config, clock=clock, publishers={"telegram": sink}) as app:
        app.poll_due_sources(poll_all=True)
        with write_locked(config.state.path):
            started = time.monotonic()
            with pytest.raises(StoreError) as caught:
                app.drain()
            waited = time.monotonic() - started
        message = str(caught.value)
        assert str(config.state.path) in message
        assert "another process is writing to it" in message and "nothing was written" in message
        assert waited < BUSY_TIMEOUT + 2
        assert integrity(config.state.path) == "ok"
        assert states(app) == [PENDING, PENDING]  # nothing half-recorded
        assert app.drain().sent == 2
        assert states(app) == [SENT, SENT]
    print(f"\nbusy: error after {waited:.2f} s: {message}")
    # Rows are claimed (a write) before anything is sent, so the locked state stopped the drain before any send:
    # each post went out once.
    assert sorted(sink.published.values()) == [1, 1]


def test_newsbot_once_against_a_write_locked_state_file_exits_1_with_the_reason(
    tmp_path: Path, short_busy_timeout: None, cli_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.sqlite"
    path = write_config(tmp_path, state, tmp_path / "out")
    open_store(state).close()
    with write_locked(state):
        code = main(["--config", str(path), "once"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"newsbot: state file {state}: another process is writing to it" in err
    assert "Traceback" not in err
    assert integrity(state) == "ok"


# --- a full disk ------------------------------------------------------------------------------------------------


def test_full_disk_is_a_clear_error_and_the_next_poll_after_freeing_space_queues_each_article_once(
    config: Config, clock: FakeClock
) -> None:
    with App(config, clock=clock) as app:
        app.run_cycle(poll_all=True)
        assert states(app) == [SENT, SENT]
        # The feed grows by a long article; the disk has no room for it (SQLite's own size cap stands in).
        long_item = dict(news_item(3), description="A very long story. " * 2000 + "#Harbour")
        Path(config.sources[0].url).write_text(rss([long_item, news_item(1), news_item(2)]), encoding="utf-8")
        db = app.store._db  # the store's own connection: the cap is per connection
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")
        clock.advance(hours=1)
        with pytest.raises(StoreError) as caught:
            app.poll_due_sources(poll_all=True)
        message = str(caught.value)
        assert str(config.state.path) in message and "the disk is full" in message and "Free some space" in message
        assert integrity(config.state.path) == "ok"
        assert states(app) == [SENT, SENT]  # nothing half-written

        db.execute("PRAGMA max_page_count = 1073741823")
        report = app.run_cycle(poll_all=True)
        assert [poll.new for poll in report.polls] == [1]
        assert states(app) == [SENT, SENT, SENT]
    print(f"\ndisk full: {message}")


def test_newsbot_run_keeps_running_through_a_full_disk_and_catches_up_once_space_is_freed(
    config: Config, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    long_item = dict(news_item(3), description="A very long story. " * 2000 + "#Harbour")
    Path(config.sources[0].url).write_text(rss([long_item, news_item(1)]), encoding="utf-8")
    stop = threading.Event()
    with App(config, clock=clock) as app:
        db = app.store._db
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")  # "the disk is full"
        jobs = build_schedule(app, stop)
        with caplog.at_level(logging.ERROR, logger="newsbot.scheduler"):
            stop.set()  # one pass: the first cycle, then the loop sees the stop
            run_forever(app, stop)  # returns: the error did not end `run`
            for job in jobs.jobs:
                job.run()  # every scheduled job runs on the full disk, and none raises
        errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
        assert [e.split()[1] for e in errors] == ["job=_first_cycle", "job=poll_due_sources"]  # those had to write
        assert all("the disk is full" in e and "Free some space" in e and 'retry="next interval"' in e for e in errors)
        assert states(app) == []

        db.execute("PRAGMA max_page_count = 1073741823")  # space freed: the next cycle catches up, once
        app.run_cycle(poll_all=True)
        assert states(app) == [SENT, SENT]


# --- a state path that cannot be written ------------------------------------------------------------------------


def test_state_path_under_a_regular_file_is_a_store_error_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be", encoding="utf-8")
    state = blocker / "state.sqlite"
    with pytest.raises(StoreError, match=r"check that the folder exists and is writable") as caught:
        open_store(state)
    assert str(state) in str(caught.value)


def test_newsbot_once_with_an_unwritable_state_path_exits_1_naming_it_without_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be", encoding="utf-8")
    state = blocker / "state.sqlite"
    path = write_config(tmp_path, state, tmp_path / "out")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(path), "once"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    print(f"\nunwritable state path: exit {done.returncode}, stderr {done.stderr.strip().splitlines()[-1:]}")
    assert "Traceback" not in done.stderr
    assert done.returncode == 1
    assert str(blocker) in done.stderr and "writable" in done.stderr


# --- a failure between publishing and recording -----------------------------------------------------------------


class MarkSentFails(SqliteStore):
    """The real store, whose first `mark_sent` fails the way a failing disk does."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        super().__init__(connection, path)
        self.failures = 1

    def mark_sent(self, row_id: int, remote_id: str, now: datetime) -> None:
        if self.failures:
            self.failures -= 1
            raise StoreError(f"state file {self.path}: cannot use it (disk I/O error)")
        super().mark_sent(row_id, remote_id, now)


def test_failure_recording_a_sent_post_leaves_it_pending_and_the_next_run_resends_only_that_one(
    config: Config, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def flaky_store(path: Path) -> SqliteStore:
        store = open_store(path)
        return MarkSentFails(store._db, store.path)

    sink = CountingSink(config.output.dir)
    monkeypatch.setattr("bot.app.open_store", flaky_store)
    with App(config, clock=clock, publishers={"telegram": sink}) as app:
        app.poll_due_sources(poll_all=True)
        with pytest.raises(StoreError, match="disk I/O error"):
            app.drain()
        assert states(app) == [PENDING, PENDING]
    monkeypatch.undo()
    with App(config, clock=clock, publishers={"telegram": sink}) as app:  # the next run
        assert app.drain().sent == 2
        assert states(app) == [SENT, SENT]
    print(f"\nmark_sent failure: publishes per article {sorted(sink.published.values())}")
    assert sorted(sink.published.values()) == [1, 2]
    assert integrity(config.state.path) == "ok"


# --- an output folder that cannot be written --------------------------------------------------------------------


def unwritable_output(make_config: Callable[..., Config], tmp_path: Path) -> Config:
    blocker = tmp_path / "out-is-a-file"
    blocker.write_text("a file where the output folder should be", encoding="utf-8")
    feed = tmp_path / "feed.xml"
    feed.write_text(rss([news_item(1)]), encoding="utf-8")
    return make_config(
        output={"dir": str(blocker), "dry_run": True},
        sources=[{"name": "feed", "url": str(feed), "backfill": 1}],
        routes=[{"name": "all", "hashtags": ["*"], "channels": ["telegram"]}],
    )


def test_unwritable_output_folder_keeps_the_post_pending_with_the_path_in_its_error(
    make_config: Callable[..., Config], tmp_path: Path, clock: FakeClock
) -> None:
    config = unwritable_output(make_config, tmp_path)
    with App(config, clock=clock) as app:
        report = app.run_cycle(poll_all=True)
        [row] = app.store.pending_rows("telegram")
    assert (report.drain.sent, report.drain.retry_later) == (0, 1)
    assert row.state == PENDING and row.attempts == 1
    assert str(config.output.dir) in row.last_error
    print(f"\nunwritable output: last_error {row.last_error!r}")


def test_unwritable_output_folder_error_says_what_to_do(
    make_config: Callable[..., Config], tmp_path: Path, clock: FakeClock
) -> None:
    config = unwritable_output(make_config, tmp_path)
    with App(config, clock=clock) as app:
        app.run_cycle(poll_all=True)
        [row] = app.store.pending_rows("telegram")
    advice = row.last_error.replace(str(config.output.dir), "<dir>")
    assert "output" in advice and "writable" in advice, advice
