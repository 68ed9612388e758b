"""The outbox and its ledger: one row per (article, channel, recipient).

A row becomes `sent` only after the publisher returned a receipt, so a crash between the two re-sends at most the
item in flight.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.hashtags import normalize as normalize_tag
from bot.store.leases import Lease
from bot.store.meta import DRAIN_REQUESTS_KEY, REQUEST_DRAIN_SQL
from bot.store.part import StorePart
from bot.store.states import FAILED, HELD, PENDING, SENT, SKIPPED, UNKNOWN
from bot.store.subscribers import MUTE, WATCH
from bot.store.times import db_time, from_db_time, to_db_time


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """An (article, channel, recipient) to publish, as the router asks for it."""

    article_key: str
    channel: str
    recipient: str
    route: str
    template: str
    not_before: datetime


def _subscriber_wants(hashtags: Iterable[str], words: Sequence[str] | None) -> tuple[str, list[str]]:
    """The condition on subscriber `s` (and its parameters) of `enqueue_for_subscribers`."""
    keys = sorted({normalize_tag(t) for t in hashtags})
    follows = "SELECT 1 FROM subscriber_tags t WHERE t.subscriber_id = s.id"
    follows_one = f"EXISTS ({follows} AND t.tag_key IN ({', '.join('?' for _ in keys) or 'NULL'}))"
    if words is None:
        return f"(NOT EXISTS ({follows}) OR {follows_one})", keys
    found = sorted(set(words))
    in_found = f"w.word_key IN ({', '.join('?' for _ in found) or 'NULL'})"
    own = "SELECT 1 FROM subscriber_words w WHERE w.channel = s.channel AND w.recipient = s.address AND w.kind ="
    condition = (
        f"((NOT EXISTS ({follows}) AND NOT EXISTS ({own} '{WATCH}'))"
        f" OR {follows_one} OR EXISTS ({own} '{WATCH}' AND {in_found}))"
        f" AND NOT EXISTS ({own} '{MUTE}' AND {in_found})"
    )
    return condition, [*keys, *found, *found]


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


class OutboxPart(StorePart):
    def enqueue(self, items: Iterable[OutboxItem], now: datetime, *, held: bool = False) -> int:
        """Add outbox rows (`held`: waiting for an admin's approval); an (article, channel, recipient) already
        present is left as it is.

        Returns how many rows were new. Rows due now ask for a drain (`DRAIN_REQUESTS_KEY`).
        """
        stamp = to_db_time(now)
        items = list(items)
        with self.transaction():
            added = self._db.executemany(
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
                        HELD if held else PENDING,
                        to_db_time(i.not_before),
                        stamp,
                        stamp,
                    )
                    for i in items
                ),
            ).rowcount
            if added and any(i.not_before <= now for i in items):
                self._request_drain()
            return added

    def due_article_keys(self, channel: str, now: datetime, limit: int, *, newest_first: bool = False) -> list[str]:
        """Articles with pending rows on `channel` that may go out now: first queued first, or newest first."""
        # Newest: by the article's publication time (a backfill queues the newest story first).
        newest = "(SELECT a.published FROM articles a WHERE a.key = outbox.article_key) DESC NULLS LAST, MAX(id) DESC"
        order = newest if newest_first else "MIN(id)"
        rows = self._db.execute(
            "SELECT article_key FROM outbox WHERE channel = ? AND state = ? AND not_before <= ?"
            f" GROUP BY article_key ORDER BY {order} LIMIT ?",
            (channel, PENDING, to_db_time(now), limit),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def claim_rows(
        self, channel: str, article_key: str, now: datetime, lease: Lease, after_id: int = 0, limit: int = 500
    ) -> list[OutboxRow]:
        """Claim for `lease`'s worker, until its lease runs out, the next pending rows of one article on one channel
        that are due and under no one else's live lease (`after_id` pages on). Recording an outcome ends the lease.
        """
        stamp = to_db_time(now)
        with self.transaction():
            rows = self._db.execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE channel = ? AND article_key = ? AND state = ?"
                " AND not_before <= ? AND id > ? AND (lease_until IS NULL OR lease_until <= ? OR lease_owner = ?)"
                f" ORDER BY id LIMIT ?{self._db.claim_clause('outbox')}",
                (channel, article_key, PENDING, stamp, after_id, self._db.lease_cutoff(stamp), lease.worker, limit),
            ).fetchall()
            claimed = [_outbox_row(r) for r in rows]
            self._db.executemany(
                "UPDATE outbox SET lease_owner = ?, lease_until = ? WHERE id = ?",
                ((lease.worker, to_db_time(lease.until(now)), row.id) for row in claimed),
            )
        return claimed

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
                "UPDATE outbox SET not_before = ?, last_error = ?, attempts = attempts + ?, updated_at = ?,"
                " lease_owner = '', lease_until = NULL WHERE id = ?",
                (to_db_time(not_before), reason, int(count_attempt), to_db_time(now), row_id),
            )

    def _finish(self, row_id: int, state: str, now: datetime, *, remote_id: str = "", error: str = "") -> None:
        with self.transaction():
            self._db.execute(
                "UPDATE outbox SET state = ?, remote_id = ?, last_error = ?, updated_at = ?,"
                " lease_owner = '', lease_until = NULL WHERE id = ?",
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
        words: Sequence[str] | None = None,
        held: bool = False,
    ) -> int:
        """One outbox row per active subscriber of `channel` who wants the article and has not muted it.

        A subscriber wants it when they follow one of `hashtags`, watch one of `words`, or follow no hashtags and
        watch no words (everything). `words` are the folded watch/mute words (`words_in_use`) that occur in the
        article; None when no subscriber of the channel has any, which leaves the word rules out of the query.
        Done in the database, so memory stays flat however many subscribers there are. `held`: the rows wait for
        an admin's approval (`bot.approvals`). Returns rows added.
        """
        wanted, parameters = _subscriber_wants(hashtags, words)
        values = (article_key, channel, route, template, HELD if held else PENDING, to_db_time(not_before))
        stamp = to_db_time(now)
        with self.transaction():
            added = self._db.execute(
                "INSERT INTO outbox (article_key, channel, recipient, route, template, state, not_before,"
                " created_at, updated_at)"
                " SELECT ?, ?, s.address, ?, ?, ?, ?, ?, ? FROM subscribers s"
                f" WHERE s.channel = ? AND s.active = 1 AND {wanted} ORDER BY s.id"
                " ON CONFLICT (article_key, channel, recipient) DO NOTHING",
                (*values, stamp, stamp, channel, *parameters),
            ).rowcount
            if added and not_before <= now:
                self._request_drain()
            return added

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
            if cursor.rowcount:
                self._request_drain()
            return cursor.rowcount

    def _request_drain(self) -> None:
        """In the caller's transaction, so the request lands with its rows (see `bot.store.meta`)."""
        self._db.execute(REQUEST_DRAIN_SQL, (DRAIN_REQUESTS_KEY,))

    def pending_articles(self, limit: int = 20) -> list[tuple[str, str, int, datetime]]:
        """(article key, channel, pending rows, earliest time due) of the queue, soonest first."""
        rows = self._db.execute(
            "SELECT article_key, channel, COUNT(*), MIN(not_before) FROM outbox WHERE state = ?"
            " GROUP BY article_key, channel ORDER BY MIN(not_before), article_key LIMIT ?",
            (PENDING, limit),
        ).fetchall()
        return [(str(r[0]), str(r[1]), int(r[2]), db_time(r[3])) for r in rows]

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

    def queue_counts(self) -> dict[tuple[str, str], int]:
        """(channel, state) -> number of rows."""
        rows = self._db.execute("SELECT channel, state, COUNT(*) FROM outbox GROUP BY channel, state").fetchall()
        return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}
