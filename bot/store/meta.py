"""Named values: whether publishing is paused, a requested digest, the drain requests, a channel's rate-limit and
credential state."""

from __future__ import annotations

from bot.store.part import StorePart

PAUSED_KEY = "publishing.paused"  # "1" while an admin has paused publishing
DIGEST_REQUEST_KEY = "digest.requested"  # set by an admin's /digest send; the digest job sends and clears it
# How many times rows that are due now were queued (a poll, /post, a broadcast) or publishing resumed. `newsbot run`
# drains at once when it grew since its last drain, whichever thread or process queued them. Only writers touch it,
# in the transaction that queues the rows, so a drain that read the count sees those rows.
DRAIN_REQUESTS_KEY = "outbox.drain_requests"
REQUEST_DRAIN_SQL = (
    "INSERT INTO meta (key, value) VALUES (?, '1')"
    " ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT)"
)


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
        with self.transaction():
            self.set_meta(PAUSED_KEY, "1" if paused else "0")
            if not paused:  # what waited goes out now, not at the next drain interval
                self._db.execute(REQUEST_DRAIN_SQL, (DRAIN_REQUESTS_KEY,))

    def drain_requests(self) -> int:
        """How many drains were asked for so far (see DRAIN_REQUESTS_KEY): a read, cheap enough every second."""
        return int(self.get_meta(DRAIN_REQUESTS_KEY) or 0)
