"""`newsbot state copy`: an SQLite state moved, row for row, into a PostgreSQL database.

Every table is copied as it is (the same row ids, the same ledger), so newsbot on the new state re-sends nothing
and every link it mailed (confirmation, unsubscribe) still names the same rows. `COPIED_TABLES` is the one list of
what is copied, parents before the tables that refer to them; a table a migration adds must join it (a test
compares it with the schema, and the copy refuses a state holding a table it does not know).

The copy reads the SQLite file in one write transaction (no other writer may change it meanwhile) and writes the
target in one transaction: it lands whole or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bot.store.db import Database, PostgresDatabase
from bot.store.errors import StoreError
from bot.store.store import Store

COPIED_TABLES: Final = (
    "meta",
    "articles",
    "article_aliases",
    "sources",
    "added_sources",
    "outbox",
    "subscribers",
    "subscriber_tags",
    "subscriber_words",
    "email_sign_ups",
    "rate_events",
    "digests",
    "digest_deliveries",
    "admin_notices",
    "incidents",
    "alerts_off",
    "approvals",
    "approval_previews",
    "approval_events",
    # Copied, though they are short-lived: the used sign-in links must stay used on the new state (else a link
    # used in the last ten minutes would work once more there), and the sessions are hashes that end within
    # [web] admin_session_hours anyway, so admins stay signed in across the move instead of all being signed out.
    "admin_sessions",
    "admin_logins",
    "clicks",
    "model_summaries",
    "model_requests",
)
# What makes a database "hold a state": a copy over it needs --force.
STATE_TABLES: Final = ("articles", "outbox", "subscribers")
_BLOCK_ROWS: Final = 1000


@dataclass(frozen=True, slots=True)
class CopyReport:
    """How many rows of each table were copied, in `COPIED_TABLES` order."""

    rows: tuple[tuple[str, int], ...]

    def lines(self) -> list[str]:
        return [f"  {table}: {count} row(s)" for table, count in self.rows]


def sqlite_tables(db: Database) -> set[str]:
    """The tables of an SQLite state (its own bookkeeping left out)."""
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").fetchall()
    return {str(row[0]) for row in rows}


def copy_state(source: Store, target: Store, *, force: bool = False) -> CopyReport:
    """Copy every row of `source` (SQLite, at the newest schema) into `target` (PostgreSQL, migrated).

    A target that holds a state is refused unless `force`, which replaces it; either way the target ends up holding
    exactly the source's rows, its row id sequences past the copied ids."""
    src, dst = source._db, target._db
    if not isinstance(dst, PostgresDatabase):
        raise StoreError("newsbot state copy writes into a PostgreSQL state; the target is not one")
    unknown = sorted(sqlite_tables(src) - set(COPIED_TABLES))
    if unknown:
        raise StoreError(
            f"the state file has table(s) this newsbot cannot copy: {', '.join(unknown)}; nothing was copied."
            " Copy it with the newsbot version that made it"
        )
    with source.transaction(), target.transaction():
        if not force:
            _refuse_a_state(dst)
        dst.execute(f"TRUNCATE {', '.join(COPIED_TABLES)}")
        counts = tuple((table, _copy_table(src, dst, table)) for table in COPIED_TABLES)
        _move_sequences_past_copied_ids(dst)
    return CopyReport(counts)


def _refuse_a_state(db: Database) -> None:
    found = {table: int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]) for table in STATE_TABLES}
    if any(found.values()):
        held = ", ".join(f"{count} {table} row(s)" for table, count in found.items())
        raise StoreError(
            f"the target database already holds a newsbot state ({held}); nothing was copied. Copy into an empty"
            " database, or add --force to replace that state with this one"
        )


def _copy_table(src: Database, dst: PostgresDatabase, table: str) -> int:
    columns = [str(row[1]) for row in src.execute(f"PRAGMA table_info({table})").fetchall()]
    copied = 0

    def rows() -> Iterator[Sequence[object]]:
        nonlocal copied
        cursor = src.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid")
        while block := cursor.fetchmany(_BLOCK_ROWS):
            copied += len(block)
            yield from block

    dst.copy_rows(table, columns, rows())
    return copied


def _move_sequences_past_copied_ids(db: Database) -> None:
    """Each generated row id continues after the highest copied one (an empty table starts at 1)."""
    identities = db.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES'"
    ).fetchall()
    for table, column in identities:
        if table in COPIED_TABLES:
            db.execute(
                f"SELECT setval(pg_get_serial_sequence(?, ?), COALESCE(MAX({column}), 0) + 1, false) FROM {table}",
                (table, column),
            )


def copy_sqlite_state(path: Path, url: str, *, force: bool = False) -> CopyReport:
    """Copy the SQLite state at `path` (migrated to the newest schema first) into the PostgreSQL database `url`."""
    from bot.store.postgres import open_postgres
    from bot.store.sqlite import open_sqlite

    source = open_sqlite(path)
    try:
        target = open_postgres(url, path)
        try:
            return copy_state(source, target, force=force)
        finally:
            target.close()
    finally:
        source.close()
