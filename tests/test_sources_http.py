"""Sources over HTTP, against a real server on 127.0.0.1 (pytest-socket keeps every other host out)."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import bot
from bot.errors import SourceError
from bot.sources import Reach, SourceRead, read_source
from bot.sources.connect import Connections

FEEDS = Path(__file__).parent / "data" / "feeds"
ETAG = '"v1-7f3a"'
LAST_MODIFIED = "Wed, 11 Nov 2026 10:00:00 GMT"
BIG = 2_000  # bytes served by /big-*; the tests allow less
RSS_WITH_RELATIVE_LINKS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Relative</title>
<item><title>Harbour story</title><link>/2026/11/harbour</link>
<description>&lt;img src="/img/harbour.jpg"&gt; Ships are back.</description></item>
</channel></rss>"""


def read_config_source(name: str, url: str, **options: Any) -> SourceRead:
    """Read `url` as a `[[sources]]` url from the config file is read: its own origin may be 127.0.0.1."""
    return read_source(name, url, reach=Reach(from_operator=True), **options)


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen_headers: list[dict[str, str]] = []
        self.release = threading.Event()  # set at teardown so that slow handlers give up at once

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the client hanging up on a too-large or too-slow response is what those tests want


class _Handler(BaseHTTPRequestHandler):
    server: _SiteServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen_headers.append(dict(self.headers.items()))
        route = self.path.split("?")[0]
        routes: dict[str, Callable[[], None]] = {
            "/feed.xml": self._conditional_feed,
            "/moved": lambda: self._redirect("/feed.xml"),
            "/loop-a": lambda: self._redirect("/loop-b"),
            "/loop-b": lambda: self._redirect("/loop-a"),
            "/relative.xml": lambda: self._send(RSS_WITH_RELATIVE_LINKS, "application/rss+xml"),
            "/koi8r.xml": lambda: self._send_fixture("koi8r-no-declaration.xml", "text/xml; charset=KOI8-R"),
            "/latin1.xml": lambda: self._send_fixture("latin1.xml", "text/xml"),
            "/page.txt": self._windows_1252_page,
            "/big-declared": lambda: self._send(b"x" * BIG, "text/plain"),
            "/big-undeclared": self._big_without_length,
            "/slow": self._slow,
            "/trickle": self._trickle,
            "/error": lambda: self._status(503),
        }
        if route.startswith("/hop/"):
            self._redirect(f"/hop/{int(route.rsplit('/', 1)[1]) + 1}")
        elif route in routes:
            routes[route]()
        else:
            self._status(404)

    def _send(self, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_fixture(self, name: str, content_type: str) -> None:
        self._send((FEEDS / name).read_bytes(), content_type)

    def _status(self, code: int) -> None:
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _conditional_feed(self) -> None:
        unchanged = self.headers.get("If-None-Match") == ETAG or self.headers.get("If-Modified-Since") == LAST_MODIFIED
        if unchanged:
            self.send_response(304)
            self.send_header("ETag", ETAG)
            self.end_headers()
            return
        validators = {"ETag": ETAG, "Last-Modified": LAST_MODIFIED}
        self._send((FEEDS / "rss2-namespaces.xml").read_bytes(), "application/rss+xml; charset=utf-8", validators)

    def _windows_1252_page(self) -> None:
        body = "Café reopens on the quay\n\n“Best coffee in town,” she said.\n".encode("cp1252")
        self._send(body, "text/plain; charset=windows-1252")

    def _big_without_length(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"Title\n\n" + b"y" * BIG)  # HTTP/1.0: the body ends when the connection closes

    def _slow(self) -> None:
        self.server.release.wait(3)
        self._send(b"Too late\n\nThis answer comes after the client gave up.", "text/plain")

    def _trickle(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"Slow story\n\n")
        for _ in range(15):
            if self.server.release.wait(0.2):
                return
            self.wfile.write(b"More words. ")
            self.wfile.flush()


@dataclass(frozen=True)
class Site:
    server: _SiteServer

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    @property
    def last_request_headers(self) -> dict[str, str]:
        return self.server.seen_headers[-1]


@pytest.fixture
def site() -> Iterator[Site]:
    server = _SiteServer()
    # A short poll interval keeps shutdown() (and so each test's teardown) quick.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield Site(server)
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


# --- reading and conditional requests ----------------------------------------------------------------------


def test_feed_over_http_gives_entries_and_validators(site: Site) -> None:
    read = read_config_source("harbour", site.url("/feed.xml"))
    assert not read.not_modified
    assert len(read.entries) == 4
    assert read.entries[0].title == "Port strike ends after 11 days as dockworkers accept 6.5% pay offer"
    assert (read.etag, read.last_modified) == (ETAG, LAST_MODIFIED)


def test_request_names_newsbot_and_its_version(site: Site) -> None:
    read_config_source("harbour", site.url("/feed.xml"))
    assert site.last_request_headers["User-Agent"] == f"newsbot/{bot.__version__}"


def test_no_validators_are_sent_on_a_first_read(site: Site) -> None:
    read_config_source("harbour", site.url("/feed.xml"))
    assert "If-None-Match" not in site.last_request_headers
    assert "If-Modified-Since" not in site.last_request_headers


def test_matching_etag_gives_not_modified_and_no_entries(site: Site) -> None:
    read = read_config_source("harbour", site.url("/feed.xml"), etag=ETAG)
    assert site.last_request_headers["If-None-Match"] == ETAG
    assert read.not_modified
    assert read.entries == []
    assert read.etag == ETAG


def test_matching_last_modified_gives_not_modified_and_keeps_the_validator(site: Site) -> None:
    read = read_config_source("harbour", site.url("/feed.xml"), last_modified=LAST_MODIFIED)
    assert site.last_request_headers["If-Modified-Since"] == LAST_MODIFIED
    assert read.not_modified
    assert read.last_modified == LAST_MODIFIED  # the 304 did not repeat it; the one sent still holds


def test_stale_etag_gives_the_full_feed(site: Site) -> None:
    read = read_config_source("harbour", site.url("/feed.xml"), etag='"v0-old"')
    assert not read.not_modified
    assert len(read.entries) == 4


def test_given_connections_are_used_and_left_open_for_the_next_read(site: Site) -> None:
    with Connections() as connections:
        first = read_config_source("harbour", site.url("/feed.xml"), connections=connections)
        again = read_config_source("harbour", site.url("/feed.xml"), connections=connections, etag=first.etag)
    assert len(first.entries) == 4
    assert again.not_modified


# --- encodings and addresses -------------------------------------------------------------------------------


def test_charset_from_the_content_type_decodes_a_feed_without_a_declaration(site: Site) -> None:
    (entry,) = read_config_source("sever", site.url("/koi8r.xml")).entries
    assert entry.title == "Паром возобновил рейсы после шторма"
    assert entry.text == "Первый рейс ушёл в восемь утра."


def test_latin1_feed_served_as_text_xml_without_charset_is_decoded(site: Site) -> None:
    (entry,) = read_config_source("courrier", site.url("/latin1.xml")).entries
    assert entry.title == "Élections régionales : la participation grimpe à 62 %"


def test_charset_from_the_content_type_decodes_a_page(site: Site) -> None:
    (entry,) = read_config_source("cafe", site.url("/page.txt")).entries
    assert entry.title == "Café reopens on the quay"
    assert entry.text == "“Best coffee in town,” she said."


def test_page_over_http_links_to_its_address(site: Site) -> None:
    (entry,) = read_config_source("cafe", site.url("/page.txt")).entries
    assert entry.link == site.url("/page.txt")


def test_redirect_is_followed_and_relative_links_resolve_against_the_final_address(site: Site) -> None:
    read = read_config_source("harbour", site.url("/moved"))
    assert len(read.entries) == 4
    (entry,) = read_config_source("relative", site.url("/relative.xml")).entries
    assert entry.link == site.url("/2026/11/harbour")
    assert entry.image_url == site.url("/img/harbour.jpg")


# --- failures ----------------------------------------------------------------------------------------------


def test_404_error_names_source_url_status_and_advice(site: Site) -> None:
    url = site.url("/gone.xml")
    with pytest.raises(SourceError) as caught:
        read_config_source("gone", url)
    assert str(caught.value) == f"source 'gone' ({url}): HTTP 404 Not Found: check the URL"


def test_server_error_advises_trying_again_later(site: Site) -> None:
    with pytest.raises(SourceError, match="HTTP 503 Service Unavailable: the server failed; try again later"):
        read_config_source("flaky", site.url("/error"))


def test_redirect_loop_is_reported_as_a_loop(site: Site) -> None:
    with pytest.raises(SourceError) as caught:
        read_config_source("loop", site.url("/loop-a"))
    reason = caught.value.reason
    assert reason.startswith("redirect loop (")
    assert f"{site.url('/loop-a')} → {site.url('/loop-b')} → {site.url('/loop-a')}" in reason


def test_more_than_five_redirects_is_an_error(site: Site) -> None:
    with pytest.raises(SourceError, match="more than 5 redirects: use the address the redirects end at"):
        read_config_source("hops", site.url("/hop/1"))
    assert len(site.server.seen_headers) == 6


def test_declared_body_over_max_bytes_is_refused(site: Site) -> None:
    with pytest.raises(SourceError, match=f"response larger than {BIG - 1} bytes: raise max_bytes or fix the feed"):
        read_config_source("big", site.url("/big-declared"), max_bytes=BIG - 1)


def test_undeclared_body_over_max_bytes_is_cut_off(site: Site) -> None:
    with pytest.raises(SourceError, match="response larger than 1000 bytes"):
        read_config_source("big", site.url("/big-undeclared"), max_bytes=1000)


def test_body_of_exactly_max_bytes_is_accepted(site: Site) -> None:
    (entry,) = read_config_source("big", site.url("/big-declared"), max_bytes=BIG).entries
    assert entry.title == "x" * BIG


def test_slow_response_times_out(site: Site) -> None:
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        read_config_source("slow", site.url("/slow"), timeout=0.5)
    assert caught.value.reason == "timed out after 0.5 s: try again later or raise the timeout"
    assert time.monotonic() - started < 2


def test_trickling_body_is_cut_off_at_the_timeout(site: Site) -> None:
    started = time.monotonic()
    with pytest.raises(SourceError, match=re.escape("timed out after 0.5 s")):
        read_config_source("trickle", site.url("/trickle"), timeout=0.5)
    assert time.monotonic() - started < 2


def test_refused_connection_is_a_source_error() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(SourceError, match=r"could not connect \(.*\): check the host name and the network"):
        read_config_source("down", f"http://127.0.0.1:{port}/feed.xml", timeout=2)
