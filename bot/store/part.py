"""What every part of the store shares: one connection, and transactions that span parts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.store.db import Database


class StorePart:
    """The base of each kind of record's part (`Store` is all of them over one connection, SQLite or PostgreSQL)."""

    def __init__(self, db: Database, path: Path) -> None:
        self._db = db
        self.path = path  # the SQLite state file ([state] path; unused by a PostgreSQL state)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several writes so they land together or not at all."""
        if self._db.in_transaction:
            yield
            return
        try:
            self._db.begin()
        except self._db.errors as exc:
            raise self._db.error(exc) from None
        try:
            yield
            self._db.commit()
        except BaseException as exc:
            if self._db.in_transaction:
                self._db.rollback()
            if isinstance(exc, self._db.errors):  # locked, disk full, I/O error, server gone: nothing was written
                raise self._db.error(exc) from None
            raise
