"""The state as an admin would query it: what tests read that newsbot itself never asks the store for.

Each runs one SQL query on the store's own connection (so it sees the store's writes at once).
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.store import Delivery, SqliteStore, from_db_time, to_db_time
from bot.store.digests import _DELIVERY_COLUMNS, _delivery
from bot.store.states import PENDING


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


def approval_events(store: SqliteStore, approval_id: int) -> list[tuple[str, str, datetime, str]]:
    """The ledger of one approval, oldest first: (action, admin id, when, detail)."""
    rows = store._db.execute(
        "SELECT action, admin_id, at, detail FROM approval_events WHERE approval_id = ? ORDER BY id", (approval_id,)
    ).fetchall()
    return [(str(r[0]), str(r[1]), from_db_time(str(r[2])) or datetime.min, str(r[3])) for r in rows]


def due_deliveries(store: SqliteStore, now: datetime) -> list[Delivery]:
    """The pending deliveries due at `now`, oldest digest first."""
    rows = store._db.execute(
        f"SELECT {_DELIVERY_COLUMNS} FROM digest_deliveries d JOIN digests g ON g.id = d.digest_id"
        " WHERE d.state = ? AND d.not_before <= ? ORDER BY g.period_end, d.address",
        (PENDING, to_db_time(now)),
    ).fetchall()
    return [_delivery(r) for r in rows]


def model_requests_on(store: SqliteStore, now: datetime) -> int:
    """How many model requests were made on `now`'s UTC day."""
    day = now.astimezone(UTC).date().isoformat()
    row = store._db.execute("SELECT requests FROM model_requests WHERE day = ?", (day,)).fetchone()
    return 0 if row is None else int(row[0])
