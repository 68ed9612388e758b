"""`Fetched`, a downloaded response, in a module of its own: a parse worker process unpickles it without
importing httpx (`bot.sources.fetch` does the downloading and re-exports it)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Fetched"]


@dataclass(frozen=True, slots=True)
class Fetched:
    body: bytes  # empty when not_modified
    url: str  # where the body came from, after redirects
    content_type: str
    etag: str
    last_modified: str
    not_modified: bool = False
