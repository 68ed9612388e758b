"""bot.source_admin with several workers on one state: an admin on another worker (chat or web) may add a source
between this worker's reading of the names and its own insert; the add still succeeds under the next free name. Two
admins adding one URL at once make one source (the state's unique URL index decides): the other is told which."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bot import source_admin
from bot.config import Config, StateConfig
from bot.source_admin import AlreadyASource, SourceRefused
from bot.store import AddedSource, Store, open_store
from tests.conftest import news_item, rss

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class _Feed(BaseHTTPRequestHandler):
    meeting: threading.Barrier | None = None  # when set, each fetch waits here for the other admin's fetch

    def do_GET(self) -> None:
        if self.meeting is not None:
            self.meeting.wait(timeout=20)
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


def test_two_admins_adding_one_url_at_once_make_one_source_and_the_other_is_told_its_name(
    make_config: Callable[..., Config], state: StateConfig, feed_url: str
) -> None:
    config = make_config(fetch={"allow_private": True})
    stores = [open_store(state), open_store(state)]  # two workers (or two chat commands): two connections
    _Feed.meeting = threading.Barrier(2)  # both have checked the URL is new before either adds it
    outcomes: list[object] = [None, None]

    def admin_adds(index: int) -> None:
        try:
            outcomes[index] = source_admin.add(config, stores[index], feed_url, ["Local"], added_by=str(index), now=NOW)
        except SourceRefused as refused:
            outcomes[index] = refused

    try:
        threads = [threading.Thread(target=admin_adds, args=(index,)) for index in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        [added] = [o for o in outcomes if isinstance(o, source_admin.Added)]
        [refused] = [o for o in outcomes if isinstance(o, AlreadyASource)]
        assert str(refused) == f"That URL is already a source: {added.name}."
        assert [(s.name, s.url) for s in stores[0].added_sources()] == [(added.name, feed_url)]
    finally:
        _Feed.meeting = None
        for store in stores:
            store.close()


def test_a_url_the_config_file_polls_is_refused_naming_its_source(
    make_config: Callable[..., Config], state: StateConfig, feed_url: str
) -> None:
    config = make_config(fetch={"allow_private": True}, sources=[{"name": "wire", "url": feed_url}])
    store = open_store(state)
    try:
        with pytest.raises(AlreadyASource, match=r"^That URL is already a source: wire\.$"):
            source_admin.add(config, store, feed_url, [], added_by="4242", now=NOW)
        assert store.added_sources() == []
    finally:
        store.close()


def test_an_import_asking_for_a_url_added_meanwhile_reports_it_as_already_there(
    make_config: Callable[..., Config], state: StateConfig
) -> None:
    config = make_config()
    store = open_store(state)
    try:
        url = "https://wire.example.com/rss"
        racing = _OtherWorkerAddsMeanwhile(store, AddedSource("chat-added", url, ("World",), "4343", NOW))
        racing._reads = 1  # the import's read of the names is the one before the other admin's add
        wanted = [source_admin.Wanted("line 3", url, ("Tech",)), source_admin.Wanted("line 4", f"{url}2")]
        done = source_admin.add_many(config, racing, wanted, check=False, added_by="import", now=NOW)  # type: ignore[arg-type]
        assert done.already == [("line 3", url, "chat-added")]
        assert [(s.name, s.url, s.hashtags) for s in store.added_sources()] == [
            ("chat-added", url, ("World",)),
            ("wire.example.com-1", f"{url}2", ()),
        ]
    finally:
        store.close()


def test_a_long_non_ascii_url_is_added_once(state: StateConfig) -> None:
    store = open_store(state)
    try:
        # 1,994 characters (under MAX_URL_CHARS), 5,936 bytes of UTF-8 that do not compress: too long for a
        # PostgreSQL index entry (2,704 bytes at most), so the unique index is on its hash
        url = "https://zh.example.org/" + "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(1971))
        assert store.add_source(AddedSource("ru", url, (), "4242", NOW))
        assert not store.add_source(AddedSource("ru-2", url, (), "4343", NOW))
        assert store.added_source_with_url(url) == "ru"
    finally:
        store.close()
