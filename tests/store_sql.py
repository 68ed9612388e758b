"""The state as an admin would query it: what tests read that newsbot itself never asks the store for.

Each runs one SQL query on the store's own connection (so it sees the store's writes at once).
"""

from __future__ import annotations

from datetime import datetime

from bot.store import SqliteStore, from_db_time


def schema_version(store: SqliteStore) -> int:
    return store._db.schema_version()


def count_articles(store: SqliteStore) -> int:
    return int(store._db.execute("SELECT COUNT(*) FROM articles").fetchone()[0])


def latest_digest(store: SqliteStore) -> tuple[str, datetime] | None:
    """(id, end of its period) of the newest digest."""
    row = store._db.execute("SELECT id, period_end FROM digests ORDER BY period_end DESC LIMIT 1").fetchone()
    if row is None:
        return None
    period_end = from_db_time(str(row[1]))
    assert period_end is not None
    return str(row[0]), period_end


def delivery_counts(store: SqliteStore, digest_id: str) -> dict[str, int]:
    """state -> deliveries of one digest."""
    rows = store._db.execute(
        "SELECT state, COUNT(*) FROM digest_deliveries WHERE digest_id = ? GROUP BY state", (digest_id,)
    ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}
