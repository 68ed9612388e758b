"""Attacks through the sources newsbot fetches: decompression bombs, server-side request forgery (SSRF) through
chat commands and redirects, port scanning with /addsource, and credentials in source URLs leaking into logs.

The attacker's site and the "internal" service it aims at are local servers on 127.0.0.1 that count the
connections they accept. A refusal is proven by a count of 0 and by newsbot's own message, never by reaching
another host: pytest-socket stops any connection outside 127.0.0.0/8 and ::1, and a connection attempt to
10.0.0.1 would fail with its error, not with newsbot's refusal.
"""

from __future__ import annotations

import functools
import gzip
import ipaddress
import socket
import struct
import threading
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from bot.app import App
from bot.config import Config, load_config
from bot.errors import SourceError
from bot.sources import Reach, SourceRead, read_source
from bot.sources.reach import address_kind
from bot.store import AddedSource
from bot.urls import redact_url, redact_urls_in
from tests.conftest import SYRIA_PAGE, FakeClock, news_item, newsbot, rss
from tests.reliability.conftest import free_port
from tests.reliability.test_source_faults import status_reply
from tests.store_sql import count_articles
from tests.test_commands_subscriber import ADMIN, NOW, running_bot

FEED = rss([news_item(1, tag="Harbour"), news_item(2, tag="Harbour")]).encode()
INTERNAL_PAGE = b"Internal admin panel\n\nThe database password is hunter2 and nobody outside may read this.\n"
MAX_BYTES = 1_000_000
MIB = 1 << 20
SINGLE_BOMB_MIB = 64  # one gzip layer: about 64 KB on the wire
STACKED_BOMB_MIB = 256  # two gzip layers: about 1 KB on the wire
PEAK_LIMIT = 8 * MIB  # memory a read may use at most: the 1 MB cap, one inflate step, and change
SECRET = "s3cr3t-api-key"
FROM_CONFIG = Reach(from_operator=True)


# --- the servers -------------------------------------------------------------------------------------------


def _zeros_stream(mebibytes: int, window_bits: int) -> bytes:
    """A deflate stream (zlib, gzip or raw by `window_bits`) of `mebibytes` MiB of zeros, without its end.

    Compressing gigabytes would take a while; after a full flush, though, every further MiB of zeros compresses to
    the same block, so the stream is the first block and copies of the second.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, window_bits)
    zeros = bytes(MIB)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeated = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first + repeated * (mebibytes - 1)


@functools.cache
def _bodies() -> dict[str, tuple[bytes, str]]:
    """path -> (body on the wire, Content-Encoding)."""
    raw_deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return {
        "/feed.gz": (gzip.compress(FEED), "gzip"),
        "/feed.zlib": (zlib.compress(FEED), "deflate"),
        "/feed.raw-deflate": (raw_deflate.compress(FEED) + raw_deflate.flush(), "deflate"),
        "/feed.br": (FEED, "br"),
        "/bomb.gz": (_zeros_stream(SINGLE_BOMB_MIB, zlib.MAX_WBITS | 16), "gzip"),
        "/bomb.zlib": (_zeros_stream(SINGLE_BOMB_MIB, zlib.MAX_WBITS), "deflate"),
        "/bomb.gz.gz": (gzip.compress(_zeros_stream(STACKED_BOMB_MIB, zlib.MAX_WBITS | 16)), "gzip, gzip"),
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.accepted = 0  # TCP connections taken from the listening socket
        self._count = threading.Lock()

    def verify_request(self, request: Any, client_address: Any) -> bool:
        with self._count:
            self.accepted += 1
        return True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client hanging up on a bomb is what those tests want

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.server_address[1]}{path}"


class _Handler(BaseHTTPRequestHandler):
    """/feed.xml, /page.txt, /internal; /to?url=U redirects to U, /self to itself; compressed bodies; /reset
    and /hang-up."""

    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path in ("/to", "/self"):
            self.send_response(302)
            self.send_header("Location", parse_qs(parts.query)["url"][0] if parts.path == "/to" else self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif parts.path == "/reset":  # an RST instead of an answer
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
        elif parts.path == "/hang-up":  # the connection closed without an answer
            self.close_connection = True
        elif parts.path in _bodies():
            body, coding = _bodies()[parts.path]
            self._send(body, "application/rss+xml", {"Content-Encoding": coding})
        else:
            pages = {"/feed.xml": FEED, "/page.txt": SYRIA_PAGE.read_bytes(), "/internal": INTERNAL_PAGE}
            self._send(pages.get(parts.path, b"not found"), "text/plain", status=200 if parts.path in pages else 404)

    def _send(self, body: bytes, content_type: str, extra: dict[str, str] | None = None, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _serve() -> Iterator[_Server]:
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def site() -> Iterator[_Server]:
    """The site a source or a chat message names."""
    yield from _serve()


@pytest.fixture
def internal() -> Iterator[_Server]:
    """A service on the bot's own machine that nobody outside should reach (another port: another origin)."""
    yield from _serve()


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every address a socket tries to connect to during the test. One outside 127.0.0.0/8 and ::1 is refused
    here, before the system call (pytest-socket, which stays on, would stop it too, with an error of its own)."""
    seen: list[object] = []
    guarded = socket.socket.connect

    def recording(sock: socket.socket, address: Any) -> None:
        seen.append(address)
        if not ipaddress.ip_address(address[0]).is_loopback:
            raise ConnectionRefusedError(f"the test refuses to connect to {address[0]}")
        guarded(sock, address)

    monkeypatch.setattr(socket.socket, "connect", recording)
    return seen


def _redirect(site: _Server, target: str) -> str:
    return site.url("/to?url=" + quote(target, safe=""))


# --- decompression bombs -------------------------------------------------------------------------------------


def _read_measured(url: str) -> tuple[SourceRead | SourceError, int]:
    """The outcome of reading `url` as a config source with the 1 MB cap, and the most memory it held at once."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        try:
            outcome: SourceRead | SourceError = read_source("bomb", url, max_bytes=MAX_BYTES, reach=FROM_CONFIG)
        except SourceError as error:
            outcome = error
        return outcome, tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def test_stacked_gzip_bomb_is_refused_before_its_body_is_inflated(site: _Server) -> None:
    wire_size = len(_bodies()["/bomb.gz.gz"][0])
    assert wire_size < 4096  # a few kilobytes that would inflate to 256 MiB

    outcome, peak = _read_measured(site.url("/bomb.gz.gz"))

    assert peak < PEAK_LIMIT, f"{peak / MIB:.1f} MiB held for {wire_size} bytes on the wire"
    assert isinstance(outcome, SourceError)
    assert outcome.reason == (
        "the response is compressed 2 times (gzip, gzip): newsbot reads one layer; fix the server's compression"
    )


@pytest.mark.parametrize("path", ["/bomb.gz", "/bomb.zlib"])
def test_compressed_bomb_stops_at_the_size_cap_without_inflating_the_rest(site: _Server, path: str) -> None:
    outcome, peak = _read_measured(site.url(path))

    assert peak < PEAK_LIMIT, f"{peak / MIB:.1f} MiB held to read {SINGLE_BOMB_MIB} MiB of zeros"
    assert isinstance(outcome, SourceError)
    assert outcome.reason == f"response larger than {MAX_BYTES} bytes: raise max_bytes or fix the feed"


@pytest.mark.parametrize("path", ["/feed.gz", "/feed.zlib", "/feed.raw-deflate"])
def test_a_gzip_or_deflate_feed_is_read_as_before(site: _Server, path: str) -> None:
    read = read_source("harbour", site.url(path), max_bytes=MAX_BYTES, reach=FROM_CONFIG)
    assert [entry.title for entry in read.entries] == [news_item(n)["title"] for n in (1, 2)]


def test_a_coding_newsbot_did_not_ask_for_is_refused_with_what_it_reads(site: _Server) -> None:
    with pytest.raises(SourceError) as caught:
        read_source("harbour", site.url("/feed.br"), reach=FROM_CONFIG)
    assert caught.value.reason == (
        "the response is compressed with br, which newsbot did not ask for (it reads gzip, deflate): "
        "fix the server's compression"
    )


# --- SSRF: the address rule --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6
        ("2002:7f00:1::1", "loopback"),  # 6to4 around 127.0.0.1
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 around 169.254.169.254
        ("fe80::1", "link-local"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "private"),  # documentation range
        ("93.184.216.34", ""),
        ("2606:4700::1111", ""),
        ("::ffff:93.184.216.34", ""),
    ],
)
def test_only_public_addresses_pass_the_rule(address: str, kind: str) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


# --- SSRF: URLs given in chat --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://10.0.0.1/feed.xml", "10.0.0.1 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://[::ffff:127.0.0.1]:{port}/internal", "::ffff:127.0.0.1 is a loopback address"),
        ("http://[::1]:{port}/internal", "::1 is a loopback address"),
        ("http://0.0.0.0:{port}/internal", "0.0.0.0 is an unspecified address"),
        ("http://localhost:{port}/internal", "localhost (127.0.0.1) is a loopback address"),
        ("http://127.1:{port}/internal", "127.1 (127.0.0.1) is a loopback address"),  # a name that resolves to it
    ],
)
def test_a_chat_url_on_a_non_public_address_is_refused_before_any_connection(
    internal: _Server, connects: list[object], url: str, shown: str
) -> None:
    with pytest.raises(SourceError) as caught:
        read_source("post", url.format(port=internal.server_address[1]))

    assert caught.value.reason.startswith(
        f"{shown}; newsbot fetches the URLs admins give it (in chat or the control room) only from public addresses"
    )
    assert caught.value.reason.endswith("give a public URL, or set [fetch] allow_private = true in the config file")
    assert (connects, internal.accepted) == ([], 0)


def test_a_name_that_resolves_again_to_loopback_is_connected_only_where_it_was_checked(
    internal: _Server, connects: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the first answer is public, every later one loopback. A check that resolved the name and then
    let the connection resolve it again would reach the internal service."""
    resolve = socket.getaddrinfo
    asked: list[str] = []

    def rebinding(host: str, port: int, *args: Any, **options: Any) -> Any:
        if host != "rebind.example":
            return resolve(host, port, *args, **options)
        asked.append(host)
        address = "93.184.216.34" if len(asked) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(SourceError) as caught:
        read_source("post", f"http://rebind.example:{internal.server_address[1]}/internal")

    assert caught.value.reason.startswith("no answer from that address")
    assert (asked, connects, internal.accepted) == (
        ["rebind.example"],
        [("93.184.216.34", internal.server_address[1])],
        0,
    )


def test_the_connection_recorder_sees_an_allowed_connection(internal: _Server, connects: list[object]) -> None:
    read_source("post", internal.url("/page.txt"), reach=Reach(allow_private=True))
    assert connects == [("127.0.0.1", internal.server_address[1])]
    assert internal.accepted == 1


def test_post_of_an_internal_url_is_refused_and_nothing_is_stored(tmp_path: Path, internal: _Server) -> None:
    with running_bot(tmp_path) as bot:
        answer = bot.ask(f"/post {internal.url('/page.txt')}", user_id=ADMIN)
        articles = count_articles(bot.store)

    assert answer.startswith("Could not read that page: 127.0.0.1 is a loopback address; ")
    assert "set [fetch] allow_private = true" in answer
    assert (internal.accepted, articles) == (0, 0)


def test_addsource_of_an_internal_url_is_refused_and_not_added(tmp_path: Path, internal: _Server) -> None:
    with running_bot(tmp_path) as bot:
        answer = bot.ask(f"/addsource {internal.url('/feed.xml')} #Local", user_id=ADMIN)
        added = bot.store.added_sources()

    assert answer.startswith("That source does not work, so it was not added: 127.0.0.1 is a loopback address; ")
    assert (internal.accepted, added) == (0, [])


def test_allow_private_lets_chat_urls_reach_private_addresses(tmp_path: Path, internal: _Server) -> None:
    with running_bot(tmp_path, fetch={"allow_private": True}) as bot:
        assert "queued for" in bot.ask(f"/post {internal.url('/page.txt')}", user_id=ADMIN)
        assert "Added source" in bot.ask(f"/addsource {internal.url('/feed.xml')}", user_id=ADMIN)
    assert internal.accepted == 2


def _unanswered_urls(site: _Server, listener: socket.socket) -> dict[str, str]:
    return {
        "refused": f"http://127.0.0.1:{free_port()}/feed.xml",
        "reset": site.url("/reset"),
        "hung up": site.url("/hang-up"),
        "timed out": f"http://127.0.0.1:{listener.getsockname()[1]}/feed.xml",  # accepts, never answers
    }


@pytest.fixture
def silent_listener() -> Iterator[socket.socket]:
    """A port whose connections the kernel completes but nobody ever answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener


def test_addsource_gives_one_answer_for_refused_reset_closed_and_silent_ports(
    tmp_path: Path, site: _Server, silent_listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.source_admin.FETCH_TIMEOUT", 0.5)  # the silent port times out sooner
    urls = _unanswered_urls(site, silent_listener)
    with running_bot(tmp_path, fetch={"allow_private": True}) as bot:
        answers = {case: bot.ask(f"/addsource {url}", user_id=ADMIN) for case, url in urls.items()}

    expected = (
        "That source does not work, so it was not added: no answer from that address "
        "(the connection was refused, reset, closed or timed out): check the URL"
    )
    assert answers == dict.fromkeys(urls, expected)


def test_a_config_source_still_says_what_went_wrong_with_the_connection(site: _Server) -> None:
    with pytest.raises(SourceError) as refused:
        read_source("wire", f"http://127.0.0.1:{free_port()}/feed.xml", reach=FROM_CONFIG)
    with pytest.raises(SourceError) as hung_up:
        read_source("wire", site.url("/hang-up"), reach=FROM_CONFIG)

    assert refused.value.reason.startswith("could not connect (")
    assert refused.value.reason.endswith("Connection refused): check the host name and the network")
    assert hung_up.value.reason == (
        "the connection failed (Server disconnected without sending a response.): try again later"
    )


# --- SSRF: redirects from sources in the config file ---------------------------------------------------------


def _cycle(config: Config, clock: FakeClock) -> tuple[dict[str, str], int]:
    """One cycle: each source's error ("" if it worked) and how many Telegram posts were written."""
    with App(config, clock=clock) as app:
        report = app.run_cycle(poll_all=True)
        errors = {poll.source: app.store.source_state(poll.source).last_error for poll in report.polls}
    posts = len(list(Path(config.output.dir, "telegram").glob("*.html")))
    return errors, posts


def test_a_config_source_redirecting_to_another_local_port_is_refused_and_nothing_is_posted(
    make_config: Callable[..., Config], clock: FakeClock, site: _Server, internal: _Server
) -> None:
    target = internal.url("/internal")
    config = make_config(sources=[{"name": "wire", "url": _redirect(site, target), "backfill": 5}])

    errors, posts = _cycle(config, clock)

    assert errors["wire"] == (
        f"it redirects to {target}, and 127.0.0.1 is a loopback address; a source may be on a private address only "
        "within its own origin (scheme, host and port): give the address it redirects to as its url, "
        "or set [fetch] allow_private = true in the config file"
    )
    assert (internal.accepted, posts) == (0, 0)


def test_a_config_source_on_a_private_host_may_redirect_within_its_own_origin(
    make_config: Callable[..., Config], clock: FakeClock, site: _Server
) -> None:
    config = make_config(sources=[{"name": "wire", "url": _redirect(site, "/feed.xml"), "backfill": 5}])
    errors, posts = _cycle(config, clock)
    assert (errors["wire"], posts) == ("", 2)


def test_a_different_host_name_for_the_same_machine_is_another_origin(
    make_config: Callable[..., Config], clock: FakeClock, site: _Server
) -> None:
    target = site.url("/feed.xml", host="localhost")
    config = make_config(sources=[{"name": "wire", "url": _redirect(site, target)}])
    errors, _posts = _cycle(config, clock)
    assert errors["wire"].startswith(f"it redirects to {target}, and localhost (127.0.0.1) is a loopback address")


def test_allow_private_follows_a_redirect_to_another_private_origin(
    make_config: Callable[..., Config], clock: FakeClock, site: _Server, internal: _Server
) -> None:
    url = _redirect(site, internal.url("/page.txt"))
    config = make_config(sources=[{"name": "wire", "url": url, "backfill": 5}], fetch={"allow_private": True})
    errors, posts = _cycle(config, clock)
    assert (errors["wire"], posts, internal.accepted) == ("", 1, 1)


def test_a_chat_added_source_on_a_config_sources_private_host_is_still_refused(
    make_config: Callable[..., Config], clock: FakeClock, site: _Server
) -> None:
    config = make_config(sources=[{"name": "wire", "url": site.url("/feed.xml"), "backfill": 5}])
    with App(config, clock=clock) as app:
        app.store.add_source(AddedSource("chat-added", site.url("/page.txt"), (), str(ADMIN), NOW))
        report = app.run_cycle(poll_all=True)  # two sources: fetched at once, over shared connections
        errors = {poll.source: app.store.source_state(poll.source).last_error for poll in report.polls}
    assert errors["wire"] == ""
    assert errors["chat-added"].startswith("127.0.0.1 is a loopback address; newsbot fetches the URLs admins give it")
    assert site.accepted == 1  # the config source's connection only


# --- credentials in source URLs ----------------------------------------------------------------------------


def test_a_failing_sources_credentials_never_reach_the_log_the_summary_or_status(
    make_config: Callable[..., Config], clock: FakeClock, site: _Server, tmp_path: Path
) -> None:
    port = site.server_address[1]
    (tmp_path / "config.toml").write_text(
        "[output]\ndry_run = true\n"
        f'[[sources]]\nname = "gone"\nurl = "http://reader:{SECRET}@127.0.0.1:{port}/missing.xml?apikey={SECRET}"\n'
        f'[[sources]]\nname = "loops"\nurl = "{site.url(f"/self?apikey={SECRET}")}"\n'
        '[[routes]]\nname = "all"\nhashtags = ["*"]\nchannels = ["telegram"]\n',
        encoding="utf-8",
    )

    done = newsbot("--verbose", "once", cwd=tmp_path)  # as the operator runs it, debug lines included
    config = load_config(tmp_path / "config.toml")
    status = status_reply(config, clock)

    shown = f"http://127.0.0.1:{port}/missing.xml?…"
    assert f'event=source_failed source=gone url="{shown}" reason="HTTP 404 Not Found: check the URL"' in done.stderr
    looping = site.url("/self?…")
    assert f"redirect loop ({looping} → {looping})" in status
    for where in (done.stdout, done.stderr, status):
        assert SECRET not in where


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"https://reader:{SECRET}@feeds.example.com/rss?apikey={SECRET}", "https://feeds.example.com/rss?…"),
        (f"https://{SECRET}@feeds.example.com:8443/rss#{SECRET}", "https://feeds.example.com:8443/rss"),
        (f"http://u:{SECRET}@feeds.example.com:port/rss?k={SECRET}", "http://feeds.example.com:port/rss?…"),
        (f"http://u:{SECRET}@[::1/rss?k={SECRET}", "http://[::1/rss?…"),  # not even parseable
        (f"loop (https://a.example/x?k={SECRET}): fix it", "loop (https://a.example/x?…): fix it"),
        ("pages/local.txt", "pages/local.txt"),
    ],
)
def test_urls_are_shown_without_user_password_query_or_fragment(text: str, shown: str) -> None:
    assert redact_urls_in(text) == shown
    if "://" in text and " " not in text:
        assert redact_url(text) == shown
