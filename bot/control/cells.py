"""How a table cell of the control room shows a long title and an email address on a phone's width.

A title is cut at a word's end with "…" (`short_title`); the page keeps the whole title for a screen reader and a
mouse (deliveries.html.j2). An address gets break opportunities after its "@" and before each "." (`breakable`,
the `breakable` filter of the control room's templates), so a narrow cell wraps it between its parts, never
inside one (`firstname.lastname@` / `newsroom.example.org`, not `firstname.lastna` / `me@newsroom…`).
"""

from __future__ import annotations

import re
from typing import Final

from markupsafe import Markup, escape

from bot.render import shorten_at_word

__all__ = ["breakable", "short_title"]

_PART_ENDS: Final = re.compile(r"@|\.")


def short_title(title: str, limit: int) -> str:
    """`title` (runs of space as one) cut at a word's end to at most `limit` characters with "…", as posts cut a
    title (bot.render.shorten_at_word)."""
    return shorten_at_word(" ".join(title.split()), limit)


def breakable(address: str) -> Markup:
    """`address`, escaped, with a <wbr> after its "@" and before each "."."""
    return Markup(_PART_ENDS.sub(lambda part: "@<wbr>" if part.group() == "@" else "<wbr>.", str(escape(address))))
