"""Several workers on one state: who a worker is, how long its claims last, and who sends on each channel.

A lease is written into the row it claims (`lease_owner`, `lease_until`: outbox rows, a source's poll state, digest
deliveries, admin notices): other workers pass over a row under a live lease, and the worker's own claims stay its
own. Recording the outcome ends the lease, and a worker that stops ends all of its own (`release_leases`). A worker
that dies writes nothing more, so its leases run out and another worker claims the rows again: the ledger rule (sent
only after the receipt) bounds what is sent twice to the sends in flight.

A channel's limits belong to the bot or the account, not to a process, so one worker at a time sends on each
(`SenderLocks`): on PostgreSQL a session-level advisory lock per channel, taken with `pg_try_advisory_lock` on a
connection of its own kept for the worker's life. It is only ever tried, never waited for, and that connection never
writes: a worker holding it cannot deadlock with the write lock (`bot.store.db.WRITE_LOCK`) of the store's
connection. A worker that stops unlocks its channels before it hangs up; when one dies its connection closes and the
server drops the lock. Either way the next worker to try takes the channel over. On SQLite one process holds the
state file, so it sends on every channel.

The same locks, under the name `UPDATES_LOCK` on a `SenderLocks` of its own, say which worker asks Telegram for
chat updates with getUpdates: Telegram answers one poller at a time (409 Conflict to the others), so the others
send their admin notices and try the lock again every few seconds (bot.commands.runner).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol

from bot.store.part import StorePart
from bot.urls import redact_url

if TYPE_CHECKING:
    import psycopg

    from bot.config import StateConfig

DEFAULT_LEASE_SECONDS: Final = 60
# Sender lock keys: the prefix of bot.store.db's lock keys, then 1 in bit 31 and a checksum of the channel's name.
_SENDER_LOCK_PREFIX: Final = 0x6E657773_80000000
UPDATES_LOCK: Final = "telegram updates"  # the lock of the one worker that calls getUpdates (no channel's name)


def worker_id() -> str:
    """This process as its leases name it: host:pid:random (a pid is reused, on another host too)."""
    # os.uname and os.urandom, not socket and secrets: their imports cost every command a few milliseconds.
    return f"{os.uname().nodename}:{os.getpid()}:{os.urandom(4).hex()}"


@dataclass(frozen=True, slots=True)
class Lease:
    """The claims of one worker: its id, and for how long a claim holds."""

    worker: str
    seconds: float = DEFAULT_LEASE_SECONDS

    def until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.seconds)


_LEASED_TABLES: Final = ("outbox", "sources", "digest_deliveries", "admin_notices")


class LeasesPart(StorePart):
    def release_leases(self, worker: str) -> int:
        """End every lease `worker` holds (it stops: the others need not wait for them to run out). Returns how many."""
        with self.transaction():
            return sum(
                self._db.execute(
                    f"UPDATE {table} SET lease_owner = '', lease_until = NULL WHERE lease_owner = ?", (worker,)
                ).rowcount
                for table in _LEASED_TABLES
            )


def sender_lock_key(channel: str) -> int:
    """The advisory lock key of `channel`'s sender (a signed 64-bit number, as PostgreSQL wants)."""
    return _SENDER_LOCK_PREFIX | (zlib.crc32(channel.encode("utf-8")) & 0x7FFFFFFF)


class SenderLocks(Protocol):
    def holds(self, channel: str) -> bool:
        """Whether this worker sends on `channel` now (taking the channel when no one else has it). Never waits."""
        ...

    def held(self) -> int:
        """How many channels this worker sends on."""
        ...

    def close(self) -> None: ...


class SoleSender:
    """SQLite: the one process on the state file sends on every channel."""

    def __init__(self) -> None:
        self._channels: set[str] = set()

    def holds(self, channel: str) -> bool:
        self._channels.add(channel)
        return True

    def held(self) -> int:
        return len(self._channels)

    def close(self) -> None:
        self._channels.clear()


class PostgresSenderLocks:
    """One advisory lock per channel, on a connection of this worker's own (opened at the first `holds`)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: psycopg.Connection[Any] | None = None
        self._channels: set[str] = set()

    def holds(self, channel: str) -> bool:
        import psycopg

        try:
            connection = self._connect()
            if channel in self._channels:
                connection.execute("SELECT 1")  # still connected, so the server still counts the lock as ours
                return True
            row = connection.execute("SELECT pg_try_advisory_lock(%s)", (sender_lock_key(channel),)).fetchone()
        except psycopg.Error:
            self.close()  # the connection is gone, and its locks with it: try again with a new one next time
            return False
        if row is not None and row[0]:
            self._channels.add(channel)
            return True
        return False

    def held(self) -> int:
        return len(self._channels)

    def _connect(self) -> psycopg.Connection[Any]:
        if self._connection is None or self._connection.closed:
            from bot.store.postgres import postgres_connection

            self._channels.clear()
            self._connection = postgres_connection(self._url)
        return self._connection

    def close(self) -> None:
        """Give every channel up: once this returns, another worker's next `holds` takes it."""
        import psycopg

        self._channels.clear()
        if self._connection is None:
            return
        try:
            # Closing alone only asks the server to end the session, and its locks go when that server process
            # exits, a moment later (longer on a busy machine): unlocked here, the channels are free at return.
            if not self._connection.closed:
                self._connection.execute("SELECT pg_advisory_unlock_all()")
        except psycopg.Error:
            pass  # the connection is gone, and its locks with it
        finally:
            self._connection.close()
            self._connection = None

    def __repr__(self) -> str:
        return f"PostgresSenderLocks({redact_url(self._url)})"


def sender_locks(state: StateConfig, environ: Mapping[str, str]) -> SenderLocks:
    """The sender locks of a worker on `state`: advisory locks on PostgreSQL, none needed on SQLite."""
    url = state.database_url(environ)
    return PostgresSenderLocks(url) if url else SoleSender()
