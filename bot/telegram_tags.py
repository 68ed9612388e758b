"""Telegram HTML's tags checked as a parser meets them (`bot.telegram_html.validate` uses it): only the tags and
attributes Telegram accepts, each closed in order. Its own module so that html.parser is imported only to check."""

from __future__ import annotations

import re
from collections.abc import Mapping
from html.parser import HTMLParser

from bot.telegram_html import ALLOWED_TAGS, at_offset


class TagChecker(HTMLParser):
    """Checks tags as the parser meets them; raises ValueError at the first problem."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=False)
        self._html = html
        self._line_starts = [0, *(m.end() for m in re.finditer("\n", html))]
        self._open: list[tuple[str, int]] = []  # (tag, offset) of every tag not closed yet

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def _fail(self, problem: str, offset: int | None = None) -> ValueError:
        return ValueError(at_offset(self._html, self._offset() if offset is None else offset, problem))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            raise self._fail(f"tag <{tag}> is not supported by Telegram")
        for name, _value in attrs:
            if name not in ALLOWED_TAGS[tag]:
                raise self._fail(f"attribute {name!r} is not allowed on <{tag}>")
        if problem := _attribute_value_problem(tag, dict(attrs)):
            raise self._fail(problem)
        self._open.append((tag, self._offset()))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise self._fail(f"self-closing tag <{tag}/> is not supported by Telegram")

    def handle_endtag(self, tag: str) -> None:
        if not self._open:
            raise self._fail(f"closing tag </{tag}> has no matching opening tag")
        innermost, opened_at = self._open[-1]
        if innermost != tag:
            raise self._fail(f"</{tag}> closes while <{innermost}> (opened at offset {opened_at}) is open")
        self._open.pop()

    def handle_data(self, data: str) -> None:
        if "<" in data:
            raise self._fail("bare '<' (write &lt;)", self._offset() + data.index("<"))

    def handle_comment(self, data: str) -> None:
        raise self._fail("HTML comments are not supported by Telegram")

    def handle_decl(self, decl: str) -> None:
        raise self._fail("declarations are not supported by Telegram")

    def handle_pi(self, data: str) -> None:
        raise self._fail("processing instructions are not supported by Telegram")

    def unknown_decl(self, data: str) -> None:
        raise self._fail("declarations are not supported by Telegram")

    def close(self) -> None:
        super().close()
        if self._open:
            tag, opened_at = self._open[-1]
            raise self._fail(f"tag <{tag}> is never closed", opened_at)


def _attribute_value_problem(tag: str, attrs: Mapping[str, str | None]) -> str:
    if tag == "span" and attrs.get("class") != "tg-spoiler":
        return '<span> must have class="tg-spoiler"'
    code_class = attrs.get("class")
    if tag == "code" and code_class is not None and not code_class.startswith("language-"):
        return '<code> may only have class="language-…"'
    return ""
