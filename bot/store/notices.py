"""Messages to admins (alerts, approval previews) waiting to be sent by the chat bot, and what became of each.

A notice is written by whichever job has something to tell (polling, the outbox, the digest, an approval) and
sent by `bot.commands.notices` from the chat commands' loop, so a message survives a restart until it is out.
A notice may replace an earlier one: it is then sent as an edit of the message the earlier one became.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.store.leases import Lease
from bot.store.part import StorePart
from bot.store.times import to_db_time


@dataclass(frozen=True, slots=True)
class Notice:
    id: int
    chat_id: int
    text: str  # Telegram HTML, checked by whoever wrote it
    buttons: tuple[tuple[str, str], ...]  # (label, callback data), one row each
    replaces: int | None  # the notice whose message this one edits
    replaced_message_id: int | None  # that message, once it was sent (None: not sent, or not an edit)


_UNSENT = """
    SELECT n.id, n.chat_id, n.text, n.buttons, n.replaces, o.message_id
    FROM admin_notices n LEFT JOIN admin_notices o ON o.id = n.replaces
    WHERE n.sent_at IS NULL AND n.failed = ''
      AND (n.replaces IS NULL OR o.message_id IS NOT NULL OR o.failed != '')
"""


def _notice(row: tuple[object, ...]) -> Notice:
    id_, chat, text, buttons, replaces, message = row
    return Notice(
        int(str(id_)),
        int(str(chat)),
        str(text),
        tuple((str(b[0]), str(b[1])) for b in json.loads(str(buttons))),
        None if replaces is None else int(str(replaces)),
        None if message is None else int(str(message)),
    )


class NoticesPart(StorePart):
    def add_notice(
        self,
        chat_id: int,
        text: str,
        now: datetime,
        *,
        buttons: Sequence[tuple[str, str]] = (),
        replaces: int | None = None,
    ) -> int:
        """Queue a message to `chat_id` (an edit of notice `replaces`' message when given); returns its id."""
        with self.transaction():
            cursor = self._db.execute(
                "INSERT INTO admin_notices (chat_id, text, buttons, replaces, created_at) VALUES (?, ?, ?, ?, ?)"
                " RETURNING id",
                (chat_id, text, json.dumps([list(button) for button in buttons]), replaces, to_db_time(now)),
            )
            return int(cursor.fetchone()[0])

    def unsent_notices(self, limit: int = 50) -> list[Notice]:
        """Notices not yet sent nor given up on, oldest first. An edit waits until its original was sent."""
        rows = self._db.execute(f"{_UNSENT} ORDER BY n.id LIMIT ?", (limit,)).fetchall()
        return [_notice(row) for row in rows]

    def claim_notices(self, limit: int, now: datetime, lease: Lease) -> list[Notice]:
        """`unsent_notices` under no other worker's live lease, claimed for `lease`'s worker: with several workers
        each notice is sent by one of them. Sending it (or giving up) ends the claim."""
        if not self.unsent_notices(1):  # the usual case, every second: a read, no write transaction
            return []
        stamp = to_db_time(now)
        with self.transaction():
            rows = self._db.execute(
                f"{_UNSENT} AND (n.lease_until IS NULL OR n.lease_until <= ? OR n.lease_owner = ?)"
                f" ORDER BY n.id LIMIT ?{self._db.claim_clause('n')}",
                (self._db.lease_cutoff(stamp), lease.worker, limit),
            ).fetchall()
            claimed = [_notice(row) for row in rows]
            self._db.executemany(
                "UPDATE admin_notices SET lease_owner = ?, lease_until = ? WHERE id = ?",
                ((lease.worker, to_db_time(lease.until(now)), notice.id) for notice in claimed),
            )
        return claimed

    def notice_sent(self, notice_id: int, message_id: int | None, now: datetime) -> None:
        with self.transaction():
            self._db.execute(
                "UPDATE admin_notices SET sent_at = ?, message_id = ? WHERE id = ?",
                (to_db_time(now), message_id, notice_id),
            )

    def notice_failed(self, notice_id: int, reason: str, now: datetime) -> None:
        """Given up: the admin cannot be reached (blocked the bot, never opened a chat with it, ...)."""
        with self.transaction():
            self._db.execute(
                "UPDATE admin_notices SET failed = ?, sent_at = ? WHERE id = ?",
                (reason or "failed", to_db_time(now), notice_id),
            )
