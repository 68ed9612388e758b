"""Parsing a poll's downloads in worker processes (bot.sources.workers): how many workers, what they load, and
that results come back in order one at a time, so that memory stays small."""

from __future__ import annotations

from bot.errors import SourceError
from bot.sources import SourceRead
from bot.sources.fetched import Fetched
from bot.sources.workers import (
    MAX_WORKER_PROCESSES,
    PARSE_IN_PROCESSES_FROM,
    Downloads,
    ParseWorkers,
    parse_pool,
    parsed_in_order,
    worker_count,
)
from tests.conftest import news_item, rss

# What the bot loads elsewhere (channels, store, web, summaries, downloading) and a parse worker must not.
NOT_IN_A_WORKER = ("telegram", "tweepy", "jinja2", "httpx", "sqlite3", "psycopg", "starlette", "sumy", "bot.store")


def fetched(n: int) -> Fetched:
    body = rss([news_item(n)]).encode() if n else b"<rss><channel><item><title>cut"
    return Fetched(body, f"https://news.example.com/feed{n}.xml", "application/rss+xml", f'"{n}"', "")


def test_few_changed_feeds_or_one_core_start_no_worker() -> None:
    assert worker_count(PARSE_IN_PROCESSES_FROM - 1, cores=8) == 0
    assert worker_count(1000, cores=1) == 0


def test_workers_are_one_per_batch_of_feeds_and_leave_a_core_to_the_calling_process() -> None:
    assert worker_count(PARSE_IN_PROCESSES_FROM, cores=8) == 1
    assert worker_count(2 * PARSE_IN_PROCESSES_FROM, cores=8) == 2
    assert worker_count(200, cores=2) == 1
    assert worker_count(200, cores=3) == 2
    assert worker_count(10_000, cores=64) == MAX_WORKER_PROCESSES


def test_a_parse_worker_loads_the_parser_but_not_the_rest_of_the_bot() -> None:
    with parse_pool(1) as pool:
        parsed = pool.submit("feed1", "https://news.example.com/feed1.xml", fetched(1)).result()
        modules = set(pool.loaded_modules())
    assert isinstance(parsed, SourceRead) and parsed.entries[0].title == "Story number 1 about the council vote"
    assert {"feedparser", "bot.sources.feeds"} <= modules
    loaded = sorted(m for m in modules for heavy in NOT_IN_A_WORKER if m == heavy or m.startswith(f"{heavy}."))
    assert loaded == []


def test_downloads_come_back_parsed_in_order_each_forgotten_as_it_is_taken() -> None:
    count = PARSE_IN_PROCESSES_FROM + 2
    names = [f"feed{n}" for n in range(count)]
    urls = [f"https://news.example.com/feed{n}.xml" for n in range(count)]
    error = SourceError("feed2", urls[2], "HTTP 500: try again later")
    unchanged = Fetched(b"", urls[3], "", '"3"', "", not_modified=True)
    got: list[SourceRead | Fetched | SourceError] = [fetched(n) for n in range(count)]
    got[2], got[3] = error, unchanged
    with parse_pool(1) as pool:  # one worker beside this process
        downloads = Downloads(names, urls, pool)
        for index in reversed(range(count)):  # they arrive in any order
            downloads.arrive(index, got[index])
        results = list(parsed_in_order(downloads))
    assert downloads.held() == 0
    first, rest = results[0], results[1:]
    assert isinstance(first, SourceError) and "not a valid feed" in first.reason
    assert rest[1] is error
    assert isinstance(rest[2], SourceRead) and rest[2].not_modified and rest[2].etag == '"3"'
    titles = [r.entries[0].title for r in rest[3:] if isinstance(r, SourceRead)]
    assert titles == [f"Story number {n} about the council vote" for n in range(4, count)]
    assert isinstance(rest[0], SourceRead) and rest[0].etag == '"1"'


def test_parsing_starts_with_the_first_download_not_after_the_last() -> None:
    names, urls = ["feed1", "feed2"], ["https://news.example.com/feed1.xml", "https://news.example.com/feed2.xml"]
    downloads = Downloads(names, urls)
    downloads.arrive(0, fetched(1))
    results = parsed_in_order(downloads)
    first = next(results)  # the second download is not in yet
    assert isinstance(first, SourceRead) and first.entries[0].title == "Story number 1 about the council vote"
    assert downloads.held() == 0
    downloads.arrive(1, fetched(2))
    second = next(results)
    assert isinstance(second, SourceRead) and second.entries[0].title == "Story number 2 about the council vote"


def test_a_document_that_keeps_a_worker_parsing_too_long_fails_alone_and_the_next_one_parses() -> None:
    huge = Fetched(rss([news_item(n) for n in range(3000)]).encode(), "https://news.example.com/huge.xml", "", "", "")
    with ParseWorkers(1, timeout=0.05) as pool:
        stopped = pool.submit("huge", "https://news.example.com/huge.xml", huge).result()
        pool.timeout = 30.0  # the next document has all the time it needs, in a worker started afresh
        after = pool.submit("feed1", "https://news.example.com/feed1.xml", fetched(1)).result()
    assert isinstance(stopped, SourceError)
    assert stopped.reason == "parsing took longer than 0.05 s, so it was stopped: check the feed"
    assert isinstance(after, SourceRead) and after.entries[0].title == "Story number 1 about the council vote"
