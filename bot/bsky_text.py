"""Bluesky's text rules: a post's length in graphemes, and its rich-text facets with UTF-8 byte offsets.

Bluesky counts 300 graphemes (user-perceived characters: "👍🏽" and "é" written as e + accent are one each),
and makes nothing of the text by itself: a link or hashtag is live only through a facet that names its range in
the UTF-8 bytes of the text. So feed text cannot smuggle a live link in unless a facet is made for it: `facets`
makes them for every http(s) URL and "#tag" in the text, and `without_links` writes the URLs in feed text as
their host ("evil[.]example[.]com"), so the only link that goes out is the article's own.

Links go out as Bluesky's own app writes them: the text shows `link_text` (host and the start of the path,
"science.example.com/2026/11/antarcti...") and the facet over it carries the whole URL. `rich_text` is the one
place that turns text with whole URLs into the text as sent and its facets; a post is measured on what it sends.
Every URL of a rendered post is shown so, the article's and any a template adds; `short_links` names them, in
order, so the publisher can put each whole URL back under its short text. A URL glued to the word before it
("詳細https://…") stays whole: its short text could not be told from that word, and a whole URL is linked as it is.
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
    "short_links",
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
# A link's short text starts a word: not right after a letter, a digit or what goes on a host, path or address.
_GLUED: Final = r"[\w.@/\-]"
_LINK_START: Final = rf"(?<!{_GLUED})"
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
    """How a post shows `url`: its host and path without scheme or user info ("https://a.example/" → "a.example"),
    cut to LINK_TEXT_GRAPHEMES graphemes and "..." when longer; the facet over it holds `url` whole.

    The host is never cut at its end, where a cut would show another host ("bank.example.com.evil.example" cut
    to "bank.example.com..."): a host under LINK_TEXT_GRAPHEMES graphemes is shown whole, with at least the
    first character of the path that is cut ("a.example/..."); a longer one loses its start instead, "..." then
    the end that names its domain ("...login-verification.evil.example/..."), which no real host starts with."""
    parts = _URL_PARTS.fullmatch(url)
    host, rest = ("", url) if parts is None else (parts.group(1), "" if parts.group(2) == "/" else parts.group(2))
    shown = host + rest
    if grapheme_length(shown) <= LINK_TEXT_GRAPHEMES + len(LINK_TEXT_CUT):
        return shown
    if grapheme_length(host) < LINK_TEXT_GRAPHEMES:
        return _first_graphemes(shown, LINK_TEXT_GRAPHEMES) + LINK_TEXT_CUT
    more = rest[:1] + LINK_TEXT_CUT if rest else ""  # "/...": the URL goes on after its host
    return LINK_TEXT_CUT + _last_graphemes(host, LINK_TEXT_GRAPHEMES - len(more)).lstrip(".") + more


def rich_text(text: str, *, links: tuple[str, ...] = ()) -> tuple[str, list[Facet]]:
    """`text` as it is sent, and its facets: each http(s) URL starting a word written as its `link_text` under a
    link facet to the whole URL (one glued to the word before it kept whole, and linked whole); where `links` are
    given (the whole URLs of a text already sent through here, in order: `short_links`), each short text of
    one standing as a word under a facet to its URL; and a tag facet for every "#tag". The same text and
    facets for a text that went through once: `rich_text(rich_text(text)[0], links=short_links(text))`."""
    pieces: list[str] = []
    found: list[tuple[int, int, str]] = []  # code point ranges of the text as sent, and their URIs
    done = 0
    sent_length = 0
    for at, url in _urls(text):
        before = text[done:at]
        shown = link_text(url) if _starts_link(text, at) else url
        start = sent_length + len(before)
        pieces += [before, shown]
        found.append((start, start + len(shown), url))
        sent_length = start + len(shown)
        done = at + len(url)
    sent = "".join(pieces) + text[done:]
    found += _shown_links(sent, links, found)
    link_facets = [_facet(sent, "link", start, stop, uri) for start, stop, uri in found]
    return sent, _without_overlaps(link_facets + _tags(sent))


def short_links(text: str) -> tuple[str, ...]:
    """The whole URLs that `rich_text(text)` shows as their `link_text`, in order."""
    return tuple(url for at, url in _urls(text) if _starts_link(text, at))


def _starts_link(text: str, at: int) -> bool:
    return at == 0 or re.fullmatch(_GLUED, text[at - 1]) is None


def _shown_links(text: str, links: tuple[str, ...], taken: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Where the short text of each of `links` stands as a word of `text` (not inside a link already found).

    Also its NFC form: the channel sends text in NFC, and the article's link beside it is as the feed wrote it.
    Two URLs of the same short text ("a.example/2026/11/long-slug..." for two stories) are given in the order the
    text shows them, and each of its places goes to the next of them (the last keeps any place more).
    """
    urls_of: dict[str, list[str]] = {}  # a short text → the URLs shown so, in order
    for link in links:
        for form in dict.fromkeys((link_text(link), link_text(unicodedata.normalize("NFC", link)))):
            urls_of.setdefault(form, []).append(link)
    if not urls_of:
        return []
    either = "|".join(re.escape(form) for form in sorted(urls_of, key=len, reverse=True))
    shown = re.compile(rf"{_LINK_START}(?:{either})(?=$|\s|[{re.escape(_TRAILING_PUNCTUATION)}])")
    found: list[tuple[int, int, str]] = []
    places: dict[str, int] = {}
    for match in shown.finditer(text):
        if any(start < match.end() and match.start() < stop for start, stop, _uri in taken):
            continue
        urls = urls_of[match.group()]
        place = places.get(match.group(), 0)
        places[match.group()] = place + 1
        found.append((match.start(), match.end(), urls[min(place, len(urls) - 1)]))
    return found


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


def _last_graphemes(text: str, count: int) -> str:
    import regex  # imported here: see grapheme_length

    return "".join(regex.findall(r"\X", text)[-count:]) if count > 0 else ""


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
