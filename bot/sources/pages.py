"""Plain-text article pages, the shape of `bot/samples/syria-coalition.txt`:

    Date:                      optional metadata lines (Date, URL/Link; Share is dropped)
    Share:
    <title>                    the first line that is not metadata or boilerplate
    Related Articles           site boilerplate and short labels: dropped wherever they are
    <paragraph>                blocks of text separated by blank lines (hard-wrapped lines are joined)
    ...
    #PoliticsNews #MiddleEast  a line made only of hashtags: its tags, removed from the text
    Popular Articles

Also home to the plain-text helpers the feed readers share: date parsing, title fallback, hashtag lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.errors import SourceError
from bot.hashtags import find_hashtags, is_hashtag_line, unique
from bot.models import Entry

__all__ = [
    "BOILERPLATE_LINES",
    "is_http_url",
    "parse_date",
    "parse_page",
    "split_hashtag_lines",
    "title_from_text",
]

# Compared case-insensitively with the whole line, without a trailing colon.
BOILERPLATE_LINES: tuple[str, ...] = (
    "related articles", "related stories", "related", "more stories", "more on this story",
    "popular articles", "popular", "most read", "most popular", "trending", "trending now",
    "recommended", "recommended for you", "you may also like", "read more", "read also", "also read",
    "advertisement", "advertising", "sponsored", "sponsored content",
    "share", "share this", "share this article", "share on facebook", "share on x", "share on twitter",
    "subscribe", "subscribe now", "sign up for our newsletter", "newsletter",
    "follow us", "follow us on social media", "comments", "leave a comment", "skip to content", "back to top",
)  # fmt: skip

# A paragraph this short without sentence punctuation is a label ("Top Stories"), not body text.
MAX_LABEL_WORDS = 4
MAX_TITLE_CHARS = 120

_METADATA = re.compile(r"(?P<key>date|share|url|link)\s*:\s*(?P<value>.*)", re.IGNORECASE)
_SENTENCE_PUNCTUATION = (".", "!", "?", ":", "…")
_CLOSING_MARKS = "\"'\u201d\u2019»)]"  # straight and curly closing quotes, brackets
# A sentence ends at . ! ? … (and closing quotes) followed by a space or the end of the text ...
_SENTENCE_END = re.compile(r"[.!?…][\"'\u201d\u2019»)\]]*(?=\s|$)")
# ... unless the word is an initialism ("U.S.", "U.K.") or a common abbreviation ("Dr.").
_ABBREVIATION = re.compile(
    r"(?:\b[A-Za-z]\.)+$|\b(?:Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|Gen|Gov|Sen|Rep|No|vs|etc|Inc|Co|Ltd|Corp"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.$"
)
_MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_MONTH_DAY_YEAR = re.compile(r"(?P<month>[A-Za-z]{3,9})\.? (?P<day>\d{1,2}),? (?P<year>\d{4})")
_DAY_MONTH_YEAR = re.compile(r"(?P<day>\d{1,2}) (?P<month>[A-Za-z]{3,9})\.?,? (?P<year>\d{4})")


def is_http_url(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


# --- dates -------------------------------------------------------------------------------------------------


def _as_utc(moment: datetime) -> datetime:
    # A date written without an offset is taken as UTC: the only zone we can name without guessing.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _parse_iso(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _parse_rfc2822(value: str) -> datetime | None:
    from email.utils import parsedate_to_datetime  # here: the email package is not needed to start newsbot

    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def _parse_month_name(value: str) -> datetime | None:
    match = _MONTH_DAY_YEAR.fullmatch(value) or _DAY_MONTH_YEAR.fullmatch(value)
    if not match:
        return None
    word = match["month"].casefold()
    # "Nov", "Sept" and "November" name a month; "Novel" does not.
    month = next((number for number, name in enumerate(_MONTHS, 1) if name.startswith(word)), 0)
    if not month:
        return None
    try:
        return datetime(int(match["year"]), month, int(match["day"]))
    except ValueError:
        return None


def parse_date(value: str) -> datetime | None:
    """ISO 8601, RFC 2822 or "November 12, 2025" / "12 Nov 2025" as an aware UTC datetime; None otherwise."""
    value = " ".join(value.split())
    if not value:
        return None
    moment = _parse_iso(value) or _parse_rfc2822(value) or _parse_month_name(value)
    return _as_utc(moment) if moment else None


# --- plain-text helpers shared with the feed readers -------------------------------------------------------


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-\u2013\u2014") + "…"


def _first_sentence(paragraph: str) -> str:
    for match in _SENTENCE_END.finditer(paragraph):
        if not _ABBREVIATION.search(paragraph[: match.start() + 1]):
            return paragraph[: match.end()]
    return paragraph


def title_from_text(text: str, limit: int = MAX_TITLE_CHARS) -> str:
    """A stand-in title for an item without one: its first sentence, at most `limit` characters."""
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return _shorten(_first_sentence(first_line), limit)


def split_hashtag_lines(text: str) -> tuple[str, list[str]]:
    """`text` without its hashtag-only lines, and the tags those lines held (without '#')."""
    kept: list[str] = []
    tags: list[str] = []
    for line in text.split("\n"):
        if is_hashtag_line(line):
            tags.extend(find_hashtags(line))
        else:
            kept.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip(), tags


# --- article pages -----------------------------------------------------------------------------------------


def _is_boilerplate(line: str) -> bool:
    return line.rstrip(":").strip().casefold() in BOILERPLATE_LINES


def _is_label(paragraph: str) -> bool:
    ends_a_sentence = paragraph.rstrip(_CLOSING_MARKS).endswith(_SENTENCE_PUNCTUATION)
    return len(paragraph.split()) <= MAX_LABEL_WORDS and not ends_a_sentence


@dataclass(slots=True)
class _Page:
    title: str = ""
    link: str = ""
    published: datetime | None = None
    tags: list[str] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)

    def take_metadata(self, line: str) -> bool:
        """Record a `Date:` / `URL:` / `Link:` / `Share:` line; False if `line` is not one."""
        match = _METADATA.fullmatch(line)
        if not match:
            return False
        key, value = match["key"].casefold(), match["value"].strip()
        if key == "date" and value:
            self.published = parse_date(value)
        elif key in ("url", "link") and is_http_url(value):
            self.link = value
        return True

    def take_header_line(self, line: str) -> None:
        if not line or self.take_metadata(line) or _is_boilerplate(line):
            return
        if is_hashtag_line(line):
            self.tags.extend(find_hashtags(line))
        else:
            self.title = line

    def take_block(self, lines: list[str]) -> None:
        if len(lines) == 1 and not self.paragraphs and self.take_metadata(lines[0]):
            return
        body: list[str] = []
        for line in lines:
            if is_hashtag_line(line):
                self.tags.extend(find_hashtags(line))
            elif not _is_boilerplate(line):
                body.append(line)
        paragraph = " ".join(body)
        if paragraph and not _is_label(paragraph):
            self.paragraphs.append(paragraph)


def _blocks(lines: list[str]) -> list[list[str]]:
    """Runs of non-empty lines (hard-wrapped paragraphs).

    Text that never leaves a blank line, not even after the title, is read as one paragraph per line.
    """
    blocks: list[list[str]] = []
    starts_block = True
    for line in lines:
        if not line:
            starts_block = True
        elif starts_block:
            blocks.append([line])
            starts_block = False
        else:
            blocks[-1].append(line)
    if len(blocks) == 1 and lines[0]:
        return [[line] for line in blocks[0]]
    return blocks


def parse_page(text: str, *, name: str, url: str) -> Entry:
    """The one article of a plain-text page. Raises SourceError when no title can be found."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    page = _Page()
    position = 0
    while position < len(lines) and not page.title:
        page.take_header_line(lines[position])
        position += 1
    if not page.title:
        raise SourceError(name, url, "not a feed or article page: no title found")
    for block in _blocks(lines[position:]):
        page.take_block(block)
    return Entry(
        title=page.title,
        link=page.link or (url if is_http_url(url) else ""),
        text="\n\n".join(page.paragraphs),
        tags=tuple(unique(page.tags)),
        published=page.published,
    )
