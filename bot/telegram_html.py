"""Telegram's HTML parse mode, in one place: escaping, validation, visible length and splitting.

The rules follow https://core.telegram.org/bots/api#html-style. The renderer, the Telegram publisher and the
fake Bot API server in tests all use this module, so they agree on what a valid message is and how long it is.
Telegram counts a message's length in UTF-16 code units of its visible text (tags removed, entities decoded).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from types import MappingProxyType
from typing import Final

__all__ = [
    "ALLOWED_TAGS",
    "CAPTION_LIMIT",
    "MESSAGE_LIMIT",
    "escape",
    "split",
    "utf16_length",
    "validate",
    "visible_length",
    "visible_text",
]

MESSAGE_LIMIT: Final = 4096
CAPTION_LIMIT: Final = 1024

# Tag name -> the attributes it may carry. Attribute values are checked in _check_attribute_values.
ALLOWED_TAGS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "b": frozenset(),
        "strong": frozenset(),
        "i": frozenset(),
        "em": frozenset(),
        "u": frozenset(),
        "ins": frozenset(),
        "s": frozenset(),
        "strike": frozenset(),
        "del": frozenset(),
        "a": frozenset({"href"}),
        "code": frozenset({"class"}),  # only class="language-…", for syntax highlighting inside <pre>
        "pre": frozenset(),
        "blockquote": frozenset({"expandable"}),
        "span": frozenset({"class"}),  # only class="tg-spoiler"
        "tg-spoiler": frozenset(),
    }
)

_ENTITY: Final = re.compile(r"&(?:lt|gt|amp|quot|#([0-9]+)|#[xX]([0-9a-fA-F]+));")
_MAX_CODE_POINT: Final = 0x10FFFF
_SNIPPET_CHARS: Final = 20


def escape(text: str) -> str:
    """`text` safe to put anywhere in a Telegram HTML message, attribute values included."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts (a character outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


# --- validation ---------------------------------------------------------------------------------


def validate(html: str) -> None:
    """Raise ValueError naming the problem and its offset if Telegram would refuse `html`."""
    _check_entities(html)
    if (offset := html.find("</>")) >= 0:
        raise ValueError(at_offset(html, offset, "empty closing tag '</>'"))
    from bot.telegram_tags import TagChecker  # here: html.parser is not needed to start newsbot (issue #16)

    checker = TagChecker(html)
    checker.feed(html)
    checker.close()


def _check_entities(html: str) -> None:
    for amp in re.finditer("&", html):
        entity = _ENTITY.match(html, amp.start())
        if entity is None:
            raise ValueError(
                at_offset(html, amp.start(), "'&' must start &lt; &gt; &amp; &quot; or a numeric entity (&#39;)")
            )
        decimal, hexadecimal = entity.groups()
        code_point = int(decimal) if decimal else int(hexadecimal, 16) if hexadecimal else 0
        if code_point > _MAX_CODE_POINT:
            raise ValueError(at_offset(html, amp.start(), f"entity {entity.group()} is not a Unicode character"))


def at_offset(html: str, offset: int, problem: str) -> str:
    """A problem's message: where it is and the text there."""
    return f"{problem} at offset {offset}: {html[offset : offset + _SNIPPET_CHARS]!r}"


# --- visible text -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Atom:
    """The smallest piece a message is cut into: a whole tag, a whole entity, or one character."""

    raw: str
    text: str = ""  # what the reader sees; "" for a tag
    tag: str = ""  # tag name, for a tag
    closing: bool = False

    @property
    def is_blank(self) -> bool:
        return not self.tag and self.text.isspace()

    @property
    def is_content(self) -> bool:
        return not self.tag and not self.text.isspace()


_TOKEN: Final = re.compile(
    r"""(?P<tag><(?:[^>"']|"[^"]*"|'[^']*')*>)|(?P<entity>&(?:[a-zA-Z]+|\#[0-9]+|\#[xX][0-9a-fA-F]+);)|(?P<text>[^<&]+|[<&])""",
    re.VERBOSE,
)
_TAG_NAME: Final = re.compile(r"</?\s*([a-zA-Z][a-zA-Z0-9-]*)")


def _unescape(entity: str) -> str:
    """One entity decoded (`_check_entities` allows only &lt; &gt; &amp; &quot; and numeric ones)."""
    from html import unescape  # here: html.entities, a large table, is not needed to start newsbot

    return unescape(entity)


def _atoms(html: str) -> list[_Atom]:
    atoms: list[_Atom] = []
    for token in _TOKEN.finditer(html):
        raw = token.group()
        if token.lastgroup == "tag":
            name = _TAG_NAME.match(raw)
            atoms.append(_Atom(raw, tag=name.group(1).lower() if name else "?", closing=raw.startswith("</")))
        elif token.lastgroup == "entity":
            atoms.append(_Atom(raw, text=_unescape(raw)))
        else:
            atoms.extend(_Atom(char, text=char) for char in raw)
    return atoms


def visible_text(html: str) -> str:
    """What the reader sees: tags removed, entities decoded."""
    return "".join(atom.text for atom in _atoms(html))


def visible_length(html: str) -> int:
    """The message length as Telegram counts it: UTF-16 code units of the visible text."""
    return utf16_length(visible_text(html))


# --- splitting ----------------------------------------------------------------------------------

# How good a place to start a new part is; higher is better. _NO_BREAK: never split here.
_NO_BREAK: Final = -1
_ANYWHERE: Final = 0
_WORD: Final = 1
_SENTENCE: Final = 2
_PARAGRAPH: Final = 3

_SENTENCE_END: Final = re.compile("[.!?\u2026][\"'\u201d\u2019\u00bb)\\]]*$")
_ZERO_WIDTH_JOINER: Final = "\u200d"


def split(html: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """`html` as one or more valid messages of at most `limit` visible UTF-16 units each.

    Splits at a blank line if one is in reach, else at the end of a sentence, else between words, else between
    characters; never inside a tag or an entity. Tags open at a split are closed at the end of the part and
    opened again at the start of the next. Whitespace at a split is dropped (Telegram trims it anyway).
    Raises ValueError if `html` is not valid, or if a single character is wider than `limit`.
    """
    validate(html)
    if visible_length(html) <= limit:
        return [html]
    return list(_Splitter(_atoms(html), limit).parts())


class _Splitter:
    def __init__(self, atoms: Sequence[_Atom], limit: int) -> None:
        self._atoms = atoms
        self._limit = limit
        self._units_before = list(accumulate((utf16_length(a.text) for a in atoms), initial=0))
        self._break_kinds = _break_kinds(atoms)
        self._content_end = _content_ends(atoms)

    def parts(self) -> Iterator[str]:
        start = 0
        open_tags: list[_Atom] = []
        while (first := self._first_content(start)) is not None:
            end = self._choose_end(first)
            part = self._atoms[start:end]
            closing_stack = _open_after(open_tags, part)
            yield (
                "".join(tag.raw for tag in open_tags)
                + "".join(atom.raw for atom in _strip_blanks(part))
                + "".join(f"</{tag.tag}>" for tag in reversed(closing_stack))
            )
            start, open_tags = end, closing_stack

    def _first_content(self, start: int) -> int | None:
        return next((i for i in range(start, len(self._atoms)) if self._atoms[i].is_content), None)

    def _length(self, first: int, end: int) -> int:
        """Visible length of the part from atom `first` to `end`, without the blanks it will lose."""
        return self._units_before[self._content_end[end]] - self._units_before[first]

    def _choose_end(self, first: int) -> int:
        best, best_kind = None, _NO_BREAK
        for end in range(first + 1, len(self._atoms) + 1):
            if end < len(self._atoms) and self._break_kinds[end] == _NO_BREAK:
                continue
            if self._length(first, end) > self._limit:
                break
            if end == len(self._atoms):
                return end
            if self._break_kinds[end] >= best_kind:
                best, best_kind = end, self._break_kinds[end]
        if best is None:
            raise ValueError(f"cannot split: {self._atoms[first].raw!r} alone is wider than {self._limit}")
        return self._move_before_opening_tags(best)

    def _move_before_opening_tags(self, end: int) -> int:
        """Leave tags opened just before the split (and the blanks among them) to the next part."""
        while end > self._content_end[end] and (
            self._atoms[end - 1].is_blank or (self._atoms[end - 1].tag and not self._atoms[end - 1].closing)
        ):
            end -= 1
        return end


def _break_kinds(atoms: Sequence[_Atom]) -> list[int]:
    """For each atom, how good a split just before it is."""
    kinds = [_NO_BREAK] * len(atoms)
    tail = ""  # the last few visible characters before the current gap
    gap = ""  # blanks since the last content atom
    for i, atom in enumerate(atoms):
        if atom.tag:
            continue
        if atom.is_blank:
            gap += atom.text
            continue
        if tail and not _joins_previous(atom.text, tail, gap):
            kinds[i] = _kind_of_gap(tail, gap)
        tail, gap = (tail + atom.text)[-4:], ""
    return kinds


def _kind_of_gap(tail: str, gap: str) -> int:
    if gap.count("\n") >= 2:
        return _PARAGRAPH
    if gap and _SENTENCE_END.search(tail):
        return _SENTENCE
    return _WORD if gap else _ANYWHERE


def _joins_previous(text: str, tail: str, gap: str) -> bool:
    """True if splitting before `text` would tear a character apart (accents, emoji modifiers, ZWJ)."""
    if gap:
        return False
    first = text[0]
    return (
        unicodedata.category(first).startswith("M")
        or "\ufe00" <= first <= "\ufe0f"
        or "\U0001f3fb" <= first <= "\U0001f3ff"
        or first == _ZERO_WIDTH_JOINER
        or tail.endswith(_ZERO_WIDTH_JOINER)
    )


def _content_ends(atoms: Sequence[_Atom]) -> list[int]:
    """For each index i (0..len), the index just after the last content atom before i."""
    ends = [0] * (len(atoms) + 1)
    for i, atom in enumerate(atoms):
        ends[i + 1] = i + 1 if atom.is_content else ends[i]
    return ends


def _strip_blanks(part: Sequence[_Atom]) -> list[_Atom]:
    """`part` without blank text before its first or after its last content atom; tags are kept."""
    content = [i for i, atom in enumerate(part) if atom.is_content]
    if not content:
        return [atom for atom in part if atom.tag]
    first, last = content[0], content[-1]
    return [atom for i, atom in enumerate(part) if atom.tag or first <= i <= last]


def _open_after(open_tags: Sequence[_Atom], part: Sequence[_Atom]) -> list[_Atom]:
    stack = list(open_tags)
    for atom in part:
        if atom.tag and atom.closing:
            stack.pop()
        elif atom.tag:
            stack.append(atom)
    return stack
