"""The state in PostgreSQL: choosing it, its secrets, its migrations, and whole newsbot runs on it.

The store's behaviour on both backends is in the store tests (their `state` fixture runs each on SQLite and on a
real PostgreSQL, see tests/conftest.py); here is what only PostgreSQL has.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.app import App
from bot.config import Config, StateConfig, parse_config
from bot.errors import ConfigError
from bot.lock import NoLock, StateLock, lock_for
from bot.store import MIGRATIONS, SENT, Store, StoreError, open_store
from bot.store.db import to_postgres
from tests.conftest import FakeClock, news_item, newsbot, rss
from tests.fakes.smtp_server import FakeSmtp
from tests.fakes.telegram_api import FakeTelegram
from tests.store_sql import schema_version

SECRET_URL = "postgresql://newsbot:s3cret-pw@db.example.net:5433/news"


def test_a_password_in_the_config_file_is_refused_with_where_to_put_it_instead(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config({"state": {"url": SECRET_URL}}, path=tmp_path / "config.toml")
    message = str(refused.value)
    assert "state.url" in message and "NEWSBOT_DATABASE_URL" in message and "PGPASSWORD" in message
    assert "s3cret-pw" not in message


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://newsbot@db.example.net/news?password=s3cret-pw",
        "postgresql://newsbot@db.example.net/news?sslmode=require&sslpassword=s3cret-pw",
        "postgresql://newsbot@db.example.net/news?password=",
    ],
)
def test_a_password_given_as_a_url_parameter_in_the_config_file_is_refused_too(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config({"state": {"url": url}}, path=tmp_path / "config.toml")
    message = str(refused.value)
    assert "state.url" in message and "NEWSBOT_DATABASE_URL" in message and "s3cret-pw" not in message


def test_a_state_url_without_a_password_is_taken_from_the_file(tmp_path: Path) -> None:
    url = "postgresql://newsbot@db.example.net/news?sslmode=require&application_name=newsbot"
    assert parse_config({"state": {"url": url}}, path=tmp_path / "config.toml").state.url == url


def test_a_state_url_that_is_not_postgresql_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="postgresql://"):
        parse_config({"state": {"url": "mysql://newsbot@db/news"}}, path=tmp_path / "config.toml")


def test_the_environment_wins_over_the_file_and_either_one_leaves_sqlite() -> None:
    state = StateConfig(path=Path("s.sqlite"), url="postgresql://newsbot@file.example.net/news")
    assert state.database_url({}) == "postgresql://newsbot@file.example.net/news"
    assert state.database_url({"NEWSBOT_DATABASE_URL": SECRET_URL}) == SECRET_URL
    assert StateConfig(path=Path("s.sqlite")).database_url({}) == ""
    assert isinstance(lock_for(state, {}), NoLock)  # no file lock for a PostgreSQL state
    assert isinstance(lock_for(StateConfig(path=Path("s.sqlite")), {}), StateLock)


def test_check_config_says_which_backend_holds_the_state_without_the_password(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[output]\ndry_run = true\n[[sources]]\nname = "f"\nurl = "feed.xml"\n')
    done = newsbot("check-config", cwd=tmp_path, env={"NEWSBOT_DATABASE_URL": SECRET_URL})
    assert "state: PostgreSQL at postgresql://db.example.net:5433/news (from $NEWSBOT_DATABASE_URL)" in done.stdout
    assert "s3cret" not in done.stdout + done.stderr
    done = newsbot("check-config", cwd=tmp_path, env={"NEWSBOT_DATABASE_URL": ""})
    assert "state: SQLite file" in done.stdout


def test_a_server_that_cannot_be_reached_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    url = f"postgresql://newsbot:s3cret-pw@/news?host={tmp_path / 'no-server-here'}"
    with pytest.raises(StoreError) as refused:
        open_store(StateConfig(path=tmp_path / "s.sqlite", url=url))
    message = str(refused.value)
    assert "state database postgresql:" in message and "Check that the server is running" in message
    assert "s3cret" not in message


def test_placeholders_become_psycopgs_and_quoted_text_stays_as_written() -> None:
    assert to_postgres("SELECT a FROM t WHERE b = ? AND c LIKE 'x?%' AND d = ?") == (
        "SELECT a FROM t WHERE b = %s AND c LIKE 'x?%' AND d = %s"
    )
    assert to_postgres("SELECT 5 % 2, 'it''s ?'") == "SELECT 5 %% 2, 'it''s ?'"


def test_processes_starting_at_once_on_an_empty_database_migrate_it_once(postgres_url: str, tmp_path: Path) -> None:
    state = StateConfig(path=tmp_path / "s.sqlite", url=postgres_url)
    start = threading.Barrier(4)
    opened: list[Store] = []
    failed: list[BaseException] = []

    def first_start() -> None:
        start.wait()
        try:
            opened.append(open_store(state))
        except BaseException as exc:  # reported below
            failed.append(exc)

    threads = [threading.Thread(target=first_start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failed == []
    assert [schema_version(store) for store in opened] == [len(MIGRATIONS)] * 4
    for store in opened:
        store.close()


def test_a_whole_cycle_on_postgresql_polls_posts_to_telegram_and_mails_the_digest(
    make_config: Callable[..., Config],
    tmp_path: Path,
    fake_smtp: FakeSmtp,
    fake_telegram: FakeTelegram,
    clock: FakeClock,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSBOT_DATABASE_URL", postgres_url)
    monkeypatch.setenv("NEWSBOT_SECRET_KEY", "postgres-state-secret-0123456789")
    monkeypatch.setenv("NEWSBOT_TELEGRAM_TOKEN", fake_telegram.token)
    feed = tmp_path / "feed.xml"
    feed.write_text(rss([news_item(1), news_item(2, tag="Climate")]), encoding="utf-8")
    config = make_config(
        output={"dir": str(tmp_path / "out"), "dry_run": False},
        sources=[{"name": "feed", "url": str(feed), "backfill": 2}],
        routes=[{"name": "all", "hashtags": ["*"], "channels": ["telegram", "email"]}],
        telegram={"channel": "@news", "base_url": fake_telegram.base_url},
        email={
            "smtp_host": fake_smtp.host,
            "smtp_port": fake_smtp.port,
            "security": "none",
            "sender": "Example News <news@example.com>",
            "send_rate": 1000,
        },
        web={"public_url": "https://news.example.com/newsbot"},
    )
    with App(config, clock=clock) as app:
        app.run_cycle(poll_all=True)
        app.store.request_email_subscription("reader@example.org", ["Climate"], clock())
        app.store.confirm_email("reader@example.org", clock())
        assert app.digest(force=True).sent == 1
        posted = [row for article in app.store.recent_articles(10) for row in app.store.rows_for_article(article.key)]
        assert sorted(row.state for row in posted if row.channel == "telegram") == [SENT, SENT]
    assert len(fake_telegram.messages("@news")) == 2
    [digest] = [m.message for m in fake_smtp.messages if "reader@example.org" in m.rcpt_tos]
    assert "Story number 2" in digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert not (tmp_path / "state.sqlite").exists()  # nothing went to the SQLite file


def drop_connections(url: str) -> int:
    """What a server restart or an idle timeout does to newsbot: every other connection to the database ends.
    Returns once they are gone, with how many were ended. A connection the pool was opening meanwhile (to keep its
    one spare after the last drop) is ended too: the server drops that one as well."""
    from bot.store.postgres import postgres_connection

    with postgres_connection(url) as admin:
        others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ended = admin.execute(f"SELECT pg_terminate_backend(pid) {others}").fetchall()
        while admin.execute(f"SELECT COUNT(*) {others}").fetchone()[0]:  # type: ignore[index]
            admin.execute("SELECT pg_sleep(0.01)")
            ended += admin.execute(f"SELECT pg_terminate_backend(pid) {others}").fetchall()
    return len(ended)


def test_a_store_whose_connection_the_server_dropped_goes_on_with_a_new_one(postgres_url: str, tmp_path: Path) -> None:
    url = postgres_url.replace("postgresql://postgres@", "postgresql://postgres:s3cret-pw@")
    store = open_store(StateConfig(path=tmp_path / "s.sqlite", url=url))
    try:
        store.set_meta("before", "1")
        assert drop_connections(postgres_url) >= 1
        assert store.get_meta("before") == "1"  # a read: tried again on a new connection
        drop_connections(postgres_url)
        store.set_meta("after", "2")  # a transaction: its BEGIN found the connection gone, and took another
        assert store.get_meta("after") == "2"

        with pytest.raises(StoreError) as lost, store.transaction():  # dropped in the middle of a transaction
            store.set_meta("half", "written")
            drop_connections(postgres_url)
            store.set_meta("other-half", "written")
        message = str(lost.value)
        assert message.startswith("state database postgresql:") and "nothing was written" in message
        assert "s3cret" not in message
        assert store.get_meta("half") is None  # rolled back; the store works again at once
        again = open_store(StateConfig(path=tmp_path / "s.sqlite", url=url))  # the pool hands out live ones only
        assert again.get_meta("after") == "2"
        again.close()
    finally:
        store.close()


def test_a_read_that_fails_is_a_store_error_in_words_on_both_backends(state: StateConfig) -> None:
    store = open_store(state)
    try:
        with pytest.raises(StoreError) as failed:
            store._db.execute("SELECT missing_column FROM meta").fetchall()
        assert "missing_column" in str(failed.value) and str(failed.value).startswith("state ")
    finally:
        store.close()
