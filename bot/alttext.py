"""Input rule for an image's alt text from a feed (media:description, `<img alt>`, og:image:alt): one pure function.

Feed text is hostile: markup is read as text (`<b>` and entities become what they show), control, format
(zero-width, bidi override) and line-separator characters are dropped, whitespace collapses to single spaces, and
the result is cut at a word boundary to at most `max_chars` characters, ending in "…" when cut.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from bot.htmltext import html_to_text

__all__ = ["MAX_STORED_ALT_CHARS", "clean_alt", "shorten_alt"]

MAX_STORED_ALT_CHARS: Final = 1000  # what a feed's image text may keep: X's limit, the largest of the networks'
ELLIPSIS: Final = "…"
_LAST_PARTIAL_WORD: Final = re.compile(r"\s\S*$")
_MARKUP: Final = re.compile(r"[<&]")


def clean_alt(text: str, max_chars: int = MAX_STORED_ALT_CHARS, *, markup: bool = True) -> str:
    """`text` as plain, one-line alt text of at most `max_chars` characters ("" if nothing is left). With
    `markup=False` the text is known to be plain already (a title: "a <b> c" is what it says), and tags stay."""
    text = text[: max_chars * 8]  # enough for any markup around max_chars of text; no hostile megabyte is parsed
    if markup and _MARKUP.search(text):
        text = html_to_text(text)
    spaced = (" " if ch.isspace() else ch for ch in text)  # a tab or line break still separates two words
    kept = "".join(ch for ch in spaced if unicodedata.category(ch) not in ("Cc", "Cf"))
    return shorten_alt(" ".join(kept.split()), max_chars)


def shorten_alt(text: str, max_chars: int) -> str:
    """`text` cut at a word boundary to at most `max_chars` characters, ending in "…" if cut."""
    if len(text) <= max_chars:
        return text
    room = max_chars - len(ELLIPSIS)
    if room <= 0:
        return text[:max_chars]
    head = text[:room]
    partial_word = _LAST_PARTIAL_WORD.search(head)
    if not text[room].isspace() and partial_word:
        head = head[: partial_word.start()]
    head = head.rstrip(" ,;:-")
    return head + ELLIPSIS if head else text[:room] + ELLIPSIS
