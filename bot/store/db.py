"""The one connection a store holds, over SQLite or PostgreSQL, so that every part's SQL runs unchanged on both.

The parts write SQLite-style SQL with `?` placeholders; `PostgresDatabase` translates each statement string once
(`?` to `%s`, a literal `%` to `%%`, quoted text left alone) and caches it. What must differ between the two is
decided here and nowhere else:
- a write transaction: SQLite's `BEGIN IMMEDIATE` takes the file's write lock; PostgreSQL's takes a
  transaction-level advisory lock (`WRITE_LOCK`), so that writers take turns on both and the parts' read-then-write
  steps (subscribe, open an incident, take a rate slot) stay correct whichever backend runs them;
- the schema's DDL (`ddl`): row ids and integers become BIGINT (Telegram ids do not fit 32 bits);
- reading a JSON array column as rows (`json_values`);
- claiming rows for one worker (`claim_clause`, `lease_cutoff`): PostgreSQL's `FOR UPDATE SKIP LOCKED`, so that
  workers claiming at once each get other rows, and other workers' leases count until they run out; SQLite has one
  process per file (bot.lock) and `BEGIN IMMEDIATE`, so a plain read is enough and any lease found was left by a
  process that is gone;
- where the schema version is kept (SQLite's `PRAGMA user_version`, a one-row table in PostgreSQL).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from bot.store.errors import StoreError, postgres_error, write_error

if TYPE_CHECKING:
    import psycopg

Params = Sequence[object]

# PostgreSQL advisory lock keys (any 64-bit numbers, the same in every newsbot): one for writes, one for migrating.
WRITE_LOCK: Final = 0x6E657773_00000001
MIGRATION_LOCK: Final = 0x6E657773_00000002
_SCHEMA_TABLE: Final = "newsbot_schema"
_NO_LEASE_LIVES: Final = "9999-12-31T23:59:59.999999Z"  # a store time (bot.store.times) after every lease


class Rows(Protocol):
    """What a statement gives back (a cursor of either driver)."""

    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchmany(self, size: int) -> list[Any]: ...


class Database(Protocol):
    """One connection, with what the store parts and the migrations need of it."""

    errors: tuple[type[Exception], ...]  # the driver's errors: `error` words them as a StoreError

    def error(self, exc: Exception) -> StoreError: ...
    def execute(self, sql: str, params: Params = ()) -> Rows: ...
    def executemany(self, sql: str, rows: Iterable[Params]) -> Rows: ...
    def begin(self) -> None: ...
    def begin_migration(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    @property
    def in_transaction(self) -> bool: ...
    def close(self) -> None: ...
    def ddl(self, script: str) -> str: ...
    def json_values(self, column: str, alias: str) -> str: ...
    def claim_clause(self, table: str) -> str: ...
    def lease_cutoff(self, now: str) -> str: ...
    def schema_version(self) -> int: ...
    def set_schema_version(self, version: int) -> None: ...


class SqliteDatabase:
    """SQLite as it always was: the statements go to the connection as they are."""

    errors: tuple[type[Exception], ...] = (sqlite3.DatabaseError,)

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._connection = connection
        self._path = path

    def error(self, exc: Exception) -> StoreError:
        assert isinstance(exc, sqlite3.DatabaseError)
        return write_error(self._path, exc)

    def execute(self, sql: str, params: Params = ()) -> Rows:
        try:
            return self._connection.execute(sql, params)
        except sqlite3.DatabaseError as exc:  # locked, disk full, I/O error: words for people (reads too)
            raise self.error(exc) from exc

    def executemany(self, sql: str, rows: Iterable[Params]) -> Rows:
        try:
            return self._connection.executemany(sql, rows)
        except sqlite3.DatabaseError as exc:
            raise self.error(exc) from exc

    def begin(self) -> None:
        self._connection.execute("BEGIN IMMEDIATE")

    def begin_migration(self) -> None:
        self.begin()

    def commit(self) -> None:
        self._connection.commit()

    def rollback(self) -> None:
        self._connection.rollback()

    @property
    def in_transaction(self) -> bool:
        return self._connection.in_transaction

    def close(self) -> None:
        self._connection.close()

    def ddl(self, script: str) -> str:
        return script

    def json_values(self, column: str, alias: str) -> str:
        return f"json_each({column}) {alias}"

    def claim_clause(self, table: str) -> str:
        return ""

    def lease_cutoff(self, now: str) -> str:
        """Every lease is over: the process holding the file's lock is the only one alive."""
        return _NO_LEASE_LIVES

    def schema_version(self) -> int:
        return int(self._connection.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, version: int) -> None:
        self._connection.execute(f"PRAGMA user_version = {int(version)}")


# A quoted string or identifier (kept as it is), or a character that means something else to psycopg.
_PLACEHOLDER_OR_QUOTED: Final = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[?%]")
_ROW_ID: Final = re.compile(r"\bINTEGER PRIMARY KEY\b")
_INTEGER: Final = re.compile(r"\bINTEGER\b")


@lru_cache(maxsize=1024)
def to_postgres(sql: str) -> str:
    """`sql` with `?` placeholders as psycopg's `%s`, and a literal `%` doubled; quoted text is left alone."""

    def swap(match: re.Match[str]) -> str:
        found = match.group()
        return "%s" if found == "?" else "%%" if found == "%" else found

    return _PLACEHOLDER_OR_QUOTED.sub(swap, sql)


def postgres_ddl(script: str) -> str:
    """The schema's SQLite DDL as PostgreSQL takes it: row ids generated, every integer 64 bits."""
    script = _ROW_ID.sub("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", script)
    return _INTEGER.sub("BIGINT", script)


class PostgresDatabase:
    """A psycopg connection in autocommit mode: statements outside `begin`/`commit` each commit on their own, as
    SQLite's do, and reads hold no transaction open.

    A connection the server dropped (restarted, an idle timeout, `pg_terminate_backend`) is given back and another
    taken (`acquire`) at the next statement outside a transaction; a `begin` or a read that finds it dead is tried
    once more on the new one (nothing had happened). A write or a transaction under way when it dropped fails with
    a StoreError: the server rolled it back, and the caller's next step gets a new connection."""

    def __init__(
        self,
        connection: psycopg.Connection[Any],
        where: str,
        release: Callable[[psycopg.Connection[Any]], None],
        acquire: Callable[[], psycopg.Connection[Any]] | None = None,
    ) -> None:
        import psycopg

        self._connection = connection
        self._where = where  # the URL without its credentials, for error messages
        self._release = release
        self._acquire = acquire  # None: a connection of its own, never replaced
        self._transaction = False  # between begin and commit/rollback: a lost connection is not replaced there
        self.errors: tuple[type[Exception], ...] = (psycopg.Error,)

    def error(self, exc: Exception) -> StoreError:
        return postgres_error(self._where, exc)

    def _alive(self) -> psycopg.Connection[Any]:
        """The connection, a new one when the server dropped it (outside a transaction only)."""
        if self._connection.closed and self._acquire is not None and not self._transaction:
            self._release(self._connection)  # the pool throws a closed connection away
            self._connection = self._acquire()
        return self._connection

    def _run(self, statement: Callable[[psycopg.Connection[Any]], Rows], *, retry: bool) -> Rows:
        """`statement` on a live connection; when `retry`, once more on a new one if the server had dropped it."""
        try:
            return statement(self._alive())
        except self.errors as exc:
            if not (retry and self._connection.closed and self._acquire is not None and not self._transaction):
                raise self.error(exc) from exc
        try:
            return statement(self._alive())
        except self.errors as exc:
            raise self.error(exc) from exc

    def execute(self, sql: str, params: Params = ()) -> Rows:
        query, values = to_postgres(sql), tuple(params)
        read = query.lstrip()[:6].upper() == "SELECT"  # nothing happened if it failed: safe to try again
        return self._run(lambda connection: connection.execute(query, values), retry=read)

    def executemany(self, sql: str, rows: Iterable[Params]) -> Rows:
        query, values = to_postgres(sql), [tuple(row) for row in rows]

        def run(connection: psycopg.Connection[Any]) -> Rows:
            cursor = connection.cursor()
            if values:
                cursor.executemany(query, values)
            return cursor

        return self._run(run, retry=False)

    def _begin(self, lock: int) -> None:
        def run(connection: psycopg.Connection[Any]) -> Rows:
            connection.execute("BEGIN")
            return connection.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))

        try:
            self._run(run, retry=True)
        except StoreError:
            if not self._connection.closed and self.in_transaction:  # BEGIN went through, the lock did not
                self._connection.execute("ROLLBACK")
            raise
        self._transaction = True

    def begin(self) -> None:
        self._begin(WRITE_LOCK)

    def begin_migration(self) -> None:
        """A transaction that holds the migration lock: two processes starting on an empty database take turns."""
        self._begin(MIGRATION_LOCK)
        self.execute(f"CREATE TABLE IF NOT EXISTS {_SCHEMA_TABLE} (version BIGINT NOT NULL)")

    def commit(self) -> None:
        try:
            self._connection.execute("COMMIT")
        except self.errors as exc:
            raise self.error(exc) from exc
        finally:
            self._transaction = False

    def rollback(self) -> None:
        """Undo the transaction; on a connection the server dropped there is nothing left to undo."""
        self._transaction = False
        if not self._connection.closed:
            self._connection.execute("ROLLBACK")

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        if self._connection.closed:
            return self._transaction
        return self._connection.info.transaction_status != TransactionStatus.IDLE

    def close(self) -> None:
        """Give the connection back to the process's pool (rolled back there if a transaction was left open)."""
        self._release(self._connection)

    def ddl(self, script: str) -> str:
        return postgres_ddl(script)

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        """Load `rows` into `table` with PostgreSQL's COPY (a state copy: many rows, one round trip per block)."""
        from psycopg import sql

        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        try:
            with self._connection.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        except self.errors as exc:
            raise self.error(exc) from exc

    def json_values(self, column: str, alias: str) -> str:
        return f"json_array_elements_text(CAST({column} AS json)) AS {alias}(value)"

    def claim_clause(self, table: str) -> str:
        """What ends a SELECT of rows to claim: lock `table`'s rows, passing over those another worker is claiming."""
        return f" FOR UPDATE OF {table} SKIP LOCKED"

    def lease_cutoff(self, now: str) -> str:
        """A lease that ends at or before `now` (a store time) is over."""
        return now

    def schema_version(self) -> int:
        exists = self.execute("SELECT to_regclass(?)", (_SCHEMA_TABLE,)).fetchone()
        if exists is None or exists[0] is None:
            return 0
        row = self.execute(f"SELECT MAX(version) FROM {_SCHEMA_TABLE}").fetchone()
        return 0 if row is None or row[0] is None else int(row[0])

    def set_schema_version(self, version: int) -> None:
        self.execute(f"DELETE FROM {_SCHEMA_TABLE}")
        self.execute(f"INSERT INTO {_SCHEMA_TABLE} (version) VALUES (?)", (version,))
