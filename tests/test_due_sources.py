"""Many sources: the due ones come from an index, unchanged polls are recorded together and logged as one line."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.app import App
from bot.config import Config, StateConfig
from bot.ingest import Ingest
from bot.store import AddedSource, Lease, SourceState, Store, open_store
from bot.store.postgres import postgres_connection
from tests.conftest import FakeClock, news_item, rss

A = Lease("host-a:1:aaaa", 60)


@pytest.fixture
def store(state: StateConfig) -> Iterator[Store]:
    opened = open_store(state)
    yield opened
    opened.close()


def test_due_sources_are_the_never_polled_then_the_longest_overdue_and_never_a_paused_one(
    store: Store, clock: FakeClock
) -> None:
    now = clock()
    store.add_source_states(["new", "late", "later", "not-yet", "paused"])
    store.save_source_states(
        [
            SourceState("late", next_poll=now - timedelta(minutes=10)),
            SourceState("later", next_poll=now - timedelta(minutes=1)),
            SourceState("not-yet", next_poll=now + timedelta(seconds=1)),
            SourceState("paused", next_poll=now - timedelta(hours=1)),
        ]
    )
    store.set_source_paused("paused", True)
    assert store.due_source_names(now) == ["new", "late", "later"]
    assert store.due_source_names(now + timedelta(seconds=1)) == ["new", "late", "later", "not-yet"]


def test_due_sources_are_read_through_the_next_poll_index(store: Store, state: StateConfig, backend: str) -> None:
    store.add_source_states(f"feed-{n}" for n in range(50))
    query = "SELECT name FROM sources WHERE next_poll <= '2026-11-23T12:00:00' AND paused = 0 ORDER BY next_poll"
    if backend == "sqlite":
        plan = " ".join(str(row[3]) for row in store._db.execute(f"EXPLAIN QUERY PLAN {query}").fetchall())
    else:
        with postgres_connection(state.database_url({})) as connection:
            connection.execute("SET enable_seqscan = off")  # 50 rows: the planner would read them all otherwise
            plan = " ".join(str(row[0]) for row in connection.execute(f"EXPLAIN {query}").fetchall())
    assert "sources_due" in plan


def test_polls_saved_together_end_their_leases_and_keep_each_ones_state(store: Store, clock: FakeClock) -> None:
    now = clock()
    assert store.claim_sources(["a", "b"], now, A) == ["a", "b"]
    store.save_source_states(
        [SourceState("a", etag='"1"', next_poll=now), SourceState("b", last_modified="Mon", next_poll=now)]
    )
    states = store.source_states(["a", "b", "unknown"])
    assert (states["a"].etag, states["b"].last_modified) == ('"1"', "Mon")
    assert states["unknown"] == SourceState("unknown")
    assert store.claim_sources(["a", "b"], now, Lease("host-b:2:bbbb", 60)) == ["a", "b"]  # no lease left


# -- Ingest: which sources a poll check takes -------------------------------------------------------------------


def many_sources(make_config: Callable[..., Config], count: int) -> Config:
    sources = [{"name": f"feed-{n}", "url": f"https://news.example.com/{n}.xml"} for n in range(count)]
    return make_config(sources=sources)


def test_a_poll_check_takes_at_most_its_share_the_longest_overdue_first_in_config_order(
    make_config: Callable[..., Config], clock: FakeClock
) -> None:
    config = many_sources(make_config, 6)
    store = open_store(config.state)
    polls = Ingest(store, config, lease=A)
    polls.max_per_check = 3
    now = clock()
    store.add_source_states(source.name for source in config.sources)
    store.save_source_states(
        [SourceState(f"feed-{n}", next_poll=now - timedelta(minutes=n)) for n in range(6)]  # feed-5 waited longest
    )
    store.set_source_paused("feed-4", True)
    assert [source.name for source in polls.due_sources(now)] == ["feed-2", "feed-3", "feed-5"]
    store.save_source_states([SourceState(f"feed-{n}", next_poll=now + timedelta(minutes=1)) for n in (2, 3, 5)])
    assert [source.name for source in polls.due_sources(now)] == ["feed-0", "feed-1"]
    store.close()


def polled(store: Store, names: list[str], clock: FakeClock) -> None:
    store.save_source_states([SourceState(name, next_poll=clock() + timedelta(minutes=15)) for name in names])


def test_a_source_added_while_running_is_due_at_once(make_config: Callable[..., Config], clock: FakeClock) -> None:
    config = many_sources(make_config, 2)
    store = open_store(config.state)
    polls = Ingest(store, config, lease=A)
    assert [source.name for source in polls.due_sources(clock())] == ["feed-0", "feed-1"]
    polled(store, ["feed-0", "feed-1"], clock)
    polls.config = replace(config, sources=(*config.sources, replace(config.sources[0], name="feed-new")))
    assert [source.name for source in polls.due_sources(clock())] == ["feed-new"]
    store.close()


# -- recording and logging unchanged polls ----------------------------------------------------------------------


@pytest.fixture
def etag_site() -> Iterator[str]:
    """Feeds at /N with an ETag: a conditional GET that matches gets 304 Not Modified."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            feed = int(self.path.strip("/"))
            if self.headers.get("If-None-Match") == f'"{feed}"':
                self.send_response(304)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = rss([news_item(feed)]).encode()
            self.send_response(200)
            self.send_header("ETag", f'"{feed}"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_unchanged_polls_are_saved_and_logged_as_one_line(
    make_config: Callable[..., Config], clock: FakeClock, etag_site: str, caplog: pytest.LogCaptureFixture
) -> None:
    sources = [{"name": f"feed-{n}", "url": f"{etag_site}/{n}", "interval": 60} for n in range(3)]
    config = make_config(sources=sources, fetch={"allow_private": True})
    store = open_store(config.state)
    polls = Ingest(store, config, lease=A)
    polls.poll_many(polls.due_sources(clock()), clock())
    clock.advance(seconds=60)
    caplog.set_level(logging.INFO, logger="newsbot.ingest")
    caplog.clear()  # only the second poll's lines (an earlier test may have left the logger at INFO already)
    reports = polls.poll_many(polls.due_sources(clock()), clock())
    assert [(r.source, r.not_modified, r.error) for r in reports] == [(f"feed-{n}", True, "") for n in range(3)]
    assert [r.getMessage() for r in caplog.records] == [
        "event=sources_polled sources=3 not_modified=3 failed=0 new=0 queued=0"
    ]
    assert {store.source_state(f"feed-{n}").next_poll for n in range(3)} == {clock() + timedelta(seconds=60)}
    store.close()


def test_a_backlog_is_polled_in_checks_of_a_bounded_size_one_after_another(
    make_config: Callable[..., Config], clock: FakeClock, feed_file: Callable[[list[dict[str, str]]], Path]
) -> None:
    path = feed_file([news_item(1)])
    config = make_config(sources=[{"name": f"feed-{n}", "url": str(path)} for n in range(5)], routes=[])
    with App(config, clock=clock, publishers={}) as app:
        app.ingest.max_per_check = 2
        checks: list[int] = []
        poll_many = app.ingest.poll_many
        app.ingest.poll_many = lambda sources, now: checks.append(len(sources)) or poll_many(sources, now)  # type: ignore[method-assign]
        reports = app.poll_due_sources()
    assert sorted(report.source for report in reports) == [f"feed-{n}" for n in range(5)]
    assert checks == [2, 2, 1]


def test_sources_added_or_removed_in_the_state_are_seen_by_the_next_poll_check(
    store: Store, state: StateConfig, make_config: Callable[..., Config], clock: FakeClock
) -> None:
    config = replace(many_sources(make_config, 1), state=state)
    polls = Ingest(store, config, lease=A)
    assert [source.name for source in polls.sources()] == ["feed-0"]
    assert store.add_source(AddedSource("blog", "https://blog.example.org/feed", ("Tech",), "admin", clock()))
    assert [(s.name, s.hashtags) for s in polls.sources()] == [("feed-0", ()), ("blog", ("Tech",))]
    assert store.remove_source("blog")
    assert [source.name for source in polls.sources()] == ["feed-0"]


def test_a_stop_request_ends_a_backlog_after_the_check_in_flight(
    make_config: Callable[..., Config], clock: FakeClock, feed_file: Callable[[list[dict[str, str]]], Path]
) -> None:
    path = feed_file([news_item(1)])
    config = make_config(sources=[{"name": f"feed-{n}", "url": str(path)} for n in range(5)], routes=[])
    with App(config, clock=clock, publishers={}) as app:
        app.ingest.max_per_check = 2
        reports = app.poll_due_sources(should_stop=lambda: True)
        assert [report.source for report in reports] == ["feed-0", "feed-1"]
        assert [report.source for report in app.poll_due_sources()] == ["feed-2", "feed-3", "feed-4"]
