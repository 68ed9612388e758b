"""One newsbot process per state file: an exclusive `flock` on `<state>.lock`.

The kernel drops the lock when the process dies, however it dies, so a killed process never leaves it stuck.
A PostgreSQL state takes no file lock (`lock_for`): the database is on another machine, and the workers that
share it coordinate there.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from bot.errors import LockedError
from bot.store import PRIVATE_FILE_MODE

if TYPE_CHECKING:
    from bot.config import StateConfig


class StateLock:
    def __init__(self, state_path: Path) -> None:
        self.state_path = state_path
        self.path = state_path.with_name(state_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
        except OSError as exc:
            raise LockedError(
                f"cannot create the lock file {self.path} ({exc.strerror}): make sure the folder of"
                f" [state] path ({self.state_path.parent}) exists and is writable"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise LockedError(
                f"another newsbot (pid {holder}) is already using the state file {self.state_path};"
                " stop it first, or give this one its own [state] path"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class NoLock:
    """The lock of a state that needs none (PostgreSQL)."""

    def acquire(self) -> None:
        pass

    def release(self) -> None:
        pass


def lock_for(state: StateConfig, environ: Mapping[str, str]) -> StateLock | NoLock:
    """The single-instance lock `newsbot run` takes: on the SQLite file, none for a PostgreSQL state."""
    return NoLock() if state.database_url(environ) else StateLock(state.path)
