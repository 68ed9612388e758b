"""The control room's sign-ins: admin sessions, and the sign-in links already used.

A session is kept only as the SHA-256 of its id (the cookie holds the id), so a copy of the state signs nobody
in. Its row also holds the CSRF token of its forms and one notice for the next page ("Signed out.", "Approved.").
A sign-in link carries a nonce; `use_admin_login` records it, so each link signs in once, and keeps it until the
link would have expired anyway. Expired rows are removed whenever someone signs in (`forget_expired_admin_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.store.part import StorePart
from bot.store.times import db_time, to_db_time


@dataclass(frozen=True, slots=True)
class AdminSession:
    admin_id: int
    csrf_token: str
    created_at: datetime
    expires_at: datetime
    notice: str  # shown once, on the next page


class AdminPart(StorePart):
    def open_admin_session(
        self, session_hash: str, admin_id: int, csrf_token: str, now: datetime, expires: datetime
    ) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO admin_sessions (session_hash, admin_id, csrf_token, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (session_hash, admin_id, csrf_token, to_db_time(now), to_db_time(expires)),
            )

    def admin_session(self, session_hash: str, now: datetime) -> AdminSession | None:
        """The session whose id hashes to `session_hash`, unless it has expired or ended."""
        row = self._db.execute(
            "SELECT admin_id, csrf_token, created_at, expires_at, notice FROM admin_sessions"
            " WHERE session_hash = ? AND expires_at > ?",
            (session_hash, to_db_time(now)),
        ).fetchone()
        if row is None:
            return None
        admin_id, csrf, created, expires, notice = row
        return AdminSession(int(admin_id), str(csrf), db_time(created), db_time(expires), str(notice))

    def end_admin_session(self, session_hash: str) -> None:
        with self.transaction():
            self._db.execute("DELETE FROM admin_sessions WHERE session_hash = ?", (session_hash,))

    def set_admin_notice(self, session_hash: str, notice: str) -> None:
        """What the session's next page says once ("" clears it)."""
        with self.transaction():
            self._db.execute("UPDATE admin_sessions SET notice = ? WHERE session_hash = ?", (notice, session_hash))

    def use_admin_login(self, nonce: str, admin_id: int, now: datetime, link_expires: datetime) -> bool:
        """Record that the sign-in link with `nonce` was used; False if it had been used before."""
        with self.transaction():
            cursor = self._db.execute(
                "INSERT INTO admin_logins (nonce, admin_id, used_at, expires_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (nonce) DO NOTHING",
                (nonce, admin_id, to_db_time(now), to_db_time(link_expires)),
            )
            return cursor.rowcount == 1

    def forget_expired_admin_rows(self, now: datetime) -> None:
        """Drop sessions past their end, and used links past their expiry (they can no longer be used anyway)."""
        stamp = to_db_time(now)
        with self.transaction():
            self._db.execute("DELETE FROM admin_sessions WHERE expires_at <= ?", (stamp,))
            self._db.execute("DELETE FROM admin_logins WHERE expires_at <= ?", (stamp,))
