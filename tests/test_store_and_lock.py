from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import StateConfig
from bot.errors import LockedError
from bot.lock import StateLock
from bot.models import Article
from bot.store import MIGRATIONS, PENDING, SENT, AddedSource, OutboxItem, StoreError, open_store, to_db_time
from bot.store.db import Database, PostgresDatabase, SqliteDatabase
from bot.subscribers_csv import unsubscribe
from tests.store_sql import schema_version

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


def test_new_state_file_is_migrated_to_the_latest_schema(state: StateConfig) -> None:
    store = open_store(state)
    assert schema_version(store) == len(MIGRATIONS)
    store.close()
    store = open_store(state)
    assert schema_version(store) == len(MIGRATIONS)
    store.close()


def test_articles_round_trip_and_are_found_by_any_alias(state: StateConfig) -> None:
    store = open_store(state)
    store.add_article(an_article())
    loaded = store.get_article("k1")
    assert loaded is not None
    assert loaded.title == "Title “quoted”"
    assert loaded.hashtags == ("Politics", "日本")
    assert loaded.published == NOW
    assert store.find_article_key(["nope", "link:https://n.example/k1"]) == "k1"
    assert store.find_article_key(["nope"]) is None


def test_an_articles_image_and_its_text_are_kept(state: StateConfig) -> None:
    store = open_store(state)
    image = "https://n.example/harbour.jpg"
    store.add_articles([replace(an_article("k1"), image_url=image, image_alt="Ferries at dawn"), an_article("k2")])
    first, second = store.get_article("k1"), store.get_article("k2")
    assert first is not None and (first.image_url, first.image_alt) == (image, "Ferries at dawn")
    assert second is not None and second.image_alt == ""
    store.close()


def test_same_article_channel_and_recipient_is_queued_once(state: StateConfig) -> None:
    store = open_store(state)
    store.add_article(an_article())
    assert store.enqueue([item(), item(recipient="42")], NOW) == 2
    assert store.enqueue([item(), item(recipient="43")], NOW) == 1
    assert store.queue_counts() == {("telegram", PENDING): 3}


def test_sent_rows_survive_reopening_and_are_never_due_again(state: StateConfig) -> None:
    store = open_store(state)
    store.add_article(an_article())
    store.enqueue([item()], NOW)
    [row] = store.rows_for_article("k1")
    store.mark_sent(row.id, "msg-1", NOW)
    store.close()
    store = open_store(state)
    assert store.due_article_keys("telegram", NOW + timedelta(days=1), 10) == []
    [again] = store.rows_for_article("k1")
    assert (again.state, again.remote_id) == (SENT, "msg-1")


def test_deferred_row_is_not_due_before_its_time(state: StateConfig) -> None:
    store = open_store(state)
    store.add_article(an_article())
    store.enqueue([item()], NOW)
    [row] = store.rows_for_article("k1")
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


# -- schema 5: one subscriber per mailbox ----------------------------------------------------------


def state_of_version_4(state: StateConfig) -> Database:
    """A state as newsbot with schema version 4 left it (addresses stored as typed), on the test's backend."""
    return state_of_version(state, 4)


def state_of_version(state: StateConfig, version: int) -> Database:
    """A state as the newsbot with schema `version` left it, on the test's backend."""
    db: Database
    if state.url:
        from bot.store.postgres import postgres_connection

        connection = postgres_connection(state.url)
        db = PostgresDatabase(connection, "test", lambda c: c.close())
    else:
        db = SqliteDatabase(sqlite3.connect(state.path, isolation_level=None), state.path)
    db.begin_migration()
    for migration in MIGRATIONS[:version]:
        if not isinstance(migration, str):
            migration(db)
            continue
        for statement in db.ddl(migration).split(";"):
            if statement.strip():
                db.execute(statement)
    db.set_schema_version(version)
    db.commit()
    return db


def old_subscriber(
    db: Database,
    address: str,
    *tags: str,
    active: bool,
    reason: str = "",
    changed: datetime = NOW,
    confirmed: datetime | None = None,
    last_digest: datetime | None = None,
    name: str = "",
) -> None:
    [subscriber_id] = db.execute(
        "INSERT INTO subscribers (channel, address, active, status_reason, created_at, updated_at, name,"
        " confirmed_at, last_digest_at) VALUES ('email', ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            address,
            int(active),
            reason,
            to_db_time(changed - timedelta(days=30)),
            to_db_time(changed),
            name,
            to_db_time(confirmed) if confirmed else None,
            to_db_time(last_digest) if last_digest else None,
        ),
    ).fetchone()
    for tag in tags:
        db.execute("INSERT INTO subscriber_tags VALUES (?, ?, ?)", (subscriber_id, tag.lower(), tag))


def old_delivery(db: Database, digest_id: str, address: str, state: str) -> None:
    db.execute(
        "INSERT INTO digest_deliveries (digest_id, address, state, not_before, updated_at) VALUES (?, ?, ?, ?, ?)",
        (digest_id, address, state, to_db_time(NOW), to_db_time(NOW)),
    )


def test_migration_merges_addresses_that_differ_only_in_case_and_loses_no_subscription(state: StateConfig) -> None:
    db = state_of_version_4(state)
    week = timedelta(days=7)
    # Two confirmed rows for one mailbox, following different hashtags: they got two digests a week.
    old_subscriber(db, "Bob@Example.NET", "Climate", active=True, confirmed=NOW - 3 * week, last_digest=NOW - week)
    old_subscriber(db, "bob@example.net", "Sports", active=True, confirmed=NOW - week, last_digest=NOW, name="Bob")
    # A confirmed row that follows everything, and a later sign-up that never got confirmed.
    old_subscriber(db, "Ann@Example.org", active=True, confirmed=NOW - week)
    old_subscriber(db, "ann@example.org", "Sports", active=False, reason="awaiting confirmation")
    # Nobody active: the latest word stands (here: unsubscribed after a sign-up awaiting confirmation).
    old_subscriber(db, "carl@example.org", active=False, reason="awaiting confirmation", changed=NOW - week)
    old_subscriber(db, "Carl@Example.org", active=False, reason="unsubscribed", changed=NOW)
    old_subscriber(db, "Dora@Example.ORG", "Music", active=True, confirmed=NOW)
    db.execute("INSERT INTO subscribers (channel, address, created_at, updated_at) VALUES ('telegram', 'Ab12', ?, ?)",
               (to_db_time(NOW), to_db_time(NOW)))  # fmt: skip
    db.execute("INSERT INTO digests VALUES ('d1', ?, ?)", (to_db_time(NOW), to_db_time(NOW)))
    old_delivery(db, "d1", "Bob@Example.NET", SENT)
    old_delivery(db, "d1", "bob@example.net", PENDING)
    old_delivery(db, "d1", "Dora@Example.ORG", PENDING)
    db.close()

    store = open_store(state)

    assert schema_version(store) == len(MIGRATIONS)
    emails = {s.address: s for s in store.iter_email_subscribers(active_only=False)}
    assert sorted(emails) == ["ann@example.org", "bob@example.net", "carl@example.org", "dora@example.org"]
    bob = emails["bob@example.net"]
    assert (bob.active, bob.hashtags, bob.name) == (True, ("Climate", "Sports"), "Bob")
    assert (bob.confirmed_at, bob.last_digest_at) == (NOW - 3 * week, NOW)
    ann = emails["ann@example.org"]
    assert (ann.active, ann.hashtags) == (True, ())  # still everything, as the confirmed row had it
    carl = emails["carl@example.org"]
    assert (carl.active, carl.status_reason) == (False, "unsubscribed")
    assert emails["dora@example.org"].hashtags == ("Music",)
    assert store.subscriber("telegram", "Ab12") is not None  # chat ids are not touched
    ledger = store._db.execute("SELECT address, state FROM digest_deliveries ORDER BY address").fetchall()
    assert ledger == [("bob@example.net", SENT), ("dora@example.org", PENDING)]  # Bob's digest is not sent again
    assert store.create_digest("d2", NOW + week, NOW + week) == 3  # one delivery per mailbox
    store.close()


# -- schema 20: one added source per URL ------------------------------------------------------------


def old_added_source(db: Database, name: str, url: str, tags: list[str], added: datetime, *, paused: bool) -> None:
    db.execute(
        "INSERT INTO added_sources (name, url, hashtags, added_by, added_at) VALUES (?, ?, ?, '4242', ?)",
        (name, url, json.dumps(tags), to_db_time(added)),
    )
    db.execute("INSERT INTO sources (name, etag, paused) VALUES (?, ?, ?)", (name, f"etag-{name}", int(paused)))


def test_migration_keeps_the_oldest_of_sources_added_twice_with_the_hashtags_of_both(state: StateConfig) -> None:
    db = state_of_version(state, 19)
    wire, blog = "https://wire.example.com/rss", "https://blog.example.org/feed"
    # Two admins added the wire at once; the first paused it later, but the second copy kept polling it.
    old_added_source(db, "wire.example.com-1", wire, ["World"], NOW - timedelta(days=9), paused=True)
    old_added_source(db, "wire.example.com-2", wire, ["Tech", "world"], NOW - timedelta(days=9), paused=False)
    old_added_source(db, "blog.example.org-1", blog, ["Culture"], NOW - timedelta(days=5), paused=True)
    old_added_source(db, "wire-again", wire, [], NOW - timedelta(days=1), paused=True)
    db.execute(
        "INSERT INTO articles (key, source, title, link, text, hashtags, first_seen, image_url)"
        " VALUES ('k1', 'wire.example.com-2', 'Found by the second', 'https://wire.example.com/1', '', '[]', ?, '')",
        (to_db_time(NOW),),
    )
    db.close()

    store = open_store(state)

    assert schema_version(store) == len(MIGRATIONS)
    assert [(s.name, s.url, s.hashtags) for s in store.added_sources()] == [
        ("wire.example.com-1", wire, ("World", "Tech")),
        ("blog.example.org-1", blog, ("Culture",)),
    ]
    kept = store.source_state("wire.example.com-1")
    assert (kept.etag, kept.paused) == ("etag-wire.example.com-1", False)  # its own poll state, polled as before
    assert store.source_state("blog.example.org-1").paused  # not a duplicate: left as it was
    assert not store.source_state("wire-again").paused  # gone; a later source of that name starts unpaused
    article = store.get_article("k1")
    assert article is not None and article.source == "wire.example.com-2"  # found under that name: history
    assert store.added_sources_changes() == 1  # running workers read the sources again
    assert not store.add_source(AddedSource("wire.example.com-3", wire, (), "4343", NOW))
    assert store.added_source_with_url(wire) == "wire.example.com-1"
    assert store.add_source(AddedSource("new", "https://new.example.net/rss", (), "4343", NOW))
    store.close()


def test_links_and_admins_find_a_subscriber_whatever_the_case_of_the_address(state: StateConfig) -> None:
    db = state_of_version_4(state)
    old_subscriber(db, "Bob@Example.NET", active=True, confirmed=NOW)
    old_subscriber(db, "Eve@Example.org", active=True, confirmed=NOW)
    db.close()
    store = open_store(state)

    # An unsubscribe link in an old digest was signed for the address as it was stored then.
    assert store.deactivate_subscriber("email", "Bob@Example.NET", "unsubscribed", NOW)
    report = unsubscribe(store, "email", ["EVE@EXAMPLE.ORG"], NOW)  # `newsbot subscribers unsubscribe`

    assert report.unsubscribed == ["eve@example.org"]
    assert not any(s.active for s in store.iter_email_subscribers(active_only=False))
    store.close()


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


def test_confirming_a_request_without_a_name_or_chat_keeps_the_name_and_chat_already_stored(state: StateConfig) -> None:
    store = open_store(state)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    week_ago = now - timedelta(days=7)
    store.request_email_subscription("ann@example.org", ["Climate"], now, name="Ann")
    store.add_sign_up_request("ann@example.org", ["Climate"], now, name="Ann", forget_before=week_ago)
    from_chat = store.add_sign_up_request("ann@example.org", ["Sports"], now, linked_chat="42", forget_before=week_ago)

    assert store.confirm_sign_up("ann@example.org", store.sign_up_request(from_chat, "ann@example.org"), now)

    confirmed = store.email_subscriber("ann@example.org")
    assert confirmed is not None and confirmed.active
    assert (confirmed.name, confirmed.linked_chat, confirmed.hashtags) == ("Ann", "42", ("Sports",))
    store.close()
