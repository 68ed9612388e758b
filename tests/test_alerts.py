"""Health alerts reach each admin once per incident through the fake Bot API: a failing source, refused
credentials, digest bounces; again once when it works; never twice across a restart; not to an admin who said
/alerts off; hostile names and errors escaped. Those that keep incidents run on both backends (`on_both_backends`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot import alerts, telegram_html
from bot.app import App
from bot.commands.notices import deliver_now
from bot.config import Config, SourceConfig, parse_config
from bot.errors import ConfigError
from bot.ingest import Ingest
from bot.publishers.telegram import TelegramPublisher
from bot.store import AddedSource, SourceState, open_store
from tests.conftest import FakeClock, news_item, rss
from tests.fakes.bluesky_api import FakeBluesky
from tests.fakes.mastodon_api import FakeMastodon
from tests.fakes.smtp_server import FakeSmtp
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.x_api import FakeX
from tests.test_commands_subscriber import ADMIN, NOW, running_bot

OTHER_ADMIN = 1001
SECRET = "a-test-secret-that-is-long-enough"
on_both_backends = pytest.mark.usefixtures("state_env")  # SQLite, then PostgreSQL (see tests/conftest.py)


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    server = FakeTelegram(enforce_limits=False)
    server.start()
    yield server
    server.stop()


def build_config(tmp_path: Path, fake: FakeTelegram, **tables: Any) -> Config:
    data: dict[str, Any] = {
        "state": {"path": str(tmp_path / "state.sqlite")},
        "output": {"dir": str(tmp_path / "out"), "dry_run": True},
        "routes": [{"name": "all", "hashtags": ["*"], "channels": ["telegram"]}],
        **tables,
    }
    data["telegram"] = {"base_url": fake.base_url, "admins": [ADMIN, OTHER_ADMIN], **tables.get("telegram", {})}
    return parse_config(data, path=tmp_path / "config.toml")


def seen_by(fake: FakeTelegram, chat_id: int) -> list[str]:
    """What the admin sees of each message: the visible text (the fake refuses invalid HTML with a 400)."""
    return [telegram_html.visible_text(m.text) for m in fake.messages(chat_id)]


@on_both_backends
def test_a_source_failing_three_times_alerts_each_admin_once_across_a_restart_and_once_when_it_works_again(
    tmp_path: Path, fake: FakeTelegram
) -> None:
    feed = tmp_path / "feed.xml"  # missing: every poll fails
    config = build_config(tmp_path, fake, sources=[{"name": "city-feed", "url": str(feed)}])
    clock = FakeClock(NOW)

    def cycle(app: App) -> int:
        app.poll_due_sources(poll_all=True)
        clock.advance(minutes=15)
        return deliver_now(config.telegram, fake.token, app.store, clock)

    with App(config, clock=clock) as app:
        assert [cycle(app), cycle(app)] == [0, 0]
        assert cycle(app) == 2  # the third failure: one alert per admin
        assert cycle(app) == 0  # the fourth: the incident is open already
    with App(config, clock=clock) as app:  # a restart on the same state file
        assert cycle(app) == 0
        [alert] = seen_by(fake, ADMIN)
        assert seen_by(fake, OTHER_ADMIN) == [alert]
        assert "Source city-feed is failing" in alert
        assert "Since 2026-11-23 12:30 UTC: 3 polls in a row failed (it last worked: never)" in alert
        assert "no such file or directory" in alert
        assert f"newsbot preview {feed} --channel telegram" in alert
        assert "remove it from" in alert and "config.toml" in alert  # a config-file source: no /removesource

        feed.write_text(rss([news_item(1)]), encoding="utf-8")
        assert cycle(app) == 2
        assert cycle(app) == 0  # a further success says nothing
    fixed = seen_by(fake, ADMIN)[1]
    assert seen_by(fake, OTHER_ADMIN)[1] == fixed
    assert "Source city-feed works again" in fixed
    assert "Open since 2026-11-23 12:30 UTC, fixed 2026-11-23 13:15 UTC" in fixed
    assert len(fake.messages(ADMIN)) == 2


@on_both_backends
def test_an_admin_who_turned_alerts_off_gets_none_while_the_other_does_and_removing_the_source_ends_it(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "missing.xml"
    with running_bot(tmp_path, telegram={"admins": [ADMIN, OTHER_ADMIN]}) as chat:
        chat.store.add_source(AddedSource("feed", str(missing), (), str(ADMIN), NOW))  # as /addsource does
        assert "Alerts are off for you" in chat.ask("/alerts off", user_id=OTHER_ADMIN)
        ingest = Ingest(chat.store, chat.config)
        for _ in range(3):
            ingest.poll_many(ingest.sources(), NOW)
        [alert] = chat.fake.wait_for_messages(ADMIN, 1)
        assert "Source feed is failing" in telegram_html.visible_text(alert.text)
        chat.fake.wait_until(lambda: chat.store.unsent_notices() == [])
        assert len(chat.fake.messages(OTHER_ADMIN)) == 1  # only the reply to /alerts off

        listing = chat.ask("/alerts", user_id=OTHER_ADMIN)
        assert "Alerts are off for you" in listing
        assert "since 2026-11-23 12:00 UTC: source feed: no such file or directory" in listing
        assert "Alerts are on for you" in chat.ask("/alerts on", user_id=OTHER_ADMIN)
        assert "Removed source feed" in chat.ask("/removesource feed", user_id=ADMIN)
        assert "Nothing is wrong right now" in chat.ask("/alerts", user_id=ADMIN)  # a removed source is no longer wrong
        assert "Usage" in chat.ask("/alerts loud", user_id=OTHER_ADMIN)
        assert "Sorry, only the bot's admins" in chat.ask("/alerts off", user_id=5)


@on_both_backends
def test_credentials_refused_alert_once_even_after_a_restart_with_the_same_token_and_once_when_fixed(
    tmp_path: Path, fake: FakeTelegram
) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(rss([news_item(1), news_item(2)]), encoding="utf-8")
    config = build_config(
        tmp_path,
        fake,
        output={"dir": str(tmp_path / "out"), "dry_run": False},
        sources=[{"name": "feed", "url": str(feed), "backfill": 2}],
        telegram={"channel": "-1001234567890", "admins": [ADMIN]},
    )
    clock = FakeClock(NOW)

    def run_with(token: str) -> int:
        with App(config, clock=clock, publishers={"telegram": TelegramPublisher(config.telegram, token)}) as app:
            app.run_cycle(poll_all=True)
            app.run_cycle()  # the channel stays stopped: no second alert
            clock.advance(minutes=5)
            return deliver_now(config.telegram, fake.token, app.store, clock)

    assert run_with("999:REFUSED") == 1  # the fake Bot API answers 401
    assert run_with("999:REFUSED") == 0  # restarted with the same bad token: the incident is open already
    [alert] = seen_by(fake, ADMIN)
    assert "telegram stopped: its posts were refused" in alert and "NEWSBOT_TELEGRAM_TOKEN" in alert
    assert "Since 2026-11-23 12:00 UTC" in alert
    assert "the credentials in NEWSBOT_TELEGRAM_TOKEN in newsbot's environment" in alert
    assert fake.messages(-1001234567890) == []

    assert run_with(fake.token) == 1
    assert len(fake.messages(-1001234567890)) == 2  # the queue was kept
    assert "telegram sends again" in seen_by(fake, ADMIN)[1]


@on_both_backends
def test_a_digest_batch_bouncing_over_the_rate_alerts_once_and_a_later_clean_batch_says_so(
    tmp_path: Path, fake: FakeTelegram, fake_smtp: FakeSmtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_SECRET_KEY", SECRET)
    feed = tmp_path / "feed.xml"
    config = build_config(
        tmp_path,
        fake,
        output={"dir": str(tmp_path / "out"), "dry_run": False},
        sources=[{"name": "feed", "url": str(feed), "backfill": 10}],
        routes=[{"name": "all", "hashtags": ["*"], "channels": ["email"]}],
        email={"smtp_host": fake_smtp.host, "smtp_port": fake_smtp.port, "security": "none",
               "sender": "News <news@example.com>", "send_rate": 1000},
        web={"public_url": "https://news.example.com/newsbot"},
        telegram={"admins": [ADMIN]},
    )  # fmt: skip
    clock = FakeClock(NOW)
    readers = [f"reader{n:02d}@example.org" for n in range(20)]
    for address in readers[:3]:
        fake_smtp.refuse_recipient(address)

    def batch(app: App, story: int) -> int:
        feed.write_text(rss([news_item(n) for n in range(1, story + 1)]), encoding="utf-8")
        app.poll_due_sources(poll_all=True)
        app.digest(force=True)
        clock.advance(hours=1)
        return deliver_now(config.telegram, fake.token, app.store, clock)

    with App(config, clock=clock) as app:
        for address in readers:
            app.store.request_email_subscription(address, (), clock())
            app.store.confirm_email(address, clock())
        fake_smtp.refuse_recipient(readers[3])  # 4 of 20 bounce: 20%
        assert batch(app, 1) == 1
        assert batch(app, 2) == 1  # the bounced were deactivated: 0 of 16 bounce, which closes the incident
    [alert, fixed] = seen_by(fake, ADMIN)
    assert "20% of the digest bounced" in alert
    assert "Since 2026-11-23 12:00 UTC: 4 of 20 mails of the batch bounced ([alerts] bounce_rate is 5%)" in alert
    assert "newsbot subscribers export --channel email" in alert
    assert "Digest bounces are back within 5% (the latest batch: 0 of 16 bounced)" in fixed


@on_both_backends
def test_a_batch_at_the_bounce_rate_is_not_an_alert(tmp_path: Path, fake: FakeTelegram) -> None:
    config = build_config(tmp_path, fake, alerts={"bounce_rate": 0.25})
    store = open_store(config.state)
    try:
        alerts.digest_batch(store, config, "email", alerts.DigestBatch(sent=3, bounced=1, tried=4), NOW)
        assert store.unsent_notices() == [] and store.open_incidents() == []
        alerts.digest_batch(store, config, "email", alerts.DigestBatch(sent=2, bounced=2, tried=4), NOW)
        assert len(store.unsent_notices()) == 2  # one per admin
    finally:
        store.close()


@on_both_backends
def test_hostile_source_names_and_errors_are_escaped_and_url_credentials_never_shown(
    tmp_path: Path, fake: FakeTelegram
) -> None:
    config = build_config(tmp_path, fake)
    store = open_store(config.state)
    name = '<b>evil</b>&"x'
    source = SourceConfig(name=name, url="https://user:hunter2@feeds.example.com/<i>feed</i>")
    state = SourceState(name=name, failures=3, last_error="<script>alert(1)</script> & https://a:hunter2@x.example/")
    try:
        alerts.source_failed(store, config, source, state, NOW)
        alerts.source_failed(store, config, source, replace(state, failures=4), NOW)  # open already: nothing
        assert deliver_now(config.telegram, fake.token, store, FakeClock(NOW)) == 2
    finally:
        store.close()
    [message] = fake.messages(ADMIN)
    telegram_html.validate(message.text)
    shown = telegram_html.visible_text(message.text)
    assert f"Source {name} is failing" in shown
    assert "<script>alert(1)</script> &" in shown
    assert f"/removesource {name}" in shown  # added in chat: removable there
    assert "hunter2" not in message.text


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"bounce_rate": 5}, "alerts.bounce_rate: is a share of a batch, at most 1 (0.05 is 5%), not 5"),
        ({"bounce_rate": 0}, "alerts.bounce_rate: must be a finite number above 0"),
        ({"source_failures": 0}, "alerts.source_failures: must be a whole number above 0, not 0"),
        ({"bounce": 0.1}, "alerts.bounce: unknown key; did you mean 'bounce_rate'?"),
    ],
)
def test_alerts_config_errors_name_the_key_and_the_fix(
    tmp_path: Path, fake: FakeTelegram, table: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError) as error:
        build_config(tmp_path, fake, alerts=table)
    assert problem in str(error.value)


def test_alerts_config_defaults(tmp_path: Path, fake: FakeTelegram) -> None:
    config = build_config(tmp_path, fake)
    assert (config.alerts.source_failures, config.alerts.bounce_rate) == (3, 0.05)


@on_both_backends
def test_a_failing_source_taken_out_of_the_config_file_ends_its_alert_at_the_next_start(
    tmp_path: Path, fake: FakeTelegram
) -> None:
    config = build_config(tmp_path, fake, sources=[{"name": "old-feed", "url": str(tmp_path / "missing.xml")}])
    clock = FakeClock(NOW)
    with App(config, clock=clock) as app:
        for _ in range(3):
            app.poll_due_sources(poll_all=True)
        assert [i.key for i in app.store.open_incidents()] == ["source:old-feed"]
    with App(replace(config, sources=()), clock=clock) as app:  # restarted without it
        assert app.store.open_incidents() == []
        assert deliver_now(config.telegram, fake.token, app.store, clock) == 2  # only the alerts, no "works again"


# --- every channel's refused credentials -------------------------------------------------------------------


@pytest.fixture
def fake_mastodon() -> Iterator[FakeMastodon]:
    with FakeMastodon() as server:
        yield server


X_OAUTH1 = {
    "NEWSBOT_X_CONSUMER_KEY": "ck-test",
    "NEWSBOT_X_CONSUMER_SECRET": "cs-test",
    "NEWSBOT_X_ACCESS_TOKEN_SECRET": "ats-test",
}


@pytest.mark.parametrize(
    ("channel", "variable"),
    [
        ("x", "NEWSBOT_X_ACCESS_TOKEN"),
        ("mastodon", "NEWSBOT_MASTODON_TOKEN"),
        ("bluesky", "NEWSBOT_BLUESKY_APP_PASSWORD"),
    ],
)
def test_each_social_channel_whose_credentials_are_refused_alerts_once_and_once_when_it_sends_again(
    tmp_path: Path,
    fake: FakeTelegram,
    fake_x: FakeX,
    fake_mastodon: FakeMastodon,
    fake_bluesky: FakeBluesky,
    monkeypatch: pytest.MonkeyPatch,
    channel: str,
    variable: str,
) -> None:
    for name, value in X_OAUTH1.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("NEWSBOT_X_BEARER_TOKEN", raising=False)
    right = {"x": fake_x.access_token, "mastodon": fake_mastodon.token, "bluesky": fake_bluesky.password}[channel]
    feed = tmp_path / "feed.xml"
    feed.write_text(rss([news_item(1), news_item(2)]), encoding="utf-8")
    config = build_config(
        tmp_path,
        fake,
        output={"dir": str(tmp_path / "out"), "dry_run": False},
        sources=[{"name": "feed", "url": str(feed), "backfill": 2}],
        routes=[{"name": "all", "hashtags": ["*"], "channels": [channel]}],
        telegram={"admins": [ADMIN]},
        x={"api_base_url": fake_x.base_url, "request_timeout": 2},
        mastodon={"api_base_url": fake_mastodon.base_url, "request_timeout": 2, "max_characters": 500},
        bluesky={"service_url": fake_bluesky.base_url, "handle": fake_bluesky.handle, "request_timeout": 2},
    )
    clock = FakeClock(NOW)

    def run_with(secret: str) -> int:
        monkeypatch.setenv(variable, secret)
        with App(config, clock=clock) as app:
            app.run_cycle(poll_all=True)
            app.run_cycle()  # the channel stays stopped: no second alert
            clock.advance(minutes=5)
            return deliver_now(config.telegram, fake.token, app.store, clock)

    assert run_with("refused-secret") == 1
    assert run_with("refused-secret") == 0  # restarted, still refused: the incident is open already
    [alert] = seen_by(fake, ADMIN)
    assert f"{channel} stopped: its posts were refused" in alert
    assert "Since 2026-11-23 12:00 UTC: " in alert and "refused the" in alert and "(401)" in alert
    assert variable in alert and "refused-secret" not in alert

    def posted() -> int:
        return len({"x": fake_x.tweets, "mastodon": fake_mastodon.statuses, "bluesky": fake_bluesky.records}[channel])

    assert posted() == 0
    assert run_with(right) == 1
    assert posted() == 2  # the queue was kept
    assert f"{channel} sends again" in seen_by(fake, ADMIN)[1]


def test_an_smtp_login_refused_during_a_digest_alerts_once_and_once_when_a_digest_goes_out_again(
    tmp_path: Path, fake: FakeTelegram, fake_smtp: FakeSmtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_SECRET_KEY", SECRET)
    monkeypatch.setenv("NEWSBOT_SMTP_USERNAME", "newsbot")
    fake_smtp.require_auth("newsbot", "right-password")
    feed = tmp_path / "feed.xml"
    config = build_config(
        tmp_path,
        fake,
        output={"dir": str(tmp_path / "out"), "dry_run": False},
        sources=[{"name": "feed", "url": str(feed), "backfill": 10}],
        routes=[{"name": "all", "hashtags": ["*"], "channels": ["email"]}],
        email={"smtp_host": fake_smtp.host, "smtp_port": fake_smtp.port, "security": "none",
               "sender": "News <news@example.com>", "send_rate": 1000},
        web={"public_url": "https://news.example.com/newsbot"},
        telegram={"admins": [ADMIN]},
    )  # fmt: skip
    clock = FakeClock(NOW)

    def digest_with(password: str, story: int) -> int:
        monkeypatch.setenv("NEWSBOT_SMTP_PASSWORD", password)
        feed.write_text(rss([news_item(n) for n in range(1, story + 1)]), encoding="utf-8")
        with App(config, clock=clock) as app:
            if story == 1:
                app.store.request_email_subscription("reader@example.org", (), clock())
                app.store.confirm_email("reader@example.org", clock())
            app.poll_due_sources(poll_all=True)
            app.digest(force=True)
            clock.advance(hours=1)
            return deliver_now(config.telegram, fake.token, app.store, clock)

    assert digest_with("wrong-password", 1) == 1
    assert digest_with("wrong-password", 2) == 0  # the same incident: nobody is told twice
    [alert] = seen_by(fake, ADMIN)
    assert "email stopped: its posts were refused" in alert and "login refused" in alert
    assert "NEWSBOT_SMTP_PASSWORD" in alert and "wrong-password" not in alert
    assert fake_smtp.messages == []

    assert digest_with("right-password", 3) == 1
    assert len(fake_smtp.messages) >= 1
    assert "email sends again" in seen_by(fake, ADMIN)[1]
