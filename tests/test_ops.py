"""The operations endpoints over real HTTP on 127.0.0.1: /healthz, /readyz, /metrics, the Telegram webhook."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import App
from bot.commands import CommandRunner, build_application, open_command_context
from bot.config import Config
from bot.errors import ConfigError
from bot.metrics import Metrics
from bot.scheduler import Heartbeat
from bot.server import Server, serving
from bot.store import open_store
from bot.webhook import SECRET_HEADER, WEBHOOK_SECRET_ENV, Webhook, webhook_from_config
from tests.conftest import REPO, FakeClock, news_item, rss
from tests.fakes.telegram_api import FakeTelegram

CHANNEL = "-1001234567890"
TOKEN = "scrape-token-0123456789"
SECRET = "webhook-secret_0123456789"
WEBHOOK_URL = "https://news.example.com/telegram/webhook"
USER = 5


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(config: Config, **parts: Any) -> Iterator[httpx.Client]:
    """The server `newsbot run` serves, with `parts`, on a free port; a client pointed at it."""
    port = free_port()
    config = config.__class__(
        **{**_fields(config), "web": config.web.__class__(**{**_fields(config.web), "port": port})}
    )
    server = Server(config, open_store=lambda: open_store(config.state.path), **parts)
    with serving(server), httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        yield client


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value, from a scrape."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


# -- /healthz and /readyz -----------------------------------------------------------------------


def test_healthz_and_readyz_answer_200_while_the_state_reads_and_the_scheduler_runs(
    make_config: Callable[..., Config],
) -> None:
    ticks = Ticks()
    heartbeat = Heartbeat(30, clock=ticks)
    heartbeat.beat()
    ticks.now += 59
    with served(make_config(), heartbeat=heartbeat) as client:
        assert (client.get("/healthz").status_code, client.get("/healthz").text) == (200, "ok")
        ready = client.get("/readyz")
        assert (ready.status_code, ready.text) == (200, "ready\n")
        assert ready.headers["content-type"].startswith("text/plain")
        assert ready.headers["x-content-type-options"] == "nosniff"  # the pages' headers, for the whole server


def test_readyz_is_503_with_the_reason_when_the_scheduler_has_stalled(make_config: Callable[..., Config]) -> None:
    ticks = Ticks()
    heartbeat = Heartbeat(30, clock=ticks)
    with served(make_config(), heartbeat=heartbeat) as client:
        assert client.get("/readyz").text == "not ready: the scheduler has not started yet\n"
        heartbeat.beat()
        ticks.now += 61
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert answer.text == "not ready: the scheduler last ran 61 s ago, more than two of its 30 s intervals\n"
        assert client.get("/healthz").status_code == 200  # alive, only not ready
        heartbeat.beat()
        assert client.get("/readyz").status_code == 200


def test_readyz_is_503_with_the_reason_when_the_state_cannot_be_read(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    (tmp_path / "not-a-folder").write_text("a file where the state's folder should be")
    config = make_config(state={"path": str(tmp_path / "not-a-folder" / "state.sqlite")})
    with served(config) as client:  # `newsbot web`: no scheduler, the state check only
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert answer.text.startswith("not ready: the state is not reachable: state file ")
        assert "not-a-folder" in answer.text
        assert client.get("/healthz").status_code == 200


# -- /metrics ------------------------------------------------------------------------------------


def test_metrics_count_sends_429s_and_polls_of_a_real_cycle(
    make_config: Callable[..., Config],
    fake_telegram: FakeTelegram,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSBOT_TELEGRAM_TOKEN", fake_telegram.token)
    feed = tmp_path / "feed.xml"
    feed.write_text(rss([news_item(1), news_item(2)]), encoding="utf-8")
    config = make_config(
        output={"dir": str(tmp_path / "out"), "dry_run": False},
        sources=[
            {"name": "city-news", "url": str(feed), "backfill": 2},
            {"name": "gone-away", "url": str(tmp_path / "missing.xml")},
        ],
        routes=[{"name": "all", "hashtags": ["*"], "channels": ["telegram"]}],
        telegram={"base_url": fake_telegram.base_url, "channel": CHANNEL},
        web={"metrics": True},
    )
    # The one 429 is this injected one. With the fake's flood limits on, a loaded machine that reads the fake's
    # clock late for one send and on time for the next (both 1.03 s apart on newsbot's) adds a second 429.
    fake_telegram.enforce_limits = False
    fake_telegram.retry_after(1, times=1)
    with App(config, clock=clock) as app:
        app.store.subscribe("telegram", "501", clock())
        app.run_cycle(poll_all=True)
        with served(config, metrics=app.metrics) as client:
            answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    figures = samples(answer.text)
    assert figures[("newsbot_sends_total", (("channel", "telegram"), ("outcome", "sent")))] == 4  # 2 × (channel, 501)
    assert figures[("newsbot_rate_limited_total", (("channel", "telegram"),))] == 1 == fake_telegram.count_429
    assert figures[("newsbot_rate_limited_seconds_total", (("channel", "telegram"),))] == 1
    assert figures[("newsbot_polls_total", (("source", "city-news"),))] == 1
    assert figures[("newsbot_poll_failures_total", (("source", "city-news"),))] == 0
    assert figures[("newsbot_polls_total", (("source", "gone-away"),))] == 1
    assert figures[("newsbot_poll_failures_total", (("source", "gone-away"),))] == 1
    assert figures[("newsbot_poll_duration_seconds_count", (("host", "file"),))] == 2  # both feeds are files
    assert figures[("newsbot_poll_seconds_total", (("source", "city-news"),))] > 0  # its download time
    assert ("newsbot_poll_seconds_total", (("source", "gone-away"),)) in figures
    assert figures[("newsbot_queue_depth", (("channel", "telegram"),))] == 0
    assert figures[("newsbot_digest_deliveries", (("state", "pending"),))] == 0
    assert figures[("newsbot_leases_held", (("kind", "outbox"),))] == 0


def test_queue_depth_is_read_from_the_state_at_scrape_time(
    make_config: Callable[..., Config], clock: FakeClock, tmp_path: Path
) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(rss([news_item(1), news_item(2), news_item(3)]), encoding="utf-8")
    config = make_config(
        sources=[{"name": "city-news", "url": str(feed), "backfill": 3}],
        routes=[{"name": "all", "hashtags": ["*"], "channels": ["x"]}],
        web={"metrics": True},
    )
    with App(config, clock=clock) as app:
        app.poll_due_sources(poll_all=True)  # queued, not drained
        with served(config, metrics=app.metrics) as client:
            figures = samples(client.get("/metrics").text)
    assert figures[("newsbot_queue_depth", (("channel", "x"),))] == 3


def test_metrics_want_the_bearer_token_when_one_is_set(make_config: Callable[..., Config]) -> None:
    with served(make_config(), metrics=Metrics(enabled=True), metrics_token=TOKEN) as client:
        missing = client.get("/metrics")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        right = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert TOKEN not in missing.text + wrong.text
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "newsbot_leases_held" in right.text


def test_metrics_are_404_when_turned_off(make_config: Callable[..., Config]) -> None:
    with served(make_config()) as client:
        assert client.get("/metrics").status_code == 404
        assert client.get("/healthz").status_code == 200


def test_metrics_is_off_by_default_and_a_config_key(make_config: Callable[..., Config]) -> None:
    assert make_config().web.metrics is False
    assert make_config(web={"metrics": True}).web.metrics is True


# -- Telegram webhook ------------------------------------------------------------------------------


def test_webhook_url_must_be_https(make_config: Callable[..., Config]) -> None:
    with pytest.raises(ConfigError, match=r"telegram\.webhook_url: Telegram delivers updates only over https"):
        make_config(telegram={"webhook_url": "http://news.example.com/hook"})


@pytest.mark.parametrize(
    ("secret", "problem"),
    [("", "set the environment variable NEWSBOT_TELEGRAM_WEBHOOK_SECRET"), ("has spaces!", "must be 1-256 characters")],
)
def test_webhook_url_wants_a_secret_telegram_accepts(
    make_config: Callable[..., Config], secret: str, problem: str
) -> None:
    config = make_config(telegram={"webhook_url": WEBHOOK_URL})
    with pytest.raises(ConfigError, match=problem) as raised:
        webhook_from_config(config, {WEBHOOK_SECRET_ENV: secret})
    assert "has spaces" not in str(raised.value)


def test_webhook_path_may_not_hide_a_page(make_config: Callable[..., Config]) -> None:
    config = make_config(telegram={"webhook_url": "https://news.example.com/subscribe"})
    with pytest.raises(ConfigError, match="one of newsbot's own pages"):
        webhook_from_config(config, {WEBHOOK_SECRET_ENV: SECRET})


@contextmanager
def webhook_bot(make_config: Callable[..., Config], fake: FakeTelegram) -> Iterator[tuple[httpx.Client, Config]]:
    """The chat commands in webhook mode against the fake Bot API, and the server taking their updates."""
    config = make_config(telegram={"base_url": fake.base_url, "admins": [1000], "webhook_url": WEBHOOK_URL})
    webhook = webhook_from_config(config, {WEBHOOK_SECRET_ENV: SECRET})
    assert webhook is not None
    context = open_command_context(config)
    runner = CommandRunner(build_application(config, fake.token, context), config, context, webhook=webhook)
    runner.start()
    try:
        with served(config, webhook=webhook, feed=runner.feed) as client:
            yield client, config
    finally:
        assert runner.stop(timeout=10)
        context.close()


def post_update(client: httpx.Client, update: dict[str, Any], secret: str | None = SECRET) -> httpx.Response:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    return client.post("/telegram/webhook", content=json.dumps(update), headers=headers)


def test_webhook_mode_sets_the_webhook_and_answers_a_posted_command(
    make_config: Callable[..., Config], fake_telegram: FakeTelegram
) -> None:
    with webhook_bot(make_config, fake_telegram) as (client, _config):
        assert (fake_telegram.webhook_url, fake_telegram.webhook_secret) == (WEBHOOK_URL, SECRET)
        fake_telegram.send_text("/start", user_id=USER)
        [update] = fake_telegram.take_updates()
        assert post_update(client, update).status_code == 200
        [reply] = fake_telegram.wait_for_messages(USER, 1)
    assert "subscribe" in reply.text.lower()
    assert fake_telegram.calls("getUpdates") == []  # no polling in webhook mode


@pytest.mark.parametrize("secret", [None, "not-the-secret", SECRET + "x"])
def test_webhook_without_the_right_secret_is_403_and_answers_nothing(
    make_config: Callable[..., Config], fake_telegram: FakeTelegram, secret: str | None
) -> None:
    with webhook_bot(make_config, fake_telegram) as (client, config):
        fake_telegram.send_text("/start", user_id=USER)
        [update] = fake_telegram.take_updates()
        answer = post_update(client, update, secret)
        assert answer.status_code == 403
        store = open_store(config.state)
        try:
            assert store.subscriber("telegram", str(USER)) is None, "the refused /start subscribed no one"
        finally:
            store.close()
        # An update the bot does take afterwards is answered: the refused one was not, and never will be.
        fake_telegram.send_text("/help", user_id=USER)
        [later] = fake_telegram.take_updates()
        assert post_update(client, later).status_code == 200
        fake_telegram.wait_for_messages(USER, 1)
    assert SECRET not in answer.text
    assert len(fake_telegram.messages(USER)) == 1


def test_with_several_workers_on_one_state_any_of_them_takes_the_webhooks_updates(
    make_config: Callable[..., Config], fake_telegram: FakeTelegram, state_env: str
) -> None:
    with (
        webhook_bot(make_config, fake_telegram) as (first, config),
        webhook_bot(make_config, fake_telegram) as (
            second,
            _,
        ),
    ):
        fake_telegram.send_text("/start", user_id=USER)
        fake_telegram.send_text("/start", user_id=USER)
        one, two = fake_telegram.take_updates()
        assert post_update(first, one).status_code == 200
        [subscribed] = fake_telegram.wait_for_messages(USER, 1)
        assert post_update(second, two).status_code == 200
        [_, again] = fake_telegram.wait_for_messages(USER, 2)
        store = open_store(config.state)
        try:
            assert store.subscriber("telegram", str(USER)) is not None
        finally:
            store.close()
    assert "subscribe" in subscribed.text.lower()
    assert "already subscribed" in again.text, "the second worker read the first one's subscription from the state"
    assert fake_telegram.calls("getUpdates") == []


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"no_update_id": 1}', b'{"update_id": "x"}'])
def test_webhook_body_that_is_not_an_update_is_400(
    make_config: Callable[..., Config], fake_telegram: FakeTelegram, body: bytes
) -> None:
    with webhook_bot(make_config, fake_telegram) as (client, _config):
        answer = client.post("/telegram/webhook", content=body, headers={SECRET_HEADER: SECRET})
        assert answer.status_code == 400
    assert fake_telegram.messages(USER) == []


def test_webhook_body_over_the_limit_is_413(make_config: Callable[..., Config], fake_telegram: FakeTelegram) -> None:
    with webhook_bot(make_config, fake_telegram) as (client, _config):
        answer = client.post("/telegram/webhook", content=b"x" * 1_000_001, headers={SECRET_HEADER: SECRET})
        assert answer.status_code == 413


def test_without_webhook_url_polling_takes_over_and_deletes_the_webhook(
    make_config: Callable[..., Config], fake_telegram: FakeTelegram
) -> None:
    with webhook_bot(make_config, fake_telegram):
        pass
    assert fake_telegram.webhook_url == WEBHOOK_URL  # left set at stop: Telegram keeps updates for the next worker
    config = make_config(telegram={"base_url": fake_telegram.base_url})
    context = open_command_context(config)
    runner = CommandRunner(build_application(config, fake_telegram.token, context), config, context)
    runner.start()
    try:
        assert fake_telegram.webhook_url == ""
        fake_telegram.send_text("/start", user_id=USER)
        assert fake_telegram.wait_for_messages(USER, 1)
    finally:
        assert runner.stop(timeout=10)
        context.close()


def test_webhook_is_a_plain_value(make_config: Callable[..., Config]) -> None:
    config = make_config(telegram={"webhook_url": WEBHOOK_URL})
    assert webhook_from_config(config, {WEBHOOK_SECRET_ENV: SECRET}) == Webhook(
        url=WEBHOOK_URL, path="/telegram/webhook", secret=SECRET
    )
    assert webhook_from_config(make_config(), {}) is None


def test_without_metrics_the_app_does_not_load_prometheus_client_so_once_starts_fast() -> None:
    code = (
        "import sys, bot.app, bot.cli; from bot.metrics import Metrics; m = Metrics(); m.send('x', 'sent');"
        " assert 'prometheus_client' not in sys.modules, 'loaded'"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, check=False).returncode == 0
