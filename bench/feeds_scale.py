"""Many feeds, nearly all unchanged: `newsbot run` with 10,000 / 25,000 / 50,000 sources, as a whole process.

Run from the repository root: `PYTHONPATH=. .venv/bin/python bench/feeds_scale.py [--sizes 10000 25000 50000]
[--interval 120] [--after 2.5]` (about 4 minutes per size at the defaults).

The goal (issue 16): 50,000 sources at a 15-minute interval, each polled within 10 % of its interval, under 25 % of
one core on average, under 250 MB. Fifteen minutes per round would make a run of three sizes take hours, so every
source here has `interval = --interval` seconds (default 120): 10,000 / 25,000 / 50,000 sources make 83 / 208 /
417 polls a second, 1.5× to 7.5× the goal's 56 (50,000 per 900 s). The CPU share at the goal's rate is then
worked out from the CPU time each poll costs (CPU seconds per poll × 56 polls/s); lateness and memory are as
measured (a shorter interval is the harder test for both).

The feeds are served by `ThreadingHTTPServer`s in this process (keep-alive, HTTP/1.1) on HOSTS addresses
127.0.0.2 … (Linux routes all of 127.0.0.0/8 to the loopback), so newsbot's per-host connection limit and its
lanes are what they would be for feeds spread over a few sites. Each answer carries an ETag; a conditional GET
that matches gets 304, except for one feed in CHANGED_EVERY, which has a new story on every poll (200). The sources
are in the config file (`[fetch] allow_private = true`, since the hosts are loopback addresses).

Measured, from the server's log of requests and /proc:
- **on time**: for every source, each poll after its first: the share whose gap from the previous poll is at
  most 1.1 × the interval (a poll still missing when 1.1 × the interval has passed counts as late);
- **CPU**: utime + stime of the process tree (the `newsbot run` process, its parse workers, the reaped children
  it waited for), over the steady-state window (from the end of the first poll of every source to the end of the
  run), as a share of one core; and per poll;
- **peak RSS**: the largest sum of VmRSS over the tree, sampled every second, over the whole run.
Writes bench/RESULTS-feeds-scale.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_PATH = BENCH_DIR / "RESULTS-feeds-scale.md"
HOSTS = 8
CHANGED_EVERY = 200  # one feed in 200 has a new story each time it is asked
GOAL_RATE = 50_000 / 900  # polls a second: 50,000 sources every 15 minutes
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

sys.path.insert(0, str(REPO))
from tests.conftest import news_item, rss  # noqa: E402


class Requests:
    """When each feed was asked for (monotonic seconds), as the servers saw it."""

    def __init__(self, count: int) -> None:
        self.lock = threading.Lock()
        self.times: list[list[float]] = [[] for _ in range(count)]
        self.served = 0

    def record(self, feed: int) -> int:
        with self.lock:
            self.times[feed].append(time.monotonic())
            self.served += 1
            return len(self.times[feed])

    def all_polled_once_at(self) -> float | None:
        with self.lock:
            if any(not times for times in self.times):
                return None
            return max(times[0] for times in self.times)


def handler_for(requests: Requests) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            feed = int(self.path.rsplit("/", 1)[-1])
            asked = requests.record(feed)
            version = asked if feed % CHANGED_EVERY == 0 else 1
            etag = f'"{feed}-{version}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = rss([news_item(feed * 1000 + n) for n in range(version, version + 3)], title=f"Feed {feed}")
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that stops (newsbot at the end of a size) resets its connections


@contextmanager
def serving(requests: Requests) -> Iterator[list[str]]:
    """One server per host address; yields each one's base URL."""
    with ExitStack() as stack:
        bases = []
        for host in range(HOSTS):
            server = QuietServer((f"127.0.0.{host + 2}", 0), handler_for(requests))
            threading.Thread(target=server.serve_forever, daemon=True).start()
            stack.callback(server.server_close)
            stack.callback(server.shutdown)
            bases.append(f"http://127.0.0.{host + 2}:{server.server_address[1]}/feed")
        yield bases


def write_config(folder: Path, bases: list[str], count: int, interval: int) -> Path:
    lines = [
        '[state]\npath = "state.sqlite"\n',
        "[fetch]\nallow_private = true\n",
        '[output]\ndir = "out"\n',
    ]
    for feed in range(count):
        lines.append(
            f'[[sources]]\nname = "feed-{feed}"\nurl = "{bases[feed % len(bases)]}/{feed}"\ninterval = {interval}\n'
        )
    config = folder / "config.toml"
    config.write_text("\n".join(lines), encoding="utf-8")
    return config


# -- the process tree ---------------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from the 3rd (state) on


def tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(root: int) -> float:
    """utime + stime of the live tree, plus cutime + cstime (children already reaped) of each."""
    ticks = 0
    for pid in tree(root):
        fields = _stat(pid)
        if fields is not None:
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / CLOCK_TICKS


def rss_mb(root: int) -> float:
    total = 0
    for pid in tree(root):
        with suppress(OSError, IndexError, ValueError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB
    return total / 1024


# -- one size -----------------------------------------------------------------------------------------------


@dataclass
class Result:
    sources: int
    interval: int
    first_poll: float  # seconds until every source was polled once
    on_time: float  # share of later polls within 1.1 × interval
    polls_judged: int
    steady_on_time: float  # the same, of the polls whose previous poll came after every source was polled once
    steady_judged: int
    cpu_share: float  # of one core, steady state, at the measured rate
    cpu_per_poll_ms: float
    peak_rss_mb: float
    steady_rss_mb: float  # the largest after every source was polled once
    served: int

    @property
    def rate(self) -> float:
        return self.sources / self.interval

    @property
    def cpu_at_goal_rate(self) -> float:
        return self.cpu_per_poll_ms / 1000 * GOAL_RATE


def on_time_share(requests: Requests, interval: int, end: float, since: float = 0.0) -> tuple[float, int]:
    """The share of polls on time, and how many were judged: those whose previous poll came after `since`."""
    allowed = 1.1 * interval
    judged = late = 0
    with requests.lock:
        for times in requests.times:
            for earlier, later in zip(times, [*times[1:], None], strict=True):
                if earlier < since:
                    continue
                if later is not None:
                    judged += 1
                    late += later - earlier > allowed
                elif end - earlier > allowed:
                    judged += 1
                    late += 1
    return (1 - late / judged if judged else 0.0), judged


def measure(count: int, interval: int, after: float) -> Result:
    requests = Requests(count)
    with serving(requests) as bases, tempfile.TemporaryDirectory() as folder:
        config = write_config(Path(folder), bases, count, interval)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        log = (Path(folder) / "run.log").open("wb")
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(config), "run"],
            cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        peak = steady_peak = 0.0
        steady_from: float | None = None
        steady_cpu = steady_served = 0.0
        try:
            while True:
                time.sleep(1.0)
                if process.poll() is not None:
                    raise SystemExit(f"newsbot run ended early; see {log.name}")
                rss = rss_mb(process.pid)
                peak = max(peak, rss)
                steady_peak = max(steady_peak, rss) if steady_from is not None else 0.0
                if steady_from is None and (once := requests.all_polled_once_at()) is not None:
                    steady_from, steady_cpu, steady_served = time.monotonic(), cpu_seconds(process.pid), requests.served
                    first_poll = once - started
                    print(f"  {count}: every source polled once after {first_poll:.0f} s", flush=True)
                if steady_from is not None and time.monotonic() - steady_from >= after * interval:
                    break
            end = time.monotonic()
            cpu = cpu_seconds(process.pid) - steady_cpu
            polls = requests.served - steady_served
        finally:
            process.send_signal(signal.SIGTERM)  # a stop lets the poll check in flight finish
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
        share, judged = on_time_share(requests, interval, end)
        steady_share, steady_judged = on_time_share(requests, interval, end, since=steady_from)
    return Result(
        sources=count, interval=interval, first_poll=first_poll, on_time=share, polls_judged=judged,
        steady_on_time=steady_share, steady_judged=steady_judged, steady_rss_mb=steady_peak,
        cpu_share=cpu / (end - steady_from), cpu_per_poll_ms=1000 * cpu / max(polls, 1), peak_rss_mb=peak,
        served=requests.served,
    )  # fmt: skip


def report(results: list[Result]) -> str:
    rows = [
        "| sources | interval | polls/s | first poll of all | on time (≤ 1.1 × interval) | on time, steady state |"
        " CPU (one core) | CPU per poll | CPU at 56 polls/s | peak RSS of the tree | peak RSS, steady state |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        rows.append(
            f"| {r.sources:,} | {r.interval} s | {r.rate:.0f} | {r.first_poll:.0f} s |"
            f" {100 * r.on_time:.1f} % of {r.polls_judged:,} | {100 * r.steady_on_time:.1f} % of {r.steady_judged:,} |"
            f" {100 * r.cpu_share:.0f} % | {r.cpu_per_poll_ms:.2f} ms | {100 * r.cpu_at_goal_rate:.0f} % |"
            f" {r.peak_rss_mb:.0f} MB | {r.steady_rss_mb:.0f} MB |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 25_000, 50_000])
    parser.add_argument("--interval", type=int, default=120, help="seconds between polls of each source")
    parser.add_argument("--after", type=float, default=2.5, help="intervals measured after the first poll")
    args = parser.parse_args()
    results = []
    for count in args.sizes:
        results.append(measure(count, args.interval, args.after))
        table = report(results)  # written after each size: a long run that is stopped keeps what it measured
        RESULTS_PATH.write_text(
            "# Many feeds, nearly all unchanged (bench/feeds_scale.py)\n\n"
            f"`PYTHONPATH=. .venv/bin/python bench/feeds_scale.py --sizes {' '.join(map(str, args.sizes))}"
            f" --interval {args.interval} --after {args.after}`, on {os.cpu_count()} cores (load average"
            f" {os.getloadavg()[0]:.1f} when this size ended).\n\n{table}\n",
            encoding="utf-8",
        )
        print(table, flush=True)


if __name__ == "__main__":
    main()
