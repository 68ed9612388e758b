"""One article read to be looked at: from a URL an admin gives (chat /post URL, the control room's "where would
this article go") or from a page pasted into the control room. Nothing is stored here.

A URL is fetched through bot.sources like any source, with the reach of a URL given by an admin (`given_reach`):
public addresses only, checked before any connection, unless `[fetch] allow_private` is on, and the same size and
time limits. What it answers, and a pasted page, are read alike: a feed or JSON Feed (its first entry), a
plain-text article page (bot.sources.pages), or an HTML web page — the article an admin has open in the browser —
whose <article> (or <main>, or else whole body) is turned into text (bot.htmltext) and read as an article page.
(A source is never an HTML page: /addsource refuses one, since a page is one article, not a list that grows.)
Errors are `ProbeError`, whose text says what to do, for people (each caller escapes it for its medium).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

from bot.config import Config
from bot.errors import SourceError
from bot.htmltext import html_to_text
from bot.identity import build_article
from bot.models import Article, Entry
from bot.sources import Reach, SourceRead, download_source, html_page_text, parse_document, parse_fetched
from bot.sources.pages import parse_page

__all__ = [
    "FETCH_TIMEOUT",
    "PASTE_MAX_CHARS",
    "SOURCE",
    "ProbeError",
    "article_at_url",
    "article_from_paste",
    "given_reach",
]

SOURCE: Final = "post"  # the source name of an article read this way (as /post has always called it)
FETCH_TIMEOUT: Final = 20.0  # seconds for a URL an admin gives (a source to add, a page to post or look at)
# A long article page is less; even percent-escaped (up to 9 bytes a character) it fits the server's 1 MB body.
PASTE_MAX_CHARS: Final = 100_000
_ARTICLE: Final = re.compile(r"<article[\s>].*?</article\s*>", re.I | re.S)
_MAIN: Final = re.compile(r"<main[\s>].*?</main\s*>", re.I | re.S)
_HTML_START: Final = re.compile(r"\s*<(!doctype\s+html|html|head|body|article|main|div|p|h[1-6])[\s>/]", re.I)


class ProbeError(Exception):
    """No article could be read; `str()` says why and what to do, in plain text."""


def given_reach(config: Config) -> Reach:
    """A URL given by an admin is fetched from public addresses only, unless [fetch] allow_private says more."""
    return Reach(from_operator=False, allow_private=config.fetch.allow_private)


def article_at_url(config: Config, url: str, now: datetime) -> Article:
    """The first article at `url` (an http(s) URL, checked by the caller), as newsbot would build it."""
    try:
        got = download_source(SOURCE, url, timeout=FETCH_TIMEOUT, reach=given_reach(config))
        if isinstance(got, SourceRead):  # a local file: never, as the callers give http(s) URLs only
            entries = got.entries
        elif html := html_page_text(got.body, got.content_type):
            entries = [_html_page(html, url)]
        else:
            read = parse_fetched(SOURCE, url, got)
            if isinstance(read, SourceError):
                raise read
            entries = read.entries
    except SourceError as error:
        raise ProbeError(f"Could not read that page: {error.reason}") from None
    if not entries:
        raise ProbeError("I found no article at that URL.")
    return _article(entries[0], now)


def article_from_paste(text: str, now: datetime) -> Article:
    """The article in a pasted page (see the module docstring); ProbeError when none is found."""
    if not text.strip():
        raise ProbeError("Paste a page first: its HTML, or its text with the title on the first line.")
    if len(text) > PASTE_MAX_CHARS:
        raise ProbeError(f"That is {len(text):,} characters; paste at most {PASTE_MAX_CHARS:,} (the article alone).")
    try:
        entries = _entries(text)
    except SourceError as error:
        raise ProbeError(f"No article found in what was pasted: {error.reason}") from None
    if not entries:
        raise ProbeError("No article found in what was pasted: the feed has no entries.")
    return _article(entries[0], now)


def _entries(text: str) -> list[Entry]:
    if _HTML_START.match(text):
        return [_html_page(text, url="")]
    return parse_document(text.encode("utf-8"), name=SOURCE, url="", content_type="text/plain; charset=utf-8")


def _html_page(html: str, url: str) -> Entry:
    """The article of an HTML page: its <article>, else its <main>, else the whole page, as text (the menus and
    footers around it would otherwise give it a title such as "Home")."""
    part = _ARTICLE.search(html) or _MAIN.search(html)
    return parse_page(html_to_text(part[0] if part else html), name=SOURCE, url=url)


def _article(entry: Entry, now: datetime) -> Article:
    return build_article(entry, source=SOURCE, source_hashtags=(), first_seen=now)
