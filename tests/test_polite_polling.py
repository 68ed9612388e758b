"""Polls are polite to each host: a few connections at a time, kept alive and reused, other hosts in parallel.

Real servers on 127.0.0.1 and 127.0.0.2 (Linux routes all of 127.0.0.0/8 to the loopback interface) count the
connections they accept and the most open at once. No assertion is about time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.app import App
from bot.config import Config
from bot.errors import SourceError
from bot.sources import Reach, read_source
from bot.sources.connect import MAX_CONNECTIONS_PER_HOST, Connections
from tests.conftest import FakeClock, news_item, rss

FEED = rss([news_item(1)]).encode()
ETAG = '"same"'
FROM_CONFIG = Reach(from_operator=True)


@dataclass(frozen=True)
class _Hold:
    """Each request waits for `until` (at most `seconds`) before it is answered, so that requests overlap."""

    until: threading.Event
    seconds: float


class _CountingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, *, keep_alive: bool, hold: _Hold | None = None) -> None:
        handler = type("Handler", (_Handler,), {"protocol_version": "HTTP/1.1" if keep_alive else "HTTP/1.0"})
        super().__init__((host, 0), handler)
        self.lock = threading.Lock()
        self.open_now = self.most_open = self.connections = 0
        self.paths: list[str] = []
        self.hold = hold
        self.asked = threading.Event()  # set by the first request
        self.waited_out = 0  # requests whose hold was not released before its time ran out

    def url(self, path: str) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def opened(self) -> None:
        with self.lock:
            self.connections += 1
            self.open_now += 1
            self.most_open = max(self.most_open, self.open_now)

    def closed(self) -> None:
        with self.lock:
            self.open_now -= 1


class _Handler(BaseHTTPRequestHandler):
    server: _CountingServer

    def setup(self) -> None:
        super().setup()
        self.server.opened()

    def finish(self) -> None:
        self.server.closed()
        super().finish()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.paths.append(self.path)
        self.server.asked.set()
        hold = self.server.hold
        if hold is not None and not hold.until.wait(timeout=hold.seconds):
            with self.server.lock:
                self.server.waited_out += 1
        if self.path.startswith("/to-"):
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/to-"))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.headers.get("If-None-Match") == ETAG:
            self.send_response(304)
            self.send_header("ETag", ETAG)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(FEED)))
        self.send_header("ETag", ETAG)
        self.end_headers()
        self.wfile.write(FEED)


def _serve(host: str, *, keep_alive: bool, hold: _Hold | None = None) -> Iterator[_CountingServer]:
    server = _CountingServer(host, keep_alive=keep_alive, hold=hold)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closing() -> Iterator[_CountingServer]:
    """Closes every connection after its answer, and holds each answer a moment so that requests overlap."""
    yield from _serve("127.0.0.1", keep_alive=False, hold=_Hold(threading.Event(), seconds=0.05))


@pytest.fixture
def keep_alive() -> Iterator[_CountingServer]:
    yield from _serve("127.0.0.1", keep_alive=True)


def _sources(server: _CountingServer, count: int, prefix: str = "feed") -> list[dict[str, object]]:
    return [{"name": f"{prefix}{n}", "url": server.url(f"/{prefix}{n}.xml"), "backfill": 0} for n in range(count)]


def _poll(config: Config, clock: FakeClock) -> dict[str, str]:
    with App(config, clock=clock) as app:
        report = app.run_cycle(poll_all=True)
    return {poll.source: poll.error for poll in report.polls}


def test_a_host_never_has_more_than_the_limit_of_connections_open_at_once(
    make_config: Callable[..., Config], clock: FakeClock, closing: _CountingServer
) -> None:
    config = make_config(sources=_sources(closing, 3 * MAX_CONNECTIONS_PER_HOST))

    errors = _poll(config, clock)

    assert set(errors.values()) == {""}
    assert closing.connections == 3 * MAX_CONNECTIONS_PER_HOST  # it closes each one: a new one per feed
    assert 1 < closing.most_open <= MAX_CONNECTIONS_PER_HOST


def test_a_server_that_keeps_connections_alive_serves_every_feed_over_a_few_of_them(
    make_config: Callable[..., Config], clock: FakeClock, keep_alive: _CountingServer
) -> None:
    feeds = 5 * MAX_CONNECTIONS_PER_HOST
    config = make_config(sources=_sources(keep_alive, feeds))

    first = _poll(config, clock)
    opened_by_first = keep_alive.connections
    second = _poll(config, clock)  # every feed answers 304: the 304s, too, leave their connection open

    assert set(first.values()) == set(second.values()) == {""}
    assert len(keep_alive.paths) == 2 * feeds
    assert opened_by_first <= MAX_CONNECTIONS_PER_HOST
    assert keep_alive.connections - opened_by_first <= MAX_CONNECTIONS_PER_HOST


@pytest.mark.allow_hosts(["127.0.0.1", "127.0.0.2"])
def test_another_host_is_fetched_while_the_first_one_is_busy(
    make_config: Callable[..., Config], clock: FakeClock
) -> None:
    """The first host's feeds are listed first and each waits for the second host to be asked: with one queue for
    all feeds the second host would be asked only after most of the first host's feeds."""
    other = _serve("127.0.0.2", keep_alive=False)
    other_server = next(other)
    busy = _serve("127.0.0.1", keep_alive=False, hold=_Hold(other_server.asked, seconds=10))
    busy_server = next(busy)
    try:
        config = make_config(sources=[*_sources(busy_server, 20), *_sources(other_server, 1, prefix="other")])
        errors = _poll(config, clock)
    finally:
        busy.close()
        other.close()

    assert set(errors.values()) == {""}
    assert (len(busy_server.paths), len(other_server.paths)) == (20, 1)
    assert busy_server.waited_out == 0


def test_a_kept_alive_connection_to_a_private_origin_does_not_let_a_redirect_there_through(
    keep_alive: _CountingServer,
) -> None:
    """The config source on `internal` leaves a live connection in the pool that may reach private addresses;
    another source's redirect to that origin is still checked, and refused before any request is sent."""
    internal = keep_alive
    with Connections() as shared:
        read_source("internal", internal.url("/feed.xml"), reach=FROM_CONFIG, connections=shared)
        serving = _serve("127.0.0.1", keep_alive=True)
        redirecting = next(serving)
        try:
            with pytest.raises(SourceError) as caught:
                target = internal.url("/secret.xml")
                read_source("wire", redirecting.url(f"/to-{target}"), reach=FROM_CONFIG, connections=shared)
        finally:
            serving.close()

    assert caught.value.reason.startswith(f"it redirects to {target}, and 127.0.0.1 is a loopback address")
    assert (internal.paths, internal.connections) == (["/feed.xml"], 1)


def test_a_chat_url_on_a_host_with_a_kept_alive_connection_is_refused_before_any_request(
    keep_alive: _CountingServer,
) -> None:
    with Connections() as shared:
        read_source("wire", keep_alive.url("/feed.xml"), reach=FROM_CONFIG, connections=shared)
        with pytest.raises(SourceError) as caught:
            read_source("chat", keep_alive.url("/other.xml"), connections=shared)

    assert caught.value.reason.startswith("127.0.0.1 is a loopback address")
    assert (keep_alive.paths, keep_alive.connections) == (["/feed.xml"], 1)
