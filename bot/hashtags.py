"""Hashtags: found in text and in feed categories, compared case-insensitively, shown as written."""

from __future__ import annotations

import re
from collections.abc import Iterable

# A URL is blanked out before looking for tags, so "example.com/#section" never yields a tag.
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# '#', then word characters (Unicode letters, digits, underscore). Not preceded by a word character or '&'
# (HTML entities such as &#39;) or another '#'.
_TAG = re.compile(r"(?<![\w&#])#(\w+)")
_NON_WORD = re.compile(r"[^\w]+")


def _is_tag_word(word: str) -> bool:
    return any(ch.isalpha() for ch in word)


def find_hashtags(text: str) -> list[str]:
    """Every `#tag` in `text` (without the '#'), in order, duplicates removed case-insensitively."""
    text = _URL.sub(" ", text)
    return unique(m.group(1) for m in _TAG.finditer(text) if _is_tag_word(m.group(1)))


def tag_from_category(category: str) -> str:
    """A feed category such as "Middle East" or "#World" as a hashtag word ("MiddleEast", "World").

    Returns "" when nothing usable is left (for example a purely numeric category).
    """
    words = [w for w in _NON_WORD.split(category.strip().lstrip("#")) if w]
    tag = "".join(words) if len(words) <= 1 else "".join(w[:1].upper() + w[1:] for w in words)
    return tag if _is_tag_word(tag) else ""


def is_hashtag_line(line: str) -> bool:
    """True for a line made only of hashtags, like "#PoliticsNews #MiddleEast"."""
    words = line.split()
    return bool(words) and all(_TAG.fullmatch(w) and _is_tag_word(w[1:]) for w in words)


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
