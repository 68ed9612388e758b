"""Right-to-left text in posts: the one rule for marking a paragraph's direction. Pure, no I/O.

Telegram, X and plain-text mail readers give each paragraph the direction of its first strong letter (the
Unicode bidirectional algorithm, rules P2–P3). An Arabic or Hebrew paragraph that opens with a Latin name ("BBC
...", "NASA ...") would then be laid out left to right, its punctuation at the wrong end. A right-to-left mark in
front sets the direction the paragraph's letters mostly have. Hashtags and links stand in paragraphs of their own
in the packaged templates (a link or "#Tag" line takes its own direction), so they need no marks. The digest's HTML
says dir="auto" on each title and summary instead (templates/digest.html.j2).
"""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = ["RIGHT_TO_LEFT_MARK", "marked_for_direction"]

RIGHT_TO_LEFT_MARK: Final = "\u200f"
_RIGHT_TO_LEFT: Final = frozenset({"R", "AL"})


def marked_for_direction(text: str) -> str:
    """`text` with a right-to-left mark at the start of each line whose letters are mostly right-to-left but whose
    first strong letter is not; other lines (and text without right-to-left letters) come back unchanged."""
    if not any(unicodedata.bidirectional(char) in _RIGHT_TO_LEFT for char in text):
        return text
    return "\n".join(_marked_line(line) for line in text.split("\n"))


def _marked_line(line: str) -> str:
    strong = [kind for kind in map(unicodedata.bidirectional, line) if kind in ("L", "R", "AL")]
    if not strong or strong[0] != "L":
        return line
    right_to_left = sum(kind in _RIGHT_TO_LEFT for kind in strong)
    return RIGHT_TO_LEFT_MARK + line if right_to_left * 2 > len(strong) else line
