"""Health incidents (a failing source, refused credentials, digest bounces) and who wants to hear of them.

An incident is keyed by what it is about (`source:<name>`, `channel:<name>`, `digest`); at most one per key is
open at a time (a unique index says so), so opening one that is already open does nothing, across restarts too.
`bot.alerts` decides when to open and close them and words the messages to the admins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.store.part import StorePart
from bot.store.times import db_time, from_db_time, to_db_time


@dataclass(frozen=True, slots=True)
class Incident:
    key: str
    what: str  # a short description, plain text
    opened_at: datetime
    closed_at: datetime | None = None


class IncidentsPart(StorePart):
    def open_incident(self, key: str, what: str, now: datetime) -> bool:
        """Open an incident for `key`; False (and nothing written) when one is open already."""
        with self.transaction():
            if self._open_row(key) is not None:
                return False
            self._db.execute(
                "INSERT INTO incidents (key, what, opened_at) VALUES (?, ?, ?)", (key, what, to_db_time(now))
            )
        return True

    def close_incident(self, key: str, now: datetime) -> Incident | None:
        """Close the open incident for `key` and return it; None when none was open."""
        with self.transaction():
            row = self._open_row(key)
            if row is None:
                return None
            self._db.execute("UPDATE incidents SET closed_at = ? WHERE id = ?", (to_db_time(now), row[0]))
        return Incident(key, str(row[1]), db_time(row[2]), now)

    def open_incidents(self) -> list[Incident]:
        rows = self._db.execute(
            "SELECT key, what, opened_at, closed_at FROM incidents WHERE closed_at IS NULL ORDER BY opened_at, id"
        ).fetchall()
        return [Incident(str(k), str(what), db_time(opened), from_db_time(closed)) for k, what, opened, closed in rows]

    def set_alerts(self, chat_id: int, on: bool, now: datetime) -> None:
        """Turn alerts on or off for one admin (on is the default)."""
        with self.transaction():
            if on:
                self._db.execute("DELETE FROM alerts_off WHERE chat_id = ?", (chat_id,))
            else:
                self._db.execute(
                    "INSERT INTO alerts_off (chat_id, since) VALUES (?, ?) ON CONFLICT (chat_id) DO NOTHING",
                    (chat_id, to_db_time(now)),
                )

    def alerts_off(self) -> set[int]:
        """The admins who turned alerts off."""
        return {int(chat_id) for (chat_id,) in self._db.execute("SELECT chat_id FROM alerts_off").fetchall()}

    def _open_row(self, key: str) -> tuple[int, str, str] | None:
        row = self._db.execute(
            "SELECT id, what, opened_at FROM incidents WHERE key = ? AND closed_at IS NULL", (key,)
        ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]), str(row[2]))
