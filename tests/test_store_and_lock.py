from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.errors import LockedError
from bot.lock import StateLock
from bot.models import Article
from bot.store import MIGRATIONS, PENDING, SENT, OutboxItem, StoreError, open_store

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def an_article(key: str = "k1") -> Article:
    return Article(
        key=key,
        source="s",
        title="Title “quoted”",
        link="https://n.example/a",
        text="Body.",
        hashtags=("Politics", "日本"),
        published=NOW,
        first_seen=NOW,
        aliases=("guid:" + key, "link:https://n.example/" + key),
    )


def item(key: str = "k1", recipient: str = "channel", when: datetime = NOW) -> OutboxItem:
    return OutboxItem(key, "telegram", recipient, "r", "", when)


def test_new_state_file_is_migrated_to_the_latest_schema(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.sqlite")
    assert store.schema_version() == len(MIGRATIONS)
    store.close()
    assert open_store(tmp_path / "s.sqlite").schema_version() == len(MIGRATIONS)


def test_articles_round_trip_and_are_found_by_any_alias(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.sqlite")
    store.add_article(an_article())
    loaded = store.get_article("k1")
    assert loaded is not None
    assert loaded.title == "Title “quoted”"
    assert loaded.hashtags == ("Politics", "日本")
    assert loaded.published == NOW
    assert store.find_article_key(["nope", "link:https://n.example/k1"]) == "k1"
    assert store.find_article_key(["nope"]) is None


def test_same_article_channel_and_recipient_is_queued_once(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.sqlite")
    store.add_article(an_article())
    assert store.enqueue([item(), item(recipient="42")], NOW) == 2
    assert store.enqueue([item(), item(recipient="43")], NOW) == 1
    assert store.queue_counts() == {("telegram", PENDING): 3}


def test_sent_rows_survive_reopening_and_are_never_due_again(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = open_store(path)
    store.add_article(an_article())
    store.enqueue([item()], NOW)
    [row] = store.due_rows("telegram", "k1", NOW)
    store.mark_sent(row.id, "msg-1", NOW)
    store.close()
    store = open_store(path)
    assert store.due_article_keys("telegram", NOW + timedelta(days=1), 10) == []
    [again] = store.rows_for_article("k1")
    assert (again.state, again.remote_id) == (SENT, "msg-1")


def test_deferred_row_is_not_due_before_its_time(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.sqlite")
    store.add_article(an_article())
    store.enqueue([item()], NOW)
    [row] = store.due_rows("telegram", "k1", NOW)
    store.defer(row.id, NOW + timedelta(seconds=30), "429", NOW, count_attempt=False)
    assert store.due_article_keys("telegram", NOW + timedelta(seconds=29), 10) == []
    assert store.due_article_keys("telegram", NOW + timedelta(seconds=30), 10) == ["k1"]


def test_a_file_that_is_not_a_database_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"\[state\] path"):
        open_store(path)


def test_second_holder_of_the_state_lock_is_refused_with_the_pid(tmp_path: Path) -> None:
    state = tmp_path / "s.sqlite"
    with StateLock(state), pytest.raises(LockedError) as err:
        StateLock(state).acquire()
    assert "already using the state file" in str(err.value)
    assert str(state) in str(err.value)
    StateLock(state).acquire()  # free again once released


def test_lock_of_a_killed_process_does_not_stay_stuck(tmp_path: Path) -> None:
    state = tmp_path / "s.sqlite"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from bot.lock import StateLock
                StateLock(Path({str(state)!r})).acquire()
                print("locked", flush=True)
                time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockedError, match=f"pid {holder.pid}"):
            StateLock(state).acquire()
    finally:
        holder.kill()
        holder.wait()
    StateLock(state).acquire()


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most shells, and systemd without `UMask=`, give a process: new files would be 0644."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_state_file_its_wal_and_shm_and_the_lock_are_created_readable_by_the_owner_only(
    tmp_path: Path, usual_umask: None
) -> None:
    state = tmp_path / "s.sqlite"
    with StateLock(state):
        store = open_store(state)
        store.add_article(an_article())  # a write: SQLite creates -wal and -shm
        files = [state, tmp_path / "s.sqlite-wal", tmp_path / "s.sqlite-shm", tmp_path / "s.sqlite.lock"]
        assert {f.name: oct(mode(f)) for f in files} == {f.name: "0o600" for f in files}
        store.close()


def test_a_state_file_an_older_newsbot_left_world_readable_is_narrowed_when_opened(
    tmp_path: Path, usual_umask: None
) -> None:
    state = tmp_path / "s.sqlite"
    older = sqlite3.connect(state)  # an older newsbot, still open: its -wal and -shm are there too
    older.execute("PRAGMA journal_mode = WAL")
    older.execute("CREATE TABLE t (x)")
    files = [state, tmp_path / "s.sqlite-wal", tmp_path / "s.sqlite-shm"]
    for file in files:
        os.chmod(file, 0o644)
    store = open_store(state)
    try:
        assert {f.name: oct(mode(f)) for f in files} == {f.name: "0o600" for f in files}
    finally:
        store.close()
        older.close()


def test_opening_the_state_file_twice_in_one_process_keeps_its_locks(tmp_path: Path) -> None:
    """SQLite's "how to corrupt" list, 2.2: closing any descriptor of the database file drops every POSIX lock the
    process holds on it. Then another process takes itself for the last user and deletes the WAL still in use
    (in `newsbot run` that lost a digest's ledger rows while a test read them)."""
    state = tmp_path / "s.sqlite"
    first = open_store(state)
    first.add_article(an_article("k1"))
    second = open_store(state)  # as `newsbot run` does for its chat commands and web pages
    other = (
        f"import sqlite3; c = sqlite3.connect({str(state)!r}); c.execute('SELECT 1 FROM meta').fetchall(); c.close()"
    )
    subprocess.run([sys.executable, "-c", other], check=True)  # an import, or an admin's sqlite3 shell
    assert (tmp_path / "s.sqlite-wal").exists(), "the other process thought no one else had the file open"
    first.add_article(an_article("k2"))
    first.close()
    second.close()
    again = open_store(state)
    assert again.get_article("k2") is not None
    again.close()
