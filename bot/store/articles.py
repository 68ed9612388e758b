"""Articles and their aliases, the poll state of each source, and the sources added from chat."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.hashtags import normalize as normalize_tag
from bot.models import Article
from bot.store.leases import Lease
from bot.store.meta import REQUEST_DRAIN_SQL as COUNT_UP_SQL
from bot.store.part import StorePart
from bot.store.times import db_time, from_db_time, to_db_time


@dataclass(frozen=True, slots=True)
class SourceState:
    name: str
    etag: str = ""
    last_modified: str = ""
    primed: bool = False  # the first poll happened: later entries are new
    last_poll: datetime | None = None
    last_success: datetime | None = None
    next_poll: datetime | None = None
    failures: int = 0
    last_error: str = ""
    paused: bool = False  # an admin paused it: it is not polled until resumed


@dataclass(frozen=True, slots=True)
class AddedSource:
    name: str
    url: str
    hashtags: tuple[str, ...]
    added_by: str
    added_at: datetime


# The columns `article_from_row` reads, of `articles a`.
ARTICLE_COLUMNS = (
    "a.key, a.source, a.title, a.link, a.text, a.hashtags, a.published, a.first_seen, a.image_url, a.summary,"
    " a.image_alt"
)


def article_from_row(row: tuple[object, ...]) -> Article:
    first_seen = from_db_time(str(row[7]))
    assert first_seen is not None
    return Article(
        key=str(row[0]),
        source=str(row[1]),
        title=str(row[2]),
        link=str(row[3]),
        text=str(row[4]),
        hashtags=tuple(json.loads(str(row[5]))),
        published=from_db_time(row[6] if isinstance(row[6], str) else None),
        first_seen=first_seen,
        image_url=str(row[8]),
        summary=str(row[9]),
        image_alt=str(row[10]),
    )


_SOURCE_STATE_COLUMNS = (
    "name, etag, last_modified, primed, last_poll, last_success, next_poll, failures, last_error, paused"
)


def _source_state_from_row(row: Sequence[object]) -> SourceState:
    return SourceState(
        name=str(row[0]),
        etag=str(row[1]),
        last_modified=str(row[2]),
        primed=bool(row[3]),
        last_poll=from_db_time(row[4] if isinstance(row[4], str) else None),
        last_success=from_db_time(row[5] if isinstance(row[5], str) else None),
        next_poll=from_db_time(row[6] if isinstance(row[6], str) else None),
        failures=int(str(row[7])),
        last_error=str(row[8]),
        paused=bool(row[9]),
    )


# How many times a source was added to or removed from the state: polling reads the state's sources again only
# when it changed (50,000 of them take 0.4 s to read, every poll check). Bumped in the transaction that changes them.
SOURCES_CHANGES_KEY = "sources.changes"


def url_key(url: str) -> str:
    """What makes an added source's URL unique (`added_sources.url_key`, schema 20): its SHA-256, of the URL exactly
    as given (a short key fits a unique index on either backend, however long the URL)."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


def key_prefix_pattern(prefix: str) -> str:
    """The LIKE pattern of the article keys that start with `prefix`, for `LOWER(key) LIKE ?`: lower-cased on both
    sides (SQLite's LIKE ignores ASCII case, PostgreSQL's does not), and no wildcard or escape character
    (PostgreSQL's is the backslash) from the user's text."""
    return re.sub(r"[%_\\]", "", prefix.strip()).lower() + "%"


class ArticlesPart(StorePart):
    def find_article_key(self, aliases: Iterable[str]) -> str | None:
        """The key of a known article that shares any of these identities."""
        for alias in aliases:
            row = self._db.execute("SELECT article_key FROM article_aliases WHERE alias = ?", (alias,)).fetchone()
            if row is not None:
                return str(row[0])
        return None

    def find_article_keys(self, aliases: Sequence[str]) -> dict[str, str]:
        """alias -> article key, for those of `aliases` that are known (one query per 500 aliases)."""
        found: dict[str, str] = {}
        for start in range(0, len(aliases), 500):
            chunk = aliases[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            rows = self._db.execute(
                f"SELECT alias, article_key FROM article_aliases WHERE alias IN ({marks})", chunk
            ).fetchall()
            found.update((str(r[0]), str(r[1])) for r in rows)
        return found

    def add_article(self, article: Article) -> None:
        self.add_articles([article])

    def add_articles(self, articles: Sequence[Article]) -> None:
        """New articles and their aliases, in one statement each (a feed's backlog arrives in one go)."""
        with self.transaction():
            self._db.executemany(
                "INSERT INTO articles"
                " (key, source, title, link, text, hashtags, published, first_seen, image_url, image_alt)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        article.key,
                        article.source,
                        article.title,
                        article.link,
                        article.text,
                        json.dumps(list(article.hashtags), ensure_ascii=False),
                        to_db_time(article.published) if article.published else None,
                        to_db_time(article.first_seen),
                        article.image_url,
                        article.image_alt,
                    )
                    for article in articles
                ],
            )
            self._db.executemany(
                "INSERT INTO article_aliases (alias, article_key) VALUES (?, ?) ON CONFLICT (alias) DO NOTHING",
                [(alias, article.key) for article in articles for alias in article.aliases],
            )

    def add_aliases(self, article_key: str, aliases: Iterable[str]) -> None:
        with self.transaction():
            self._db.executemany(
                "INSERT INTO article_aliases (alias, article_key) VALUES (?, ?) ON CONFLICT (alias) DO NOTHING",
                [(alias, article_key) for alias in aliases],
            )

    def get_article(self, key: str) -> Article | None:
        row = self._db.execute(
            f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.key = ?",
            (key,),
        ).fetchone()
        return None if row is None else article_from_row(row)

    def find_articles(self, key_prefix: str, limit: int = 5) -> list[Article]:
        """Articles whose key starts with `key_prefix`, for commands that take a short key."""
        rows = self._db.execute(
            f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE LOWER(a.key) LIKE ? ORDER BY a.first_seen DESC LIMIT ?",
            (key_prefix_pattern(key_prefix), limit),
        ).fetchall()
        return [article_from_row(row) for row in rows]

    def recent_articles(self, limit: int, channel: str | None = None) -> list[Article]:
        """Newest first; with `channel`, only articles that were routed to it."""
        if channel is None:
            rows = self._db.execute(
                f"SELECT {ARTICLE_COLUMNS} FROM articles a ORDER BY a.first_seen DESC, a.key LIMIT ?", (limit,)
            ).fetchall()
        else:
            rows = self._db.execute(
                f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE EXISTS"
                " (SELECT 1 FROM outbox o WHERE o.article_key = a.key AND o.channel = ?)"
                " ORDER BY a.first_seen DESC, a.key LIMIT ?",
                (channel, limit),
            ).fetchall()
        return [article_from_row(row) for row in rows]

    def hashtags_seen(self, since: datetime, channel: str) -> list[tuple[str, int]]:
        """The hashtags of the articles first seen after `since` and routed to `channel`, most used first.

        Each comes once (compared case-insensitively) in the spelling it was first seen in, with the number of
        articles that carry it. One grouped query: the rows are distinct spellings, not articles.
        """
        rows = self._db.execute(
            f"SELECT t.value, COUNT(*), MIN(a.first_seen) FROM articles a, {self._db.json_values('a.hashtags', 't')}"
            " WHERE a.first_seen > ? AND EXISTS"
            " (SELECT 1 FROM outbox o WHERE o.article_key = a.key AND o.channel = ?)"
            " GROUP BY t.value",
            (to_db_time(since), channel),
        ).fetchall()
        counts: dict[str, int] = {}
        first: dict[str, tuple[str, str]] = {}  # key -> (first seen, spelling)
        for value, count, first_seen in rows:
            tag = str(value).lstrip("#")
            key = normalize_tag(tag)
            if not key:
                continue
            counts[key] = counts.get(key, 0) + int(count)
            first[key] = min(first.get(key, (str(first_seen), tag)), (str(first_seen), tag))
        ranked = sorted(counts, key=lambda key: (-counts[key], key))
        return [(first[key][1], counts[key]) for key in ranked]

    # -- sources: their poll state, and those added from chat -----------------------------------

    def source_state(self, name: str) -> SourceState:
        return self.source_states([name])[name]

    def source_states(self, names: Sequence[str]) -> dict[str, SourceState]:
        """name -> poll state, for each of `names` (a fresh state for one never polled); one query per 500 names."""
        found = {name: SourceState(name=name) for name in names}
        for start in range(0, len(names), 500):
            chunk = names[start : start + 500]
            rows = self._db.execute(
                f"SELECT {_SOURCE_STATE_COLUMNS} FROM sources WHERE name IN ({', '.join('?' for _ in chunk)})", chunk
            ).fetchall()
            found.update((str(row[0]), _source_state_from_row(row)) for row in rows)
        return found

    def due_source_names(self, now: datetime) -> list[str]:
        """The sources (with a poll state row) due at `now` and not paused, the longest overdue first (those never
        polled before them): read through the `sources_due` index, so a check costs the due rows, not all rows."""
        stamp = to_db_time(now)
        never = self._db.execute("SELECT name FROM sources WHERE next_poll IS NULL AND paused = 0").fetchall()
        due = self._db.execute(
            "SELECT name FROM sources WHERE next_poll <= ? AND paused = 0 ORDER BY next_poll, name", (stamp,)
        ).fetchall()
        return [str(row[0]) for row in [*never, *due]]

    def add_source_states(self, names: Iterable[str]) -> None:
        """A poll state row (never polled, due at once) for each of `names` that has none."""
        with self.transaction():
            self._db.executemany(
                "INSERT INTO sources (name) VALUES (?) ON CONFLICT (name) DO NOTHING", ((name,) for name in names)
            )

    def claim_sources(self, names: Sequence[str], now: datetime, lease: Lease) -> list[str]:
        """Of `names`, those due to be polled now and under no one else's live lease, claimed for `lease`'s worker
        (saving the poll's outcome, `save_source_state`, ends the lease): one worker at a time polls a source."""
        if not names:
            return []
        stamp = to_db_time(now)
        marks = ", ".join("?" for _ in names)
        with self.transaction():
            self._db.executemany(
                "INSERT INTO sources (name) VALUES (?) ON CONFLICT (name) DO NOTHING", ((name,) for name in names)
            )
            rows = self._db.execute(
                f"SELECT name FROM sources WHERE name IN ({marks}) AND paused = 0"
                " AND (next_poll IS NULL OR next_poll <= ?)"
                f" AND (lease_until IS NULL OR lease_until <= ? OR lease_owner = ?){self._db.claim_clause('sources')}",
                (*names, stamp, self._db.lease_cutoff(stamp), lease.worker),
            ).fetchall()
            claimed = {str(r[0]) for r in rows}
            self._db.executemany(
                "UPDATE sources SET lease_owner = ?, lease_until = ? WHERE name = ?",
                ((lease.worker, to_db_time(lease.until(now)), name) for name in claimed),
            )
        return [name for name in names if name in claimed]

    def save_source_state(self, state: SourceState) -> None:
        self.save_source_states([state])

    def save_source_states(self, states: Sequence[SourceState]) -> None:
        """Record polls (ending their leases), in one statement: a poll check's unchanged sources land together."""

        def t(moment: datetime | None) -> str | None:
            return to_db_time(moment) if moment else None

        with self.transaction():
            self._db.executemany(
                "INSERT INTO sources (name, etag, last_modified, primed, last_poll, last_success, next_poll,"
                " failures, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified,"
                " primed = excluded.primed, last_poll = excluded.last_poll, last_success = excluded.last_success,"
                " next_poll = excluded.next_poll, failures = excluded.failures, last_error = excluded.last_error,"
                " lease_owner = '', lease_until = NULL",
                [
                    (
                        state.name,
                        state.etag,
                        state.last_modified,
                        int(state.primed),
                        t(state.last_poll),
                        t(state.last_success),
                        t(state.next_poll),
                        state.failures,
                        state.last_error,
                    )
                    for state in states
                ],
            )

    def set_source_paused(self, name: str, paused: bool) -> None:
        """Pause a source (`claim_sources` skips it, its poll state is kept) or resume it (polled when due)."""
        with self.transaction():
            self._db.execute(
                "INSERT INTO sources (name, paused) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET paused = excluded.paused",
                (name, int(paused)),
            )

    def add_source(self, source: AddedSource) -> bool:
        """Add `source`; False (nothing changed) when its name or its URL was taken meanwhile (by another worker or
        admin: `added_source_with_url` says which source has the URL). The unique index on `url_key` decides, so of
        two admins adding one URL at once exactly one adds it."""
        with self.transaction():
            added = (
                self._db.execute(
                    "INSERT INTO added_sources (name, url, hashtags, added_by, added_at, url_key)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (
                        source.name,
                        source.url,
                        json.dumps(list(source.hashtags)),
                        source.added_by,
                        to_db_time(source.added_at),
                        url_key(source.url),
                    ),
                ).rowcount
                == 1
            )
            if added:
                self._db.execute(COUNT_UP_SQL, (SOURCES_CHANGES_KEY,))
            return added

    def added_source_with_url(self, url: str) -> str:
        """The name of the added source whose URL is exactly `url`; "" if none."""
        row = self._db.execute("SELECT name FROM added_sources WHERE url_key = ?", (url_key(url),)).fetchone()
        return "" if row is None else str(row[0])

    def remove_source(self, name: str) -> bool:
        with self.transaction():
            removed = self._db.execute("DELETE FROM added_sources WHERE name = ?", (name,)).rowcount > 0
            if removed:  # a later source may get the same name: it starts unpaused
                self._db.execute("UPDATE sources SET paused = 0 WHERE name = ?", (name,))
                self._db.execute(COUNT_UP_SQL, (SOURCES_CHANGES_KEY,))
            return removed

    def added_sources_changes(self) -> int:
        """How many times a source was added or removed so far: a read, cheap enough every poll check."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (SOURCES_CHANGES_KEY,)).fetchone()
        return 0 if row is None else int(row[0])

    def added_sources(self) -> list[AddedSource]:
        rows = self._db.execute(
            "SELECT name, url, hashtags, added_by, added_at FROM added_sources ORDER BY added_at, name"
        ).fetchall()
        return [AddedSource(str(r[0]), str(r[1]), tuple(json.loads(str(r[2]))), str(r[3]), db_time(r[4])) for r in rows]
