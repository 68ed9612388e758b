"""Broken sources never stop the others or the publishers: a hang, a 500, a redirect loop, 50 MB, garbage bytes.

One local HTTP server (127.0.0.1) serves one good feed and one path per fault. A cycle polls them all at once:
the good feed's articles are published, each bad source gets a `last_error` that says what went wrong and what
to do, is polled again later and later, and `/status` shows it to the admin.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.app import App
from bot.commands import admin
from bot.commands.context import Request, open_command_context
from bot.config import Config
from bot.telegram_html import visible_text
from tests.conftest import FakeClock, news_item, rss

TIMEOUT = 1.0  # seconds, every source's
MAX_BYTES = 1_000_000
INTERVAL = 300  # seconds between polls of a healthy source
HUGE = 50 * 1024 * 1024
CHUNK = 64 * 1024
GOOD_FEED = rss([news_item(1, tag="Harbour"), news_item(2, tag="Harbour")]).encode()
ADMIN = 4242

# source name -> (path, what its last_error must say)
BROKEN = {
    "hangs": ("/hang", f"timed out after {TIMEOUT:g} s: try again later or raise the timeout"),
    "fails": ("/error", "HTTP 500 Internal Server Error: the server failed; try again later"),
    "loops": ("/loop-a", "redirect loop"),
    "huge": ("/huge", f"response larger than {MAX_BYTES} bytes: raise max_bytes or fix the feed"),
    "garbage": ("/garbage", "a binary file, not a feed or article page: check the URL or the file"),
    "garbled": ("/garbled", "a binary file, not a feed or article page: check the URL or the file"),
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # every source connects at once: a full backlog would drop a SYN for a 1 s retry

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.release = threading.Event()  # set at teardown: a hanging handler gives up at once
        self.huge_sent = 0
        self.huge_cut = threading.Event()  # the client hung up before the whole 50 MB was sent
        self.huge_done = threading.Event()

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hanging up on the hang and the huge body is the point

    def url(self, path: str) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/good.xml":
            self._send(GOOD_FEED, "application/rss+xml")
        elif path == "/hang":
            self.server.release.wait(10 * TIMEOUT)
        elif path == "/error":
            self._send(b"oops", "text/plain", status=500)
        elif path in ("/loop-a", "/loop-b"):
            self.send_response(302)
            self.send_header("Location", "/loop-b" if path == "/loop-a" else "/loop-a")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/huge":
            self._huge()
        elif path == "/garbage":  # random bytes, NULs included
            self._send(random.Random(1).randbytes(8192), "application/octet-stream")
        elif path == "/garbled":  # no NUL, not UTF-8: once taken for a Windows-1252 article page
            rng = random.Random(2)
            self._send(bytes(rng.randrange(0x80, 0x100) for _ in range(8192)), "text/plain")
        else:
            self._send(b"not found", "text/plain", status=404)

    def _send(self, body: bytes, content_type: str, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _huge(self) -> None:
        """50 MB of text without a Content-Length (HTTP/1.0: the body ends when the connection closes)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        chunk = b"Endless story\n\n" + b"word " * (CHUNK // 5)
        try:
            while self.server.huge_sent < HUGE:
                self.wfile.write(chunk)
                self.server.huge_sent += len(chunk)
        except OSError:  # broken pipe / reset: the client stopped reading
            self.server.huge_cut.set()
        finally:
            self.server.huge_done.set()


@pytest.fixture
def site() -> Iterator[_Server]:
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def config(make_config: Callable[..., Config], site: _Server) -> Config:
    limits = {"timeout": TIMEOUT, "max_bytes": MAX_BYTES, "interval": INTERVAL}
    sources = [{"name": "good", "url": site.url("/good.xml"), "backfill": 2, **limits}]
    sources += [{"name": name, "url": site.url(path), **limits} for name, (path, _) in BROKEN.items()]
    return make_config(sources=sources)


def status_reply(config: Config, clock: FakeClock) -> str:
    ctx = open_command_context(config, clock=clock)
    try:
        answer = admin.status(
            ctx, Request(chat_id=ADMIN, user_id=ADMIN, chat_type="private", command="status", args="")
        )
    finally:
        ctx.close()
    return visible_text("\n".join(answer.parts))


def test_broken_sources_fail_alone_back_off_and_show_in_status(
    config: Config, site: _Server, clock: FakeClock, tmp_path: Path
) -> None:
    with App(config, clock=clock) as app:
        started = time.monotonic()
        first = app.run_cycle(poll_all=True)
        first_seconds = time.monotonic() - started

        # The good source's articles are published; the hanging one held nothing up longer than its timeout.
        polls = {poll.source: poll for poll in first.polls}
        assert (polls["good"].error, polls["good"].new) == ("", 2)
        assert first.drain.sent >= 2
        assert len(list((tmp_path / "out" / "telegram").glob("*.html"))) == 2
        assert first_seconds < TIMEOUT + 2.5, f"the cycle took {first_seconds:.1f} s"

        # Each bad source: its name and URL in the report, what went wrong and what to do in its state.
        for name, (path, reason) in BROKEN.items():
            assert polls[name].error.startswith(f"source {name!r} ({site.url(path)}): "), polls[name].error
            state = app.store.source_state(name)
            assert reason in state.last_error, (name, state.last_error)
            assert (state.failures, state.next_poll) == (1, clock() + timedelta(seconds=2 * INTERVAL)), name
        assert app.store.source_state("good").next_poll == clock() + timedelta(seconds=INTERVAL)

        # The 50 MB body was cut off early: newsbot stopped reading and hung up.
        assert site.huge_done.wait(10) and site.huge_cut.is_set()
        assert site.huge_sent < HUGE // 2, site.huge_sent

        # Failing again doubles the wait; the healthy source keeps its interval.
        clock.advance(seconds=2 * INTERVAL)
        started = time.monotonic()
        second = app.run_cycle()
        second_seconds = time.monotonic() - started
        assert {poll.source for poll in second.polls} == {"good", *BROKEN}
        assert second_seconds < TIMEOUT + 2.5, f"the cycle took {second_seconds:.1f} s"
        for name in BROKEN:
            state = app.store.source_state(name)
            assert (state.failures, state.next_poll) == (2, clock() + timedelta(seconds=4 * INTERVAL)), name

        status = status_reply(config, clock)
    print(
        f"\nsources: cycles took {first_seconds:.2f} s and {second_seconds:.2f} s (timeout {TIMEOUT:g} s);"
        f" huge body: {site.huge_sent / 1e6:.1f} MB of {HUGE / 1e6:.0f} MB sent before newsbot hung up"
    )
    lines = {line.split(":", 1)[0].strip("• "): line for line in status.splitlines() if line.startswith("•")}
    assert "0 failure" not in lines["good"] and "failure(s)" not in lines["good"]
    for name, (_path, reason) in BROKEN.items():
        assert "2 failure(s) in a row" in lines[name], lines[name]
        assert reason in lines[name], lines[name]
