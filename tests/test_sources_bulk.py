"""`newsbot sources import FILE.opml` and `newsbot sources export`, as a user runs them: real files through the real
command line, on both state backends."""

from __future__ import annotations

import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_config
from bot.opml import MAX_OPML_BYTES, MAX_OUTLINES, read_opml, write_opml
from bot.store import open_store
from tests.conftest import news_item, newsbot, rss

CONFIG = """\
[output]
dry_run = true

[[sources]]
name = "wire"
url = "https://wire.example.com/rss"
hashtags = ["World"]
"""

# As Feedly and Inoreader write it: OPML 1.0, folders as outlines without xmlUrl, a feed listed in two folders,
# Inoreader's comma-separated categories, OPML 2.0's "/"-paths.
READER_EXPORT = """\
<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>Subscriptions in feedly Cloud</title></head>
  <body>
    <outline text="Tech News" title="Tech News">
      <outline type="rss" text="Ars Technica" title="Ars Technica"
               xmlUrl="https://feeds.arstechnica.com/arstechnica/index" htmlUrl="https://arstechnica.com"/>
      <outline type="rss" text="Café &amp; Société" title="Café &amp; Société"
               xmlUrl="https://café.example.fr/flux?lang=fr&amp;format=rss" category="/Kultur/Essen,paris"/>
    </outline>
    <outline text="Middle East">
      <outline text="Syria">
        <outline type="rss" text="Wire" xmlUrl="https://wire.example.com/rss"/>
        <outline type="rss" text="Ars again" xmlUrl="https://feeds.arstechnica.com/arstechnica/index"/>
      </outline>
    </outline>
    <outline type="rss" text="No folder" xmlUrl="http://plain.example.org/atom.xml"/>
    <outline type="link" text="a bookmark, not a feed" url="https://example.org/"/>
  </body>
</opml>
"""


def _added(tmp_path: Path) -> dict[str, tuple[str, ...]]:
    """URL → hashtags of the sources the state at tmp_path holds beside the config file's."""
    store = open_store(load_config(tmp_path / "config.toml").state)
    try:
        return {source.url: source.hashtags for source in store.added_sources()}
    finally:
        store.close()


def _exported(tmp_path: Path) -> dict[str, tuple[str, ...]]:
    done = newsbot("sources", "export", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return {feed.url: feed.hashtags for feed in read_opml(done.stdout.encode())}


def test_a_feed_readers_export_becomes_sources_tagged_by_folder_and_category(tmp_path: Path, state_env: str) -> None:
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "feedly.opml").write_text(READER_EXPORT, encoding="utf-8")

    done = newsbot("sources", "import", "feedly.opml", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "feedly.opml: 3 added, 1 already there, 0 refused" in done.stdout
    assert "line 13: already a source: wire (https://wire.example.com/rss)" in done.stdout
    assert "not fetched" in done.stdout
    assert _added(tmp_path) == {
        "https://feeds.arstechnica.com/arstechnica/index": ("TechNews", "MiddleEast", "Syria"),
        "https://café.example.fr/flux?lang=fr&format=rss": ("Kultur", "Essen", "paris", "TechNews"),
        "http://plain.example.org/atom.xml": (),
    }
    assert _exported(tmp_path)["https://wire.example.com/rss"] == ("World",)  # the config file's, untouched

    again = newsbot("sources", "import", "feedly.opml", cwd=tmp_path)

    assert again.returncode == 0, again.stderr
    assert "feedly.opml: 0 added, 4 already there, 0 refused" in again.stdout
    assert len(_added(tmp_path)) == 3


def test_feeds_that_break_a_rule_are_refused_by_line_and_the_others_added(tmp_path: Path, state_env: str) -> None:
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "mixed.opml").write_text(
        '<opml version="2.0"><body>\n'
        '<outline xmlUrl="https://good.example.com/rss" category="Science"/>\n'
        '<outline xmlUrl="ftp://user:hunter2@files.example.com/feed"/>\n'
        '<outline xmlUrl="https://numbers.example.com/rss" category="2024"/>\n'
        '<outline text="📰"><outline xmlUrl="https://emoji.example.com/rss"/></outline>\n'
        '<outline xmlUrl="https://u:s3cret@wire.example.com/rss?key=k3y"/>\n'
        "</body></opml>\n",
        encoding="utf-8",
    )

    done = newsbot("sources", "import", "mixed.opml", cwd=tmp_path)

    assert done.returncode == 1
    assert "mixed.opml: 2 added, 0 already there, 3 refused" in done.stdout
    assert "line 3: refused: “ftp://files.example.com/feed” is not an http:// or https:// URL." in done.stdout
    assert "line 4: refused: its category “2024” cannot be a hashtag (letters, digits and _" in done.stdout
    assert "line 5: refused: its folder “📰” cannot be a hashtag" in done.stdout
    assert "hunter2" not in done.stdout + done.stderr and "s3cret" not in done.stdout + done.stderr
    assert set(_added(tmp_path)) == {"https://good.example.com/rss", "https://u:s3cret@wire.example.com/rss?key=k3y"}


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE opml [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<opml version="2.0"><body><outline text="&lol9;" xmlUrl="https://bomb.example.com/rss"/></body></opml>
"""


def _external_entity(secret_file: Path) -> str:
    return (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE opml [<!ENTITY leak SYSTEM "file://{secret_file}">]>\n'
        '<opml version="2.0"><body><outline category="&leak;" xmlUrl="https://leak.example.com/rss"/></body></opml>\n'
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("name,url\nwire,https://wire.example.com/rss\n", "it is not well-formed XML (line 1: syntax error)"),
        ("<rss><channel><title>a feed</title></channel></rss>", "it is XML but not OPML"),
        ('<opml version="2.0"><head/><body><outline text="Empty folder"/></body></opml>', "it holds no feed"),
        (BILLION_LAUGHS, "it declares XML entities or refers to outside files"),
        ("EXTERNAL", "it declares XML entities or refers to outside files"),
        ("TOO_BIG", f"it is {MAX_OPML_BYTES + 1:,} bytes; the limit is {MAX_OPML_BYTES:,}: split it"),
        ("TOO_MANY", f"it has more than {MAX_OUTLINES:,} outlines; split it into smaller files"),
    ],
    ids=["csv", "rss", "no-feeds", "billion-laughs", "external-entity", "too-big", "too-many-outlines"],
)
def test_a_file_that_is_not_usable_opml_is_refused_whole_and_adds_nothing(
    tmp_path: Path, state_env: str, content: str, says: str
) -> None:
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("TOPSECRET", encoding="utf-8")
    if content == "EXTERNAL":
        content = _external_entity(secret_file)
    elif content == "TOO_BIG":
        content = '<opml><body><outline xmlUrl="https://a.example.com/"/></body></opml>' + " " * MAX_OPML_BYTES
    elif content == "TOO_MANY":
        content = "<opml><body>" + '<outline text="x"/>' * (MAX_OUTLINES + 1) + "</body></opml>"
    (tmp_path / "in.opml").write_text(content, encoding="utf-8")

    done = newsbot("sources", "import", "in.opml", cwd=tmp_path)

    assert done.returncode == 2
    assert f"newsbot: in.opml: nothing was added: {says}" in done.stderr
    assert "Traceback" not in done.stderr and "TOPSECRET" not in done.stdout + done.stderr
    assert _added(tmp_path) == {}


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    done = newsbot("sources", "import", "nowhere.opml", cwd=tmp_path)
    assert done.returncode == 2
    assert "newsbot: nowhere.opml: cannot read it: No such file or directory" in done.stderr


HOSTILE_CONFIG = """\
[output]
dry_run = true

[[sources]]
name = "aerzte.news"
url = "https://user:pa&ss@news.example.de/rss?a=1&b=<2>&c=\\"3\\""
hashtags = ["Gesundheit", "Ärzte_News"]

[[sources]]
name = "local"
url = "feeds/local.xml"
"""


def test_the_export_imports_back_to_the_same_sources(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "config.toml").write_text(HOSTILE_CONFIG, encoding="utf-8")
    (first / "feedly.opml").write_text(READER_EXPORT, encoding="utf-8")
    assert newsbot("sources", "import", "feedly.opml", cwd=first).returncode == 0

    exported = newsbot("sources", "export", "--output", str(second / "all.opml"), cwd=first)

    assert exported.returncode == 0, exported.stderr
    assert "5 source(s) written to" in exported.stderr
    assert "left out (files, not web feeds): local" in exported.stderr
    assert stat.S_IMODE((second / "all.opml").stat().st_mode) == 0o600  # URLs may carry keys
    assert not [p.name for p in second.iterdir() if p.name.endswith(".tmp")]
    (second / "config.toml").write_text("[output]\ndry_run = true\n", encoding="utf-8")
    imported = newsbot("sources", "import", "all.opml", cwd=second)
    assert imported.returncode == 0, imported.stderr
    assert "all.opml: 5 added, 0 already there, 0 refused" in imported.stdout
    assert _added(second) == {url: tags for url, tags in _exported(first).items()}
    assert _added(second)['https://user:pa&ss@news.example.de/rss?a=1&b=<2>&c="3"'] == ("Gesundheit", "Ärzte_News")
    assert "pa&ss" not in imported.stdout + imported.stderr + exported.stderr


def test_written_opml_escapes_what_xml_would_misread() -> None:
    written = write_opml(
        [("A & <B> \"c\" 'd' é\x01", "https://x.example/?a=1&b=2", ("Café",))], datetime(2026, 1, 2, tzinfo=UTC)
    )
    assert b"text=\"A &amp; &lt;B&gt; &quot;c&quot; 'd' \xc3\xa9\"" in written  # the control character is dropped
    assert [(f.url, f.title, f.hashtags) for f in read_opml(written)] == [
        ("https://x.example/?a=1&b=2", "A & <B> \"c\" 'd' é", ("Café",))
    ]


class _CountingFeed(BaseHTTPRequestHandler):
    requests = 0

    def do_GET(self) -> None:
        type(self).requests += 1
        if self.path != "/feed.xml":
            self.send_error(404)
            return
        body = rss([news_item(1)]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[str]:
    _CountingFeed.requests = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CountingFeed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _local_opml(base: str) -> str:
    return (
        '<opml version="2.0"><body>\n'
        f'<outline xmlUrl="{base}/feed.xml" category="Local"/>\n'
        f'<outline xmlUrl="{base}/gone.xml"/>\n'
        "</body></opml>\n"
    )


def test_check_refuses_a_private_address_before_connecting(tmp_path: Path, local_server: str) -> None:
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "local.opml").write_text(_local_opml(local_server), encoding="utf-8")

    done = newsbot("sources", "import", "--check", "local.opml", cwd=tmp_path)

    assert done.returncode == 1
    assert "local.opml: 0 added, 0 already there, 2 refused" in done.stdout
    assert "line 2: refused: That source does not work, so it was not added:" in done.stdout
    assert _CountingFeed.requests == 0
    assert _added(tmp_path) == {}


def test_check_with_allow_private_adds_what_works_and_refuses_the_rest(tmp_path: Path, local_server: str) -> None:
    (tmp_path / "config.toml").write_text(CONFIG + "\n[fetch]\nallow_private = true\n", encoding="utf-8")
    (tmp_path / "local.opml").write_text(_local_opml(local_server), encoding="utf-8")

    done = newsbot("sources", "import", "--check", "local.opml", cwd=tmp_path)

    assert done.returncode == 1
    assert "local.opml: 1 added, 0 already there, 1 refused" in done.stdout
    assert "line 3: refused: That source does not work, so it was not added:" in done.stdout
    assert "not fetched" not in done.stdout
    assert _added(tmp_path) == {f"{local_server}/feed.xml": ("Local",)}
