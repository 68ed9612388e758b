"""State: articles seen, source poll state, and the outbox/ledger. All SQL of newsbot lives here.

SQLite in WAL mode, one connection per process. The schema is versioned: `MIGRATIONS[i]` moves a database
from version i to i+1 (an SQL script, or a function when rows must be merged), and `open_store` applies what is
missing inside a transaction. The SQL is plain (no SQLite-only functions in queries) so a PostgreSQL `Store` can
implement the same methods later.

Email addresses are one per mailbox: the store lower-cases every email address it is given (as
`bot.addresses.parse_address` does), so a link signed for `Bob@Example.NET` before addresses were lower-cased
still finds `bob@example.net`.

The ledger rule: one outbox row per (article, channel, recipient). A row becomes `sent` only after the
publisher returned a receipt, so a crash between the two re-sends at most the item in flight.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.errors import NewsbotError
from bot.hashtags import normalize as normalize_tag
from bot.models import Article

PENDING, SENT, FAILED, SKIPPED = "pending", "sent", "failed", "skipped"
AWAITING_CONFIRMATION = "awaiting confirmation"  # status_reason of an email sign-up whose link was not clicked yet
PAUSED_KEY = "publishing.paused"  # "1" while an admin has paused publishing
DIGEST_REQUEST_KEY = "digest.requested"  # set by an admin's /digest send; the digest job sends and clears it
# Sent, but no answer came back and it could not be checked: an admin decides (/post to send again, /skip if it
# did go out). Never retried by itself, so nothing is posted twice silently.
UNKNOWN = "unknown"
STATES = (PENDING, SENT, FAILED, SKIPPED, UNKNOWN)


def blocked_until_key(channel: str) -> str:
    """Meta key: when the channel's rate limit resets (kept so a restarted process waits too)."""
    return f"{channel}.blocked_until"


def unauthorized_key(channel: str) -> str:
    """Meta key: why the channel's credentials were refused ("" once newsbot starts again)."""
    return f"{channel}.unauthorized"


EMAIL = "email"
Migration = str | Callable[[sqlite3.Connection], None]  # an SQL script, or a step that needs Python


def _migrate_to_5(db: sqlite3.Connection) -> None:
    """4 -> 5: one subscriber per mailbox (see `_merge_mailbox_duplicates`), and the table of limited events."""
    _run_script(
        db,
        """
        CREATE TABLE rate_events (kind TEXT NOT NULL, key TEXT NOT NULL, at TEXT NOT NULL);
        CREATE INDEX rate_events_key ON rate_events (kind, key, at);
        """,
    )
    _merge_mailbox_duplicates(db)


MIGRATIONS: tuple[Migration, ...] = (
    # 0 -> 1: the spine
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE articles (
        key TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        title TEXT NOT NULL,
        link TEXT NOT NULL,
        text TEXT NOT NULL,
        hashtags TEXT NOT NULL,
        published TEXT,
        first_seen TEXT NOT NULL,
        image_url TEXT NOT NULL
    );
    CREATE INDEX articles_first_seen ON articles (first_seen);
    CREATE TABLE article_aliases (
        alias TEXT PRIMARY KEY,
        article_key TEXT NOT NULL REFERENCES articles (key)
    );
    CREATE TABLE sources (
        name TEXT PRIMARY KEY,
        etag TEXT NOT NULL DEFAULT '',
        last_modified TEXT NOT NULL DEFAULT '',
        primed INTEGER NOT NULL DEFAULT 0,
        last_poll TEXT,
        last_success TEXT,
        next_poll TEXT,
        failures INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        article_key TEXT NOT NULL REFERENCES articles (key),
        channel TEXT NOT NULL,
        recipient TEXT NOT NULL,
        route TEXT NOT NULL,
        template TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL,
        not_before TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        remote_id TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (article_key, channel, recipient)
    );
    CREATE INDEX outbox_due ON outbox (channel, state, not_before);
    CREATE INDEX outbox_route ON outbox (route, channel, state);
    """,
    # 1 -> 2: subscribers (Telegram chats now, email addresses later) and sources added from chat
    """
    CREATE TABLE subscribers (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        address TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        status_reason TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (channel, address)
    );
    CREATE INDEX subscribers_active ON subscribers (channel, active);
    CREATE TABLE subscriber_tags (
        subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
        tag_key TEXT NOT NULL,
        tag TEXT NOT NULL,
        PRIMARY KEY (subscriber_id, tag_key)
    );
    CREATE INDEX subscriber_tags_key ON subscriber_tags (tag_key);
    CREATE TABLE added_sources (
        name TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        hashtags TEXT NOT NULL,
        added_by TEXT NOT NULL,
        added_at TEXT NOT NULL
    );
    CREATE INDEX outbox_updated ON outbox (channel, updated_at);
    """,
    # 2 -> 3: what a half-sent thread already posted, so it resumes instead of starting over
    """
    ALTER TABLE outbox ADD COLUMN progress TEXT NOT NULL DEFAULT '';
    CREATE INDEX outbox_state ON outbox (channel, state, updated_at);
    """,
    # 3 -> 4: email subscriptions (double opt-in) and the digest ledger, one row per (digest, recipient)
    """
    ALTER TABLE subscribers ADD COLUMN name TEXT NOT NULL DEFAULT '';
    ALTER TABLE subscribers ADD COLUMN confirmed_at TEXT;
    ALTER TABLE subscribers ADD COLUMN last_digest_at TEXT;
    ALTER TABLE subscribers ADD COLUMN linked_chat TEXT NOT NULL DEFAULT '';
    CREATE TABLE digests (
        id TEXT PRIMARY KEY,
        period_end TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE digest_deliveries (
        digest_id TEXT NOT NULL REFERENCES digests (id),
        address TEXT NOT NULL,
        state TEXT NOT NULL,
        not_before TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        unknown_outcomes INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        message_id TEXT NOT NULL DEFAULT '',
        article_count INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (digest_id, address)
    );
    CREATE INDEX digest_deliveries_due ON digest_deliveries (state, not_before);
    """,
    _migrate_to_5,
    # 5 -> 6: each sign-up request on its own, so that its confirmation link confirms what it asked for
    """
    CREATE TABLE email_sign_ups (
        id INTEGER PRIMARY KEY,
        address TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        hashtags TEXT NOT NULL DEFAULT '[]',
        linked_chat TEXT NOT NULL DEFAULT '',
        requested_at TEXT NOT NULL
    );
    CREATE INDEX email_sign_ups_address ON email_sign_ups (address);
    """,
)


class StoreError(NewsbotError):
    """The state database cannot be opened or written."""


BUSY_TIMEOUT_SECONDS = 10.0  # how long a write waits for another process's write lock on the state file


def write_error(path: Path, exc: sqlite3.DatabaseError) -> StoreError:
    """A StoreError that says what went wrong with the state file and what to do; the ledger is unchanged."""
    reason = str(exc)
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in reason:
        return StoreError(
            f"state file {path}: another process is writing to it ({reason}); nothing was written. Stop the other"
            " process (e.g. a `newsbot subscribers import` or an sqlite3 shell) and try again"
        )
    if name.startswith("SQLITE_FULL") or "full" in reason:
        return StoreError(f"state file {path}: the disk is full ({reason}); nothing was written. Free some space")
    if name.startswith("SQLITE_READONLY") or "readonly" in reason:
        return StoreError(
            f"state file {path}: cannot write to it ({reason}); check the permissions of the file and its folder"
        )
    return StoreError(f"state file {path}: cannot use it ({reason}); check that the disk and the folder are writable")


def _stored(channel: str, address: str) -> str:
    """An address as the store keeps it: email addresses lower-cased (one mailbox, one row), others as given."""
    return address.lower() if channel == EMAIL else address


AWAITING_CONFIRMATION = "awaiting confirmation"  # the status_reason of an email sign-up (the SQL below spells it out)


def to_db_time(moment: datetime) -> str:
    """A fixed-width UTC timestamp, so that text comparison is time comparison."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the store; pass a timezone-aware time")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_db_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


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


@dataclass(frozen=True, slots=True)
class Subscriber:
    channel: str
    address: str  # Telegram chat id, or an email address
    hashtags: tuple[str, ...]  # as written; empty means "everything routed to subscribers"
    active: bool
    status_reason: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EmailSubscriber:
    address: str
    name: str
    hashtags: tuple[str, ...]
    active: bool  # confirmed and not unsubscribed or bounced
    confirmed_at: datetime | None
    last_digest_at: datetime | None
    status_reason: str
    linked_chat: str

    @property
    def awaiting_confirmation(self) -> bool:
        """Signed up, and the confirmation link not used yet (nor made void by unsubscribing since)."""
        return not self.active and self.status_reason == AWAITING_CONFIRMATION


@dataclass(frozen=True, slots=True)
class SignUpRequest:
    """What one sign-up asked for (`add_sign_up_request`)."""

    name: str
    hashtags: tuple[str, ...]
    linked_chat: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """One digest for one recipient, as the ledger holds it."""

    digest_id: str
    address: str
    state: str
    not_before: datetime
    attempts: int
    unknown_outcomes: int
    last_error: str
    message_id: str
    period_end: datetime


@dataclass(frozen=True, slots=True)
class AddedSource:
    name: str
    url: str
    hashtags: tuple[str, ...]
    added_by: str
    added_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """An (article, channel, recipient) to publish, as the router asks for it."""

    article_key: str
    channel: str
    recipient: str
    route: str
    template: str
    not_before: datetime


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    article_key: str
    channel: str
    recipient: str
    route: str
    template: str
    state: str
    not_before: datetime
    attempts: int
    last_error: str
    remote_id: str
    progress: tuple[str, ...] = ()  # remote ids of the parts already posted (threads)


_OUTBOX_COLUMNS = (
    "id, article_key, channel, recipient, route, template, state, not_before, attempts, last_error, remote_id, progress"
)


class SqliteStore:
    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    # -- lifecycle --------------------------------------------------------------------------------

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several writes so they land together or not at all."""
        if self._db.in_transaction:
            yield
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise write_error(self.path, exc) from None
        try:
            yield
            self._db.commit()
        except BaseException as exc:
            if self._db.in_transaction:
                self._db.rollback()
            if isinstance(exc, sqlite3.DatabaseError):  # locked, disk full, I/O error: nothing was written
                raise write_error(self.path, exc) from None
            raise

    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    # -- meta -------------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def is_paused(self) -> bool:
        return self.get_meta(PAUSED_KEY) == "1"

    def set_paused(self, paused: bool) -> None:
        self.set_meta(PAUSED_KEY, "1" if paused else "0")

    # -- articles ---------------------------------------------------------------------------------

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
                "INSERT INTO articles (key, source, title, link, text, hashtags, published, first_seen, image_url)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            "SELECT key, source, title, link, text, hashtags, published, first_seen, image_url"
            " FROM articles WHERE key = ?",
            (key,),
        ).fetchone()
        return None if row is None else _article(row)

    def find_articles(self, key_prefix: str, limit: int = 5) -> list[Article]:
        """Articles whose key starts with `key_prefix`, for commands that take a short key."""
        rows = self._db.execute(
            "SELECT key, source, title, link, text, hashtags, published, first_seen, image_url"
            " FROM articles WHERE key LIKE ? ORDER BY first_seen DESC LIMIT ?",
            (key_prefix.replace("%", "").replace("_", "") + "%", limit),
        ).fetchall()
        return [_article(row) for row in rows]

    def count_articles(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM articles").fetchone()[0])

    # -- sources ----------------------------------------------------------------------------------

    def source_state(self, name: str) -> SourceState:
        row = self._db.execute(
            "SELECT name, etag, last_modified, primed, last_poll, last_success, next_poll, failures, last_error"
            " FROM sources WHERE name = ?",
            (name,),
        ).fetchone()
        if row is None:
            return SourceState(name=name)
        return SourceState(
            name=row[0],
            etag=row[1],
            last_modified=row[2],
            primed=bool(row[3]),
            last_poll=from_db_time(row[4]),
            last_success=from_db_time(row[5]),
            next_poll=from_db_time(row[6]),
            failures=int(row[7]),
            last_error=row[8],
        )

    def save_source_state(self, state: SourceState) -> None:
        def t(moment: datetime | None) -> str | None:
            return to_db_time(moment) if moment else None

        with self.transaction():
            self._db.execute(
                "INSERT INTO sources (name, etag, last_modified, primed, last_poll, last_success, next_poll,"
                " failures, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified,"
                " primed = excluded.primed, last_poll = excluded.last_poll, last_success = excluded.last_success,"
                " next_poll = excluded.next_poll, failures = excluded.failures, last_error = excluded.last_error",
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
                ),
            )

    # -- outbox / ledger --------------------------------------------------------------------------

    def enqueue(self, items: Iterable[OutboxItem], now: datetime) -> int:
        """Add outbox rows; an (article, channel, recipient) already present is left as it is.

        Returns how many rows were new.
        """
        stamp = to_db_time(now)
        with self.transaction():
            before = self._db.total_changes
            self._db.executemany(
                "INSERT INTO outbox (article_key, channel, recipient, route, template, state, not_before,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (article_key, channel, recipient) DO NOTHING",
                (
                    (
                        i.article_key,
                        i.channel,
                        i.recipient,
                        i.route,
                        i.template,
                        PENDING,
                        to_db_time(i.not_before),
                        stamp,
                        stamp,
                    )
                    for i in items
                ),
            )
            return self._db.total_changes - before

    def due_article_keys(self, channel: str, now: datetime, limit: int, *, newest_first: bool = False) -> list[str]:
        """Articles with pending rows on `channel` that may go out now: first queued first, or newest first."""
        # Newest: by the article's publication time (a backfill queues the newest story first).
        newest = "(SELECT a.published FROM articles a WHERE a.key = outbox.article_key) DESC, MAX(id) DESC"
        order = newest if newest_first else "MIN(id)"
        rows = self._db.execute(
            "SELECT article_key FROM outbox WHERE channel = ? AND state = ? AND not_before <= ?"
            f" GROUP BY article_key ORDER BY {order} LIMIT ?",
            (channel, PENDING, to_db_time(now), limit),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def due_rows(
        self, channel: str, article_key: str, now: datetime, after_id: int = 0, limit: int = 500
    ) -> list[OutboxRow]:
        """Pending rows of one article on one channel, in batches (`after_id` pages on)."""
        rows = self._db.execute(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE channel = ? AND article_key = ? AND state = ?"
            " AND not_before <= ? AND id > ? ORDER BY id LIMIT ?",
            (channel, article_key, PENDING, to_db_time(now), after_id, limit),
        ).fetchall()
        return [_outbox_row(r) for r in rows]

    def rows_for_article(self, article_key: str) -> list[OutboxRow]:
        rows = self._db.execute(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE article_key = ? ORDER BY id", (article_key,)
        ).fetchall()
        return [_outbox_row(r) for r in rows]

    def pending_rows(self, channel: str, limit: int = 1000) -> list[OutboxRow]:
        """Pending rows of a channel whatever their time, oldest first (the digest collects these)."""
        rows = self._db.execute(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE channel = ? AND state = ? ORDER BY id LIMIT ?",
            (channel, PENDING, limit),
        ).fetchall()
        return [_outbox_row(r) for r in rows]

    def due_slotted_rows(self, route: str, channel: str, now: datetime) -> list[OutboxRow]:
        rows = self._db.execute(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE route = ? AND channel = ? AND state = ?"
            " AND not_before <= ? ORDER BY id",
            (route, channel, PENDING, to_db_time(now)),
        ).fetchall()
        return [_outbox_row(r) for r in rows]

    def mark_unknown(self, row_id: int, reason: str, now: datetime) -> None:
        self._finish(row_id, UNKNOWN, now, error=reason)

    def save_progress(self, row_id: int, remote_ids: Sequence[str], now: datetime) -> None:
        """Remember the parts of a thread already posted, so a retry continues after them."""
        with self.transaction():
            self._db.execute(
                "UPDATE outbox SET progress = ?, updated_at = ? WHERE id = ?",
                (",".join(remote_ids), to_db_time(now), row_id),
            )

    def sent_since(self, channel: str, since: datetime) -> tuple[int, datetime | None]:
        """How many rows of `channel` were sent since `since`, and when the last one was."""
        row = self._db.execute(
            "SELECT COUNT(*), MAX(updated_at) FROM outbox WHERE channel = ? AND state = ? AND updated_at >= ?",
            (channel, SENT, to_db_time(since)),
        ).fetchone()
        return int(row[0]), from_db_time(row[1])

    def mark_sent(self, row_id: int, remote_id: str, now: datetime) -> None:
        self._finish(row_id, SENT, now, remote_id=remote_id)

    def mark_failed(self, row_id: int, reason: str, now: datetime) -> None:
        self._finish(row_id, FAILED, now, error=reason)

    def mark_skipped(self, row_id: int, reason: str, now: datetime) -> None:
        self._finish(row_id, SKIPPED, now, error=reason)

    def defer(self, row_id: int, not_before: datetime, reason: str, now: datetime, *, count_attempt: bool) -> None:
        """Keep the row pending, to be tried again at `not_before`."""
        with self.transaction():
            self._db.execute(
                "UPDATE outbox SET not_before = ?, last_error = ?, attempts = attempts + ?, updated_at = ?"
                " WHERE id = ?",
                (to_db_time(not_before), reason, int(count_attempt), to_db_time(now), row_id),
            )

    def _finish(self, row_id: int, state: str, now: datetime, *, remote_id: str = "", error: str = "") -> None:
        with self.transaction():
            self._db.execute(
                "UPDATE outbox SET state = ?, remote_id = ?, last_error = ?, updated_at = ? WHERE id = ?",
                (state, remote_id, error, to_db_time(now), row_id),
            )

    def enqueue_for_subscribers(
        self,
        article_key: str,
        channel: str,
        hashtags: Iterable[str],
        *,
        route: str,
        template: str,
        not_before: datetime,
        now: datetime,
    ) -> int:
        """One outbox row per active subscriber of `channel` who follows any of `hashtags` or follows everything.

        Done in the database, so memory stays flat however many subscribers there are. Returns rows added.
        """
        keys = sorted({normalize_tag(t) for t in hashtags})
        marks = ", ".join("?" for _ in keys) or "NULL"
        stamp = to_db_time(now)
        with self.transaction():
            before = self._db.total_changes
            self._db.execute(
                "INSERT INTO outbox (article_key, channel, recipient, route, template, state, not_before,"
                " created_at, updated_at)"
                " SELECT ?, ?, s.address, ?, ?, ?, ?, ?, ? FROM subscribers s"
                " WHERE s.channel = ? AND s.active = 1 AND ("
                "  NOT EXISTS (SELECT 1 FROM subscriber_tags t WHERE t.subscriber_id = s.id)"
                f"  OR EXISTS (SELECT 1 FROM subscriber_tags t WHERE t.subscriber_id = s.id AND t.tag_key IN ({marks}))"
                " ) ORDER BY s.id"
                " ON CONFLICT (article_key, channel, recipient) DO NOTHING",
                (article_key, channel, route, template, PENDING, to_db_time(not_before), stamp, stamp, channel, *keys),
            )
            return self._db.total_changes - before

    def skip_pending(self, article_key: str, reason: str, now: datetime) -> int:
        """Mark every pending row of an article skipped (an admin's /skip). Returns how many."""
        with self.transaction():
            cursor = self._db.execute(
                "UPDATE outbox SET state = ?, last_error = ?, updated_at = ? WHERE article_key = ? AND state IN (?, ?)",
                (SKIPPED, reason, to_db_time(now), article_key, PENDING, UNKNOWN),
            )
            return cursor.rowcount

    def release_now(self, article_key: str, now: datetime) -> int:
        """Make an article's pending rows due at once (an admin's /post); rows of unknown outcome are queued
        again, as the admin has checked they did not go out. Returns how many."""
        with self.transaction():
            cursor = self._db.execute(
                "UPDATE outbox SET state = ?, not_before = ?, updated_at = ? WHERE article_key = ? AND state IN (?, ?)",
                (PENDING, to_db_time(now), to_db_time(now), article_key, PENDING, UNKNOWN),
            )
            return cursor.rowcount

    def pending_articles(self, limit: int = 20) -> list[tuple[str, str, int, datetime]]:
        """(article key, channel, pending rows, earliest time due) of the queue, soonest first."""
        rows = self._db.execute(
            "SELECT article_key, channel, COUNT(*), MIN(not_before) FROM outbox WHERE state = ?"
            " GROUP BY article_key, channel ORDER BY MIN(not_before), article_key LIMIT ?",
            (PENDING, limit),
        ).fetchall()
        return [(str(r[0]), str(r[1]), int(r[2]), _time(r[3])) for r in rows]

    def rows_in_state(self, state: str, limit: int = 20) -> list[OutboxRow]:
        """Rows in one state, most recently changed first (for admins: the ones of unknown outcome)."""
        rows = self._db.execute(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE state = ? ORDER BY updated_at DESC, id DESC LIMIT ?",
            (state, limit),
        ).fetchall()
        return [_outbox_row(r) for r in rows]

    def outcome_counts_since(self, since: datetime) -> dict[tuple[str, str], int]:
        """(channel, state) -> rows finished since `since` (for /stats)."""
        rows = self._db.execute(
            "SELECT channel, state, COUNT(*) FROM outbox WHERE updated_at >= ? AND state != ? GROUP BY channel, state",
            (to_db_time(since), PENDING),
        ).fetchall()
        return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}

    def recent_articles(self, limit: int, channel: str | None = None) -> list[Article]:
        """Newest first; with `channel`, only articles that were routed to it."""
        columns = "a.key, a.source, a.title, a.link, a.text, a.hashtags, a.published, a.first_seen, a.image_url"
        if channel is None:
            rows = self._db.execute(
                f"SELECT {columns} FROM articles a ORDER BY a.first_seen DESC, a.key LIMIT ?", (limit,)
            ).fetchall()
        else:
            rows = self._db.execute(
                f"SELECT {columns} FROM articles a WHERE EXISTS"
                " (SELECT 1 FROM outbox o WHERE o.article_key = a.key AND o.channel = ?)"
                " ORDER BY a.first_seen DESC, a.key LIMIT ?",
                (channel, limit),
            ).fetchall()
        return [_article(row) for row in rows]

    def hashtags_seen(self, since: datetime, channel: str) -> list[tuple[str, int]]:
        """The hashtags of the articles first seen after `since` and routed to `channel`, most used first.

        Each comes once (compared case-insensitively) in the spelling it was first seen in, with the number of
        articles that carry it. One grouped query: the rows are distinct spellings, not articles.
        """
        rows = self._db.execute(
            "SELECT t.value, COUNT(*), MIN(a.first_seen) FROM articles a, json_each(a.hashtags) t"
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

    # -- subscribers ------------------------------------------------------------------------------

    def subscribe(self, channel: str, address: str, now: datetime) -> bool:
        """Add or re-activate a subscriber. True if they were not an active subscriber before."""
        address = _stored(channel, address)
        with self.transaction():
            current = self._db.execute(
                "SELECT active FROM subscribers WHERE channel = ? AND address = ?", (channel, address)
            ).fetchone()
            self._db.execute(
                "INSERT INTO subscribers (channel, address, active, status_reason, created_at, updated_at)"
                " VALUES (?, ?, 1, '', ?, ?) ON CONFLICT (channel, address) DO UPDATE SET active = 1,"
                " status_reason = '', updated_at = excluded.updated_at",
                (channel, address, to_db_time(now), to_db_time(now)),
            )
            return current is None or not current[0]

    def deactivate_subscriber(self, channel: str, address: str, reason: str, now: datetime) -> bool:
        """Stop sending to a subscriber (they left, blocked the bot, bounced). True if they were active."""
        address = _stored(channel, address)
        with self.transaction():
            cursor = self._db.execute(
                "UPDATE subscribers SET active = 0, status_reason = ?, updated_at = ?"
                " WHERE channel = ? AND address = ? AND active = 1",
                (reason, to_db_time(now), channel, address),
            )
            return cursor.rowcount > 0

    def subscriber(self, channel: str, address: str) -> Subscriber | None:
        row = self._db.execute(
            "SELECT id, channel, address, active, status_reason, created_at FROM subscribers"
            " WHERE channel = ? AND address = ?",
            (channel, _stored(channel, address)),
        ).fetchone()
        return None if row is None else self._subscriber(row)

    def _subscriber(self, row: tuple[object, ...]) -> Subscriber:
        tags = self._db.execute(
            "SELECT tag FROM subscriber_tags WHERE subscriber_id = ? ORDER BY tag_key", (row[0],)
        ).fetchall()
        return Subscriber(
            channel=str(row[1]),
            address=str(row[2]),
            hashtags=tuple(str(t[0]) for t in tags),
            active=bool(row[3]),
            status_reason=str(row[4]),
            created_at=_time(row[5]),
        )

    def set_subscriber_tags(self, channel: str, address: str, tags: Iterable[str], now: datetime) -> None:
        """Replace a subscriber's hashtags (an empty list means: everything)."""
        with self.transaction():
            subscriber_id = self._subscriber_id(channel, address, now)
            self._db.execute("DELETE FROM subscriber_tags WHERE subscriber_id = ?", (subscriber_id,))
            self._insert_tags(subscriber_id, tags)

    def add_subscriber_tags(self, channel: str, address: str, tags: Iterable[str], now: datetime) -> None:
        with self.transaction():
            self._insert_tags(self._subscriber_id(channel, address, now), tags)

    def remove_subscriber_tags(self, channel: str, address: str, tags: Iterable[str], now: datetime) -> None:
        with self.transaction():
            subscriber_id = self._subscriber_id(channel, address, now)
            self._db.executemany(
                "DELETE FROM subscriber_tags WHERE subscriber_id = ? AND tag_key = ?",
                [(subscriber_id, normalize_tag(t)) for t in tags],
            )

    def _subscriber_id(self, channel: str, address: str, now: datetime) -> int:
        address = _stored(channel, address)
        row = self._db.execute(
            "SELECT id FROM subscribers WHERE channel = ? AND address = ?", (channel, address)
        ).fetchone()
        if row is None:
            if channel == "email":  # an email address becomes a subscriber only through double opt-in
                raise ValueError(f"no email subscriber {address!r}; use request_email_subscription")
            self.subscribe(channel, address, now)
            row = self._db.execute(
                "SELECT id FROM subscribers WHERE channel = ? AND address = ?", (channel, address)
            ).fetchone()
        return int(row[0])

    def _insert_tags(self, subscriber_id: int, tags: Iterable[str]) -> None:
        self._db.executemany(
            "INSERT INTO subscriber_tags (subscriber_id, tag_key, tag) VALUES (?, ?, ?)"
            " ON CONFLICT (subscriber_id, tag_key) DO NOTHING",
            [(subscriber_id, normalize_tag(t), t.lstrip("#")) for t in tags if normalize_tag(t)],
        )

    def count_subscribers(self, channel: str) -> dict[bool, int]:
        """active -> count."""
        rows = self._db.execute(
            "SELECT active, COUNT(*) FROM subscribers WHERE channel = ? GROUP BY active", (channel,)
        ).fetchall()
        counts = {True: 0, False: 0}
        counts.update({bool(r[0]): int(r[1]) for r in rows})
        return counts

    def iter_subscribers(self, channel: str, batch: int = 1000) -> Iterator[Subscriber]:
        """Every subscriber of a channel, in batches so memory stays flat."""
        last_id = 0
        while True:
            rows = self._db.execute(
                "SELECT id, channel, address, active, status_reason, created_at FROM subscribers"
                " WHERE channel = ? AND id > ? ORDER BY id LIMIT ?",
                (channel, last_id, batch),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield self._subscriber(row)
            last_id = int(rows[-1][0])

    def migrate_address(self, channel: str, old: str, new: str, now: datetime) -> None:
        """A chat moved (Telegram group → supergroup): its subscription and pending rows follow it."""
        with self.transaction():
            taken = self._db.execute(
                "SELECT 1 FROM subscribers WHERE channel = ? AND address = ?", (channel, new)
            ).fetchone()
            if taken is None:
                self._db.execute(
                    "UPDATE subscribers SET address = ?, updated_at = ? WHERE channel = ? AND address = ?",
                    (new, to_db_time(now), channel, old),
                )
            self._db.execute(
                "UPDATE outbox SET recipient = ?, updated_at = ? WHERE channel = ? AND recipient = ? AND state = ?"
                " AND NOT EXISTS (SELECT 1 FROM outbox o2 WHERE o2.article_key = outbox.article_key"
                " AND o2.channel = outbox.channel AND o2.recipient = ?)",
                (new, to_db_time(now), channel, old, PENDING, new),
            )

    # -- email subscriptions ----------------------------------------------------------------------

    def request_email_subscription(
        self,
        address: str,
        tags: Iterable[str],
        now: datetime,
        *,
        name: str = "",
        linked_chat: str = "",
        keep_pending_since: datetime | None = None,
    ) -> EmailSubscriber:
        """Record a sign-up awaiting confirmation (or update the hashtags of an existing one). Never confirms.

        With `keep_pending_since`, a sign-up still awaiting confirmation that was last requested after it keeps
        its name, hashtags and linked chat; only its time moves on. The web form and /email pass the moment before
        which confirmation links have expired: their links confirm their own request (`confirm_sign_up`), but a
        link sent before requests were kept confirms what this row holds, which must stay what was asked for
        then. Without it (an admin's import) the new values replace the old.
        """
        address = _stored(EMAIL, address)
        with self.transaction():
            if keep_pending_since is not None and self._pending_since(address, keep_pending_since):
                self._db.execute(
                    "UPDATE subscribers SET updated_at = ? WHERE channel = 'email' AND address = ?",
                    (to_db_time(now), address),
                )
            else:
                self._record_email_request(address, tags, now, name=name, linked_chat=linked_chat)
        found = self.email_subscriber(address)
        assert found is not None
        return found

    def add_sign_up_request(
        self,
        address: str,
        tags: Sequence[str],
        now: datetime,
        *,
        name: str = "",
        linked_chat: str = "",
        forget_before: datetime,
    ) -> int:
        """Keep one sign-up request as it was made; its id goes in its confirmation link (`confirm_sign_up`).

        Requests made before `forget_before` (whose links have expired) are dropped on the way.
        """
        with self.transaction():
            self._db.execute("DELETE FROM email_sign_ups WHERE requested_at < ?", (to_db_time(forget_before),))
            cursor = self._db.execute(
                "INSERT INTO email_sign_ups (address, name, hashtags, linked_chat, requested_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (_stored(EMAIL, address), name, json.dumps(list(tags)), linked_chat, to_db_time(now)),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def sign_up_request(self, request_id: int, address: str) -> SignUpRequest | None:
        """The request `request_id` if it was made for `address` and is still kept."""
        row = self._db.execute(
            "SELECT name, hashtags, linked_chat FROM email_sign_ups WHERE id = ? AND address = ?",
            (request_id, _stored(EMAIL, address)),
        ).fetchone()
        if row is None:
            return None
        return SignUpRequest(name=str(row[0]), hashtags=tuple(json.loads(row[1])), linked_chat=str(row[2]))

    def confirm_sign_up(self, address: str, request: SignUpRequest | None, now: datetime) -> bool:
        """`confirm_email`, with the name, hashtags and chat of `request` (None: those stored) taking effect.

        False, changing nothing, if there is no sign-up awaiting confirmation. The address's other requests go.
        """
        address = _stored(EMAIL, address)
        with self.transaction():
            subscriber = self.email_subscriber(address)
            if subscriber is None or not (subscriber.active or subscriber.awaiting_confirmation):
                return False
            if request is not None and not subscriber.active:
                self._db.execute(
                    "UPDATE subscribers SET name = ?, linked_chat = ? WHERE channel = 'email' AND address = ?",
                    (request.name, request.linked_chat, address),
                )
                self.set_subscriber_tags(EMAIL, address, request.hashtags, now)
            self._db.execute("DELETE FROM email_sign_ups WHERE address = ?", (address,))
            return self.confirm_email(address, now)

    def _pending_since(self, address: str, since: datetime) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM subscribers WHERE channel = 'email' AND address = ? AND active = 0 AND status_reason = ?"
            " AND updated_at > ?",
            (address, AWAITING_CONFIRMATION, to_db_time(since)),
        ).fetchone()
        return row is not None

    def _record_email_request(
        self, address: str, tags: Iterable[str], now: datetime, *, name: str, linked_chat: str
    ) -> None:
        self._db.execute(
            "INSERT INTO subscribers (channel, address, active, status_reason, created_at, updated_at, name,"
            " linked_chat) VALUES ('email', ?, 0, ?, ?, ?, ?, ?)"
            " ON CONFLICT (channel, address) DO UPDATE SET updated_at = excluded.updated_at,"
            " status_reason = CASE WHEN subscribers.active = 0 THEN excluded.status_reason"
            " ELSE subscribers.status_reason END,"
            " name = CASE WHEN excluded.name != '' THEN excluded.name ELSE subscribers.name END,"
            " linked_chat = CASE WHEN excluded.linked_chat != '' THEN excluded.linked_chat"
            " ELSE subscribers.linked_chat END",
            (address, AWAITING_CONFIRMATION, to_db_time(now), to_db_time(now), name, linked_chat),
        )
        self.set_subscriber_tags(EMAIL, address, tags, now)

    def confirm_email(self, address: str, now: datetime) -> bool:
        """Double opt-in done: the address gets digests. False if there is no sign-up awaiting confirmation.

        Someone who unsubscribed (or bounced) is not brought back by an old confirmation link: only a new
        sign-up puts the address back to "awaiting confirmation". Confirming twice is harmless.
        """
        with self.transaction():
            cursor = self._db.execute(
                "UPDATE subscribers SET active = 1, status_reason = '', updated_at = ?,"
                " confirmed_at = COALESCE(confirmed_at, ?) WHERE channel = 'email' AND address = ?"
                " AND (active = 1 OR status_reason = ?)",
                (to_db_time(now), to_db_time(now), _stored(EMAIL, address), AWAITING_CONFIRMATION),
            )
            return cursor.rowcount > 0

    def email_subscriber(self, address: str) -> EmailSubscriber | None:
        row = self._db.execute(
            "SELECT id, address, name, active, confirmed_at, last_digest_at, status_reason, linked_chat"
            " FROM subscribers WHERE channel = 'email' AND address = ?",
            (_stored(EMAIL, address),),
        ).fetchone()
        return None if row is None else self._email_subscriber(row)

    def _email_subscriber(self, row: tuple[object, ...]) -> EmailSubscriber:
        tags = self._db.execute(
            "SELECT tag FROM subscriber_tags WHERE subscriber_id = ? ORDER BY tag_key", (row[0],)
        ).fetchall()
        return EmailSubscriber(
            address=str(row[1]),
            name=str(row[2]),
            hashtags=tuple(str(t[0]) for t in tags),
            active=bool(row[3]),
            confirmed_at=from_db_time(row[4] if isinstance(row[4], str) else None),
            last_digest_at=from_db_time(row[5] if isinstance(row[5], str) else None),
            status_reason=str(row[6]),
            linked_chat=str(row[7]),
        )

    def iter_email_subscribers(self, *, active_only: bool = True, batch: int = 1000) -> Iterator[EmailSubscriber]:
        last_id = 0
        while True:
            rows = self._db.execute(
                "SELECT id, address, name, active, confirmed_at, last_digest_at, status_reason, linked_chat"
                " FROM subscribers WHERE channel = 'email' AND id > ? AND (active = 1 OR ? = 0) ORDER BY id LIMIT ?",
                (last_id, int(active_only), batch),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield self._email_subscriber(row)
            last_id = int(str(rows[-1][0]))

    # -- limits -----------------------------------------------------------------------------------

    def take_rate_slot(self, kind: str, key: str, now: datetime, *, limit: int, window: timedelta) -> timedelta:
        """Count one `kind` event for `key` unless `limit` were counted in the `window` up to `now`.

        Returns zero when it was counted, else how long until one would fit. Kept in the state file, in one write
        transaction, so every process that takes slots (`newsbot run`, a separate `newsbot web`) shares the count;
        events older than the window are pruned as it goes.
        """
        since = to_db_time(now - window)
        with self.transaction():
            self._db.execute("DELETE FROM rate_events WHERE kind = ? AND at <= ?", (kind, since))
            row = self._db.execute(
                "SELECT COUNT(*), MIN(at) FROM rate_events WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
            if int(row[0]) >= limit:
                return max(_time(row[1]) + window - now, timedelta(seconds=1))
            self._db.execute("INSERT INTO rate_events (kind, key, at) VALUES (?, ?, ?)", (kind, key, to_db_time(now)))
        return timedelta(0)

    # -- the digest ledger --------------------------------------------------------------------------

    def latest_digest(self) -> tuple[str, datetime] | None:
        row = self._db.execute("SELECT id, period_end FROM digests ORDER BY period_end DESC LIMIT 1").fetchone()
        return None if row is None else (str(row[0]), _time(row[1]))

    def create_digest(self, digest_id: str, period_end: datetime, now: datetime) -> int:
        """Start a digest: one pending delivery per active email subscriber. Idempotent; returns rows added."""
        with self.transaction():
            self._db.execute(
                "INSERT INTO digests (id, period_end, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (digest_id, to_db_time(period_end), to_db_time(now)),
            )
            before = self._db.total_changes
            self._db.execute(
                "INSERT INTO digest_deliveries (digest_id, address, state, not_before, updated_at)"
                " SELECT ?, address, ?, ?, ? FROM subscribers WHERE channel = 'email' AND active = 1"
                " ON CONFLICT (digest_id, address) DO NOTHING",
                (digest_id, PENDING, to_db_time(now), to_db_time(now)),
            )
            return self._db.total_changes - before

    def due_deliveries(self, now: datetime, limit: int = 500) -> list[Delivery]:
        rows = self._db.execute(
            "SELECT d.digest_id, d.address, d.state, d.not_before, d.attempts, d.unknown_outcomes, d.last_error,"
            " d.message_id, g.period_end FROM digest_deliveries d JOIN digests g ON g.id = d.digest_id"
            " WHERE d.state = ? AND d.not_before <= ? ORDER BY g.period_end, d.address LIMIT ?",
            (PENDING, to_db_time(now), limit),
        ).fetchall()
        return [
            Delivery(str(r[0]), str(r[1]), str(r[2]), _time(r[3]), int(str(r[4])), int(str(r[5])), str(r[6]),
                     str(r[7]), _time(r[8]))
            for r in rows
        ]  # fmt: skip

    def finish_delivery(
        self,
        delivery: Delivery,
        state: str,
        now: datetime,
        *,
        message_id: str = "",
        reason: str = "",
        article_count: int = 0,
    ) -> None:
        """Record the end of one delivery; a sent digest also moves the subscriber's "last digest" forward."""
        with self.transaction():
            self._db.execute(
                "UPDATE digest_deliveries SET state = ?, message_id = ?, last_error = ?, article_count = ?,"
                " updated_at = ? WHERE digest_id = ? AND address = ?",
                (state, message_id, reason, article_count, to_db_time(now), delivery.digest_id, delivery.address),
            )
            if state in (SENT, SKIPPED):
                self._db.execute(
                    "UPDATE subscribers SET last_digest_at = ? WHERE channel = 'email' AND address = ?",
                    (to_db_time(delivery.period_end), delivery.address),
                )

    def retry_delivery(
        self, delivery: Delivery, not_before: datetime, reason: str, now: datetime, *, unknown: bool = False
    ) -> None:
        with self.transaction():
            self._db.execute(
                "UPDATE digest_deliveries SET not_before = ?, last_error = ?, attempts = attempts + 1,"
                " unknown_outcomes = unknown_outcomes + ?, updated_at = ? WHERE digest_id = ? AND address = ?",
                (to_db_time(not_before), reason, int(unknown), to_db_time(now), delivery.digest_id, delivery.address),
            )

    def delivery_counts(self, digest_id: str) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT state, COUNT(*) FROM digest_deliveries WHERE digest_id = ? GROUP BY state", (digest_id,)
        ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def email_articles(self, since: datetime, until: datetime, limit: int = 200) -> list[Article]:
        """Articles routed to the email channel and first seen in (since, until], oldest first."""
        columns = "a.key, a.source, a.title, a.link, a.text, a.hashtags, a.published, a.first_seen, a.image_url"
        rows = self._db.execute(
            f"SELECT {columns} FROM articles a WHERE a.first_seen > ? AND a.first_seen <= ? AND EXISTS"
            " (SELECT 1 FROM outbox o WHERE o.article_key = a.key AND o.channel = 'email')"
            " ORDER BY a.first_seen, a.key LIMIT ?",
            (to_db_time(since), to_db_time(until), limit),
        ).fetchall()
        return [_article(row) for row in rows]

    # -- sources added from chat ------------------------------------------------------------------

    def add_source(self, source: AddedSource) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO added_sources (name, url, hashtags, added_by, added_at) VALUES (?, ?, ?, ?, ?)",
                (
                    source.name,
                    source.url,
                    json.dumps(list(source.hashtags)),
                    source.added_by,
                    to_db_time(source.added_at),
                ),
            )

    def remove_source(self, name: str) -> bool:
        with self.transaction():
            return self._db.execute("DELETE FROM added_sources WHERE name = ?", (name,)).rowcount > 0

    def added_sources(self) -> list[AddedSource]:
        rows = self._db.execute(
            "SELECT name, url, hashtags, added_by, added_at FROM added_sources ORDER BY added_at, name"
        ).fetchall()
        return [AddedSource(str(r[0]), str(r[1]), tuple(json.loads(str(r[2]))), str(r[3]), _time(r[4])) for r in rows]

    def all_source_states(self) -> list[SourceState]:
        names = [str(r[0]) for r in self._db.execute("SELECT name FROM sources ORDER BY name").fetchall()]
        return [self.source_state(name) for name in names]

    def queue_counts(self) -> dict[tuple[str, str], int]:
        """(channel, state) -> number of rows."""
        rows = self._db.execute("SELECT channel, state, COUNT(*) FROM outbox GROUP BY channel, state").fetchall()
        return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}


PRIVATE_FILE_MODE = 0o600  # subscriber data (the state file, its -wal and -shm, exports): the owner's only


def _keep_private(path: Path) -> None:
    """Create the state file owner-only before SQLite opens it, whatever the umask: SQLite gives the -wal and
    -shm it creates the mode of the database file. Files an older newsbot created 0644 are narrowed; a file that
    belongs to another user keeps its mode (chmod is not ours to do).

    Only a file that does not exist yet is opened here: closing any descriptor of a database file drops every
    POSIX lock this process holds on it, including those of an SQLite connection already open on it (another
    part of `newsbot run`), and then a second process may checkpoint and delete the WAL under it."""
    if not path.exists():
        with suppress(FileExistsError):  # another process created it meanwhile: narrowed below
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with suppress(FileNotFoundError, PermissionError):
            if stat.S_IMODE(file.stat().st_mode) & ~PRIVATE_FILE_MODE:
                file.chmod(PRIVATE_FILE_MODE)


def open_store(path: Path, *, busy_timeout: float | None = None) -> SqliteStore:
    """Open (creating if needed, readable by its owner only) and migrate the state database.

    A write waits up to `busy_timeout` seconds (default BUSY_TIMEOUT_SECONDS) for another process's write.
    """
    timeout = BUSY_TIMEOUT_SECONDS if busy_timeout is None else busy_timeout
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _keep_private(path)
        connection = sqlite3.connect(path, isolation_level=None, timeout=timeout, check_same_thread=False)
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA foreign_keys = ON")
        _migrate(connection)
    except sqlite3.OperationalError as exc:  # locked, disk full, read-only: the file itself is fine
        raise write_error(path, exc) from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"state file {path}: {exc}. If it is not a newsbot state file, point [state] path elsewhere."
        ) from None
    except OSError as exc:
        raise StoreError(f"state file {path}: {exc.strerror}; check that the folder exists and is writable") from None
    return SqliteStore(connection, path)


def _migrate(connection: sqlite3.Connection) -> None:
    version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    if version > len(MIGRATIONS):
        raise StoreError(
            f"the state file has schema version {version}, newer than this newsbot knows ({len(MIGRATIONS)});"
            " upgrade newsbot"
        )
    for target, migration in enumerate(MIGRATIONS[version:], start=version + 1):
        connection.execute("BEGIN IMMEDIATE")
        try:
            if isinstance(migration, str):
                _run_script(connection, migration)
            else:
                migration(connection)
            connection.execute(f"PRAGMA user_version = {target}")
        except BaseException:
            connection.rollback()
            raise
        connection.commit()


def _run_script(connection: sqlite3.Connection, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            connection.execute(statement)


# Of two deliveries of one digest to two spellings of a mailbox, the one furthest along is kept: never send again
# what went out (or may have).
_DELIVERY_RANK = {SENT: 0, UNKNOWN: 1, PENDING: 2, FAILED: 3, SKIPPED: 4}


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    address: str
    active: bool
    name: str
    linked_chat: str
    created_at: str
    updated_at: str
    confirmed_at: str | None
    last_digest_at: str | None


def _merge_mailbox_duplicates(db: sqlite3.Connection) -> None:
    """Schema 5: email addresses lower-cased, and rows that differed only in case merged into one.

    Addresses used to be stored as typed, so `Bob@Example.NET` and `bob@example.net` were two subscribers and got
    two digests. For each mailbox:
    - if any of its rows is active, the active row confirmed first is kept. It follows every hashtag the active
      rows followed (none, meaning everything, if one of them followed none), so the reader loses no article;
      its confirmation is the earliest, its last digest the latest (so nothing comes twice), its name and linked
      chat its own or else another row's. A confirmed subscription is never lost.
    - if none is active, the most recently changed row is kept as it is: an unsubscribe or a bounce stands.
    The other rows go; the digest ledger follows the kept row (see `_DELIVERY_RANK`).
    """
    rows = db.execute(
        "SELECT id, address, active, name, linked_chat, created_at, updated_at, confirmed_at, last_digest_at"
        " FROM subscribers WHERE channel = ? ORDER BY id",
        (EMAIL,),
    ).fetchall()
    mailboxes: defaultdict[str, list[_Row]] = defaultdict(list)
    for row in rows:
        found = _Row(
            id=int(row[0]),
            address=str(row[1]),
            active=bool(row[2]),
            name=str(row[3]),
            linked_chat=str(row[4]),
            created_at=str(row[5]),
            updated_at=str(row[6]),
            confirmed_at=None if row[7] is None else str(row[7]),
            last_digest_at=None if row[8] is None else str(row[8]),
        )
        mailboxes[found.address.lower()].append(found)
    for mailbox, group in mailboxes.items():
        if len(group) > 1 or group[0].address != mailbox:
            _merge_mailbox(db, mailbox, group)


def _merge_mailbox(db: sqlite3.Connection, mailbox: str, group: list[_Row]) -> None:
    active = [row for row in group if row.active]
    if active:
        kept = min(active, key=lambda row: (row.confirmed_at is None, row.confirmed_at or "", row.id))
    else:
        kept = max(group, key=lambda row: (row.updated_at, row.id))
    others = [row for row in group if row is not kept]
    if active:
        _merge_tags(db, kept, [row for row in active if row is not kept])
        db.execute(
            "UPDATE subscribers SET confirmed_at = ?, last_digest_at = ? WHERE id = ?",
            (
                min((row.confirmed_at for row in active if row.confirmed_at), default=None),
                max((row.last_digest_at for row in active if row.last_digest_at), default=None),
                kept.id,
            ),
        )
    by_recency = [kept, *sorted(others, key=lambda row: row.updated_at, reverse=True)]
    db.execute(
        "UPDATE subscribers SET name = ?, linked_chat = ?, created_at = ? WHERE id = ?",
        (
            next((row.name for row in by_recency if row.name), ""),
            next((row.linked_chat for row in by_recency if row.linked_chat), ""),
            min(row.created_at for row in group),
            kept.id,
        ),
    )
    for row in others:
        db.execute("DELETE FROM subscriber_tags WHERE subscriber_id = ?", (row.id,))
        db.execute("DELETE FROM subscribers WHERE id = ?", (row.id,))
    db.execute("UPDATE subscribers SET address = ? WHERE id = ?", (mailbox, kept.id))
    _merge_deliveries(db, mailbox, [row.address for row in group])


def _merge_tags(db: sqlite3.Connection, kept: _Row, others: list[_Row]) -> None:
    def follows_everything(row: _Row) -> bool:
        return db.execute("SELECT 1 FROM subscriber_tags WHERE subscriber_id = ?", (row.id,)).fetchone() is None

    if follows_everything(kept) or any(follows_everything(row) for row in others):
        db.execute("DELETE FROM subscriber_tags WHERE subscriber_id = ?", (kept.id,))
        return
    for row in others:
        db.execute(
            "INSERT INTO subscriber_tags (subscriber_id, tag_key, tag) SELECT ?, tag_key, tag FROM subscriber_tags"
            " WHERE subscriber_id = ? ON CONFLICT (subscriber_id, tag_key) DO NOTHING",
            (kept.id, row.id),
        )


def _merge_deliveries(db: sqlite3.Connection, mailbox: str, spellings: list[str]) -> None:
    marks = ", ".join("?" for _ in spellings)
    rows = db.execute(
        f"SELECT digest_id, address, state FROM digest_deliveries WHERE address IN ({marks})", spellings
    ).fetchall()
    by_digest: defaultdict[str, list[tuple[str, str]]] = defaultdict(list)
    for digest_id, address, state in rows:
        by_digest[str(digest_id)].append((str(address), str(state)))
    for digest_id, deliveries in by_digest.items():
        best = min(deliveries, key=lambda delivery: (_DELIVERY_RANK.get(delivery[1], len(_DELIVERY_RANK)), delivery))
        for address, _state in deliveries:
            if address != best[0]:
                db.execute("DELETE FROM digest_deliveries WHERE digest_id = ? AND address = ?", (digest_id, address))
        db.execute(
            "UPDATE digest_deliveries SET address = ? WHERE digest_id = ? AND address = ?",
            (mailbox, digest_id, best[0]),
        )


def _time(value: object) -> datetime:
    moment = from_db_time(str(value))
    assert moment is not None
    return moment


def _article(row: tuple[object, ...]) -> Article:
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
    )


def _outbox_row(row: tuple[object, ...]) -> OutboxRow:
    not_before = from_db_time(str(row[7]))
    assert not_before is not None
    return OutboxRow(
        id=int(str(row[0])),
        article_key=str(row[1]),
        channel=str(row[2]),
        recipient=str(row[3]),
        route=str(row[4]),
        template=str(row[5]),
        state=str(row[6]),
        not_before=not_before,
        attempts=int(str(row[8])),
        last_error=str(row[9]),
        remote_id=str(row[10]),
        progress=tuple(p for p in str(row[11]).split(",") if p),
    )
