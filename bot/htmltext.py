"""HTML fragments (feed descriptions, content) as plain text, with the stdlib `html.parser` only.

Blocks (paragraphs, headings, list containers, divs) are separated by a blank line; `<br>`, `<li>` and
table rows start a new line; entities are decoded; whitespace inside a line is collapsed to one space;
whatever is inside `<script>`, `<style>`, `<iframe>` and similar never reaches the text.
"""

from __future__ import annotations

import re
from functools import lru_cache
from html.parser import HTMLParser

__all__ = ["first_image_alt", "first_image_src", "html_to_text", "plain_text_paragraphs"]

# Elements whose content is code, styling or embedded documents: never text for a reader.
_DROPPED = frozenset({"script", "style", "iframe", "noscript", "template", "svg", "object", "head"})
_PARAGRAPH_BREAK = frozenset(
    {
        "p", "div", "section", "article", "header", "footer", "main", "aside", "nav", "address",
        "blockquote", "pre", "figure", "figcaption", "hr", "table", "ul", "ol", "dl",
        "h1", "h2", "h3", "h4", "h5", "h6",
    }
)  # fmt: skip
_LINE_BREAK = frozenset({"br", "li", "tr", "dt", "dd"})

_NEWLINE = "\n"
_BLANK_LINE = "\n\n"
_WHITESPACE = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n\s*\n")


class _TextCollector(HTMLParser):
    """Collects text pieces and break markers; `_DROPPED` subtrees are skipped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.image_srcs: list[str] = []
        self.image_alts: list[str] = []
        self._dropped_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED:
            self._dropped_depth += 1
            return
        if self._dropped_depth:
            return
        self._add_break(tag)
        if tag == "img":
            self._note_image(dict(attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <iframe/> or <script/> open nothing, so they must not start a dropped subtree.
        if tag in _DROPPED or self._dropped_depth:
            return
        self._add_break(tag)
        if tag == "img":
            self._note_image(dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED:
            self._dropped_depth = max(0, self._dropped_depth - 1)
            return
        # Line breaks belong to the start of <li>/<br>; only blocks also end with a break.
        if not self._dropped_depth and tag in _PARAGRAPH_BREAK:
            self.pieces.append(_BLANK_LINE)

    def handle_data(self, data: str) -> None:
        if not self._dropped_depth:
            self.pieces.append(_WHITESPACE.sub(" ", data))

    def _add_break(self, tag: str) -> None:
        if tag in _PARAGRAPH_BREAK:
            self.pieces.append(_BLANK_LINE)
        elif tag in _LINE_BREAK:
            self.pieces.append(_NEWLINE)

    def _note_image(self, attrs: dict[str, str | None]) -> None:
        src = (attrs.get("src") or "").strip()
        is_tracking_pixel = attrs.get("width") == "1" or attrs.get("height") == "1"
        if src and not is_tracking_pixel:
            self.image_srcs.append(src)
            self.image_alts.append(attrs.get("alt") or "")


@lru_cache(maxsize=64)
def _parsed(html: str) -> tuple[str, str, str]:
    """(text, first image src, its alt) of a fragment: one parse serves every question a feed entry asks of it."""
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    image = collector.image_srcs[0] if collector.image_srcs else ""
    alt = collector.image_alts[0] if collector.image_alts else ""
    return _tidy("".join(collector.pieces)), image, alt


def _tidy(raw: str) -> str:
    """Strip every line, keep at most one blank line between blocks, trim the ends."""
    lines = [" ".join(line.split()) for line in raw.split(_NEWLINE)]
    text = _NEWLINE.join(lines)
    return _BLANK_LINES.sub(_BLANK_LINE, text).strip()


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment: blocks separated by a blank line, a new line at `<br>` and `<li>`."""
    return _parsed(html)[0]


def first_image_src(html: str) -> str:
    """The `src` of the first `<img>` in `html` that is not a 1-pixel tracker ("" if there is none)."""
    return _parsed(html)[1]


def first_image_alt(html: str) -> str:
    """The `alt` of that image, as written (entities decoded; "" if it has none). Hostile: see `bot.alttext`."""
    return _parsed(html)[2]


def plain_text_paragraphs(text: str) -> str:
    """Plain text with blank-line paragraphs kept and whitespace inside each paragraph collapsed."""
    paragraphs = (" ".join(block.split()) for block in _BLANK_LINES.split(text))
    return _BLANK_LINE.join(p for p in paragraphs if p)
