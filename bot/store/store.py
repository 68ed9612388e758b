"""`Store`, what callers get from `open_store`: every part over one connection, SQLite or PostgreSQL.

`open_store` picks the backend from `[state]`: a PostgreSQL URL ($NEWSBOT_DATABASE_URL, else `[state] url`) or
else the SQLite file at `[state] path`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from bot.store.admin import AdminPart
from bot.store.approvals import ApprovalsPart
from bot.store.articles import ArticlesPart
from bot.store.clicks import ClicksPart
from bot.store.digests import DigestsPart
from bot.store.incidents import IncidentsPart
from bot.store.leases import LeasesPart
from bot.store.meta import MetaPart
from bot.store.notices import NoticesPart
from bot.store.outbox import OutboxPart
from bot.store.reports import ReportsPart
from bot.store.subscribers import SubscribersPart
from bot.store.summaries import SummariesPart

if TYPE_CHECKING:
    from bot.config import StateConfig


class Store(
    MetaPart,
    ArticlesPart,
    OutboxPart,
    SubscribersPart,
    DigestsPart,
    NoticesPart,
    IncidentsPart,
    ApprovalsPart,
    LeasesPart,
    AdminPart,
    ReportsPart,
    ClicksPart,
    SummariesPart,
):
    """All of the store's parts over one connection (each caller declares the Protocol of what it uses)."""


SqliteStore = Store  # its name before there were two backends


def open_store(state: StateConfig | Path, *, busy_timeout: float | None = None) -> Store:
    """Open (creating and migrating if needed) the state `[state]` names; a bare path is an SQLite file.

    SQLite: a write waits up to `busy_timeout` seconds for another process's write. PostgreSQL: the connection
    comes from the process's pool for that URL and goes back to it on `close`.
    """
    from bot.store.sqlite import open_sqlite

    if isinstance(state, Path):
        return open_sqlite(state, busy_timeout=busy_timeout)
    url = state.database_url(os.environ)
    if not url:
        return open_sqlite(state.path, busy_timeout=busy_timeout)
    from bot.store.postgres import open_postgres

    return open_postgres(url, state.path)


class StorePerThread:
    """Each thread's own connection to the state, opened on first use: a connection must not be used by two threads
    at once. SQLite in WAL mode (and PostgreSQL) lets the connections read side by side; writes take turns."""

    def __init__(self, state: StateConfig) -> None:
        self._state = state
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[Store] = []

    def get(self) -> Store:
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = open_store(self._state)
            with self._lock:
                self._opened.append(store)
        return store

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for store in opened:
            store.close()
