"""bot.source_admin with several workers on one state: an admin on another worker (chat or web) may add a source
between this worker's reading of the names and its own insert; the add still succeeds under the next free name."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bot import source_admin
from bot.config import Config, StateConfig
from bot.store import AddedSource, Store, open_store
from tests.conftest import news_item, rss

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class _Feed(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = rss([news_item(1)]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def feed_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Feed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/feed.xml"
    server.shutdown()
    server.server_close()


class _OtherWorkerAddsMeanwhile:
    """The state as this worker sees it while another worker adds `theirs` just after the names were read."""

    def __init__(self, store: Store, theirs: AddedSource) -> None:
        self._store = store
        self._theirs = theirs
        self._reads = 0

    def added_sources(self) -> list[AddedSource]:
        sources = self._store.added_sources()
        self._reads += 1
        if self._reads == 2:  # preview read the names once, new_source_name is reading them now
            self._store.add_source(self._theirs)
        return sources

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return getattr(self._store, name)  # type: ignore[no-any-return]


def test_a_name_taken_by_another_worker_meanwhile_gets_the_next_one(
    make_config: Callable[..., Config], state: StateConfig, feed_url: str
) -> None:
    config = make_config(fetch={"allow_private": True})
    store = open_store(state)
    try:
        theirs = AddedSource("127.0.0.1-1", "http://127.0.0.1:9/other.xml", (), "4343", NOW)
        racing = _OtherWorkerAddsMeanwhile(store, theirs)
        added = source_admin.add(config, racing, feed_url, ["Local"], added_by="4242", now=NOW)  # type: ignore[arg-type]
        assert added.name == "127.0.0.1-2"
        assert {(s.name, s.url) for s in store.added_sources()} == {
            ("127.0.0.1-1", "http://127.0.0.1:9/other.xml"),
            ("127.0.0.1-2", feed_url),
        }
    finally:
        store.close()
