"""The schema, versioned: `MIGRATIONS[i]` moves a database from version i to i+1 (an SQL script, or a function
when rows must be merged), and `migrate` applies what is missing, each step in its own transaction.

The SQL is plain (no SQLite-only functions in queries) so another backend can implement the same parts.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.store.db import Database
from bot.store.errors import StoreError
from bot.store.mailbox_merge import merge_mailbox_duplicates
from bot.store.source_merge import merge_source_duplicates

Migration = str | Callable[[Database], None]  # an SQL script (SQLite's DDL, see `Database.ddl`), or a Python step


def _migrate_to_5(db: Database) -> None:
    """4 -> 5: one subscriber per mailbox (see `merge_mailbox_duplicates`), and the table of limited events."""
    _run_script(
        db,
        """
        CREATE TABLE rate_events (kind TEXT NOT NULL, key TEXT NOT NULL, at TEXT NOT NULL);
        CREATE INDEX rate_events_key ON rate_events (kind, key, at);
        """,
    )
    merge_mailbox_duplicates(db)


def _migrate_to_20(db: Database) -> None:
    """19 -> 20: one added source per URL, and the database the arbiter of it: a unique index on `url_key`, so that
    of two admins adding one URL at once (two workers, two chat commands) exactly one adds it and the other is told
    "already a source". `url_key` is the SHA-256 of the URL exactly as stored (no other normalisation): a unique
    index on the URL itself would refuse long non-ASCII URLs on PostgreSQL, whose index entries hold at most 2,704
    bytes (2,000 Chinese characters are 6,000). Sources already added twice with one URL are merged first, the
    oldest kept with the hashtags of all (`merge_source_duplicates` says what becomes of the others)."""
    _run_script(db, "ALTER TABLE added_sources ADD COLUMN url_key TEXT NOT NULL DEFAULT ''")
    merge_source_duplicates(db)
    _run_script(db, "CREATE UNIQUE INDEX added_sources_url ON added_sources (url_key)")


MIGRATIONS: tuple[Migration, ...] = (
    # 0 -> 1: the spine
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE articles (
        key TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        title TEXT NOT NULL,
        link TEXT NOT NULL,
        text TEXT NOT NULL,
        hashtags TEXT NOT NULL,
        published TEXT,
        first_seen TEXT NOT NULL,
        image_url TEXT NOT NULL
    );
    CREATE INDEX articles_first_seen ON articles (first_seen);
    CREATE TABLE article_aliases (
        alias TEXT PRIMARY KEY,
        article_key TEXT NOT NULL REFERENCES articles (key)
    );
    CREATE TABLE sources (
        name TEXT PRIMARY KEY,
        etag TEXT NOT NULL DEFAULT '',
        last_modified TEXT NOT NULL DEFAULT '',
        primed INTEGER NOT NULL DEFAULT 0,
        last_poll TEXT,
        last_success TEXT,
        next_poll TEXT,
        failures INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        article_key TEXT NOT NULL REFERENCES articles (key),
        channel TEXT NOT NULL,
        recipient TEXT NOT NULL,
        route TEXT NOT NULL,
        template TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL,
        not_before TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        remote_id TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (article_key, channel, recipient)
    );
    CREATE INDEX outbox_due ON outbox (channel, state, not_before);
    CREATE INDEX outbox_route ON outbox (route, channel, state);
    """,
    # 1 -> 2: subscribers (Telegram chats now, email addresses later) and sources added from chat
    """
    CREATE TABLE subscribers (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        address TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        status_reason TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (channel, address)
    );
    CREATE INDEX subscribers_active ON subscribers (channel, active);
    CREATE TABLE subscriber_tags (
        subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
        tag_key TEXT NOT NULL,
        tag TEXT NOT NULL,
        PRIMARY KEY (subscriber_id, tag_key)
    );
    CREATE INDEX subscriber_tags_key ON subscriber_tags (tag_key);
    CREATE TABLE added_sources (
        name TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        hashtags TEXT NOT NULL,
        added_by TEXT NOT NULL,
        added_at TEXT NOT NULL
    );
    CREATE INDEX outbox_updated ON outbox (channel, updated_at);
    """,
    # 2 -> 3: what a half-sent thread already posted, so it resumes instead of starting over
    """
    ALTER TABLE outbox ADD COLUMN progress TEXT NOT NULL DEFAULT '';
    CREATE INDEX outbox_state ON outbox (channel, state, updated_at);
    """,
    # 3 -> 4: email subscriptions (double opt-in) and the digest ledger, one row per (digest, recipient)
    """
    ALTER TABLE subscribers ADD COLUMN name TEXT NOT NULL DEFAULT '';
    ALTER TABLE subscribers ADD COLUMN confirmed_at TEXT;
    ALTER TABLE subscribers ADD COLUMN last_digest_at TEXT;
    ALTER TABLE subscribers ADD COLUMN linked_chat TEXT NOT NULL DEFAULT '';
    CREATE TABLE digests (
        id TEXT PRIMARY KEY,
        period_end TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE digest_deliveries (
        digest_id TEXT NOT NULL REFERENCES digests (id),
        address TEXT NOT NULL,
        state TEXT NOT NULL,
        not_before TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        unknown_outcomes INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        message_id TEXT NOT NULL DEFAULT '',
        article_count INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (digest_id, address)
    );
    CREATE INDEX digest_deliveries_due ON digest_deliveries (state, not_before);
    """,
    _migrate_to_5,
    # 5 -> 6: each sign-up request on its own, so that its confirmation link confirms what it asked for
    """
    CREATE TABLE email_sign_ups (
        id INTEGER PRIMARY KEY,
        address TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        hashtags TEXT NOT NULL DEFAULT '[]',
        linked_chat TEXT NOT NULL DEFAULT '',
        requested_at TEXT NOT NULL
    );
    CREATE INDEX email_sign_ups_address ON email_sign_ups (address);
    """,
    # 6 -> 7: messages to admins (alerts, approval previews) kept until the chat bot has sent them
    """
    CREATE TABLE admin_notices (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL,
        text TEXT NOT NULL,
        buttons TEXT NOT NULL DEFAULT '[]',
        replaces INTEGER REFERENCES admin_notices (id),
        created_at TEXT NOT NULL,
        sent_at TEXT,
        message_id INTEGER,
        failed TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX admin_notices_unsent ON admin_notices (sent_at) WHERE sent_at IS NULL;
    """,
    # 7 -> 8: a subscriber's watch and mute words (/watch, /mute), with the folded form that matching uses
    """
    CREATE TABLE subscriber_words (
        channel TEXT NOT NULL,
        recipient TEXT NOT NULL,
        kind TEXT NOT NULL,
        word_key TEXT NOT NULL,
        word TEXT NOT NULL,
        PRIMARY KEY (channel, recipient, kind, word_key)
    );
    CREATE INDEX subscriber_words_key ON subscriber_words (channel, word_key);
    """,
    # 8 -> 9: health incidents (at most one open per key), and the admins who turned alerts off
    """
    CREATE TABLE incidents (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        what TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        closed_at TEXT
    );
    CREATE UNIQUE INDEX incidents_open ON incidents (key) WHERE closed_at IS NULL;
    CREATE TABLE alerts_off (
        chat_id INTEGER PRIMARY KEY,
        since TEXT NOT NULL
    );
    """,
    # 9 -> 10: approval queue: articles held until an admin decides, each decision in a ledger; an admin's summary
    """
    ALTER TABLE articles ADD COLUMN summary TEXT NOT NULL DEFAULT '';
    CREATE TABLE approvals (
        id INTEGER PRIMARY KEY,
        article_key TEXT NOT NULL REFERENCES articles (key),
        route TEXT NOT NULL,
        created_at TEXT NOT NULL,
        deadline TEXT,
        decision TEXT NOT NULL DEFAULT '',
        decided_by TEXT NOT NULL DEFAULT '',
        decided_at TEXT,
        summary TEXT NOT NULL DEFAULT '',
        previews_sent INTEGER NOT NULL DEFAULT 0,
        UNIQUE (article_key, route)
    );
    CREATE INDEX approvals_waiting ON approvals (decision, created_at);
    CREATE TABLE approval_previews (
        approval_id INTEGER NOT NULL REFERENCES approvals (id),
        admin_id INTEGER NOT NULL,
        notice_id INTEGER NOT NULL REFERENCES admin_notices (id),
        PRIMARY KEY (approval_id, admin_id)
    );
    CREATE TABLE approval_events (
        id INTEGER PRIMARY KEY,
        approval_id INTEGER NOT NULL REFERENCES approvals (id),
        action TEXT NOT NULL,
        admin_id TEXT NOT NULL,
        at TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    """,
    # 10 -> 11: leases, so that several workers share one state: a claimed row names its worker and until when
    """
    ALTER TABLE outbox ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
    ALTER TABLE outbox ADD COLUMN lease_until TEXT;
    ALTER TABLE sources ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
    ALTER TABLE sources ADD COLUMN lease_until TEXT;
    ALTER TABLE digest_deliveries ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
    ALTER TABLE digest_deliveries ADD COLUMN lease_until TEXT;
    ALTER TABLE admin_notices ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
    ALTER TABLE admin_notices ADD COLUMN lease_until TEXT;
    """,
    # 11 -> 12: a subscriber's waiting rows found without scanning the channel's queue (deactivating skips them
    # during a fan-out, where it was a scan of every pending row per blocked chat)
    """
    CREATE INDEX outbox_recipient ON outbox (channel, recipient, state);
    """,
    # 12 -> 13: the control room's sign-ins (bot.store.admin): sessions, kept as a hash of their id, and the
    # nonces of sign-in links already used, so each link works once
    """
    CREATE TABLE admin_sessions (
        session_hash TEXT PRIMARY KEY,
        admin_id INTEGER NOT NULL,
        csrf_token TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        notice TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_at);
    CREATE TABLE admin_logins (
        nonce TEXT PRIMARY KEY,
        admin_id INTEGER NOT NULL,
        used_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    """,
    # 13 -> 14: the control room reads digest mails newest first, by outcome or by address, and counts them per
    # day, from an index instead of every delivery
    """
    CREATE INDEX digest_deliveries_recent ON digest_deliveries (updated_at);
    CREATE INDEX digest_deliveries_outcome ON digest_deliveries (state, updated_at);
    CREATE INDEX digest_deliveries_address ON digest_deliveries (address, updated_at);
    """,
    # 14 -> 15: clicks per article, channel and UTC day (bot.clicks), nothing about who clicked. The last digest
    # mail, which every click on a mail link asks for, is found by digest_deliveries_outcome (14).
    """
    CREATE TABLE clicks (
        article_key TEXT NOT NULL,
        channel TEXT NOT NULL,
        day TEXT NOT NULL,
        hits INTEGER NOT NULL,
        PRIMARY KEY (article_key, channel, day)
    );
    CREATE INDEX clicks_day ON clicks (day, channel);
    """,
    # 15 -> 16: an admin may pause a source (control room Sources page, /pausesource): `claim_sources` skips it
    """
    ALTER TABLE sources ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
    """,
    # 16 -> 17: summaries written by a language model ([summarize] provider = "openai"), per article text, language
    # and budget, so that a digest run or a re-render does not ask twice; and the requests per UTC day, for the cap
    """
    CREATE TABLE model_summaries (
        text_hash TEXT NOT NULL,
        language TEXT NOT NULL,
        budget INTEGER NOT NULL,
        summary TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (text_hash, language, budget)
    );
    CREATE TABLE model_requests (
        day TEXT PRIMARY KEY,
        requests INTEGER NOT NULL
    );
    """,
    # 17 -> 18: the sources due now are found through an index on when each is due (`due_source_names`), not by
    # reading every source's row each poll check (50,000 sources: a read of all of them every 5 seconds)
    """
    CREATE INDEX sources_due ON sources (next_poll);
    """,
    # 18 -> 19: the feed's text for an article's image (media:description, <img alt>), posted as its alt text on
    # X, Mastodon and Bluesky; "" for the articles before it, whose posts use the title as before
    """
    ALTER TABLE articles ADD COLUMN image_alt TEXT NOT NULL DEFAULT '';
    """,
    _migrate_to_20,  # 19 -> 20: one added source per URL
)


def migrate(db: Database) -> None:
    """Bring the database up to the newest schema; a newer one than this newsbot knows is refused.

    Each step reads the version again inside its own transaction (PostgreSQL: under an advisory lock), so two
    processes starting at once on an empty database take turns and each step runs once."""
    if db.schema_version() == len(MIGRATIONS):  # the usual case: no write lock taken to find out
        return
    while True:
        db.begin_migration()
        try:
            version = db.schema_version()
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"the state has schema version {version}, newer than this newsbot knows ({len(MIGRATIONS)});"
                    " upgrade newsbot"
                )
            if version == len(MIGRATIONS):
                db.commit()
                return
            migration = MIGRATIONS[version]
            if isinstance(migration, str):
                _run_script(db, migration)
            else:
                migration(db)
            db.set_schema_version(version + 1)
        except BaseException:
            db.rollback()
            raise
        db.commit()


def _run_script(db: Database, script: str) -> None:
    for statement in db.ddl(script).split(";"):
        if statement.strip():
            db.execute(statement)
