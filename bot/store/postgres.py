"""The PostgreSQL backend (`open_postgres`): the state in a PostgreSQL database, through psycopg 3.

One connection pool per process and URL (`psycopg_pool.ConnectionPool`): each open store borrows one connection
(checked alive as it leaves the pool, and replaced when the server drops it: see `PostgresDatabase`) and gives it
back on `close`, so the per-thread stores of the chat commands and the web pages' stores reuse
connections instead of logging in again. The pools are the one process-wide thing the store keeps: a pool is
what lets those short-lived stores be cheap.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from bot.store.db import PostgresDatabase
from bot.store.errors import StoreError, postgres_error
from bot.store.schema import migrate
from bot.store.store import Store
from bot.urls import database_url_problem, redact_url

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

CONNECT_TIMEOUT_SECONDS: Final = 10  # how long reaching the server may take before newsbot says it cannot
POOL_MAX_CONNECTIONS: Final = 40  # per process: the scheduler, 8 command threads, the web pages' requests
POOL_WAIT_SECONDS: Final = 30.0  # how long a store waits for a free connection when all are in use

_pools: dict[str, ConnectionPool[Any]] = {}
_pools_lock = threading.Lock()


def open_postgres(url: str, path: Path) -> Store:
    """A store on one pooled connection to `url`, migrated (`path`: [state] path, kept for callers that show it)."""
    problem = database_url_problem(url, in_file=False)
    if problem:
        raise StoreError(f"the PostgreSQL state URL {redact_url(url)} {problem}")
    import psycopg

    where = redact_url(url)
    pool = _pool(url, where)

    def acquire() -> psycopg.Connection[Any]:
        return _connection_from(pool, where)

    db = PostgresDatabase(acquire(), where, pool.putconn, acquire)
    try:
        migrate(db)
    except psycopg.Error as exc:
        db.close()
        raise postgres_error(where, exc) from None
    except BaseException:
        db.close()
        raise
    return Store(db, path)


def _connection_from(pool: ConnectionPool[Any], where: str) -> psycopg.Connection[Any]:
    """A connection of the pool (checked alive: one the server dropped while idle in the pool is replaced)."""
    from psycopg_pool import PoolTimeout

    try:
        connection: psycopg.Connection[Any] = pool.getconn()
    except PoolTimeout:
        raise StoreError(
            f"state database {where}: no connection within {POOL_WAIT_SECONDS:.0f} seconds (the server is down or"
            f" unreachable, or all of this process's {POOL_MAX_CONNECTIONS} connections are in use); nothing was"
            " written. Check that the server is running; newsbot tries again at its next use of the state"
        ) from None
    return connection


def _pool(url: str, where: str) -> ConnectionPool[Any]:
    """The process's pool for `url`, made on first use after one plain connection showed the server answers."""
    import psycopg
    from psycopg_pool import ConnectionPool

    with _pools_lock:
        pool = _pools.get(url)
        if pool is not None:
            return pool
        try:  # the pool would only log why it cannot connect; this says it to the user, once
            psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS).close()
        except psycopg.Error as exc:
            raise postgres_error(where, exc) from None
        pool = ConnectionPool(
            url,
            min_size=1,
            max_size=POOL_MAX_CONNECTIONS,
            timeout=POOL_WAIT_SECONDS,
            check=ConnectionPool.check_connection,  # one the server dropped while idle is replaced, not handed out
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_SECONDS},
            name=f"newsbot state {len(_pools) + 1}",
            open=True,
        )
        _pools[url] = pool
        return pool


def close_pools() -> None:
    """Close every pool of this process (its connections end); a later `open_postgres` makes a new one."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()


def postgres_connection(url: str) -> psycopg.Connection[Any]:
    """A connection outside the pools (tests and tools that create or inspect databases)."""
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)
