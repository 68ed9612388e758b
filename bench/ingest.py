"""Ingest: newsbot against rss2email and a naive feedparser loop on N generated feeds, polled twice.

Run from the repository root: `.venv/bin/python bench/ingest.py [--feeds 200 --entries 50]` (`--feeds 20` for a
quick look). Needs rss2email (`pip install rss2email`, the `bench` extra) and aiosmtpd (the `dev` extra).

A local HTTP server (stdlib ThreadingHTTPServer, 127.0.0.1, its own process) serves N generated RSS 2.0 feeds
with strong ETags and Last-Modified, answering 304 to a matching If-None-Match (or, without one, to an
If-Modified-Since no older than the feed). Each poll of each tool is one fresh process, timed from start to exit
(interpreter start-up and imports included, as a cron job or a shell user sees it), with that process's own peak
RSS (`os.wait4`). The server's request and 304 counts are read after every poll.

- **newsbot**: `python -m bot --config CONFIG once --all`, twice: 200 sources, `backfill = 0`, one route `*` to
  email, `[output] dry_run = true`. The first poll marks every entry seen and queues nothing.
- **rss2email**: `r2e -c CONFIG -d DATA run --no-send` (first poll: records every entry as seen, sends nothing,
  like newsbot), then `r2e ... run` (second poll, sending by SMTP to an aiosmtpd sink in another process).
- **naive** (baseline for the conditional-GET target): `feedparser.parse(url)` per URL, no validators, twice.

Three rounds by default (`--repeat`), each in a different party order; medians are reported. Also measured, not
part of the targets: newsbot's two polls inside one process (`App.poll_due_sources` twice,
start-up excluded), and with `--r2e-send` the rss2email first poll that mails every entry. Writes
bench/RESULTS-ingest.md.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import multiprocessing
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_PATH = BENCH_DIR / "RESULTS-ingest.md"
HOST = "127.0.0.1"
SEED = 20240501
NEWEST = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
POLL_INTERVAL = 86_400  # seconds; large, so that nothing but `--all` polls

# --- generated feeds ---------------------------------------------------------------------------------------

_WORD_TEXT = (
    "the a of to in and for on with by from at as after over about against between under during before into "
    "government minister council officials city regional national federal court ruling judge parliament vote "
    "election campaign party leader opposition coalition budget tax spending deficit inflation prices rates "
    "bank central economy growth jobs workers union strike wages companies market shares investors quarter "
    "profit revenue sales energy power grid solar wind gas oil climate emissions heat drought flood storm "
    "rain river coast farmers harvest water supply hospital patients doctors nurses health vaccine study "
    "researchers university scientists data report survey results program plan proposal law bill reform "
    "police investigation security border migrants refugees aid agency talks agreement deal treaty summit "
    "ceasefire troops defence military attack crisis emergency residents community schools teachers students "
    "housing rents homes construction transport rail trains buses airport flights roads traffic bridge "
    "technology software platform users privacy app online network phone chips battery electric vehicles "
    "cars factory production exports imports trade tariffs manufacturers retail consumers spending festival "
    "museum film music season club match team players coach league final record said says announced warned "
    "expected reported confirmed rejected approved proposed planned delayed increased fell rose cut raised "
    "new first last next local public private major senior former chief spokesperson statement week month "
    "year Monday Tuesday Wednesday Thursday Friday weekend morning evening million billion percent several"
)
WORDS = tuple(_WORD_TEXT.split())
TOPICS = (
    "Politics", "World", "Business", "Economy", "Technology", "Science", "Health", "Climate", "Sport", "Culture",
    "Education", "Transport", "Energy", "Housing", "Europe", "Asia", "Africa", "Americas",
)  # fmt: skip


def _sentence(rng: random.Random, low: int = 14, high: int = 30) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(low, high))]
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), f"{rng.randint(2, 950)}")
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice("....?")


def _paragraph(rng: random.Random, feed: int) -> str:
    sentences = [_sentence(rng) for _ in range(rng.randint(2, 4))]
    if rng.random() < 0.4:  # a link or some emphasis, as news descriptions have
        word = rng.choice(WORDS)
        target = f"https://news{feed}.example.org/topics/{word}"
        sentences[0] = f'{sentences[0]} Read about <a href="{target}">{word}</a>.'
    if rng.random() < 0.3:
        sentences[-1] = f"<strong>{sentences[-1]}</strong>"
    return "<p>" + " ".join(sentences) + "</p>"


@dataclass(frozen=True)
class Feed:
    path: str
    body: bytes
    etag: str
    last_modified: str
    modified_at: datetime


def make_feed(feed: int, entries: int) -> Feed:
    """One RSS 2.0 document, deterministic for (feed, entries): items newest first, about 2 KB each."""
    rng = random.Random(SEED * 1000 + feed)
    site = f"https://news{feed}.example.org"
    newest = NEWEST - timedelta(minutes=rng.randint(0, 600))
    items, published = [], newest
    for number in range(entries, 0, -1):
        title = _sentence(rng, 6, 12).rstrip(".?")
        slug = "-".join(title.lower().split()[:6])
        link = f"{site}/{published:%Y/%m/%d}/{slug}-{number}"
        description = "\n".join(_paragraph(rng, feed) for _ in range(rng.randint(2, 4)))
        categories = "".join(f"<category>{topic}</category>" for topic in rng.sample(TOPICS, rng.randint(1, 3)))
        items.append(
            "<item>"
            f"<title>{html.escape(title)}</title>"
            f"<link>{link}</link>"
            f'<guid isPermaLink="false">{site}/id/{feed}-{number}</guid>'
            f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate>"
            f"<dc:creator>Staff reporter {rng.randint(1, 40)}</dc:creator>"
            f"{categories}"
            f"<description>{html.escape(description)}</description>"
            "</item>"
        )
        published -= timedelta(minutes=rng.randint(10, 180))
    last_modified = format_datetime(newest, usegmt=True)
    document = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        "<channel>"
        f"<title>News {feed}</title><link>{site}/</link><description>Latest stories from News {feed}</description>"
        f"<language>en</language><lastBuildDate>{last_modified}</lastBuildDate><ttl>15</ttl>"
        f'<atom:link href="{site}/rss.xml" rel="self" type="application/rss+xml"/>'
        + "\n".join(items)
        + "</channel></rss>\n"
    )
    body = document.encode("utf-8")
    etag = '"' + hashlib.sha256(body).hexdigest()[:24] + '"'
    return Feed(f"/feeds/{feed:04d}.xml", body, etag, last_modified, newest)


# --- the feed server (its own process) ---------------------------------------------------------------------


class FeedServer(ThreadingHTTPServer):
    """The generated feeds, as `python -m http.server` would serve files: listen backlog 5 (socketserver's
    default), HTTP/1.0 closing each connection, or HTTP/1.1 keeping it alive. Counts connections, and the most
    open at once."""

    daemon_threads = True

    def __init__(self, feeds: dict[str, Feed], *, keep_alive: bool) -> None:
        handler = KeepAliveHandler if keep_alive else FeedHandler
        super().__init__((HOST, 0), handler)
        self.feeds = feeds
        self.lock = threading.Lock()
        self.open_now = 0
        self.counts = {"requests": 0, "not_modified": 0, "ok": 0, "bytes": 0, "connections": 0, "most_open": 0}

    def count(self, **deltas: int) -> None:
        with self.lock:
            for key, delta in deltas.items():
                self.counts[key] += delta

    def connection_opened(self) -> None:
        with self.lock:
            self.open_now += 1
            self.counts["connections"] += 1
            self.counts["most_open"] = max(self.counts["most_open"], self.open_now)

    def connection_closed(self) -> None:
        with self.lock:
            self.open_now -= 1

    def take_counts(self) -> dict[str, int]:
        with self.lock:
            counts = dict(self.counts)
            self.counts = dict.fromkeys(self.counts, 0)
        return counts


def _not_modified(feed: Feed, if_none_match: str | None, if_modified_since: str | None) -> bool:
    if if_none_match is not None:  # RFC 9110: If-None-Match decides when present
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return "*" in tags or feed.etag in tags
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        return since.tzinfo is not None and feed.modified_at <= since
    return False


class FeedHandler(BaseHTTPRequestHandler):
    """HTTP/1.0, as http.server answers by default: one request per connection."""

    server: FeedServer

    def setup(self) -> None:
        super().setup()
        self.server.connection_opened()

    def finish(self) -> None:
        self.server.connection_closed()
        super().finish()

    def do_GET(self) -> None:
        feed = self.server.feeds.get(self.path.split("?", 1)[0])
        if feed is None:
            self.server.count(requests=1)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if _not_modified(feed, self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")):
            self.server.count(requests=1, not_modified=1)
            self.send_response(304)
            self.send_header("ETag", feed.etag)
            self.send_header("Last-Modified", feed.last_modified)
            self.end_headers()
            return
        self.server.count(requests=1, ok=1, bytes=len(feed.body))
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        self.send_header("Content-Length", str(len(feed.body)))
        self.send_header("ETag", feed.etag)
        self.send_header("Last-Modified", feed.last_modified)
        self.send_header("Cache-Control", "max-age=60")
        self.end_headers()
        self.wfile.write(feed.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class KeepAliveHandler(FeedHandler):
    protocol_version = "HTTP/1.1"  # keeps the connection open for clients that reuse it


def serve_feeds(connection: Connection, feeds: int, entries: int, keep_alive: bool) -> None:
    """Child process: serve the generated feeds until told to stop; report and reset the counts on request."""
    generated = [make_feed(number, entries) for number in range(feeds)]
    server = FeedServer({feed.path: feed for feed in generated}, keep_alive=keep_alive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sizes = [len(feed.body) for feed in generated]
    connection.send({"port": server.server_address[1], "paths": [feed.path for feed in generated], "sizes": sizes})
    while (command := connection.recv()) != "stop":
        assert command == "counts"
        connection.send(server.take_counts())
    server.shutdown()


# --- the SMTP sink (its own process) -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class CountingHandler:
    """aiosmtpd handler: accepts every message, keeps only the count."""

    def __init__(self) -> None:
        self.messages = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages += 1
        return "250 OK"


def serve_smtp(connection: Connection) -> None:
    """Child process: an aiosmtpd sink on 127.0.0.1; reports how many messages it accepted, on request."""
    from aiosmtpd.controller import Controller

    handler = CountingHandler()
    controller = Controller(handler, hostname=HOST, port=_free_port())
    controller.start()
    connection.send(controller.port)
    while (command := connection.recv()) != "stop":
        assert command == "counts"
        connection.send(handler.messages)
        handler.messages = 0
    controller.stop()


# --- one measured process ----------------------------------------------------------------------------------


@dataclass
class Run:
    tool: str
    poll: str
    seconds: float  # wall time, start to exit
    cpu_seconds: float  # user + system, all threads
    peak_rss_mb: float
    requests: int = 0
    not_modified: int = 0
    mails: int = 0
    connections: int = 0
    tree_peak_mb: float = 0.0  # the process and all its descendants (parse workers), sampled: sum of RSS
    tree_pss_mb: float = 0.0  # the same, sum of PSS (shared pages divided among the processes sharing them)
    stdout: str = ""
    stderr: str = ""
    inner: dict[str, float] = field(default_factory=dict)


def _memory_kb(pid: int) -> tuple[int, int]:
    """RSS and PSS of one process (kB): PSS shares each page among the processes that map it."""
    figures = dict.fromkeys(("Rss:", "Pss:"), 0)
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.split(maxsplit=1)[0] in figures:
            figures[line.split()[0]] = int(line.split()[1])
    return figures["Rss:"], figures["Pss:"]


def _tree_memory_kb(root: int) -> tuple[int, int]:
    """Resident memory of `root` and every descendant, from /proc (kB): the sum of RSS and the sum of PSS."""
    rss = pss = 0
    pending = [root]
    while pending:
        pid = pending.pop()
        try:
            one_rss, one_pss = _memory_kb(pid)
            rss, pss = rss + one_rss, pss + one_pss
            for task in Path(f"/proc/{pid}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return rss, pss


def _sample_tree(root: int, done: threading.Event, peak: list[int]) -> None:
    while not done.wait(0.02):
        rss, pss = _tree_memory_kb(root)
        peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)


def run_process(tool: str, poll: str, command: Sequence[str], env: dict[str, str] | None = None) -> Run:
    """Start `command`, wait for it with os.wait4 (that child's own rusage), return wall time and peak RSS; the
    whole process tree's RSS is sampled every 20 ms from /proc."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=REPO, env=env or child_env())
        done, peak = threading.Event(), [0, 0]
        sampler = threading.Thread(target=_sample_tree, args=(process.pid, done, peak), daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{tool} {poll}: exit {process.returncode}\n{stdout[-2000:]}\n{stderr[-4000:]}")
    peak_mb = usage.ru_maxrss / 1024  # KiB on Linux
    cpu = usage.ru_utime + usage.ru_stime
    run = Run(tool, poll, seconds, cpu, peak_mb, stdout=stdout, stderr=stderr)
    run.tree_peak_mb = max(peak[0] / 1024, peak_mb)
    run.tree_pss_mb = peak[1] / 1024
    return run


def child_env() -> dict[str, str]:
    """The environment of every measured process: compiled modules cached, as in an installed copy (a shell
    with PYTHONDONTWRITEBYTECODE=1 would make newsbot, run from the source tree, compile itself every time)."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "newsbot-bench-pycache")
    return env


def warm_up() -> None:
    """Compile every party's modules once, untimed (see `child_env`)."""
    modules = "bot.app, bot.cli, bot.ingest, bot.sources.fetch, feedparser, rss2email.main, rss2email.feed"
    subprocess.run([sys.executable, "-c", f"import {modules}"], check=True, cwd=REPO, env=child_env())


# --- the parties -------------------------------------------------------------------------------------------


def newsbot_config(folder: Path, urls: Sequence[str]) -> Path:
    lines = [
        "[state]",
        f'path = "{folder / "state.sqlite"}"',
        "[output]",
        f'dir = "{folder / "out"}"',
        "dry_run = true",
    ]
    for number, url in enumerate(urls):
        lines += [
            "[[sources]]",
            f'name = "feed-{number:04d}"',
            f'url = "{url}"',
            f"interval = {POLL_INTERVAL}",
            "backfill = 0",
        ]
    lines += ["[[routes]]", 'name = "all"', 'hashtags = ["*"]', 'channels = ["email"]']
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def rss2email_config(folder: Path, urls: Sequence[str], smtp_port: int) -> Path:
    lines = [
        "[DEFAULT]",
        "to = you@example.org",
        "from = r2e@example.org",
        "email-protocol = smtp",
        f"smtp-server = {HOST}:{smtp_port}",
        "smtp-auth = False",
        "smtp-ssl = False",
    ]
    for number, url in enumerate(urls):
        lines += ["", f"[feed.feed-{number:04d}]", f"url = {url}"]
    path = folder / "rss2email.cfg"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def rss2email_env(folder: Path) -> dict[str, str]:
    # r2e takes a global lock in $XDG_RUNTIME_DIR; a private one keeps other r2e runs on this machine apart.
    runtime = folder / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return {**child_env(), "XDG_RUNTIME_DIR": str(runtime), "HOME": str(folder)}


def r2e_command() -> list[str]:
    return [sys.executable, "-c", "import sys; from rss2email.main import run; sys.exit(run())"]


def rss2email_seen(data: Path) -> int:
    state = json.loads(data.read_text(encoding="utf-8"))
    return sum(len(feed.get("seen", {})) for feed in state["feeds"])


def naive_child(urls_file: str) -> int:
    """Child process of the naive party: feedparser.parse per URL, no validators."""
    import feedparser

    urls = Path(urls_file).read_text(encoding="utf-8").split()
    started = time.perf_counter()
    entries = sum(len(feedparser.parse(url).entries) for url in urls)
    print(json.dumps({"loop_seconds": time.perf_counter() - started, "entries": entries}))
    return 0


def newsbot_inprocess_child(config_path: str, profile: bool) -> int:
    """Child process: newsbot's two polls in one process, start-up excluded (`App.poll_due_sources` twice)."""
    sys.path.insert(0, str(REPO))
    from bot.app import App
    from bot.config import load_config

    config = load_config(Path(config_path))
    figures: dict[str, float] = {}
    with App(config) as app:
        for poll in (1, 2):
            profiler = None
            if profile and poll == 1:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            started = time.perf_counter()
            reports = app.poll_due_sources(poll_all=True)
            figures[f"poll{poll}_seconds"] = time.perf_counter() - started
            figures[f"poll{poll}_new"] = sum(r.new for r in reports)
            figures[f"poll{poll}_errors"] = sum(bool(r.error) for r in reports)
            if profiler is not None:
                import pstats

                profiler.disable()
                pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))
    return 0


@dataclass
class Services:
    feeds: Connection
    smtp: Connection
    urls: list[str]
    sizes: list[int]
    smtp_port: int
    entries: int

    def counts(self, run: Run) -> Run:
        self.feeds.send("counts")
        counts = self.feeds.recv()
        self.smtp.send("counts")
        run.requests, run.not_modified, run.mails = counts["requests"], counts["not_modified"], self.smtp.recv()
        run.connections = counts["connections"]
        print(
            f"{run.tool} {run.poll}: {run.seconds:.2f} s (CPU {run.cpu_seconds:.2f} s), {run.peak_rss_mb:.0f} MB"
            f" ({run.tree_peak_mb:.0f} MB tree, PSS {run.tree_pss_mb:.0f} MB), {run.requests} requests,"
            f" {run.not_modified} × 304,"
            f" {run.connections} connections (at most {counts['most_open']} at once), {run.mails} mails",
            file=sys.stderr,
        )
        return run


def measure_newsbot(services: Services, folder: Path) -> list[Run]:
    folder.mkdir()
    config = newsbot_config(folder, services.urls)
    command = [sys.executable, "-m", "bot", "--config", str(config), "once", "--all"]
    runs = []
    for poll in ("first", "second"):
        run = services.counts(run_process("newsbot", poll, command))
        if not run.stdout.startswith(f"polled {len(services.urls)} source(s),"):
            raise RuntimeError(f"newsbot {poll}: unexpected summary {run.stdout!r}")
        runs.append(run)
    return runs


def measure_newsbot_inprocess(services: Services, folder: Path, profile: bool) -> Run:
    folder.mkdir()
    config = newsbot_config(folder, services.urls)
    command = [sys.executable, __file__, "--newsbot-inprocess", str(config)] + (["--profile"] * profile)
    run = services.counts(run_process("newsbot (one process)", "both", command))
    run.inner = json.loads(run.stdout.strip().splitlines()[-1])
    if profile:
        print(run.stderr, file=sys.stderr)
    return run


def measure_rss2email(services: Services, folder: Path, *, send_first: bool = False) -> list[Run]:
    folder.mkdir()
    config, data = rss2email_config(folder, services.urls, services.smtp_port), folder / "rss2email.json"
    env = rss2email_env(folder)
    base = [*r2e_command(), "-c", str(config), "-d", str(data), "run"]
    expected = len(services.urls) * services.entries
    first_command = base if send_first else [*base, "--no-send"]
    runs = [services.counts(run_process("rss2email", "first (sending)" if send_first else "first", first_command, env))]
    if rss2email_seen(data) != expected:
        raise RuntimeError(f"rss2email first poll recorded {rss2email_seen(data)} entries, expected {expected}")
    if not send_first:
        runs.append(services.counts(run_process("rss2email", "second", base, env)))
    return runs


def measure_naive(services: Services, folder: Path) -> list[Run]:
    folder.mkdir()
    urls_file = folder / "urls.txt"
    urls_file.write_text("\n".join(services.urls) + "\n", encoding="utf-8")
    runs = []
    for poll in ("first", "second"):
        run = services.counts(run_process("naive", poll, [sys.executable, __file__, "--naive", str(urls_file)]))
        run.inner = json.loads(run.stdout.strip().splitlines()[-1])
        if run.inner["entries"] != len(services.urls) * services.entries:
            raise RuntimeError(f"naive {poll}: parsed {run.inner['entries']} entries")
        runs.append(run)
    return runs


def measure_keep_alive(feeds: int, entries: int, smtp: tuple[Connection, int], work: Path, repeat: int) -> list[Run]:
    """newsbot and rss2email, `repeat` rounds in alternating order, against a server that keeps connections alive."""
    feed_end, feed_child = multiprocessing.Pipe()
    feed_server = multiprocessing.Process(target=serve_feeds, args=(feed_child, feeds, entries, True), daemon=True)
    feed_server.start()
    served = feed_end.recv()
    urls = [f"http://{HOST}:{served['port']}{path}" for path in served["paths"]]
    services = Services(feed_end, smtp[0], urls, served["sizes"], smtp[1], entries)
    runs: list[Run] = []
    try:
        parties = [measure_newsbot, measure_rss2email]
        for round_ in range(repeat):
            for party in parties[round_ % 2 :] + parties[: round_ % 2]:
                runs += party(services, work / f"keep-alive-{party.__name__}-{round_}")
    finally:
        feed_end.send("stop")
        feed_server.join(timeout=10)
    return runs


def measure(feeds: int, entries: int, *, repeat: int, r2e_send: bool, profile: bool) -> dict[str, Any]:
    """`repeat` rounds of newsbot, rss2email and naive (each round in a different order) against a server that
    closes each connection, the extras, then newsbot and rss2email against one that keeps connections alive."""
    warm_up()
    feed_end, feed_child = multiprocessing.Pipe()
    smtp_end, smtp_child = multiprocessing.Pipe()
    feed_server = multiprocessing.Process(target=serve_feeds, args=(feed_child, feeds, entries, False), daemon=True)
    smtp_server = multiprocessing.Process(target=serve_smtp, args=(smtp_child,), daemon=True)
    feed_server.start()
    smtp_server.start()
    served = feed_end.recv()
    services = Services(
        feeds=feed_end,
        smtp=smtp_end,
        urls=[f"http://{HOST}:{served['port']}{path}" for path in served["paths"]],
        sizes=served["sizes"],
        smtp_port=smtp_end.recv(),
        entries=entries,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="newsbot-bench-ingest-") as tmp:
            work = Path(tmp)
            parties = [measure_newsbot, measure_rss2email, measure_naive]
            runs: list[Run] = []
            for round_ in range(repeat):
                for party in parties[round_ % 3 :] + parties[: round_ % 3]:  # no party always runs first
                    runs += party(services, work / f"{party.__name__}-{round_}")
            inprocess = measure_newsbot_inprocess(services, work / "newsbot-inprocess", profile)
            extra = measure_rss2email(services, work / "rss2email-send", send_first=True) if r2e_send else []
            feed_end.send("stop")
            feed_server.join(timeout=10)
            kept = measure_keep_alive(feeds, entries, (smtp_end, services.smtp_port), work, repeat)
    finally:
        for end, process in ((feed_end, feed_server), (smtp_end, smtp_server)):
            if process.is_alive():
                end.send("stop")
                process.join(timeout=10)
    return {"runs": runs, "inprocess": inprocess, "extra": extra, "sizes": services.sizes, "keep_alive": kept}


# --- the report --------------------------------------------------------------------------------------------


def _versions() -> str:
    names = ("feedparser", "httpx", "rss2email", "aiosmtpd")
    found = ", ".join(f"{name} {metadata.version(name)}" for name in names)
    return f"Python {sys.version.split()[0]}, {found}, {os.cpu_count()} CPUs"


TOOLS = ("newsbot", "rss2email", "naive")
POLLS = ("first", "second")


@dataclass(frozen=True)
class Summary:
    """One tool's one poll over the rounds: medians, the wall-time range, the server's counts, the largest RSS."""

    tool: str
    poll: str
    seconds: float
    low: float
    high: float
    cpu_seconds: float
    requests: str
    not_modified: str
    mails: str
    connections: str
    peak_rss_mb: float
    tree_peak_mb: float
    tree_pss_mb: float


def _counts(values: Sequence[int]) -> str:
    """The same count in every round is shown once; differing counts are all shown."""
    return str(values[0]) if len(set(values)) == 1 else "/".join(map(str, values))


def summarize(runs: Sequence[Run], tool: str, poll: str) -> Summary:
    mine = [run for run in runs if run.tool == tool and run.poll == poll]
    wall = [run.seconds for run in mine]
    return Summary(
        tool=tool,
        poll=poll,
        seconds=statistics.median(wall),
        low=min(wall),
        high=max(wall),
        cpu_seconds=statistics.median(run.cpu_seconds for run in mine),
        requests=_counts([run.requests for run in mine]),
        not_modified=_counts([run.not_modified for run in mine]),
        mails=_counts([run.mails for run in mine]),
        connections=_counts([run.connections for run in mine]),
        peak_rss_mb=max(run.peak_rss_mb for run in mine),
        tree_peak_mb=max(run.tree_peak_mb for run in mine),
        tree_pss_mb=max(run.tree_pss_mb for run in mine),
    )


def targets(table: dict[tuple[str, str], Summary]) -> list[tuple[str, float, float, bool]]:
    """(target, ratio of median wall times, ratio of median CPU times, met by wall time?) for the four targets."""

    def ratios(tool: str, poll: str) -> tuple[float, float]:
        other, newsbot = table[tool, poll], table["newsbot", poll]
        return other.seconds / newsbot.seconds, other.cpu_seconds / newsbot.cpu_seconds

    naive_first, r2e_first = ratios("naive", "first"), ratios("rss2email", "first")
    naive_second, r2e_second = ratios("naive", "second"), ratios("rss2email", "second")
    return [
        ("first poll: faster than the naive loop (naive / newsbot > 1)", *naive_first, naive_first[0] > 1),
        ("first poll: faster than rss2email (rss2email / newsbot > 1)", *r2e_first, r2e_first[0] > 1),
        ("second poll: at least 10× faster than the naive loop (≥ 10)", *naive_second, naive_second[0] >= 10),
        ("second poll: no slower than rss2email (rss2email / newsbot ≥ 1)", *r2e_second, r2e_second[0] >= 1),
    ]


def render(result: dict[str, Any], feeds: int, entries: int, repeat: int, command: str) -> str:
    runs: list[Run] = result["runs"]
    sizes: list[int] = result["sizes"]
    table = {(tool, poll): summarize(runs, tool, poll) for tool in TOOLS for poll in POLLS}
    lines = [
        "# Ingest benchmark",
        "",
        f"Generated by `{command}` ({_versions()}).",
        f"{feeds} generated RSS 2.0 feeds × {entries} items ({min(sizes) / 1024:.0f}–{max(sizes) / 1024:.0f} KB,"
        f" mean {sum(sizes) / len(sizes) / 1024:.0f} KB, {sum(sizes) / 1024**2:.1f} MB in all) from a local"
        " HTTP server with ETag / Last-Modified. Each poll is one fresh process, timed from start to exit;"
        f" {repeat} round(s), medians shown (range: fastest–slowest round). CPU = user + system time of that process.",
        "Ratio = the tool's median seconds / newsbot's for the same poll (> 1: newsbot is faster).",
        "",
        "| tool | poll | seconds | range | CPU s | ratio tool / newsbot | requests | 304 answers | mails sent"
        " | connections | peak RSS (MB) | process tree peak (MB) | process tree peak PSS (MB) |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (tool, poll), row in table.items():
        newsbot = table["newsbot", poll].seconds
        ratio = "1 (baseline)" if tool == "newsbot" else f"{row.seconds / newsbot:.2f}"
        lines.append(
            f"| {tool} | {poll} | {row.seconds:.2f} | {row.low:.2f}–{row.high:.2f} | {row.cpu_seconds:.2f}"
            f" | {ratio} | {row.requests} | {row.not_modified} | {row.mails} | {row.connections}"
            f" | {row.peak_rss_mb:.0f} | {row.tree_peak_mb:.0f} | {row.tree_pss_mb:.0f} |"
        )
    lines += ["", "| target | ratio (wall) | ratio (CPU) | met? |", "|---|---:|---:|---|"]
    lines += [
        f"| {name} | {wall:.2f} | {cpu:.2f} | {'yes' if met else '**no**'} |" for name, wall, cpu, met in targets(table)
    ]
    lines += ["", "| first poll memory, newsbot / rss2email (peak, whole process tree) | ratio | under 3×? |"]
    lines.append("|---|---:|---|")
    for measure, ours, theirs in (
        ("sum of RSS (shared pages counted in every process)", "tree_peak_mb", "tree_peak_mb"),
        ("sum of PSS (shared pages divided among the processes)", "tree_pss_mb", "tree_pss_mb"),
    ):
        ratio = getattr(table["newsbot", "first"], ours) / getattr(table["rss2email", "first"], theirs)
        lines.append(f"| {measure} | {ratio:.2f} | {'yes' if ratio < 3 else '**no**'} |")
    inner: dict[str, float] = result["inprocess"].inner
    naive = {
        poll: statistics.median(r.inner["loop_seconds"] for r in runs if r.tool == "naive" and r.poll == poll)
        for poll in POLLS
    }
    lines += [
        "",
        "Start-up excluded (not the targets): newsbot's two polls in one process (`App.poll_due_sources(poll_all=True)`"
        " twice, one run) against the naive party's loop alone (median).",
        "",
        "| poll | newsbot poll (s) | naive loop (s) | ratio naive / newsbot |",
        "|---|---:|---:|---:|",
    ]
    for number, poll in enumerate(POLLS, start=1):
        seconds = inner[f"poll{number}_seconds"]
        lines.append(f"| {poll} | {seconds:.2f} | {naive[poll]:.2f} | {naive[poll] / seconds:.1f} |")
    lines.append(f"\nnewsbot, one process for both polls: peak RSS {inner['peak_rss_mb']:.0f} MB.")
    lines += _keep_alive_lines(result["keep_alive"])
    for run in result["extra"]:
        lines.append(
            f"\nrss2email first poll **sending** every entry (one SMTP connection per message, to the sink):"
            f" {run.seconds:.2f} s, {run.mails} mails, peak RSS {run.peak_rss_mb:.0f} MB"
            f" ({run.seconds / table['newsbot', 'first'].seconds:.1f}× newsbot's first poll, which posts nothing)."
        )
    return "\n".join(lines) + "\n"


def _keep_alive_lines(runs: Sequence[Run]) -> list[str]:
    lines = [
        "",
        "The same feeds from a server that keeps connections alive (HTTP/1.1), newsbot against rss2email:",
        "",
        "| tool | poll | seconds | range | CPU s | ratio tool / newsbot | requests | 304 answers | connections |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for poll in POLLS:
        newsbot = summarize(runs, "newsbot", poll)
        for tool in ("newsbot", "rss2email"):
            row = summarize(runs, tool, poll)
            ratio = "1 (baseline)" if tool == "newsbot" else f"{row.seconds / newsbot.seconds:.2f}"
            lines.append(
                f"| {tool} | {poll} | {row.seconds:.2f} | {row.low:.2f}–{row.high:.2f} | {row.cpu_seconds:.2f}"
                f" | {ratio} | {row.requests} | {row.not_modified} | {row.connections} |"
            )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the three parties; medians are reported")
    parser.add_argument("--r2e-send", action="store_true", help="also time rss2email's first poll mailing everything")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of newsbot's first in-process poll")
    parser.add_argument("--naive", metavar="URLS_FILE", help=argparse.SUPPRESS)
    parser.add_argument("--newsbot-inprocess", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive:
        return naive_child(args.naive)
    if args.newsbot_inprocess:
        return newsbot_inprocess_child(args.newsbot_inprocess, args.profile)
    result = measure(args.feeds, args.entries, repeat=args.repeat, r2e_send=args.r2e_send, profile=args.profile)
    command = " ".join(["bench/ingest.py", *sys.argv[1:]])
    report = render(result, args.feeds, args.entries, args.repeat, f".venv/bin/python {command}")
    print(report, end="")
    RESULTS_PATH.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
