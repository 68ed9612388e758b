"""The control room's Routes page over HTTP: the routes as chat /routes describes them, and "where would this
article go" for a URL (fetched with the same address rules as /post URL) and for a pasted page; it only reads."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config
from tests.conftest import SYRIA_PAGE, FakeClock
from tests.control_helpers import AdminSite, admin_config, serve_admin_site
from tests.store_sql import count_articles

ROUTES = [
    {"name": "politics", "hashtags": ["PoliticsNews"], "exclude": ["Sports"], "channels": ["telegram"],
     "approval": True, "approval_timeout": "6h"},
    {"name": "floods", "keywords": ["flood"], "exclude_keywords": ["football"], "channels": ["x"],
     "at": ["09:00"], "timezone": "Europe/Berlin"},
]  # fmt: skip
HTML_PAGE = """<!DOCTYPE html><html><head><title>ignored</title><script>alert(1)</script></head><body>
<h1>River flood reaches the old town</h1><p>The river rose overnight and the flood reached the market.</p>
<p>#Weather #Floods</p></body></html>"""


class _Counting(ThreadingHTTPServer):
    """A site on 127.0.0.1 serving the sample article page at /page.txt, counting the connections it accepts."""

    daemon_threads = True
    accepted = 0

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.accepted += 1
        return True


class _Page(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = SYRIA_PAGE.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def article_site() -> Iterator[_Counting]:
    server = _Counting(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _site(make_config: Callable[..., Config], tmp_path: Path, clock: FakeClock, allow_private: bool) -> Any:
    config = admin_config(make_config, routes=ROUTES, fetch={"allow_private": allow_private})
    return serve_admin_site(config, tmp_path / "state.sqlite", clock)


@pytest.fixture
def lan_site(make_config: Callable[..., Config], tmp_path: Path, clock: FakeClock) -> Iterator[AdminSite]:
    """The control room with [fetch] allow_private = true, so a URL on 127.0.0.1 may be read."""
    with _site(make_config, tmp_path, clock, True) as site:
        yield site


@pytest.fixture
def public_only_site(make_config: Callable[..., Config], tmp_path: Path, clock: FakeClock) -> Iterator[AdminSite]:
    with _site(make_config, tmp_path, clock, False) as site:
        yield site


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def _where(site: AdminSite, **fields: str) -> tuple[int, str]:
    with site.signed_in_client() as client:
        response = site.post(client, "/admin/routes/where", {"url": "", "page": "", **fields})
    return response.status_code, response.text


def test_the_routes_are_listed_as_chat_describes_them(lan_site: AdminSite) -> None:
    with lan_site.signed_in_client() as client:
        response = client.get("/admin/routes")
    text = _text(response.text)
    assert response.status_code == 200
    assert "politics Hashtags #PoliticsNews Except #Sports Channels telegram When as soon as found" in text
    assert "Approval held for an admin's approval; skipped after 6 h without one" in text
    assert "floods Hashtags every article (*) Words with any of “flood” without “football”" in text
    assert "Channels x When at 09:00 Europe/Berlin, 1 per slot Approval none: sent without asking" in text


def test_where_would_it_go_for_a_url_on_this_machine_with_allow_private(
    lan_site: AdminSite, article_site: _Counting
) -> None:
    url = f"http://127.0.0.1:{article_site.server_address[1]}/page.txt"
    status, html = _where(lan_site, url=url)
    text = _text(html)
    assert status == 200, text
    assert "Hashtags: #PoliticsNews #MiddleEastNews" in text
    assert "telegram politics (held for approval)" in text and "x no route takes it" in text
    assert "Routed to telegram via politics." in text
    assert (article_site.accepted, count_articles(lan_site.store)) == (1, 0)  # read, never stored
    assert lan_site.store.queue_counts() == {}


def test_where_would_it_go_for_a_pasted_html_page(lan_site: AdminSite) -> None:
    status, html = _where(lan_site, page=HTML_PAGE)
    text = _text(html)
    assert status == 200, text
    assert "River flood reaches the old town" in text and "Hashtags: #Weather #Floods" in text
    assert "telegram no route takes it" in text and "x floods" in text
    assert "<script>" not in html  # the pasted page comes back in its field, escaped
    assert count_articles(lan_site.store) == 0


def test_a_pasted_page_with_no_route_says_why(lan_site: AdminSite) -> None:
    status, html = _where(lan_site, page="Football final tonight\n\nThe flood of fans filled the stadium.\n\n#Sports")
    text = _text(html)
    assert status == 200
    assert (
        "No route matches (#Sports); routes want: politics: #PoliticsNews except #Sports (an excluded hashtag)" in text
    )
    assert "floods: * with any of “flood” without “football” (it contains the excluded keyword “football”)" in text


def test_a_private_url_is_refused_before_any_connection(public_only_site: AdminSite, article_site: _Counting) -> None:
    url = f"http://127.0.0.1:{article_site.server_address[1]}/page.txt"
    status, html = _where(public_only_site, url=url)
    text = _text(html)
    assert status == 400
    assert "Could not read that page: 127.0.0.1 is a loopback address;" in text
    assert "set [fetch] allow_private = true" in text
    assert article_site.accepted == 0
    assert f'value="{url}"' in html  # the form keeps what was given


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"url": "javascript:alert(1)"}, "not an http:// or https:// URL"),
        ({}, "Paste a page first"),
        ({"url": "https://example.com/a", "page": "Title\n\nText."}, "either a URL or a pasted page, not both"),
        ({"page": "x" * 100_001}, "paste at most 100,000"),
    ],
)
def test_bad_input_says_what_to_do(lan_site: AdminSite, fields: dict[str, str], words: str) -> None:
    status, html = _where(lan_site, **fields)
    assert status == 400
    assert words in _text(html)


def test_where_would_it_go_needs_the_csrf_token(lan_site: AdminSite) -> None:
    with lan_site.signed_in_client() as client:
        response = client.post("/admin/routes/where", data={"page": HTML_PAGE}, headers={"Origin": lan_site.base})
    assert response.status_code == 403
