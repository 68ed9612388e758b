"""`newsbot run` as a real process: it polls, publishes, and stops cleanly on SIGTERM."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bot.logs import RedactSecrets, kv
from tests.conftest import REPO, news_item, rss
from tests.fakes.smtp_server import FakeSmtp
from tests.fakes.telegram_api import FakeTelegram


def wait_for(condition: object, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def start_newsbot(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`python ARGS` (e.g. "-m", "bot", "run") as a user starts it in `cwd`, with `env` added; output piped."""
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def a_dry_run_with_one_feed(folder: Path) -> Path:
    """A config in `folder`: one local feed with one story, polled and drained every second, posted to Telegram in a
    dry run. Returns the feed file, to add stories to."""
    feed = folder / "feed.xml"
    feed.write_text(rss([news_item(1)]), encoding="utf-8")
    (folder / "config.toml").write_text(
        "[output]\ndry_run = true\n[outbox]\ndrain_interval = 1\n"
        '[[sources]]\nname = "f"\nurl = "feed.xml"\ninterval = 1\nbackfill = 1\n'
        '[[routes]]\nname = "all"\nhashtags = ["*"]\nchannels = ["telegram"]\n',
        encoding="utf-8",
    )
    return feed


def test_run_polls_publishes_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    feed = a_dry_run_with_one_feed(tmp_path)
    posts = tmp_path / "out" / "telegram"
    process = start_newsbot(tmp_path, "-m", "bot", "run")
    try:
        assert wait_for(lambda: len(list(posts.glob("*.html"))) == 1), "the first article was not published"
        feed.write_text(rss([news_item(2), news_item(1)]), encoding="utf-8")
        assert wait_for(lambda: len(list(posts.glob("*.html"))) == 2), "a new article was not picked up"
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "event=stopping signal=SIGTERM" in err
    assert "event=stopped" in err


def test_run_mails_through_one_smtp_connection_and_quits_it_on_sigterm(tmp_path: Path, fake_smtp: FakeSmtp) -> None:
    with socket.socket() as probe:  # a free port for [web] port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "config.toml").write_text(
        '[output]\ndry_run = false\n[[routes]]\nname = "all"\nhashtags = ["*"]\nchannels = ["email"]\n'
        f'[email]\nsmtp_host = "{fake_smtp.host}"\nsmtp_port = {fake_smtp.port}\nsecurity = "none"\n'
        'sender = "Example News <news@example.com>"\n'
        f'[web]\nport = {port}\npublic_url = "https://news.example.com"\n',
        encoding="utf-8",
    )
    process = start_newsbot(
        tmp_path, "-m", "bot", "run", env={"NEWSBOT_SECRET_KEY": "a-test-secret-of-32-characters-xx"}
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as browser:
            assert wait_for(lambda: _answers(browser)), "the web pages did not come up"
            for reader in ("ann@example.org", "bob@example.org"):
                assert browser.post("/subscribe", data={"email": reader, "hashtags": ""}).status_code == 200
        assert wait_for(lambda: len(fake_smtp.messages) == 2), "the confirmation mails were not sent"
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert fake_smtp.connections == 1  # the web pages, /email and the digest share one sender
    assert fake_smtp.commands[-1] == "QUIT"  # closed on exit, not left for the server to time out


def _answers(browser: httpx.Client) -> bool:
    try:
        return browser.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False


def test_secret_values_are_redacted_from_every_log_line(caplog: object) -> None:
    token = "123456789:AAH-very-secret-token"
    logger = logging.getLogger("test.redaction")
    handler_output: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            handler_output.append(self.format(record))

    handler = Collect()
    handler.addFilter(RedactSecrets([token]))
    logger.addHandler(handler)
    try:
        logger.warning("HTTP Request: POST https://api.telegram.org/bot%s/sendMessage", token)
        try:
            raise RuntimeError(f"bad token {token}")
        except RuntimeError:
            logger.exception("%s", kv(event="failed", detail=f"token={token}"))
    finally:
        logger.removeHandler(handler)
    text = "\n".join(handler_output)
    assert token not in text
    assert "bot***/sendMessage" in text
    assert "RuntimeError: bad token ***" in text


def test_run_answers_chat_commands_and_sends_new_articles_to_the_new_subscriber(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(rss([news_item(1)]), encoding="utf-8")
    (tmp_path / "config.toml").write_text(
        "[outbox]\ndrain_interval = 1\n"
        '[[sources]]\nname = "f"\nurl = "feed.xml"\ninterval = 1\n'
        '[[routes]]\nname = "all"\nhashtags = ["*"]\nchannels = ["telegram"]\n'
        f'[telegram]\nbase_url = "{fake_telegram.base_url}"\nadmins = [1000]\n',
        encoding="utf-8",
    )
    process = start_newsbot(tmp_path, "-m", "bot", "run", env={"NEWSBOT_TELEGRAM_TOKEN": fake_telegram.token})
    try:
        fake_telegram.send_text("/start", user_id=4242)
        [welcome] = fake_telegram.wait_for_messages(4242, 1, timeout=30)
        assert "subscribed" in welcome.text.lower()
        assert "all_private_chats" in fake_telegram.commands
        feed.write_text(rss([news_item(2), news_item(1)]), encoding="utf-8")
        article = fake_telegram.wait_for_messages(4242, 2, timeout=30)[1]
        assert "Story number 2" in article.text
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert fake_telegram.token not in err


def test_run_logs_a_job_that_raises_says_what_to_do_and_runs_it_again_at_its_next_interval(tmp_path: Path) -> None:
    a_dry_run_with_one_feed(tmp_path)
    # A bug no test foresaw, standing in for any exception a job may raise: the outbox drain fails once.
    with_a_bug = (
        "import sys\n"
        "import bot.outbox\n"
        "real_drain = bot.outbox.Outbox.drain\n"
        "calls = []\n"
        "def drain(self, *args, **kwargs):\n"
        "    calls.append(1)\n"
        "    if len(calls) == 1:\n"
        "        raise RuntimeError('a bug in the drain')\n"
        "    return real_drain(self, *args, **kwargs)\n"
        "bot.outbox.Outbox.drain = drain\n"
        "from bot.cli import main\n"
        "sys.exit(main(['run']))\n"
    )
    posts = tmp_path / "out" / "telegram"
    process = start_newsbot(tmp_path, "-c", with_a_bug)
    try:
        assert wait_for(lambda: len(list(posts.glob("*.html"))) == 1 or process.poll() is not None)
        assert process.poll() is None, "run ended when a job raised"
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0, err
    [failure] = [line for line in err.splitlines() if "event=job_failed" in line]
    assert 'job=_first_cycle reason="RuntimeError: a bug in the drain" retry="next interval"' in failure
    assert "if it happens again, report it with the traceback below" in failure
    assert "Traceback" in err and "RuntimeError: a bug in the drain" in err
    assert len(list(posts.glob("*.html"))) == 1, "the next drain published the article"


def test_run_sends_a_new_article_right_after_the_poll_and_a_post_at_once_while_slots_wait(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    # An hour between scheduled drains: whatever arrives while the process runs went out on a poll or a command.
    slot = (datetime.now(UTC) + timedelta(hours=12)).strftime("%H:%M")
    feed = tmp_path / "feed.xml"
    feed.write_text(rss([news_item(1)]), encoding="utf-8")
    (tmp_path / "config.toml").write_text(
        "[outbox]\ndrain_interval = 3600\n"
        '[[sources]]\nname = "f"\nurl = "feed.xml"\ninterval = 1\nbackfill = 1\n'
        f'[[routes]]\nname = "evening"\nhashtags = ["Later"]\nchannels = ["telegram"]\nat = ["{slot}"]\n'
        'timezone = "UTC"\n'
        '[[routes]]\nname = "all"\nhashtags = ["*"]\nchannels = ["telegram"]\n'
        f'[telegram]\nbase_url = "{fake_telegram.base_url}"\nchannel = "@newsroom"\nadmins = [1000]\n',
        encoding="utf-8",
    )
    process = start_newsbot(tmp_path, "-m", "bot", "run", env={"NEWSBOT_TELEGRAM_TOKEN": fake_telegram.token})
    try:
        fake_telegram.wait_for_messages("@newsroom", 1, timeout=30)  # the first cycle's backfill
        # Queued in this order: the slotted story first, so it would go out first if it did not wait.
        feed.write_text(rss([news_item(3, tag="Later"), news_item(2), news_item(1)]), encoding="utf-8")
        posted = fake_telegram.wait_for_messages("@newsroom", 2, timeout=30)
        assert "Story number 2" in posted[1].text
        assert process.poll() is None
        fake_telegram.send_text("/queue", user_id=1000)
        [listing] = fake_telegram.wait_for_messages(1000, 1, timeout=30)
        match = re.search(r"<code>([^<]+)</code> telegram ×1 [^—]+ — Story number 3", listing.text)
        assert match, listing.text  # it waits for its slot
        fake_telegram.send_text(f"/post {match.group(1)}", user_id=1000)
        posted = fake_telegram.wait_for_messages("@newsroom", 3, timeout=30)
        assert "Story number 3" in posted[2].text
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err


def test_run_serves_health_readiness_and_metrics_on_its_web_port(tmp_path: Path) -> None:
    a_dry_run_with_one_feed(tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (tmp_path / "config.toml").open("a", encoding="utf-8") as config:
        config.write(f"[web]\nport = {port}\nmetrics = true\n")
    process = start_newsbot(tmp_path, "-m", "bot", "run", env={"NEWSBOT_METRICS_TOKEN": "scrape-me"})
    base = f"http://127.0.0.1:{port}"
    bearer = {"Authorization": "Bearer scrape-me"}
    try:

        def ready() -> bool:
            try:
                return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                return process.poll() is not None

        assert wait_for(ready)
        assert process.poll() is None
        assert httpx.get(f"{base}/healthz", timeout=5).text == "ok"
        assert httpx.get(f"{base}/metrics", timeout=5).status_code == 401
        assert wait_for(lambda: 'newsbot_polls_total{source="f"}' in httpx.get(f"{base}/metrics", headers=bearer).text)
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "scrape-me" not in err
