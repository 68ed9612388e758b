"""What an admin does to the sources — look at a URL, add it, pause, resume, remove — decided once for chat
(/addsource, /removesource, /pausesource, /resumesource in bot.commands.admin), the control room's Sources
page (bot.control.sources) and `newsbot sources import` (bot.sources_bulk, through `add_many`).

    found = preview(config, store, url)                        # SourceRefused, or what the URL yields now
    added = add(config, store, url, hashtags, added_by="4242", now=now)
    done = add_many(config, store, [Wanted("line 3", url, ("Tech",))], check=False, added_by="cli", now=now)
    set_paused(config, store, "wire", True)
    remove(config, store, "example.com-1", now)

A refusal is `SourceRefused`, whose message is plain text for people (each medium escapes it its own way). A URL an
admin gives is fetched through the same SSRF-guarded `Reach` wherever it is given: public addresses only, unless
`[fetch] allow_private`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Final, Protocol
from urllib.parse import urlsplit

from bot import alerts
from bot.config import Config
from bot.errors import SourceError
from bot.hashtags import unique
from bot.models import Entry
from bot.probe import FETCH_TIMEOUT, given_reach
from bot.sources import read_source
from bot.store import AddedSource
from bot.urls import http_url_problem, redact_url, redact_urls_in

__all__ = [
    "Added",
    "AlreadyASource",
    "BulkAdded",
    "BulkSourceStore",
    "SourceAdminStore",
    "SourceRefused",
    "Wanted",
    "add",
    "add_many",
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
_CHECKS_AT_ONCE: Final = 4  # URLs fetched at a time by a bulk import's check (mostly different hosts)


class SourceAdminStore(Protocol):
    """What managing sources reads and writes (`bot.store.Store` is one)."""

    def added_sources(self) -> list[AddedSource]: ...
    def add_source(self, source: AddedSource) -> bool: ...
    def added_source_with_url(self, url: str) -> str: ...
    def remove_source(self, name: str) -> bool: ...
    def set_source_paused(self, name: str, paused: bool) -> None: ...
    def close_incident(self, key: str, now: datetime) -> object: ...


class BulkSourceStore(SourceAdminStore, Protocol):
    """What a bulk import needs besides (`bot.store.Store` is one)."""

    def transaction(self) -> AbstractContextManager[None]: ...


class SourceRefused(Exception):
    """Why the admin's request was not done, in words for people (plain text); nothing was changed."""


class AlreadyASource(SourceRefused):
    """The URL is already a source, called `owner`."""

    def __init__(self, message: str, owner: str) -> None:
        super().__init__(message)
        self.owner = owner


@dataclass(frozen=True, slots=True)
class Added:
    name: str
    entries: list[Entry]  # what the URL yielded when it was added (only marked seen on its first poll)


class _Taken:
    """The names and URLs of every source (config file and added), read once: a bulk import checks thousands of
    URLs against them without reading the state again for each."""

    def __init__(self, config: Config, store: SourceAdminStore) -> None:
        named = [(s.name, s.url) for s in config.sources] + [(s.name, s.url) for s in store.added_sources()]
        self.names = {name for name, _url in named}
        self.owners: dict[str, str] = {}
        self._tried: dict[str, int] = {}
        for name, url in named:
            self.owners.setdefault(url, name)

    def owner(self, url: str) -> str:
        return self.owners.get(url, "")

    def new_name(self, url: str) -> str:
        host = (urlsplit(url).hostname or "").removeprefix("www.")
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            host = ""
        base = _SOURCE_NAME_CHARS.sub("-", host)[:50].strip("-_.") or "source"
        number = self._tried.get(base, 1)  # where the last search on this host stopped: no quadratic bulk import
        while f"{base}-{number}" in self.names:
            number += 1
        self._tried[base] = number
        return f"{base}-{number}"

    def take(self, name: str, url: str) -> None:
        self.names.add(name)
        self.owners.setdefault(url, name)


def source_with_url(config: Config, store: SourceAdminStore, url: str) -> str:
    """The name of the source (config file or added) that has exactly `url`; "" if none."""
    return _Taken(config, store).owner(url)


def new_source_name(config: Config, store: SourceAdminStore, url: str) -> str:
    """The host (ASCII, without www.) and a counter, unique among all sources: "example.com-1"."""
    return _Taken(config, store).new_name(url)


def _check_new(taken: _Taken, url: str) -> None:
    """SourceRefused unless `url` is an http(s) URL that is not a source yet (of the config file, or added)."""
    problem = http_url_problem(url)
    if problem:
        raise SourceRefused(problem)
    owner = taken.owner(url)
    if owner:
        raise _already(owner)


def _already(owner: str) -> AlreadyASource:
    return AlreadyASource(f"That URL is already a source: {owner}.", owner)


def _check_works(config: Config, url: str) -> list[Entry]:
    """What `url` yields now, fetched as a URL an admin gives (SSRF-guarded); SourceRefused if it does not work."""
    try:
        read = read_source("preview", url, timeout=FETCH_TIMEOUT, reach=given_reach(config))
    except SourceError as error:
        raise SourceRefused(f"That source does not work, so it was not added: {error.reason}") from None
    return read.entries


def preview(config: Config, store: SourceAdminStore, url: str) -> list[Entry]:
    """What `url` yields now, read as a new source would be; SourceRefused if it is not a URL, is already a
    source, or does not work (unreachable, refused address, not a feed or page)."""
    _check_new(_Taken(config, store), url)
    return _check_works(config, url)


def add(
    config: Config, store: SourceAdminStore, url: str, hashtags: Sequence[str], *, added_by: str, now: datetime
) -> Added:
    """Check `url` as `preview` does, then add it under a new name; its existing entries are only marked seen on
    its first poll, new ones are posted."""
    entries = preview(config, store, url)
    return Added(_insert(config, store, url, hashtags, added_by=added_by, now=now), entries)


def _insert(
    config: Config,
    store: SourceAdminStore,
    url: str,
    hashtags: Sequence[str],
    *,
    added_by: str,
    now: datetime,
    taken: _Taken | None = None,
) -> str:
    """Add the checked `url` under a new name (from `taken`, else read now); the name it got. AlreadyASource when
    another admin or worker added the URL since it was checked: the state's unique URL index decides, not a read."""
    taken = taken or _Taken(config, store)
    for _try in range(_NAME_TRIES):  # another worker may take the free name between reading and adding
        name = taken.new_name(url)
        if store.add_source(AddedSource(name, url, tuple(hashtags), added_by, now)):
            taken.take(name, url)
            return name
        owner = store.added_source_with_url(url)
        if owner:
            raise _already(owner)
        taken = _Taken(config, store)
    raise SourceRefused("Other sources were being added at the same moment, so this one was not. Try again.")


@dataclass(frozen=True, slots=True)
class Wanted:
    """A source a bulk import asks for; `where` says where it was asked for ("line 12")."""

    where: str
    url: str
    hashtags: tuple[str, ...] = ()


@dataclass
class BulkAdded:
    added: list[str] = field(default_factory=list)  # the new sources' names
    already: list[tuple[str, str, str]] = field(default_factory=list)  # (where, URL, the source that has it)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (where, why), URLs redacted


def add_many(
    config: Config,
    store: BulkSourceStore,
    wanted: Sequence[Wanted],
    *,
    check: bool,
    added_by: str,
    now: datetime,
) -> BulkAdded:
    """Add many sources with the checks `add` makes: an http(s) URL not yet a source (else reported, not
    changed), fetched first and refused if it does not work only with `check`. A URL asked for twice is one source
    with the hashtags of both. All are added in one transaction: an interrupted import adds nothing."""
    taken, done = _Taken(config, store), BulkAdded()
    accepted: list[Wanted] = []
    for one in _merged(wanted):
        try:
            _check_new(taken, one.url)
        except AlreadyASource as already:
            done.already.append((one.where, redact_url(one.url), already.owner))
            continue
        except SourceRefused as refused:
            done.refused.append((one.where, redact_urls_in(str(refused))))
            continue
        accepted.append(one)
    working = _working(config, accepted, done) if check else accepted
    with store.transaction():
        for one in working:
            try:
                done.added.append(
                    _insert(config, store, one.url, one.hashtags, added_by=added_by, now=now, taken=taken)
                )
            except AlreadyASource as already:  # added meanwhile (while `check` fetched it, say)
                done.already.append((one.where, redact_url(one.url), already.owner))
    return done


def _merged(wanted: Sequence[Wanted]) -> list[Wanted]:
    """One per URL, where it was first asked for, with the hashtags of every time it was asked for."""
    by_url: dict[str, Wanted] = {}
    for one in wanted:
        first = by_url.setdefault(one.url, one)
        if first is not one:
            by_url[one.url] = replace(first, hashtags=tuple(unique([*first.hashtags, *one.hashtags])))
    return list(by_url.values())


def _working(config: Config, wanted: list[Wanted], done: BulkAdded) -> list[Wanted]:
    """Those of `wanted` whose URL works now (a few fetched at a time); the others go to `done.refused`."""

    def works(one: Wanted) -> str:
        try:
            _check_works(config, one.url)
        except SourceRefused as refused:
            return redact_urls_in(str(refused))
        return ""

    with ThreadPoolExecutor(max_workers=_CHECKS_AT_ONCE) as pool:
        problems = list(pool.map(works, wanted))
    done.refused += [(one.where, problem) for one, problem in zip(wanted, problems, strict=True) if problem]
    return [one for one, problem in zip(wanted, problems, strict=True) if not problem]


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
