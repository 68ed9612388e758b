"""Hashtags: found in text and in feed categories, compared case-insensitively, shown as written.

`parse_hashtags` is the one rule for hashtags a person types: the web form, the chat commands and CSV import call
it and only wrap its `HashtagError` in their own words. One hashtag is at most MAX_TAG_CHARS long; one form, one
chat message or one CSV line names at most MAX_TAGS (MAX_FOLLOWED_TAGS for a CSV line, which restores a
subscriber's whole list, and chat lets a subscriber follow that many over several messages).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Final

from bot.addresses import InputRuleError

MAX_TAG_CHARS: Final = 64
MAX_TAGS: Final = 50  # in one form, one chat message
MAX_FOLLOWED_TAGS: Final = 100  # one subscriber in all; a CSV line restores a whole list, so it may name this many
TAG_RULE: Final = f"letters, digits and _, with at least one letter, up to {MAX_TAG_CHARS} characters"
_SEPARATORS: Final = re.compile(r"[\s,]+")

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


def without_trailing_tags(text: str, shown: Iterable[str]) -> str:
    """`text` without the hashtags it ends in that are among `shown` (compared as `normalize` does): feed text
    often ends in "#TechNews", which the post's hashtag line already shows. A tag not shown stays, and so does
    everything before it."""
    shown_keys = {normalize(tag) for tag in shown}
    words = text.rstrip().split(" ")
    while words and words[-1].startswith("#") and is_hashtag_line(words[-1]) and normalize(words[-1]) in shown_keys:
        words.pop()
    return " ".join(words).rstrip()


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


class HashtagError(InputRuleError):
    """Typed hashtags the person must fix. `bad` holds the words that are not hashtags, as written (empty when the
    problem is their number); `count` is how many different hashtags were given and `most` how many may be."""

    def __init__(self, message: str, *, bad: Iterable[str] = (), count: int = 0, most: int = MAX_TAGS) -> None:
        super().__init__(message)
        self.bad = tuple(bad)
        self.count = count
        self.most = most


def is_accepted_tag(tag: str) -> bool:
    """A hashtag word (without '#') that `parse_hashtags` accepts: valid and at most MAX_TAG_CHARS long."""
    return len(tag) <= MAX_TAG_CHARS and is_valid_tag(tag)


def parse_hashtags(text: str, *, most: int = MAX_TAGS, skip_bare_hash: bool = False) -> list[str]:
    """Hashtags a person typed: separated by spaces or commas, '#' optional, at most `most` different ones.

    Returns them without '#', de-duplicated case-insensitively in the first spelling given; [] for blank text.
    Raises HashtagError naming every word that is not a hashtag (a '#' on its own is one, unless `skip_bare_hash`),
    or saying how many there are.
    """
    words = [word for word in _SEPARATORS.split(text.strip()) if word]
    if skip_bare_hash:
        words = [word for word in words if word.strip("#")]
    bad = [word for word in words if not is_accepted_tag(word.lstrip("#"))]
    if bad:
        raise HashtagError(_bad_word_problem(bad[0]), bad=bad)
    tags = unique(words)
    if len(tags) > most:
        raise HashtagError(
            f"That is {len(tags)} hashtags; please choose at most {most} hashtags.", count=len(tags), most=most
        )
    return tags


def _bad_word_problem(word: str) -> str:
    tag = word.lstrip("#")
    if is_valid_tag(tag):
        return f"The hashtag “#{_clipped(tag)}” is longer than {MAX_TAG_CHARS} characters."
    return f"“#{_clipped(tag)}” is not a hashtag: use {TAG_RULE}."


def _clipped(word: str, limit: int = 20) -> str:
    return word if len(word) <= limit else word[:limit] + "…"
