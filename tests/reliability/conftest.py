"""Helpers for the reliability tests: a newsbot installation in a folder, run as real processes.

`Installation` writes a config.toml that sends to the fake Telegram, X and SMTP servers of `Fakes` (all in this
test process, on 127.0.0.1), seeds subscribers straight into the state file, and starts `python -m bot ...`
with the fakes' credentials in its environment. Every process writes its output to its own log file in the
folder (never to a pipe, which a chatty `newsbot run` would fill and then block on), and `Process.log()` reads it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiosmtpd.smtp import Envelope

from bot.config import DATABASE_URL_ENV, StateConfig
from bot.store import DIGEST_REQUEST_KEY, SqliteStore, open_store
from tests.conftest import REPO, news_item, rss
from tests.fakes.smtp_server import FakeSmtp
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.x_api import FakeX

SECRET_KEY = "reliability-test-secret-key-0123456789"
X_CREDENTIALS = {  # what FakeX accepts (it checks the key and the token, not the signature)
    "NEWSBOT_X_CONSUMER_KEY": "ck-test",
    "NEWSBOT_X_CONSUMER_SECRET": "cs-test",
    "NEWSBOT_X_ACCESS_TOKEN": "at-test",
    "NEWSBOT_X_ACCESS_TOKEN_SECRET": "ats-test",
}
SENDER = "Example News <news@example.com>"
STOP_TIMEOUT = 30.0  # a process that ignores SIGTERM this long fails the test instead of hanging it


class DelayedSmtp(FakeSmtp):
    """FakeSmtp that, once a message is queued (recorded), waits `delay` seconds before answering 250: a relay's
    round trip, during which the message is delivered but the sender does not know it yet."""

    def __init__(self) -> None:
        super().__init__()
        self._answer_delay = 0.0

    def delay(self, seconds: float) -> None:
        self._answer_delay = seconds

    def _data_answer(self, envelope: Envelope, session: int) -> tuple[str | None, bool]:
        answer = super()._data_answer(envelope, session)
        time.sleep(self._answer_delay)  # blocks the server's loop: fine for the one client of these tests
        return answer


@dataclass
class Fakes:
    telegram: FakeTelegram
    x: FakeX
    smtp: DelayedSmtp


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    """The three fake servers, started; Telegram without flood limits so a big fan-out takes seconds."""
    smtp = DelayedSmtp()
    with FakeTelegram(enforce_limits=False) as telegram, FakeX() as x, smtp:
        yield Fakes(telegram, x, smtp)


def wait_for(condition: Callable[[], bool], seconds: float, every: float = 0.02) -> bool:
    """Poll `condition` until it holds (True) or `seconds` pass (False)."""
    deadline = time.monotonic() + seconds
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Process:
    """One `python -m bot ...` process and the file its stdout and stderr go to."""

    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def tail(self, lines: int = 40) -> str:
        """The end of the log, for an assertion message (a fan-out logs a line per message)."""
        return f"pid {self.pid}, exit code {self.returncode}, log {self.log_path} ends:\n" + "\n".join(
            self.log().splitlines()[-lines:]
        )

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def running(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no handler, no cleanup, no flush; the kernel drops the state lock."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(STOP_TIMEOUT)

    def terminate(self) -> None:
        self.popen.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise AssertionError(f"did not exit within {timeout} s; {self.tail()}") from None

    def wait_until(self, condition: Callable[[], bool], seconds: float) -> None:
        """Wait until `condition` holds while the process runs; fail at once if it exits first."""
        assert wait_for(lambda: condition() or not self.running(), seconds), f"waited {seconds} s; {self.tail()}"
        assert condition(), f"exited before that happened; {self.tail()}"


@dataclass
class Installation:
    """A newsbot folder: config.toml, feed.xml, the state file, and the processes started on them."""

    home: Path
    fakes: Fakes
    processes: list[Process] = field(default_factory=list)
    database_url: str = ""  # a PostgreSQL state (in $NEWSBOT_DATABASE_URL of every process); "": the SQLite file
    extra_env: dict[str, str] = field(default_factory=dict)  # more variables for every process (other channels)

    @property
    def state(self) -> Path:
        return self.home / "state.sqlite"

    def configure(
        self,
        *,
        channels: Iterable[str],
        articles: int = 1,
        messages_per_second: int = 400,
        max_in_flight: int = 30,
        lease_seconds: int = 60,
        email_connections: int = 4,
    ) -> None:
        """Write the feed (`articles` stories, all new to newsbot) and a config routing everything to `channels`."""
        (self.home / "feed.xml").write_text(rss([news_item(n) for n in range(1, articles + 1)]), encoding="utf-8")
        routed = ", ".join(f'"{channel}"' for channel in channels)
        (self.home / "config.toml").write_text(
            f"""
[state]
path = "state.sqlite"
lease_seconds = {lease_seconds}

[outbox]
drain_interval = 1

[[sources]]
name = "wire"
url = "feed.xml"
interval = 1
backfill = {articles}

[[routes]]
name = "everything"
hashtags = ["*"]
channels = [{routed}]

[telegram]
base_url = "{self.fakes.telegram.base_url}"
messages_per_second = {messages_per_second}
max_in_flight = {max_in_flight}

[x]
api_base_url = "{self.fakes.x.base_url}"

[email]
smtp_host = "{self.fakes.smtp.host}"
smtp_port = {self.fakes.smtp.port}
security = "none"
sender = "{SENDER}"
send_rate = 10000
connections = {email_connections}

[web]
public_url = "https://news.example.com/newsbot"
port = {free_port()}
""",
            encoding="utf-8",
        )

    def environment(self) -> dict[str, str]:
        inherited = {name: value for name, value in os.environ.items() if not name.startswith("NEWSBOT_")}
        return {
            **inherited,
            **X_CREDENTIALS,
            "PYTHONPATH": str(REPO),
            "NEWSBOT_TELEGRAM_TOKEN": self.fakes.telegram.token,
            "NEWSBOT_SECRET_KEY": SECRET_KEY,
            **({DATABASE_URL_ENV: self.database_url} if self.database_url else {}),
            **self.extra_env,
        }

    def start(self, *args: str) -> Process:
        """Start `newsbot ARGS` in the folder; its output goes to `<n>-<command>.log` there."""
        log_path = self.home / f"{len(self.processes) + 1:02d}-{'-'.join(args).replace('/', '_')}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                [sys.executable, "-m", "bot", *args],
                cwd=self.home,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        process = Process(popen, log_path)
        self.processes.append(process)
        return process

    def run(self, *args: str, timeout: float = 60.0) -> Process:
        """Start `newsbot ARGS` and wait for it to exit."""
        process = self.start(*args)
        process.wait(timeout)
        return process

    def store(self) -> SqliteStore:
        return open_store(StateConfig(path=self.state, url=self.database_url))

    def add_telegram_subscribers(self, chat_ids: Iterable[int]) -> None:
        now = datetime.now(UTC)
        store = self.store()
        try:
            with store.transaction():
                for chat_id in chat_ids:
                    store.subscribe("telegram", str(chat_id), now)
        finally:
            store.close()

    def add_email_subscribers(self, addresses: Iterable[str]) -> None:
        """Confirmed (double opt-in done) subscribers to every hashtag."""
        now = datetime.now(UTC)
        store = self.store()
        try:
            with store.transaction():
                for address in addresses:
                    store.request_email_subscription(address, (), now)
                    store.confirm_email(address, now)
        finally:
            store.close()

    def request_digest(self) -> None:
        """What an admin's `/digest send` leaves in the state file: the next digest job sends at once."""
        store = self.store()
        try:
            store.set_meta(DIGEST_REQUEST_KEY, "1")
        finally:
            store.close()

    def stop_all(self) -> None:
        for process in self.processes:
            if process.running():
                process.kill()


@pytest.fixture
def installation(tmp_path: Path, fakes: Fakes) -> Iterator[Installation]:
    """A newsbot folder in tmp_path; any process a test left running is killed afterwards."""
    home = Installation(tmp_path, fakes)
    try:
        yield home
    finally:
        home.stop_all()
