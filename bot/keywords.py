"""Keywords: the one rule for words and phrases that pick articles by their text (route `keywords` and
`exclude_keywords`, a subscriber's /watch and /mute words), and for route `pattern`s.

Both sides are folded (`fold`: NFKC, case-folded, whitespace runs made one space), so "STRASSE" finds "Straße" and a
phrase finds its words across a line break. A keyword matches on whole words: the characters just before and after it
must not be letters, marks or digits (Unicode categories L*, M*, N*), so "art" is not found in "party" nor "हिन" in
"हिन्दी". Scripts written without spaces between words (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar) need no
boundary on a side whose keyword character is in such a script, and neither does a side that ends in punctuation
("C++"). Searching is `str.find` per keyword, linear in the text: no regular expression is built from user input.

`parse_keyword_list` (config lists) and `parse_keywords` (a chat message, comma-separated) are the input rules; callers
wrap their `KeywordError` in their own words. A route `pattern` is compiled by `compile_pattern` with RE2, which runs
in time linear in the text whatever the pattern (no catastrophic backtracking), case-insensitively.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any, Final

from bot.addresses import InputRuleError

MAX_KEYWORD_CHARS: Final = 100
MAX_SUBSCRIBER_WORDS: Final = 20  # watch words, and mute words, per subscriber
MAX_PATTERN_MEMORY: Final = 8 << 20  # bytes RE2 may use for one compiled pattern (its own default)
KEYWORD_RULE: Final = f"a word or phrase with at least one letter or digit, up to {MAX_KEYWORD_CHARS} characters"
_CHAT_SEPARATORS: Final = re.compile(r"[,\n;]")  # a fixed pattern: phrases keep their spaces
# Scripts written without spaces between words: a keyword edge in one of these needs no word boundary.
_UNSPACED_RANGES: Final = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x19E0, 0x19FF),  # Khmer symbols
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # Han extension A
    (0x4E00, 0x9FFF),  # Han
    (0xA9E0, 0xA9FF),  # Myanmar extended B
    (0xAA60, 0xAA7F),  # Myanmar extended A
    (0xF900, 0xFAFF),  # Han compatibility
    (0x20000, 0x3134F),  # Han extensions B-G
)
# Korean is written with spaces, but particles and endings attach to the end of a word (서울에서 "in Seoul"), so a
# Hangul keyword needs a boundary before it and none after.
_SUFFIXED_RANGES: Final = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x3130, 0x318F),  # Hangul compatibility Jamo
    (0xA960, 0xA97F),  # Hangul Jamo extended A
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xD7B0, 0xD7FF),  # Hangul Jamo extended B
)


class KeywordError(InputRuleError):
    """Keywords the person must fix. `bad` holds the offending words as written (empty when the problem is their
    number); `count` is how many different keywords were given and `most` how many may be."""

    def __init__(self, message: str, *, bad: Iterable[str] = (), count: int = 0, most: int = 0) -> None:
        super().__init__(message)
        self.bad = tuple(bad)
        self.count = count
        self.most = most


class PatternError(InputRuleError):
    """A route pattern RE2 cannot compile; the message is RE2's reason."""


def fold(text: str) -> str:
    """The form keywords and texts are compared in: NFKC, case-folded (ß → ss), whitespace runs one space."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(folded.split())


def searchable(title: str, text: str, summary: str = "") -> str:
    """An article's title, text and the summary an admin wrote for it (an approval's Edit; a written summary
    comes from the text) as one folded string to search."""
    return " \n ".join(fold(part) for part in (title, text, summary) if part)


def contains_any(folded_text: str, keywords: Iterable[str]) -> bool:
    """True if any of the (folded) keywords occurs as whole words in the folded text."""
    return any(_occurs(folded_text, keyword) for keyword in keywords)


def found_in(folded_text: str, keywords: Iterable[str]) -> list[str]:
    """The (folded) keywords that occur as whole words in the folded text, in the order given."""
    return [keyword for keyword in keywords if _occurs(folded_text, keyword)]


def _occurs(text: str, keyword: str) -> bool:
    if not keyword:
        return False
    need_before = _needs_boundary(keyword[0])
    need_after = _needs_boundary(keyword[-1]) and not _in_ranges(keyword[-1], _SUFFIXED_RANGES)
    start = text.find(keyword)
    while start != -1:
        end = start + len(keyword)
        if (not need_before or start == 0 or not _is_word_char(text[start - 1])) and (
            not need_after or end == len(text) or not _is_word_char(text[end])
        ):
            return True
        start = text.find(keyword, start + 1)
    return False


def _is_word_char(char: str) -> bool:
    return unicodedata.category(char)[0] in "LMN"


def _needs_boundary(edge: str) -> bool:
    """A keyword edge that is a letter, mark or digit of a script written with spaces needs a boundary there."""
    return _is_word_char(edge) and not _in_ranges(edge, _UNSPACED_RANGES)


def _in_ranges(char: str, ranges: Sequence[tuple[int, int]]) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in ranges)


def parse_keyword_list(values: Sequence[str]) -> list[str]:
    """Keywords from a list (a route's `keywords`), as written but trimmed, de-duplicated by their folded form.

    Raises KeywordError naming the first keyword that is empty, too long or has no letter or digit.
    """
    words = [" ".join(value.split()) for value in values]
    for word in words:
        problem = keyword_problem(word)
        if problem:
            raise KeywordError(problem, bad=[word])
    return _unique(words)


def parse_keywords(text: str, *, most: int | None = MAX_SUBSCRIBER_WORDS) -> list[str]:
    """Keywords a person typed: separated by commas (or new lines), so a phrase keeps its spaces.

    Returns them trimmed, de-duplicated by their folded form in the first spelling given; [] for blank text.
    Raises KeywordError naming every unusable one, or saying how many there are when more than `most` (None: the
    caller counts them against what is already stored).
    """
    words = [" ".join(part.split()) for part in _CHAT_SEPARATORS.split(text)]
    words = [word for word in words if word]
    bad = [word for word in words if keyword_problem(word)]
    if bad:
        raise KeywordError(keyword_problem(bad[0]), bad=bad)
    unique = _unique(words)
    if most is not None and len(unique) > most:
        raise KeywordError(f"That is {len(unique)} words; at most {most} may be given.", count=len(unique), most=most)
    return unique


def keyword_problem(word: str) -> str:
    """What is wrong with one keyword as a person wrote it, or "" when it is usable."""
    if not word.strip():
        return "A keyword is empty; remove it or write a word."
    if len(word) > MAX_KEYWORD_CHARS:
        return f"“{_clipped(word)}” is longer than {MAX_KEYWORD_CHARS} characters."
    if not any(_is_word_char(char) and unicodedata.category(char)[0] != "M" for char in fold(word)):
        return f"“{_clipped(word)}” has no letter or digit; a keyword is {KEYWORD_RULE}."
    return ""


def _unique(words: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for word in words:
        key = fold(word)
        if key not in seen:
            seen.add(key)
            out.append(word)
    return out


def _clipped(word: str, limit: int = 30) -> str:
    return word if len(word) <= limit else word[:limit] + "…"


@functools.lru_cache(maxsize=64)
def compile_pattern(pattern: str) -> Any:
    """A route pattern compiled by RE2, case-insensitive; search it with `.search(text)`.

    Raises PatternError with RE2's reason when it cannot be compiled (bad syntax, Perl-only features such as
    look-behind or back-references, or bigger than MAX_PATTERN_MEMORY).
    """
    import re2  # google-re2, imported when a route has a pattern

    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # the reason is raised to the caller; RE2 would also print it to stderr
    options.max_mem = MAX_PATTERN_MEMORY
    try:
        return re2.compile(pattern, options)
    except re2.error as error:
        reason = error.args[0] if error.args else "not a pattern RE2 understands"
        raise PatternError(reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)) from None


def pattern_matches(pattern: str, title: str, text: str) -> bool:
    """True if the (valid) route pattern matches anywhere in the article's title or text."""
    return compile_pattern(pattern).search(unicodedata.normalize("NFKC", title + "\n" + text)) is not None
