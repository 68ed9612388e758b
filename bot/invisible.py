"""Characters a person's text may not carry, the one rule for chat arguments, CSV cells and an admin's summary. Pure.

Control characters and invisible formatting (a bidi override can disguise a word: "‮flood" reads as "doolf") are
hidden from the reader; tab and new line are not, nor the zero-width (non-)joiners that shape emoji and Persian or
Indic words.
"""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = ["is_hidden"]

_KEPT: Final = frozenset("\t\n\u200c\u200d")


def is_hidden(char: str) -> bool:
    """True for a control, surrogate or format character other than tab, new line and the zero-width joiners."""
    return char not in _KEPT and unicodedata.category(char) in ("Cc", "Cs", "Cf")
