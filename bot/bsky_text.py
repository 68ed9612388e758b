"""Bluesky's text rules: a post's length in graphemes, and its rich-text facets with UTF-8 byte offsets.

Bluesky counts 300 graphemes (user-perceived characters: "👍🏽" and "é" written as e + accent are one each),
and makes nothing of the text by itself: a link or hashtag is live only through a facet that names its range in
the UTF-8 bytes of the text. So feed text cannot smuggle a live link in unless a facet is made for it: `facets`
makes them for every http(s) URL and "#tag" in the text, and `without_links` writes the URLs in feed text as
their host ("evil[.]example[.]com"), so the only link that goes out is the article's own.

Links go out as Bluesky's own app writes them: the text shows `link_text` (host and the start of the path,
"science.example.com/2026/11/antarcti...") and the facet over it carries the whole URL. `rich_text` is the one
place that turns text with whole URLs into the text as sent and its facets; a post is measured on what it sends.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = [
    "BLUESKY_LIMIT",
    "LINK_TEXT_GRAPHEMES",
    "Facet",
    "cut_graphemes",
    "facets",
    "grapheme_length",
    "link_text",
    "record_key",
    "rich_text",
    "without_links",
]

BLUESKY_LIMIT: Final = 300  # graphemes per post
LINK_TEXT_GRAPHEMES: Final = 30  # of a link's host and path shown before "..." (Bluesky's app shows about as many)
LINK_TEXT_CUT: Final = "..."  # three dots, as Bluesky's app writes them (not "…")
MAX_TAG_GRAPHEMES: Final = 64  # app.bsky.richtext.facet#tag: a longer tag is no tag
_URL: Final = re.compile(r"https?://[^\s]+", re.IGNORECASE)
# A tag starts a word; '#' followed by anything but space, another '#' or a zero-width joiner.
_TAG: Final = re.compile(r"(?:^|(?<=\s))#([^\s#\u200d\ufe0f][^\s#]*)")
_TRAILING_PUNCTUATION: Final = ".,;:!?\"')]}»”’"
_URL_HOST: Final = re.compile(r"https?://([^/?#:\s]+)", re.IGNORECASE)
# Scheme, user info (never shown), then host and port, then the rest (path, query, fragment).
_URL_PARTS: Final = re.compile(r"https?://(?:[^/?#@]*@)?([^/?#]*)(.*)", re.IGNORECASE | re.DOTALL)
_WORD_END: Final = re.compile(r"\s\S*$")
_BASE32_SORTABLE: Final = "234567abcdefghijklmnopqrstuvwxyz"
# Record keys of our posts are TIDs in the year after this moment (see `record_key`).
_TID_START_MICROS: Final = 1_672_531_200_000_000  # 2023-01-01T00:00:00Z
_TID_SPAN_MICROS: Final = 365 * 86_400 * 1_000_000


def grapheme_length(text: str) -> int:
    """How many graphemes (extended grapheme clusters, Unicode's user-perceived characters) `text` has."""
    import regex  # imported here: a dependency of atproto, and the CLI must start fast

    return len(regex.findall(r"\X", text))


@dataclass(frozen=True, slots=True)
class Facet:
    """A link or a tag over `text_bytes[byte_start:byte_end]` (UTF-8), as app.bsky.richtext.facet has it."""

    kind: Literal["link", "tag"]
    byte_start: int
    byte_end: int
    value: str  # the link's URI, or the tag without its '#'

    def as_record(self) -> dict[str, Any]:
        feature = (
            {"$type": "app.bsky.richtext.facet#link", "uri": self.value}
            if self.kind == "link"
            else {"$type": "app.bsky.richtext.facet#tag", "tag": self.value}
        )
        return {"index": {"byteStart": self.byte_start, "byteEnd": self.byte_end}, "features": [feature]}


def link_text(url: str) -> str:
    """How a post shows `url`: its host and path without scheme or user info, cut to LINK_TEXT_GRAPHEMES
    graphemes and "..." when longer ("https://a.example/" → "a.example"); the facet over it holds `url` whole."""
    parts = _URL_PARTS.fullmatch(url)
    shown = url if parts is None else parts.group(1) + ("" if parts.group(2) == "/" else parts.group(2))
    if grapheme_length(shown) <= LINK_TEXT_GRAPHEMES + len(LINK_TEXT_CUT):
        return shown
    return _first_graphemes(shown, LINK_TEXT_GRAPHEMES) + LINK_TEXT_CUT


def rich_text(text: str, link: str = "") -> tuple[str, list[Facet]]:
    """`text` as it is sent, and its facets: each http(s) URL written as its `link_text` under a link facet to the
    whole URL; where `link` is given, its `link_text` standing as a word of `text` (a text already sent through
    here) under a facet to `link`; and a tag facet for every "#tag". The same text and facets for a text that
    went through once: `rich_text(rich_text(text)[0], link)` is `rich_text(text, link)` when `link` is its URL."""
    pieces: list[str] = []
    links: list[tuple[int, int, str]] = []  # code point ranges of the text as sent, and their URIs
    done = 0
    sent_length = 0
    for at, url in _urls(text):
        before = text[done:at]
        shown = link_text(url)
        start = sent_length + len(before)
        pieces += [before, shown]
        links.append((start, start + len(shown), url))
        sent_length = start + len(shown)
        done = at + len(url)
    sent = "".join(pieces) + text[done:]
    if link:
        links += _shown_link(sent, link, links)
    found = [_facet(sent, "link", start, stop, uri) for start, stop, uri in links]
    return sent, _without_overlaps(found + _tags(sent))


def _shown_link(text: str, link: str, taken: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Where `link`'s text stands as a word of `text` (not inside a link already found). Its NFC form too: the
    channel sends text in NFC, and the link beside it is as the feed wrote it."""
    forms = sorted({link_text(link), link_text(unicodedata.normalize("NFC", link))}, key=len, reverse=True)
    either = "|".join(re.escape(form) for form in forms)
    shown = re.compile(rf"(?<![^\s(])(?:{either})(?=$|\s|[{re.escape(_TRAILING_PUNCTUATION)}])")
    return [
        (match.start(), match.end(), link)
        for match in shown.finditer(text)
        if not any(start < match.end() and match.start() < stop for start, stop, _uri in taken)
    ]


def facets(text: str) -> list[Facet]:
    """A facet for every http(s) URL and every "#tag" of `text`, in order, with their UTF-8 byte ranges.

    Trailing punctuation is not part of a link or tag ("see https://a.example/x." links "https://a.example/x"),
    but a link's own closing parenthesis is;
    a tag of digits only, or longer than 64 graphemes, is no tag (as Bluesky's apps decide).
    """
    found = [_facet(text, "link", at, at + len(url), url) for at, url in _urls(text)]
    return _without_overlaps(found + _tags(text))


def _urls(text: str) -> list[tuple[int, str]]:
    """Each http(s) URL of `text` (without the punctuation after it) and where it starts."""
    found = [(match.start(), _without_trailing_punctuation(match.group())) for match in _URL.finditer(text)]
    return [(at, url) for at, url in found if len(url) > len("https://")]


def _tags(text: str) -> list[tuple[int, int, Facet]]:
    found: list[tuple[int, int, Facet]] = []
    for match in _TAG.finditer(text):
        tag = match.group(1).rstrip(_TRAILING_PUNCTUATION)
        if tag and not tag.isdigit() and grapheme_length(tag) <= MAX_TAG_GRAPHEMES:
            start = match.start(1) - 1
            found.append(_facet(text, "tag", start, match.start(1) + len(tag), tag))
    return found


def _without_overlaps(found: list[tuple[int, int, Facet]]) -> list[Facet]:
    kept: list[Facet] = []
    end = -1
    for start, stop, facet in sorted(found, key=lambda item: (item[0], item[1])):
        if start >= end:  # a "#fragment" inside a link is part of the link
            kept.append(facet)
            end = stop
    return kept


def _without_trailing_punctuation(url: str) -> str:
    """The URL without the punctuation after it; a closing parenthesis stays when the URL opened it
    ("https://en.wikipedia.org/wiki/Mercury_(planet)")."""
    while url and url[-1] in _TRAILING_PUNCTUATION:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def _facet(text: str, kind: Literal["link", "tag"], start: int, stop: int, value: str) -> tuple[int, int, Facet]:
    byte_start = len(text[:start].encode("utf-8"))
    byte_end = byte_start + len(text[start:stop].encode("utf-8"))
    return start, stop, Facet(kind, byte_start, byte_end, value)


def cut_graphemes(text: str, limit: int) -> str:
    """`text` with at most `limit` graphemes, cut at the last space that keeps a word whole (between graphemes
    when there is none in reach, as in Chinese or Japanese), never inside an emoji or accented letter."""
    if grapheme_length(text) <= limit:
        return text
    head = _first_graphemes(text, limit)
    whole_words = _WORD_END.search(head)
    if whole_words and not text[len(head)].isspace() and whole_words.start() > 0:
        head = head[: whole_words.start()]
    return head.rstrip()


def _first_graphemes(text: str, count: int) -> str:
    import regex  # imported here: see grapheme_length

    return "".join(regex.findall(r"\X", text)[:count])


def without_links(text: str) -> str:
    """Feed text with each http(s) URL written as its host, dots as "[.]": readable, never a link."""
    return _URL.sub(lambda match: _host(match.group()), text)


def _host(url: str) -> str:
    host = _URL_HOST.match(url)
    return (host.group(1) if host else "").replace(".", "[.]")


def record_key(*parts: str) -> str:
    """A TID (the record key kind app.bsky.feed.post uses) derived only from `parts`: the same parts, the same key.

    Its time lies in 2023 and its clock id is from the hash, so it never collides with a TID of a real clock
    in the future and the repository accepts it like any other.
    """
    digest = int.from_bytes(hashlib.sha256("\0".join(parts).encode("utf-8")).digest()[:8], "big")
    micros = _TID_START_MICROS + (digest >> 10) % _TID_SPAN_MICROS
    value = (micros << 10) | (digest & 0x3FF)
    return "".join(_BASE32_SORTABLE[(value >> shift) & 31] for shift in range(60, -1, -5))
