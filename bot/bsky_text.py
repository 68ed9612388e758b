"""Bluesky's text rules: a post's length in graphemes, and its rich-text facets with UTF-8 byte offsets.

Bluesky counts 300 graphemes (user-perceived characters: "👍🏽" and "é" written as e + accent are one each),
and makes nothing of the text by itself: a link or hashtag is live only through a facet that names its range in
the UTF-8 bytes of the text. So feed text cannot smuggle a live link in unless a facet is made for it: `facets`
makes them for every http(s) URL and "#tag" in the text, and `without_links` writes the URLs in feed text as
their host ("evil[.]example[.]com"), so the only link that goes out is the article's own.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = ["BLUESKY_LIMIT", "Facet", "facets", "grapheme_length", "record_key", "without_links"]

BLUESKY_LIMIT: Final = 300  # graphemes per post
MAX_TAG_GRAPHEMES: Final = 64  # app.bsky.richtext.facet#tag: a longer tag is no tag
_URL: Final = re.compile(r"https?://[^\s]+")
# A tag starts a word; '#' followed by anything but space, another '#' or a zero-width joiner.
_TAG: Final = re.compile(r"(?:^|(?<=\s))#([^\s#\u200d\ufe0f][^\s#]*)")
_TRAILING_PUNCTUATION: Final = ".,;:!?\"')]}»”’"
_URL_HOST: Final = re.compile(r"https?://([^/?#:\s]+)", re.IGNORECASE)
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


def facets(text: str) -> list[Facet]:
    """A facet for every http(s) URL and every "#tag" of `text`, in order, with their UTF-8 byte ranges.

    Trailing punctuation is not part of a link or tag ("see https://a.example/x." links "https://a.example/x"),
    but a link's own closing parenthesis is;
    a tag of digits only, or longer than 64 graphemes, is no tag (as Bluesky's apps decide).
    """
    found: list[tuple[int, int, Facet]] = []
    for match in _URL.finditer(text):
        url = _without_trailing_punctuation(match.group())
        if len(url) > len("https://"):
            found.append(_facet(text, "link", match.start(), match.start() + len(url), url))
    for match in _TAG.finditer(text):
        tag = match.group(1).rstrip(_TRAILING_PUNCTUATION)
        if tag and not tag.isdigit() and grapheme_length(tag) <= MAX_TAG_GRAPHEMES:
            start = match.start(1) - 1
            found.append(_facet(text, "tag", start, match.start(1) + len(tag), tag))
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
