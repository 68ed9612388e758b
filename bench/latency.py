"""Latency: from the poll that finds a new article to its first Telegram message, for a real `newsbot run` process.

Run from the repository root: `.venv/bin/python bench/latency.py [--runs 9] [--drain-interval 10]`.

The feed is served over HTTP on 127.0.0.1 by this script, which notes when each request arrives; the fake Bot API
server (`tests/fakes/telegram_api.py`, in this process, same clock) notes when each message arrives. One run: the
feed gains a story at a random moment, and the latency is the time from the first feed request that served it (the
poll) to the message in the channel. Two parties, each one `newsbot run` process doing `--runs` runs in turn:

- **newsbot**: as shipped: the poll that queued the article drains at once.
- **drain tick only** (the baseline, the behaviour before issue #12): the same process with that immediate drain
  switched off (`bot.scheduler._drain_when_asked` replaced by a no-op), so the article waits for the next
  `[outbox] drain_interval` tick.

Writes bench/RESULTS-latency.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_PATH = BENCH_DIR / "RESULTS-latency.md"
CHANNEL = "@newsroom"
NO_IMMEDIATE_DRAIN = (
    "import sys\n"
    "import bot.scheduler\n"
    "bot.scheduler._drain_when_asked = lambda app, drain: None\n"
    "from bot.cli import main\n"
    "sys.exit(main(['run']))\n"
)

sys.path.insert(0, str(REPO))
from tests.conftest import news_item, rss  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402


class Feed:
    """The feed's current text, and when each request for each version of it arrived."""

    def __init__(self) -> None:
        self.version = 0
        self.text = rss([news_item(1)])
        self.requests: list[tuple[float, int]] = []  # (monotonic time, version served)
        self.lock = threading.Lock()

    def add_story(self) -> None:
        with self.lock:
            self.version += 1
            self.text = rss([news_item(n) for n in range(self.version + 1, 0, -1)])

    def first_served(self, version: int) -> float:
        with self.lock:
            return min(at for at, served in self.requests if served == version)


@contextmanager
def serving(feed: Feed) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with feed.lock:
                feed.requests.append((time.monotonic(), feed.version))
                body = feed.text.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
    finally:
        server.shutdown()
        server.server_close()


def measure(party: str, runs: int, drain_interval: int, seed: int) -> list[float]:
    """Seconds from the poll to the message, for each run of one party in one `newsbot run` process."""
    feed, fake, pause = Feed(), FakeTelegram(), random.Random(seed)
    fake.start()
    with tempfile.TemporaryDirectory() as tmp, serving(feed) as url:
        folder = Path(tmp)
        (folder / "config.toml").write_text(
            f"[outbox]\ndrain_interval = {drain_interval}\n"
            f'[[sources]]\nname = "f"\nurl = "{url}"\ninterval = 1\nbackfill = 0\n'
            '[[routes]]\nname = "all"\nhashtags = ["*"]\nchannels = ["telegram"]\n'
            f'[telegram]\nbase_url = "{fake.base_url}"\nchannel = "{CHANNEL}"\n',
            encoding="utf-8",
        )
        code = ["-c", NO_IMMEDIATE_DRAIN] if party == "drain tick only" else ["-m", "bot", "run"]
        env = {**os.environ, "PYTHONPATH": str(REPO), "NEWSBOT_TELEGRAM_TOKEN": fake.token}
        process = subprocess.Popen([sys.executable, *code], cwd=folder, env=env, stderr=subprocess.DEVNULL)
        try:
            return [_one_run(feed, fake, run, drain_interval, pause) for run in range(runs)]
        finally:
            process.terminate()
            process.wait(timeout=30)
            fake.stop()


def _one_run(feed: Feed, fake: FakeTelegram, run: int, drain_interval: int, pause: random.Random) -> float:
    while not feed.requests:  # the first cycle has polled: the backlog is seen
        time.sleep(0.05)
    time.sleep(pause.uniform(0, 5))  # a random moment against the 5 s poll check and the drain tick
    feed.add_story()
    [message] = fake.wait_for_messages(CHANNEL, run + 1, timeout=drain_interval + 60)[run:]
    return message.at - feed.first_served(feed.version)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--drain-interval", type=int, default=10)
    args = parser.parse_args()
    results = {
        party: measure(party, args.runs, args.drain_interval, seed=12) for party in ("newsbot", "drain tick only")
    }
    report = _report(results, args.runs, args.drain_interval)
    print(report, end="")
    RESULTS_PATH.write_text(report, encoding="utf-8")
    return 0


def _report(results: dict[str, list[float]], runs: int, drain_interval: int) -> str:
    medians = {party: statistics.median(values) for party, values in results.items()}
    lines = [
        "# Latency benchmark",
        "",
        f"Generated by `.venv/bin/python bench/latency.py --runs {runs} --drain-interval {drain_interval}`: seconds",
        "from the poll that fetched a new story to its message at the fake Bot API server, one `newsbot run` process",
        f"per party, {runs} runs each, `[outbox] drain_interval = {drain_interval}`.",
        "",
        "| party | median (s) | fastest (s) | slowest (s) | ratio to newsbot |",
        "|---|---:|---:|---:|---:|",
    ]
    for party, values in results.items():
        ratio = medians[party] / medians["newsbot"]
        lines.append(f"| {party} | {medians[party]:.3f} | {min(values):.3f} | {max(values):.3f} | {ratio:.0f} |")
    lines += [
        "",
        f"With the default `drain_interval = 30` the drain tick alone waits {30 / 2:.0f} s on average and up to 30 s;",
        "newsbot's latency does not depend on the interval.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
