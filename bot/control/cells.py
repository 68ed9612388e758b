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

__all__ = ["breakable", "short_title"]

_PART_ENDS: Final = re.compile(r"@|\.")
_TRAILING: Final = " ,;:.-–—(/"  # not left at the end of a cut title, before its "…"


def short_title(title: str, limit: int) -> str:
    """`title` (runs of space as one) if it has at most `limit` characters, else its longest start of whole words
    that fits with "…" after it; a first word longer than that is cut inside."""
    text = " ".join(title.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if text[limit - 1] != " " and " " in cut:  # the cut is inside a word: back to its start
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(_TRAILING) + "…"


def breakable(address: str) -> Markup:
    """`address`, escaped, with a <wbr> after its "@" and before each "."."""
    return Markup(_PART_ENDS.sub(lambda part: "@<wbr>" if part.group() == "@" else "<wbr>.", str(escape(address))))
