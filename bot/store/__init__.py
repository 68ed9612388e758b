"""State: articles seen, source poll state, subscribers, the outbox and its ledger, digests. All SQL of newsbot lives
in this package.

One module per kind of record, each a part of the store over one shared connection (`part.StorePart`): `meta` (named
values: pause, rate-limit and credential state), `articles` (articles, aliases, sources and their poll state),
`outbox` (outbox rows and their ledger), `subscribers` (Telegram and email subscribers, their hashtags and
watch/mute words, sign-up requests, rate events), `digests` (digests and their deliveries), `notices` (messages to
admins until they are sent), `incidents` (health incidents, and the admins who turned alerts off), `approvals`
(articles held for an admin's decision, and the ledger of decisions), `leases` (several workers on one state: who
a worker is, leases on the rows it claims, one sender per channel), `admin` (the control room's sessions and the
sign-in links already used), `reports` (what the control room reads: sends per day, the deliveries list,
subscriber search; read only), `clicks` (click counts per article, channel and day). `schema` holds the versioned
migrations
(`mailbox_merge` the one that merges rows), `store` the `Store` made of every part and `open_store`, which picks
the backend: `sqlite` (a file) or `postgres` (psycopg 3), both behind `db.Database`, which decides the little
SQL that must differ.

Callers do not type against `Store` (except `App` and the chat commands' per-thread connections, which
open it): each declares a small Protocol of the methods it uses (e.g.
`bot.ingest.IngestStore`), so that another backend can implement the same methods. The SQL is plain (no SQLite-only
functions in queries) to keep that possible.

The ledger rule: one outbox row per (article, channel, recipient). A row becomes `sent` only after the publisher
returned a receipt, so a crash between the two re-sends at most the item in flight.
"""

from bot.store.admin import AdminSession
from bot.store.approvals import APPROVED, SKIPPED_DECISION, TIMEOUT_ADMIN, Approval
from bot.store.articles import AddedSource, SourceState
from bot.store.clicks import ArticleClicks, DailyClicks
from bot.store.digests import Delivery
from bot.store.errors import StoreError, write_error
from bot.store.incidents import Incident
from bot.store.leases import UPDATES_LOCK, Lease, SenderLocks, sender_locks, worker_id
from bot.store.meta import DIGEST_REQUEST_KEY, PAUSED_KEY, blocked_until_key, unauthorized_key
from bot.store.notices import Notice
from bot.store.outbox import OutboxItem, OutboxRow
from bot.store.schema import MIGRATIONS, Migration
from bot.store.sqlite import PRIVATE_FILE_MODE
from bot.store.states import AWAITING_CONFIRMATION, FAILED, HELD, PENDING, SENT, SKIPPED, STATES, UNKNOWN
from bot.store.store import SqliteStore, Store, StorePerThread, open_store
from bot.store.subscribers import EMAIL, MUTE, WATCH, EmailSubscriber, SignUpRequest, Subscriber
from bot.store.times import from_db_time, to_db_time

__all__ = [
    "APPROVED",
    "AWAITING_CONFIRMATION",
    "DIGEST_REQUEST_KEY",
    "EMAIL",
    "FAILED",
    "HELD",
    "MIGRATIONS",
    "MUTE",
    "PAUSED_KEY",
    "PENDING",
    "PRIVATE_FILE_MODE",
    "SENT",
    "SKIPPED",
    "SKIPPED_DECISION",
    "STATES",
    "TIMEOUT_ADMIN",
    "UNKNOWN",
    "UPDATES_LOCK",
    "WATCH",
    "AddedSource",
    "AdminSession",
    "Approval",
    "ArticleClicks",
    "DailyClicks",
    "Delivery",
    "EmailSubscriber",
    "Incident",
    "Lease",
    "Migration",
    "Notice",
    "OutboxItem",
    "OutboxRow",
    "SenderLocks",
    "SignUpRequest",
    "SourceState",
    "SqliteStore",
    "Store",
    "StoreError",
    "StorePerThread",
    "Subscriber",
    "blocked_until_key",
    "from_db_time",
    "open_store",
    "sender_locks",
    "to_db_time",
    "unauthorized_key",
    "worker_id",
    "write_error",
]
