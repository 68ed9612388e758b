"""The SQLite backend (`open_sqlite`): the state in one file, SQLite in WAL mode.

`transaction()` spans parts, so writes to several kinds of record land together or not at all.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from contextlib import suppress
from pathlib import Path

from bot.store.db import SqliteDatabase
from bot.store.errors import StoreError, write_error
from bot.store.schema import migrate
from bot.store.store import Store

BUSY_TIMEOUT_SECONDS = 10.0  # how long a write waits for another process's write lock on the state file

PRIVATE_FILE_MODE = 0o600  # subscriber data (the state file, its -wal and -shm, exports): the owner's only


def _keep_private(path: Path) -> None:
    """Create the state file owner-only before SQLite opens it, whatever the umask: SQLite gives the -wal and
    -shm it creates the mode of the database file. Files an older newsbot created 0644 are narrowed; a file that
    belongs to another user keeps its mode (chmod is not ours to do).

    Only a file that does not exist yet is opened here: closing any descriptor of a database file drops every
    POSIX lock this process holds on it, including those of an SQLite connection already open on it (another
    part of `newsbot run`), and then a second process may checkpoint and delete the WAL under it."""
    if not path.exists():
        with suppress(FileExistsError):  # another process created it meanwhile: narrowed below
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with suppress(FileNotFoundError, PermissionError):
            if stat.S_IMODE(file.stat().st_mode) & ~PRIVATE_FILE_MODE:
                file.chmod(PRIVATE_FILE_MODE)


def open_sqlite(path: Path, *, busy_timeout: float | None = None) -> Store:
    """Open (creating if needed, readable by its owner only) and migrate the state database.

    A write waits up to `busy_timeout` seconds (default BUSY_TIMEOUT_SECONDS) for another process's write.
    """
    timeout = BUSY_TIMEOUT_SECONDS if busy_timeout is None else busy_timeout
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _keep_private(path)
        connection = sqlite3.connect(path, isolation_level=None, timeout=timeout, check_same_thread=False)
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA foreign_keys = ON")
        db = SqliteDatabase(connection, path)
        migrate(db)
    except sqlite3.OperationalError as exc:  # locked, disk full, read-only: the file itself is fine
        raise write_error(path, exc) from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"state file {path}: {exc}. If it is not a newsbot state file, point [state] path elsewhere."
        ) from None
    except OSError as exc:
        raise StoreError(f"state file {path}: {exc.strerror}; check that the folder exists and is writable") from None
    return Store(db, path)
