"""The store's one error, and the words for what went wrong with the state file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.errors import NewsbotError


class StoreError(NewsbotError):
    """The state database cannot be opened or written."""


def write_error(path: Path, exc: sqlite3.DatabaseError) -> StoreError:
    """A StoreError that says what went wrong with the state file and what to do; the ledger is unchanged."""
    reason = str(exc)
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in reason:
        return StoreError(
            f"state file {path}: another process is writing to it ({reason}); nothing was written. Stop the other"
            " process (e.g. a `newsbot subscribers import` or an sqlite3 shell) and try again"
        )
    if name.startswith("SQLITE_FULL") or "full" in reason:
        return StoreError(f"state file {path}: the disk is full ({reason}); nothing was written. Free some space")
    if name.startswith("SQLITE_READONLY") or "readonly" in reason:
        return StoreError(
            f"state file {path}: cannot write to it ({reason}); check the permissions of the file and its folder"
        )
    return StoreError(f"state file {path}: cannot use it ({reason}); check that the disk and the folder are writable")


def postgres_error(where: str, exc: Exception) -> StoreError:
    """A StoreError for a PostgreSQL state (`where`: its URL without credentials); the transaction was rolled back.

    The driver's own words stay (they name the server and what it refused); a URL in them loses its credentials."""
    from bot.urls import redact_urls_in

    reason = redact_urls_in(" ".join(str(exc).split())) or type(exc).__name__
    return StoreError(
        f"state database {where}: {reason}; nothing was written. Check that the server is running and reachable"
        " and that the database user may read and write it"
    )
