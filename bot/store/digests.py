"""The digest ledger: one row per (digest, recipient), and the articles a digest collects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.models import Article
from bot.store.approvals import APPROVED
from bot.store.articles import ARTICLE_COLUMNS, article_from_row
from bot.store.leases import Lease
from bot.store.part import StorePart
from bot.store.states import HELD, PENDING, SENT, SKIPPED
from bot.store.times import db_time, to_db_time


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


_DELIVERY_COLUMNS = (
    "d.digest_id, d.address, d.state, d.not_before, d.attempts, d.unknown_outcomes, d.last_error, d.message_id,"
    " g.period_end"
)


def _delivery(r: tuple[object, ...]) -> Delivery:
    return Delivery(
        str(r[0]), str(r[1]), str(r[2]), db_time(r[3]), int(str(r[4])), int(str(r[5])), str(r[6]), str(r[7]),
        db_time(r[8]),
    )  # fmt: skip


class DigestsPart(StorePart):
    def create_digest(self, digest_id: str, period_end: datetime, now: datetime) -> int:
        """Start a digest: one pending delivery per active email subscriber. Idempotent; returns rows added."""
        with self.transaction():
            self._db.execute(
                "INSERT INTO digests (id, period_end, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (digest_id, to_db_time(period_end), to_db_time(now)),
            )
            return self._db.execute(
                "INSERT INTO digest_deliveries (digest_id, address, state, not_before, updated_at)"
                " SELECT ?, address, ?, ?, ? FROM subscribers WHERE channel = 'email' AND active = 1"
                " ON CONFLICT (digest_id, address) DO NOTHING",
                (digest_id, PENDING, to_db_time(now), to_db_time(now)),
            ).rowcount

    def latest_period_end(self) -> datetime | None:
        """Where the latest digest's period ended (what a reader who got it has had); None before the first."""
        row = self._db.execute("SELECT MAX(period_end) FROM digests").fetchone()
        return None if row is None or row[0] is None else db_time(row[0])

    def latest_digest_counts(self) -> dict[str, int]:
        """State -> deliveries of the latest digest (for /metrics); empty before the first digest."""
        rows = self._db.execute(
            "SELECT state, COUNT(*) FROM digest_deliveries"
            " WHERE digest_id = (SELECT id FROM digests ORDER BY period_end DESC, id DESC LIMIT 1) GROUP BY state"
        ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def claim_deliveries(self, now: datetime, lease: Lease, limit: int = 50) -> list[Delivery]:
        """Claim for `lease`'s worker a chunk of due deliveries under no one else's live lease, so that several
        workers share a digest batch out. Recording an outcome (`finish_delivery`, `retry_delivery`) ends the lease."""
        stamp = to_db_time(now)
        with self.transaction():
            rows = self._db.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM digest_deliveries d JOIN digests g ON g.id = d.digest_id"
                " WHERE d.state = ? AND d.not_before <= ?"
                " AND (d.lease_until IS NULL OR d.lease_until <= ? OR d.lease_owner = ?)"
                f" ORDER BY g.period_end, d.address LIMIT ?{self._db.claim_clause('d')}",
                (PENDING, stamp, self._db.lease_cutoff(stamp), lease.worker, limit),
            ).fetchall()
            claimed = [_delivery(r) for r in rows]
            self._db.executemany(
                "UPDATE digest_deliveries SET lease_owner = ?, lease_until = ? WHERE digest_id = ? AND address = ?",
                ((lease.worker, to_db_time(lease.until(now)), d.digest_id, d.address) for d in claimed),
            )
        return claimed

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
                " updated_at = ?, lease_owner = '', lease_until = NULL WHERE digest_id = ? AND address = ?",
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
                " unknown_outcomes = unknown_outcomes + ?, updated_at = ?, lease_owner = '', lease_until = NULL"
                " WHERE digest_id = ? AND address = ?",
                (to_db_time(not_before), reason, int(unknown), to_db_time(now), delivery.digest_id, delivery.address),
            )

    def email_articles(self, since: datetime, until: datetime, limit: int = 200) -> list[Article]:
        """Articles routed to the email channel and first seen in (since, until], oldest first; one that waited for
        an admin counts from its approval instead. None held for approval, none skipped."""
        window = (to_db_time(since), to_db_time(until))
        approved = (  # approvals of the routes that send the article to email
            "SELECT p.article_key FROM approvals p WHERE p.decision = ? AND EXISTS (SELECT 1 FROM outbox e"
            " WHERE e.article_key = p.article_key AND e.route = p.route AND e.channel = 'email')"
        )
        rows = self._db.execute(
            f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE"
            f" ((a.first_seen > ? AND a.first_seen <= ? AND a.key NOT IN ({approved} AND p.decided_at > ?))"
            f"  OR a.key IN ({approved} AND p.decided_at > ? AND p.decided_at <= ?))"
            " AND EXISTS (SELECT 1 FROM outbox o WHERE o.article_key = a.key AND o.channel = 'email'"
            "  AND o.state NOT IN (?, ?))"
            " ORDER BY a.first_seen, a.key LIMIT ?",
            (*window, APPROVED, window[0], APPROVED, *window, HELD, SKIPPED, limit),
        ).fetchall()
        return [article_from_row(row) for row in rows]
