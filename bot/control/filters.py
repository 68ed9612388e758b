"""The input rules of the control room's search and filter forms (GET, so a search is a link to share or keep).

Pure: each function reads one field of a query string and returns what it means, or raises `BadFilter` with a
sentence that says what is wrong and what to do. A page shows that sentence above its form, with status 400, and
runs no query. Text is checked before it reaches the store: no field is longer than its form's `maxlength`, and
none holds control characters (no chat id, address or article key has them, and PostgreSQL refuses NUL).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import urlencode

from bot.addresses import MAX_ADDRESS_CHARS

__all__ = ["MAX_FIELD_CHARS", "BadFilter", "choice", "link_query", "text"]

MAX_FIELD_CHARS: Final = MAX_ADDRESS_CHARS  # the longest address; chat ids and article keys are shorter
_SHOWN_CHARS: Final = 40  # of a bad value, quoted back


class BadFilter(ValueError):
    """A search or filter field that cannot be used; str() is the message for the admin."""


def text(params: Mapping[str, str], name: str, label: str, max_chars: int = MAX_FIELD_CHARS) -> str:
    """The field `name`, trimmed ("" when missing)."""
    value = params.get(name, "").strip()
    if len(value) > max_chars:
        raise BadFilter(f"{label} is longer than {max_chars} characters. Shorten it and search again.")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise BadFilter(f"{label} holds control characters, which no chat id, address or key has. Retype it.")
    return value


def choice(params: Mapping[str, str], name: str, label: str, choices: Iterable[str]) -> str:
    """The field `name` if it is one of `choices` ("" when missing or empty: no filter)."""
    value = params.get(name, "").strip()
    allowed = tuple(choices)
    if value and value not in allowed:
        shown = _shown(value)
        raise BadFilter(f"{label} “{shown}” is not one of {', '.join(allowed)}. Pick one from the list.")
    return value


def link_query(fields: Mapping[str, str]) -> str:
    """`?a=1&b=2` of the non-empty `fields` ("" when none), for links that keep a search."""
    kept = {name: value for name, value in fields.items() if value}
    return f"?{urlencode(kept)}" if kept else ""


def _shown(value: str) -> str:
    cleaned = "".join(ch if unicodedata.category(ch) != "Cc" else " " for ch in value)
    return cleaned if len(cleaned) <= _SHOWN_CHARS else cleaned[: _SHOWN_CHARS - 1] + "…"
