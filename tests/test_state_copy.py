"""`newsbot state copy`: an SQLite state filled by real cycles, moved into PostgreSQL; nothing goes out twice."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.config import Config, StateConfig
from bot.lock import StateLock
from bot.store import AddedSource, Store, StoreError, open_store
from bot.store.state_copy import COPIED_TABLES, copy_sqlite_state, sqlite_tables
from tests.conftest import FakeClock, news_item, newsbot, rss
from tests.fakes.smtp_server import FakeSmtp
from tests.fakes.telegram_api import FakeTelegram

ADMIN = 4242
READER = "reader@example.org"


def table_rows(store: Store, table: str) -> list[tuple[Any, ...]]:
    """Every row of `table`, in a backend-neutral order (the SQL a DBA would run)."""
    rows = store._db.execute(f"SELECT * FROM {table}").fetchall()
    return sorted((tuple(row) for row in rows), key=repr)


def test_every_table_of_the_schema_is_in_the_copy_list(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.sqlite")
    try:
        assert sqlite_tables(store._db) == set(COPIED_TABLES)  # a migration's new table must be copied too
    finally:
        store.close()


@pytest.fixture
def newsroom(
    make_config: Callable[..., Config],
    tmp_path: Path,
    fake_smtp: FakeSmtp,
    fake_telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[[], Config]]:
    """The config of a newsbot posting to Telegram (one route held for approval) and mailing a digest."""
    monkeypatch.delenv("NEWSBOT_DATABASE_URL", raising=False)
    monkeypatch.setenv("NEWSBOT_SECRET_KEY", "state-copy-secret-0123456789abcdef")
    monkeypatch.setenv("NEWSBOT_TELEGRAM_TOKEN", fake_telegram.token)

    def build() -> Config:
        return make_config(
            output={"dir": str(tmp_path / "out"), "dry_run": False},
            sources=[{"name": "feed", "url": str(tmp_path / "feed.xml"), "backfill": 5}],
            routes=[
                {"name": "all", "hashtags": ["PoliticsNews", "Climate"], "channels": ["telegram", "email"]},
                {"name": "desk", "hashtags": ["Budget"], "channels": ["telegram"], "approval": True},
            ],
            telegram={"channel": "@news", "base_url": fake_telegram.base_url, "admins": [ADMIN]},
            email={
                "smtp_host": fake_smtp.host,
                "smtp_port": fake_smtp.port,
                "security": "none",
                "sender": "Example News <news@example.com>",
                "send_rate": 1000,
            },
            web={"public_url": "https://news.example.com/newsbot"},
        )

    yield build


def fill_sqlite_state(config: Config, clock: FakeClock, feed: Path) -> None:
    """Two cycles and a digest on SQLite, with every kind of record the state keeps."""
    feed.write_text(rss([news_item(1), news_item(2, tag="Climate"), news_item(3, tag="Budget")]), encoding="utf-8")
    with App(config, clock=clock) as app:
        store = app.store
        store.subscribe("telegram", "1001", clock())
        store.add_subscriber_tags("telegram", "1001", ["Climate"], clock())
        store.add_subscriber_words("telegram", "1001", "watch", ["council"])
        store.request_email_subscription(READER, ["Climate"], clock())
        store.confirm_email(READER, clock())
        store.add_sign_up_request(
            "later@example.org", ["PoliticsNews"], clock(), name="Later", forget_before=clock() - timedelta(days=7)
        )
        store.take_rate_slot("signup", "203.0.113.9", clock(), limit=5, window=timedelta(hours=1))
        store.add_source(AddedSource("extra", str(feed), ("Climate",), "admin", clock()))
        store.open_incident("source:extra", "extra is failing", clock())
        store.set_alerts(ADMIN, False, clock())
        store.set_meta("x.budget.month", "2026-11:17")
        store.set_source_paused("extra", True)
        store.keep_model_summary("text-hash", "", 280, "The council approved the plan.", clock())
        store.take_model_request(clock(), 500)
        store.open_admin_session("session-hash", ADMIN, "csrf", clock(), clock() + timedelta(hours=12))
        store.use_admin_login("used-nonce", ADMIN, clock(), clock() + timedelta(minutes=10))
        app.run_cycle(poll_all=True)
        store.count_click(store.recent_articles(1)[0].key, "telegram", clock())
        clock.advance(minutes=5)
        app.run_cycle()
        assert app.digest(force=True).sent == 1


def test_a_copied_state_holds_every_row_and_a_cycle_on_it_sends_nothing_twice(
    newsroom: Callable[[], Config],
    tmp_path: Path,
    fake_smtp: FakeSmtp,
    fake_telegram: FakeTelegram,
    clock: FakeClock,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = newsroom()
    feed = tmp_path / "feed.xml"
    fill_sqlite_state(config, clock, feed)
    posted, mailed = len(fake_telegram.messages("@news")), len(fake_smtp.messages)
    assert posted == 2 and mailed == 1

    report = copy_sqlite_state(config.state.path, postgres_url)

    sqlite, postgres = open_store(config.state.path), open_store(StateConfig(path=tmp_path / "x", url=postgres_url))
    try:
        assert dict(report.rows) == {table: len(table_rows(sqlite, table)) for table in COPIED_TABLES}
        for table in COPIED_TABLES:
            assert table_rows(postgres, table) == table_rows(sqlite, table), table
        empty = [table for table, count in report.rows if not count]
        assert empty == [], "every table holds rows, so each one's copy is checked"
        notices = len(table_rows(postgres, "admin_notices"))
    finally:
        sqlite.close()
        postgres.close()

    monkeypatch.setenv("NEWSBOT_DATABASE_URL", postgres_url)
    feed.write_text(rss([news_item(n) for n in (1, 4)] + [news_item(2, tag="Climate")]), encoding="utf-8")
    clock.advance(hours=1)
    with App(config, clock=clock) as app:
        app.run_cycle(poll_all=True)
        assert app.digest(force=True).sent == 0  # the reader had story 2 already; story 4 is not theirs
        assert app.store.subscribe("telegram", "1002", clock())  # new rows get ids past the copied ones
        [approval] = app.store.waiting_approvals()  # still waiting for the admin, its previews not queued again
        assert app.store.preview_notices(approval.id) and len(table_rows(app.store, "admin_notices")) == notices
        assert not app.store.add_source(AddedSource("extra-2", str(feed), (), "admin", clock()))  # its URL's key came
        assert app.store.added_source_with_url(str(feed)) == "extra"
    new_posts = [m.text for m in fake_telegram.messages("@news")[posted:]]
    assert len(new_posts) == 1 and "Story number 4" in new_posts[0]
    assert len(fake_smtp.messages) == mailed


def write_config(tmp_path: Path) -> Path:
    (tmp_path / "config.toml").write_text(
        f'[state]\npath = "{tmp_path / "state.sqlite"}"\n[output]\ndry_run = true\n'
        f'[telegram]\nchannel = "@news"\n[[sources]]\nname = "f"\nurl = "{tmp_path / "feed.xml"}"\nbackfill = 1\n'
        '[[routes]]\nname = "all"\nhashtags = ["*"]\nchannels = ["telegram"]\n',
        encoding="utf-8",
    )
    (tmp_path / "feed.xml").write_text(rss([news_item(1)]), encoding="utf-8")
    return tmp_path / "config.toml"


def with_password(url: str) -> str:
    return url.replace("postgresql://postgres@", "postgresql://postgres:s3cret-pw@")


def test_the_command_refuses_a_target_holding_a_state_unless_forced(tmp_path: Path, postgres_url: str) -> None:
    write_config(tmp_path)
    assert newsbot("once", cwd=tmp_path, env={"NEWSBOT_DATABASE_URL": ""}).returncode == 0
    copied = newsbot("state", "copy", "--to", with_password(postgres_url), cwd=tmp_path)
    assert copied.returncode == 0, copied.stderr
    assert "  articles: 1 row(s)" in copied.stdout and "  outbox: 1 row(s)" in copied.stdout
    assert "visible to other users" in copied.stderr  # the password on the command line
    assert "s3cret" not in copied.stdout + copied.stderr

    again = newsbot("state", "copy", cwd=tmp_path, env={"NEWSBOT_DATABASE_URL": postgres_url})
    assert again.returncode == 1
    assert "already holds a newsbot state (1 articles row(s), 1 outbox row(s), 0 subscribers row(s))" in again.stderr
    assert "add --force" in again.stderr

    sqlite = open_store(tmp_path / "state.sqlite")
    sqlite.subscribe("telegram", "1001", FakeClock()())
    sqlite.close()
    forced = newsbot("state", "copy", "--force", cwd=tmp_path, env={"NEWSBOT_DATABASE_URL": postgres_url})
    assert forced.returncode == 0, forced.stderr
    assert "  subscribers: 1 row(s)" in forced.stdout and "  articles: 1 row(s)" in forced.stdout
    postgres = open_store(StateConfig(path=tmp_path / "x", url=postgres_url))
    try:
        assert len(table_rows(postgres, "articles")) == 1 and len(table_rows(postgres, "subscribers")) == 1
    finally:
        postgres.close()


def test_the_copy_refuses_while_newsbot_runs_on_the_file_and_names_what_is_missing(
    tmp_path: Path, postgres_url: str
) -> None:
    write_config(tmp_path)
    missing = newsbot("state", "copy", cwd=tmp_path, env={"NEWSBOT_DATABASE_URL": ""})
    assert missing.returncode == 2 and "--to postgresql://" in missing.stderr
    nothing = newsbot("state", "copy", "--to", postgres_url, cwd=tmp_path)
    assert nothing.returncode == 2 and "no SQLite state at" in nothing.stderr

    open_store(tmp_path / "state.sqlite").close()
    with StateLock(tmp_path / "state.sqlite"):  # as `newsbot run` holds it
        running = newsbot("state", "copy", "--to", postgres_url, cwd=tmp_path)
    assert running.returncode == 1 and "another newsbot" in running.stderr and "stop it first" in running.stderr


def test_a_target_holding_a_state_is_left_as_it_was(tmp_path: Path, postgres_url: str, clock: FakeClock) -> None:
    source = open_store(tmp_path / "s.sqlite")
    source.subscribe("telegram", "1", clock())
    source.close()
    target = open_store(StateConfig(path=tmp_path / "x", url=postgres_url))
    target.subscribe("telegram", "2", clock())
    target.set_meta("kept", "yes")
    try:
        with pytest.raises(StoreError, match="already holds a newsbot state"):
            copy_sqlite_state(tmp_path / "s.sqlite", postgres_url)
        assert target.get_meta("kept") == "yes" and target.subscriber("telegram", "2") is not None
        copy_sqlite_state(tmp_path / "s.sqlite", postgres_url, force=True)
        assert target.get_meta("kept") is None and target.subscriber("telegram", "2") is None
        assert target.subscriber("telegram", "1") is not None
    finally:
        target.close()
