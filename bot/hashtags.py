"""Hashtags: found in text and in feed categories, compared case-insensitively, shown as written."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# A URL is blanked out before looking for tags, so "example.com/#section" never yields a tag: any scheme, a
# www. host, or a bare domain followed by a path.
_URL = re.compile(
    r"(?:\b[a-z][a-z0-9+.-]{0,30}://|www\.)\S+|(?<!\S)[^\s/]{1,253}\.[a-z]{2,63}/\S*", re.IGNORECASE
)  # bounded repeats: no quadratic scan of a 100 KB word
# '#' before a word character, not preceded by a word character or '&' (HTML entities such as &#39;) or
# another '#'. The tag runs on over word characters and combining marks (see `_is_word_char`).
_TAG_START = re.compile(r"(?<![\w&#])#(?=\w)")


def _is_word_char(ch: str) -> bool:
    """Letters, digits, _ and combining marks: without the marks "#हिन्दी" (Hindi vowel signs) or a decomposed
    "#Cafe\u0301" would be cut short at the mark."""
    return ch == "_" or ch.isalnum() or unicodedata.category(ch).startswith("M")


def is_valid_tag(tag: str) -> bool:
    """A hashtag word as every form of newsbot accepts it: letters (with their combining marks), digits and _,
    with at least one letter. Without the leading '#'."""
    return bool(tag) and all(_is_word_char(ch) for ch in tag) and _is_tag_word(tag)


def _is_tag_word(word: str) -> bool:
    return any(ch.isalpha() for ch in word)


def _tag_at(text: str, start: int) -> str:
    """The tag word that starts at `start` (just after its '#')."""
    end = start
    while end < len(text) and _is_word_char(text[end]):
        end += 1
    return text[start:end]


def find_hashtags(text: str) -> list[str]:
    """Every `#tag` in `text` (without the '#'), in order, duplicates removed case-insensitively."""
    if "#" not in text:  # most article text: skip the URL scan
        return []
    text = _URL.sub(" ", text)
    words = (_tag_at(text, m.end()) for m in _TAG_START.finditer(text))
    return unique(word for word in words if _is_tag_word(word))


def tag_from_category(category: str) -> str:
    """A feed category such as "Middle East" or "#World" as a hashtag word ("MiddleEast", "World").

    Returns "" when nothing usable is left (for example a purely numeric category).
    """
    words = "".join(ch if _is_word_char(ch) else " " for ch in category.strip().lstrip("#")).split()
    tag = "".join(words) if len(words) <= 1 else "".join(w[:1].upper() + w[1:] for w in words)
    return tag if _is_tag_word(tag) else ""


def is_hashtag_line(line: str) -> bool:
    """True for a line made only of hashtags, like "#PoliticsNews #MiddleEast"."""
    words = line.split()
    return bool(words) and all(_TAG_START.match(w) and _tag_at(w, 1) == w[1:] and _is_tag_word(w[1:]) for w in words)


def normalize(tag: str) -> str:
    """The form used to compare tags: without '#', case-folded."""
    return tag.lstrip("#").casefold()


def unique(tags: Iterable[str]) -> list[str]:
    """Tags without '#', de-duplicated case-insensitively, keeping the first spelling seen."""
    seen: set[str] = set()
    out: list[str] = []
    for tag in tags:
        tag = tag.lstrip("#")
        key = normalize(tag)
        if key and key not in seen:
            seen.add(key)
            out.append(tag)
    return out
