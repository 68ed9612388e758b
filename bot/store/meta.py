"""Named values: whether publishing is paused, a requested digest, a channel's rate-limit and credential state."""

from __future__ import annotations

from bot.store.part import StorePart

PAUSED_KEY = "publishing.paused"  # "1" while an admin has paused publishing
DIGEST_REQUEST_KEY = "digest.requested"  # set by an admin's /digest send; the digest job sends and clears it


def blocked_until_key(channel: str) -> str:
    """Meta key: when the channel's rate limit resets (kept so a restarted process waits too)."""
    return f"{channel}.blocked_until"


def unauthorized_key(channel: str) -> str:
    """Meta key: why the channel's credentials were refused ("" once newsbot starts again)."""
    return f"{channel}.unauthorized"


class MetaPart(StorePart):
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
