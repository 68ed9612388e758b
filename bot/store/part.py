"""What every part of the store shares: one connection, and transactions that span parts."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.store.errors import write_error


class StorePart:
    """The base of each kind of record's part (`SqliteStore` is all of them over one connection)."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several writes so they land together or not at all."""
        if self._db.in_transaction:
            yield
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise write_error(self.path, exc) from None
        try:
            yield
            self._db.commit()
        except BaseException as exc:
            if self._db.in_transaction:
                self._db.rollback()
            if isinstance(exc, sqlite3.DatabaseError):  # locked, disk full, I/O error: nothing was written
                raise write_error(self.path, exc) from None
            raise
