"""The approval queue: articles of a route with `approval = true`, held until an admin decides, and the ledger of
every decision.

An approval gates the outbox rows of its (article, route): they are enqueued `held` and the drain never sends
them. `decide` settles it once: a conditional UPDATE (`WHERE decision = ''`) inside one write transaction, so of
two admins pressing at once (separate connections, separate threads) exactly one wins, and the rows change with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.store.meta import DRAIN_REQUESTS_KEY, REQUEST_DRAIN_SQL
from bot.store.part import StorePart
from bot.store.states import HELD, PENDING, SKIPPED
from bot.store.subscribers import MUTE
from bot.store.times import from_db_time, to_db_time

APPROVED, SKIPPED_DECISION = "approved", "skipped"
TIMEOUT_ADMIN = "timeout"  # decided_by of a decision `on_timeout` took


@dataclass(frozen=True, slots=True)
class Approval:
    id: int
    article_key: str
    route: str
    created_at: datetime
    deadline: datetime | None
    decision: str  # "" while it waits, then APPROVED or SKIPPED_DECISION
    decided_by: str  # an admin's Telegram id, or TIMEOUT_ADMIN
    decided_at: datetime | None
    summary: str  # the admin's edited summary, "" if none
    previews_sent: bool


_COLUMNS = "id, article_key, route, created_at, deadline, decision, decided_by, decided_at, summary, previews_sent"


def _approval(row: tuple[object, ...]) -> Approval:
    created = from_db_time(str(row[3]))
    assert created is not None
    return Approval(
        id=int(str(row[0])),
        article_key=str(row[1]),
        route=str(row[2]),
        created_at=created,
        deadline=from_db_time(row[4] if isinstance(row[4], str) else None),
        decision=str(row[5]),
        decided_by=str(row[6]),
        decided_at=from_db_time(row[7] if isinstance(row[7], str) else None),
        summary=str(row[8]),
        previews_sent=bool(row[9]),
    )


class ApprovalsPart(StorePart):
    def add_approval(self, article_key: str, route: str, now: datetime, deadline: datetime | None) -> int | None:
        """A new approval for (article, route); None if there is one already."""
        with self.transaction():
            cursor = self._db.execute(
                "INSERT INTO approvals (article_key, route, created_at, deadline) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (article_key, route) DO NOTHING RETURNING id",
                (article_key, route, to_db_time(now), to_db_time(deadline) if deadline else None),
            )
            row = cursor.fetchone()
            if row is None:
                return None
            self._log_event(int(row[0]), "held", "", now, "")
            return int(row[0])

    def get_approval(self, approval_id: int) -> Approval | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM approvals WHERE id = ?", (approval_id,)).fetchone()
        return None if row is None else _approval(row)

    def approvals_for_article(self, article_key: str) -> list[Approval]:
        """Every approval of the article (one per route with approval that took it), decided or not."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM approvals WHERE article_key = ? ORDER BY id", (article_key,)
        ).fetchall()
        return [_approval(r) for r in rows]

    def waiting_approvals(self, limit: int = 50) -> list[Approval]:
        """Undecided approvals, oldest first."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM approvals WHERE decision = '' ORDER BY created_at, id LIMIT ?", (limit,)
        ).fetchall()
        return [_approval(r) for r in rows]

    def decided_approvals(self, limit: int = 20) -> list[Approval]:
        """The latest decisions, newest first: what an editor just missed."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM approvals WHERE decision <> '' ORDER BY decided_at DESC, id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [_approval(r) for r in rows]

    def approvals_without_previews(self, limit: int = 50) -> list[Approval]:
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM approvals WHERE decision = '' AND previews_sent = 0 ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()
        return [_approval(r) for r in rows]

    def overdue_approvals(self, now: datetime) -> list[Approval]:
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM approvals WHERE decision = '' AND deadline IS NOT NULL AND deadline <= ?"
            " ORDER BY deadline, id",
            (to_db_time(now),),
        ).fetchall()
        return [_approval(r) for r in rows]

    def previews_sent(self, approval_id: int, notices: dict[int, int]) -> None:
        """Remember each admin's preview notice (admin id -> notice id), replacing an earlier one."""
        with self.transaction():
            self._db.executemany(
                "INSERT INTO approval_previews (approval_id, admin_id, notice_id) VALUES (?, ?, ?)"
                " ON CONFLICT (approval_id, admin_id) DO UPDATE SET notice_id = excluded.notice_id",
                [(approval_id, admin, notice) for admin, notice in notices.items()],
            )
            self._db.execute("UPDATE approvals SET previews_sent = 1 WHERE id = ?", (approval_id,))

    def preview_notices(self, approval_id: int) -> dict[int, int]:
        """admin id -> the notice of that admin's latest preview of the approval."""
        rows = self._db.execute(
            "SELECT admin_id, notice_id FROM approval_previews WHERE approval_id = ?", (approval_id,)
        ).fetchall()
        return {int(r[0]): int(r[1]) for r in rows}

    def edit_approval(self, approval_id: int, summary: str, admin: str, now: datetime) -> bool:
        """Store an admin's summary (on the article too, where the renderer reads it); False once decided."""
        with self.transaction():
            cursor = self._db.execute(
                "UPDATE approvals SET summary = ? WHERE id = ? AND decision = ''", (summary, approval_id)
            )
            if cursor.rowcount != 1:
                return False
            self._db.execute(
                "UPDATE articles SET summary = ? WHERE key = (SELECT article_key FROM approvals WHERE id = ?)",
                (summary, approval_id),
            )
            self._log_event(approval_id, "edited", admin, now, summary)
            return True

    def decide(
        self,
        approval_id: int,
        decision: str,
        admin: str,
        now: datetime,
        not_before: datetime,
        muted: Sequence[str] = (),
    ) -> bool:
        """Settle the approval unless another decision came first (then False, and nothing changes).

        Approved: its held rows become pending from `not_before` (the route's next slot), except those of
        subscribers who meanwhile muted one of `muted` (the folded words found in the article), which are skipped.
        Skipped: they are skipped with a reason naming who decided.
        """
        stamp = to_db_time(now)
        with self.transaction():
            cursor = self._db.execute(
                "UPDATE approvals SET decision = ?, decided_by = ?, decided_at = ? WHERE id = ? AND decision = ''",
                (decision, admin, stamp, approval_id),
            )
            if cursor.rowcount != 1:
                return False
            if decision == APPROVED and muted:
                marks = ", ".join("?" for _ in muted)
                self._db.execute(
                    "UPDATE outbox SET state = ?, last_error = ?, updated_at = ? WHERE state = ?"
                    " AND (article_key, route) = (SELECT article_key, route FROM approvals WHERE id = ?)"
                    " AND EXISTS (SELECT 1 FROM subscriber_words w WHERE w.channel = outbox.channel"
                    f" AND w.recipient = outbox.recipient AND w.kind = ? AND w.word_key IN ({marks}))",
                    (SKIPPED, "muted while it waited for approval", stamp, HELD, approval_id, MUTE, *muted),
                )
            who = "on timeout" if admin == TIMEOUT_ADMIN else f"by admin {admin}"
            reason = f"{decision} {who} at {now:%Y-%m-%d %H:%M} UTC"
            state, due = (PENDING, to_db_time(not_before)) if decision == APPROVED else (SKIPPED, None)
            self._db.execute(
                "UPDATE outbox SET state = ?, not_before = COALESCE(?, not_before), last_error = ?, updated_at = ?"
                " WHERE state = ? AND (article_key, route) = (SELECT article_key, route FROM approvals WHERE id = ?)",
                (state, due, reason, stamp, HELD, approval_id),
            )
            if decision == APPROVED and not_before <= now:
                self._db.execute(REQUEST_DRAIN_SQL, (DRAIN_REQUESTS_KEY,))  # out within seconds (bot.store.meta)
            self._log_event(approval_id, decision, admin, now, "")
            return True

    def _log_event(self, approval_id: int, action: str, admin: str, now: datetime, detail: str) -> None:
        self._db.execute(
            "INSERT INTO approval_events (approval_id, action, admin_id, at, detail) VALUES (?, ?, ?, ?, ?)",
            (approval_id, action, admin, to_db_time(now), detail),
        )
