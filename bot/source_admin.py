"""What an admin does to the sources — look at a URL, add it, pause, resume, remove — decided once for chat
(/addsource, /removesource, /pausesource, /resumesource in bot.commands.admin) and the control room's Sources
page (bot.control.sources).

    found = preview(config, store, url)                        # SourceRefused, or what the URL yields now
    added = add(config, store, url, hashtags, added_by="4242", now=now)
    set_paused(config, store, "wire", True)
    remove(config, store, "example.com-1", now)

A refusal is `SourceRefused`, whose message is plain text for people (each medium escapes it its own way). A URL an
admin gives is fetched through the same SSRF-guarded `Reach` wherever it is given: public addresses only, unless
`[fetch] allow_private`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol
from urllib.parse import urlsplit

from bot import alerts
from bot.config import Config
from bot.errors import SourceError
from bot.models import Entry
from bot.probe import FETCH_TIMEOUT, given_reach
from bot.sources import read_source
from bot.store import AddedSource
from bot.urls import http_url_problem

__all__ = [
    "Added",
    "SourceAdminStore",
    "SourceRefused",
    "add",
    "check_removable",
    "is_known",
    "new_source_name",
    "preview",
    "remove",
    "set_paused",
    "source_with_url",
]

_SOURCE_NAME_CHARS: Final = re.compile(r"[^A-Za-z0-9_.-]+")
_NAME_TRIES: Final = 3


class SourceAdminStore(Protocol):
    """What managing sources reads and writes (`bot.store.Store` is one)."""

    def added_sources(self) -> list[AddedSource]: ...
    def add_source(self, source: AddedSource) -> bool: ...
    def remove_source(self, name: str) -> bool: ...
    def set_source_paused(self, name: str, paused: bool) -> None: ...
    def close_incident(self, key: str, now: datetime) -> object: ...


class SourceRefused(Exception):
    """Why the admin's request was not done, in words for people (plain text); nothing was changed."""


@dataclass(frozen=True, slots=True)
class Added:
    name: str
    entries: list[Entry]  # what the URL yielded when it was added (only marked seen on its first poll)


def source_with_url(config: Config, store: SourceAdminStore, url: str) -> str:
    """The name of the source (config file or added) that has exactly `url`; "" if none."""
    named = [(s.name, s.url) for s in config.sources] + [(s.name, s.url) for s in store.added_sources()]
    return next((name for name, source_url in named if source_url == url), "")


def new_source_name(config: Config, store: SourceAdminStore, url: str) -> str:
    """The host (ASCII, without www.) and a counter, unique among all sources: "example.com-1"."""
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        host = ""
    base = _SOURCE_NAME_CHARS.sub("-", host)[:50].strip("-_.") or "source"
    taken = {s.name for s in config.sources} | {s.name for s in store.added_sources()}
    number = 1
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def preview(config: Config, store: SourceAdminStore, url: str) -> list[Entry]:
    """What `url` yields now, read as a new source would be; SourceRefused if it is not a URL, is already a
    source, or does not work (unreachable, refused address, not a feed or page)."""
    problem = http_url_problem(url)
    if problem:
        raise SourceRefused(problem)
    taken = source_with_url(config, store, url)
    if taken:
        raise SourceRefused(f"That URL is already a source: {taken}.")
    try:
        read = read_source("preview", url, timeout=FETCH_TIMEOUT, reach=given_reach(config))
    except SourceError as error:
        raise SourceRefused(f"That source does not work, so it was not added: {error.reason}") from None
    return read.entries


def add(
    config: Config, store: SourceAdminStore, url: str, hashtags: Sequence[str], *, added_by: str, now: datetime
) -> Added:
    """Check `url` as `preview` does, then add it under a new name; its existing entries are only marked seen on
    its first poll, new ones are posted."""
    entries = preview(config, store, url)
    for _try in range(_NAME_TRIES):  # another worker may take the free name between reading and adding
        name = new_source_name(config, store, url)
        if store.add_source(AddedSource(name, url, tuple(hashtags), added_by, now)):
            return Added(name, entries)
    raise SourceRefused("Other sources were being added at the same moment, so this one was not. Try again.")


def is_known(config: Config, store: SourceAdminStore, name: str) -> bool:
    return any(s.name == name for s in config.sources) or any(s.name == name for s in store.added_sources())


def set_paused(config: Config, store: SourceAdminStore, name: str, paused: bool) -> None:
    """Pause a source (config file or added: it is not polled, its state is kept) or resume it (polled when due)."""
    if not is_known(config, store, name):
        raise SourceRefused(f"No source is called “{name}”.")
    store.set_source_paused(name, paused)


def check_removable(config: Config, store: SourceAdminStore, name: str) -> None:
    """SourceRefused unless `name` is an added source: a config file's source is removed by editing that file."""
    if any(source.name == name for source in config.sources):
        where = str(config.path or "the config file")
        raise SourceRefused(f"{name} comes from {where}: remove it there and restart newsbot.")
    if not any(source.name == name for source in store.added_sources()):
        raise SourceRefused(f"No source added in chat is called “{name}”.")


def remove(config: Config, store: SourceAdminStore, name: str, now: datetime) -> None:
    """Remove an added source (`check_removable` says which may be)."""
    check_removable(config, store, name)
    if not store.remove_source(name):  # removed meanwhile by another admin
        raise SourceRefused(f"No source added in chat is called “{name}”.")
    store.close_incident(alerts.source_key(name), now)  # nothing left to fail: no longer wrong
