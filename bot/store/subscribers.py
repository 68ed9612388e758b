"""Subscribers (Telegram chats, email addresses), the hashtags they follow and the words they watch or mute, email
sign-up requests, and the events counted against rate limits.

Watch and mute words (`subscriber_words`) are kept per (channel, address, kind) with their folded form
(`bot.keywords.fold`), which is what matching compares; they are shown as first written.

Email addresses are one per mailbox: the store lower-cases every email address it is given (as
`bot.addresses.parse_address` does), so a link signed for `Bob@Example.NET` before addresses were lower-cased
still finds `bob@example.net`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.hashtags import normalize as normalize_tag
from bot.keywords import fold as fold_word
from bot.store.db import Database
from bot.store.part import StorePart
from bot.store.states import AWAITING_CONFIRMATION, HELD, PENDING, SKIPPED
from bot.store.times import db_time, from_db_time, to_db_time

EMAIL = "email"
WATCH = "watch"  # subscriber_words kinds: also send articles containing the word, whatever their hashtags
MUTE = "mute"  # never send articles containing the word


def hashtags_of(db: Database, subscriber_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """Each subscriber's hashtags as written, in the order of their keys, in one query for a batch (an export or a
    page of the control room reads thousands: one round trip per batch, not per subscriber)."""
    if not subscriber_ids:
        return {}
    found: dict[int, list[str]] = {}
    for subscriber_id, tag in db.execute(
        "SELECT subscriber_id, tag FROM subscriber_tags"
        f" WHERE subscriber_id IN ({', '.join('?' for _ in subscriber_ids)}) ORDER BY subscriber_id, tag_key",
        tuple(subscriber_ids),
    ).fetchall():
        found.setdefault(int(subscriber_id), []).append(str(tag))
    return {subscriber_id: tuple(tags) for subscriber_id, tags in found.items()}


def words_of(db: Database, recipients: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, tuple[str, ...]]]:
    """Per (channel, stored address) of `recipients`, its watch and mute words by kind as first written, in one
    query for a batch; a recipient without words is left out."""
    wanted = set(recipients)
    if not wanted:
        return {}
    addresses = sorted({address for _channel, address in wanted})
    found: dict[tuple[str, str], dict[str, list[str]]] = {}
    for channel, recipient, kind, word in db.execute(
        "SELECT channel, recipient, kind, word FROM subscriber_words"
        f" WHERE recipient IN ({', '.join('?' for _ in addresses)}) ORDER BY channel, recipient, kind, word_key",
        tuple(addresses),
    ).fetchall():
        if (str(channel), str(recipient)) in wanted:
            found.setdefault((str(channel), str(recipient)), {}).setdefault(str(kind), []).append(str(word))
    return {key: {kind: tuple(words) for kind, words in kinds.items()} for key, kinds in found.items()}


def _stored(channel: str, address: str) -> str:
    """An address as the store keeps it: email addresses lower-cased (one mailbox, one row), others as given."""
    return address.lower() if channel == EMAIL else address


@dataclass(frozen=True, slots=True)
class Subscriber:
    channel: str
    address: str  # Telegram chat id, or an email address
    hashtags: tuple[str, ...]  # as written; empty means "everything routed to subscribers"
    active: bool
    status_reason: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EmailSubscriber:
    address: str
    name: str
    hashtags: tuple[str, ...]
    active: bool  # confirmed and not unsubscribed or bounced
    confirmed_at: datetime | None
    last_digest_at: datetime | None
    status_reason: str
    linked_chat: str

    @property
    def awaiting_confirmation(self) -> bool:
        """Signed up, and the confirmation link not used yet (nor made void by unsubscribing since)."""
        return not self.active and self.status_reason == AWAITING_CONFIRMATION


@dataclass(frozen=True, slots=True)
class SignUpRequest:
    """What one sign-up asked for (`add_sign_up_request`)."""

    name: str
    hashtags: tuple[str, ...]
    linked_chat: str


class SubscribersPart(StorePart):
    # -- subscribers ------------------------------------------------------------------------------

    def subscribe(self, channel: str, address: str, now: datetime) -> bool:
        """Add or re-activate a subscriber. True if they were not an active subscriber before."""
        address = _stored(channel, address)
        with self.transaction():
            current = self._db.execute(
                "SELECT active FROM subscribers WHERE channel = ? AND address = ?", (channel, address)
            ).fetchone()
            self._db.execute(
                "INSERT INTO subscribers (channel, address, active, status_reason, created_at, updated_at)"
                " VALUES (?, ?, 1, '', ?, ?) ON CONFLICT (channel, address) DO UPDATE SET active = 1,"
                " status_reason = '', updated_at = excluded.updated_at",
                (channel, address, to_db_time(now), to_db_time(now)),
            )
            return current is None or not current[0]

    def deactivate_subscriber(self, channel: str, address: str, reason: str, now: datetime) -> bool:
        """Stop sending to a subscriber (they left, blocked the bot, bounced). True if they were active.

        What still waits for them (queued, or held for an admin's approval) is skipped, so an approval given later
        sends them nothing."""
        address = _stored(channel, address)
        with self.transaction():
            cursor = self._db.execute(
                "UPDATE subscribers SET active = 0, status_reason = ?, updated_at = ?"
                " WHERE channel = ? AND address = ? AND active = 1",
                (reason, to_db_time(now), channel, address),
            )
            if cursor.rowcount:
                self._db.execute(
                    "UPDATE outbox SET state = ?, last_error = ?, updated_at = ?"
                    " WHERE channel = ? AND recipient = ? AND state IN (?, ?)",
                    (SKIPPED, f"subscriber stopped: {reason}", to_db_time(now), channel, address, PENDING, HELD),
                )
            return cursor.rowcount > 0

    def subscriber(self, channel: str, address: str) -> Subscriber | None:
        row = self._db.execute(
            "SELECT id, channel, address, active, status_reason, created_at FROM subscribers"
            " WHERE channel = ? AND address = ?",
            (channel, _stored(channel, address)),
        ).fetchone()
        return None if row is None else self._subscriber(row)

    def _tags(self, subscriber_id: object) -> tuple[str, ...]:
        """A subscriber's hashtags as written, in the order of their keys."""
        rows = self._db.execute(
            "SELECT tag FROM subscriber_tags WHERE subscriber_id = ? ORDER BY tag_key", (subscriber_id,)
        ).fetchall()
        return tuple(str(r[0]) for r in rows)

    def _tags_by_id(self, rows: Sequence[tuple[object, ...]]) -> dict[int, tuple[str, ...]]:
        """The hashtags of the subscribers whose ids are `rows`' first column, in one query (`hashtags_of`)."""
        return hashtags_of(self._db, [int(str(row[0])) for row in rows])

    def _subscriber(self, row: tuple[object, ...], hashtags: tuple[str, ...] | None = None) -> Subscriber:
        """The subscriber of `row`, with `hashtags` when they were read already (else read now)."""
        return Subscriber(
            channel=str(row[1]),
            address=str(row[2]),
            hashtags=self._tags(row[0]) if hashtags is None else hashtags,
            active=bool(row[3]),
            status_reason=str(row[4]),
            created_at=db_time(row[5]),
        )

    def set_subscriber_tags(self, channel: str, address: str, tags: Iterable[str], now: datetime) -> None:
        """Replace a subscriber's hashtags (an empty list means: everything)."""
        with self.transaction():
            subscriber_id = self._subscriber_id(channel, address, now)
            self._db.execute("DELETE FROM subscriber_tags WHERE subscriber_id = ?", (subscriber_id,))
            self._insert_tags(subscriber_id, tags)

    def add_subscriber_tags(self, channel: str, address: str, tags: Iterable[str], now: datetime) -> None:
        with self.transaction():
            self._insert_tags(self._subscriber_id(channel, address, now), tags)

    def remove_subscriber_tags(self, channel: str, address: str, tags: Iterable[str], now: datetime) -> None:
        with self.transaction():
            subscriber_id = self._subscriber_id(channel, address, now)
            self._db.executemany(
                "DELETE FROM subscriber_tags WHERE subscriber_id = ? AND tag_key = ?",
                [(subscriber_id, normalize_tag(t)) for t in tags],
            )

    def _subscriber_id(self, channel: str, address: str, now: datetime) -> int:
        address = _stored(channel, address)
        row = self._db.execute(
            "SELECT id FROM subscribers WHERE channel = ? AND address = ?", (channel, address)
        ).fetchone()
        if row is None:
            if channel == "email":  # an email address becomes a subscriber only through double opt-in
                raise ValueError(f"no email subscriber {address!r}; use request_email_subscription")
            self.subscribe(channel, address, now)
            row = self._db.execute(
                "SELECT id FROM subscribers WHERE channel = ? AND address = ?", (channel, address)
            ).fetchone()
        return int(row[0])

    def _insert_tags(self, subscriber_id: int, tags: Iterable[str]) -> None:
        self._db.executemany(
            "INSERT INTO subscriber_tags (subscriber_id, tag_key, tag) VALUES (?, ?, ?)"
            " ON CONFLICT (subscriber_id, tag_key) DO NOTHING",
            [(subscriber_id, normalize_tag(t), t.lstrip("#")) for t in tags if normalize_tag(t)],
        )

    def subscriber_words(self, channel: str, address: str, kind: str) -> tuple[str, ...]:
        """A subscriber's watch (or mute) words as first written, in the order of their folded forms."""
        rows = self._db.execute(
            "SELECT word FROM subscriber_words WHERE channel = ? AND recipient = ? AND kind = ? ORDER BY word_key",
            (channel, _stored(channel, address), kind),
        ).fetchall()
        return tuple(str(r[0]) for r in rows)

    def words_of_subscribers(self, channel: str, addresses: Sequence[str]) -> dict[str, dict[str, tuple[str, ...]]]:
        """Per address of `addresses` (a batch of an export), its words by kind, each kind as `subscriber_words`
        gives it, in one query; an address without words is left out."""
        found = words_of(self._db, [(channel, _stored(channel, address)) for address in addresses])
        return {address: kinds for (_channel, address), kinds in found.items()}

    def add_subscriber_words(self, channel: str, address: str, kind: str, words: Iterable[str]) -> None:
        """Add watch (or mute) words; a word already there (in any spelling) keeps its first spelling."""
        with self.transaction():
            self._db.executemany(
                "INSERT INTO subscriber_words (channel, recipient, kind, word_key, word) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (channel, recipient, kind, word_key) DO NOTHING",
                [(channel, _stored(channel, address), kind, fold_word(w), w) for w in words if fold_word(w)],
            )

    def set_subscriber_words(self, channel: str, address: str, kind: str, words: Iterable[str]) -> None:
        """Replace a subscriber's watch (or mute) words with `words` (none: they have none of that kind)."""
        with self.transaction():
            self._db.execute(
                "DELETE FROM subscriber_words WHERE channel = ? AND recipient = ? AND kind = ?",
                (channel, _stored(channel, address), kind),
            )
            self.add_subscriber_words(channel, address, kind, words)

    def remove_subscriber_words(self, channel: str, address: str, kind: str, words: Iterable[str]) -> None:
        with self.transaction():
            self._db.executemany(
                "DELETE FROM subscriber_words WHERE channel = ? AND recipient = ? AND kind = ? AND word_key = ?",
                [(channel, _stored(channel, address), kind, fold_word(w)) for w in words],
            )

    def words_in_use(self, channel: str) -> list[str]:
        """Every distinct folded word any subscriber of `channel` watches or mutes (to look for in an article)."""
        rows = self._db.execute(
            "SELECT DISTINCT word_key FROM subscriber_words WHERE channel = ? ORDER BY word_key", (channel,)
        ).fetchall()
        return [str(r[0]) for r in rows]

    def count_subscribers(self, channel: str) -> dict[bool, int]:
        """active -> count."""
        rows = self._db.execute(
            "SELECT active, COUNT(*) FROM subscribers WHERE channel = ? GROUP BY active", (channel,)
        ).fetchall()
        counts = {True: 0, False: 0}
        counts.update({bool(r[0]): int(r[1]) for r in rows})
        return counts

    def iter_subscribers(self, channel: str, batch: int = 1000) -> Iterator[Subscriber]:
        """Every subscriber of a channel, in batches so memory stays flat."""
        last_id = 0
        while True:
            rows = self._db.execute(
                "SELECT id, channel, address, active, status_reason, created_at FROM subscribers"
                " WHERE channel = ? AND id > ? ORDER BY id LIMIT ?",
                (channel, last_id, batch),
            ).fetchall()
            if not rows:
                return
            tags = self._tags_by_id(rows)
            for row in rows:
                yield self._subscriber(row, tags.get(int(row[0]), ()))
            last_id = int(rows[-1][0])

    def migrate_address(self, channel: str, old: str, new: str, now: datetime) -> None:
        """A chat moved (Telegram group → supergroup): its subscription and pending rows follow it."""
        with self.transaction():
            taken = self._db.execute(
                "SELECT 1 FROM subscribers WHERE channel = ? AND address = ?", (channel, new)
            ).fetchone()
            if taken is None:
                self._db.execute(
                    "UPDATE subscribers SET address = ?, updated_at = ? WHERE channel = ? AND address = ?",
                    (new, to_db_time(now), channel, old),
                )
            self._db.execute(
                "UPDATE outbox SET recipient = ?, updated_at = ? WHERE channel = ? AND recipient = ?"
                " AND state IN (?, ?) AND NOT EXISTS (SELECT 1 FROM outbox o2"
                " WHERE o2.article_key = outbox.article_key AND o2.channel = outbox.channel AND o2.recipient = ?)",
                (new, to_db_time(now), channel, old, PENDING, HELD, new),
            )
            if taken is None:
                self._db.execute(
                    "UPDATE subscriber_words SET recipient = ? WHERE channel = ? AND recipient = ?", (new, channel, old)
                )

    # -- email subscriptions ----------------------------------------------------------------------

    def request_email_subscription(
        self,
        address: str,
        tags: Iterable[str],
        now: datetime,
        *,
        name: str = "",
        linked_chat: str = "",
        keep_pending_since: datetime | None = None,
    ) -> EmailSubscriber:
        """Record a sign-up awaiting confirmation (or update the hashtags of an existing one). Never confirms.

        With `keep_pending_since`, a sign-up still awaiting confirmation that was last requested after it keeps
        its name, hashtags and linked chat; only its time moves on. The web form and /email pass the moment before
        which confirmation links have expired: their links confirm their own request (`confirm_sign_up`), but a
        link sent before requests were kept confirms what this row holds, which must stay what was asked for
        then. Without it (an admin's import) the new values replace the old.
        """
        address = _stored(EMAIL, address)
        with self.transaction():
            if keep_pending_since is not None and self._pending_since(address, keep_pending_since):
                self._db.execute(
                    "UPDATE subscribers SET updated_at = ? WHERE channel = 'email' AND address = ?",
                    (to_db_time(now), address),
                )
            else:
                self._record_email_request(address, tags, now, name=name, linked_chat=linked_chat)
        found = self.email_subscriber(address)
        assert found is not None
        return found

    def add_sign_up_request(
        self,
        address: str,
        tags: Sequence[str],
        now: datetime,
        *,
        name: str = "",
        linked_chat: str = "",
        forget_before: datetime,
    ) -> int:
        """Keep one sign-up request as it was made; its id goes in its confirmation link (`confirm_sign_up`).

        Requests made before `forget_before` (whose links have expired) are dropped on the way.
        """
        with self.transaction():
            self._db.execute("DELETE FROM email_sign_ups WHERE requested_at < ?", (to_db_time(forget_before),))
            cursor = self._db.execute(
                "INSERT INTO email_sign_ups (address, name, hashtags, linked_chat, requested_at)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                (_stored(EMAIL, address), name, json.dumps(list(tags)), linked_chat, to_db_time(now)),
            )
            return int(cursor.fetchone()[0])

    def sign_up_request(self, request_id: int, address: str) -> SignUpRequest | None:
        """The request `request_id` if it was made for `address` and is still kept."""
        row = self._db.execute(
            "SELECT name, hashtags, linked_chat FROM email_sign_ups WHERE id = ? AND address = ?",
            (request_id, _stored(EMAIL, address)),
        ).fetchone()
        if row is None:
            return None
        return SignUpRequest(name=str(row[0]), hashtags=tuple(json.loads(row[1])), linked_chat=str(row[2]))

    def confirm_sign_up(self, address: str, request: SignUpRequest | None, now: datetime) -> bool:
        """`confirm_email`, with the name, hashtags and chat of `request` (None: those stored) taking effect.

        False, changing nothing, if there is no sign-up awaiting confirmation. The address's other requests go.
        """
        address = _stored(EMAIL, address)
        with self.transaction():
            subscriber = self.email_subscriber(address)
            if subscriber is None or not (subscriber.active or subscriber.awaiting_confirmation):
                return False
            if request is not None and not subscriber.active:
                self._db.execute(  # an empty name or chat in the request keeps the one stored
                    "UPDATE subscribers SET name = CASE WHEN ? != '' THEN ? ELSE name END,"
                    " linked_chat = CASE WHEN ? != '' THEN ? ELSE linked_chat END"
                    " WHERE channel = 'email' AND address = ?",
                    (request.name, request.name, request.linked_chat, request.linked_chat, address),
                )
                self.set_subscriber_tags(EMAIL, address, request.hashtags, now)
            self._db.execute("DELETE FROM email_sign_ups WHERE address = ?", (address,))
            return self.confirm_email(address, now)

    def _pending_since(self, address: str, since: datetime) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM subscribers WHERE channel = 'email' AND address = ? AND active = 0 AND status_reason = ?"
            " AND updated_at > ?",
            (address, AWAITING_CONFIRMATION, to_db_time(since)),
        ).fetchone()
        return row is not None

    def _record_email_request(
        self, address: str, tags: Iterable[str], now: datetime, *, name: str, linked_chat: str
    ) -> None:
        self._db.execute(
            "INSERT INTO subscribers (channel, address, active, status_reason, created_at, updated_at, name,"
            " linked_chat) VALUES ('email', ?, 0, ?, ?, ?, ?, ?)"
            " ON CONFLICT (channel, address) DO UPDATE SET updated_at = excluded.updated_at,"
            " status_reason = CASE WHEN subscribers.active = 0 THEN excluded.status_reason"
            " ELSE subscribers.status_reason END,"
            " name = CASE WHEN excluded.name != '' THEN excluded.name ELSE subscribers.name END,"
            " linked_chat = CASE WHEN excluded.linked_chat != '' THEN excluded.linked_chat"
            " ELSE subscribers.linked_chat END",
            (address, AWAITING_CONFIRMATION, to_db_time(now), to_db_time(now), name, linked_chat),
        )
        self.set_subscriber_tags(EMAIL, address, tags, now)

    def confirm_email(self, address: str, now: datetime) -> bool:
        """Double opt-in done: the address gets digests. False if there is no sign-up awaiting confirmation.

        Someone who unsubscribed (or bounced) is not brought back by an old confirmation link: only a new
        sign-up puts the address back to "awaiting confirmation". Confirming twice is harmless.
        """
        with self.transaction():
            cursor = self._db.execute(
                "UPDATE subscribers SET active = 1, status_reason = '', updated_at = ?,"
                " confirmed_at = COALESCE(confirmed_at, ?) WHERE channel = 'email' AND address = ?"
                " AND (active = 1 OR status_reason = ?)",
                (to_db_time(now), to_db_time(now), _stored(EMAIL, address), AWAITING_CONFIRMATION),
            )
            return cursor.rowcount > 0

    def email_subscriber(self, address: str) -> EmailSubscriber | None:
        row = self._db.execute(
            "SELECT id, address, name, active, confirmed_at, last_digest_at, status_reason, linked_chat"
            " FROM subscribers WHERE channel = 'email' AND address = ?",
            (_stored(EMAIL, address),),
        ).fetchone()
        return None if row is None else self._email_subscriber(row)

    def _email_subscriber(self, row: tuple[object, ...], hashtags: tuple[str, ...] | None = None) -> EmailSubscriber:
        """The email subscriber of `row`, with `hashtags` when they were read already (else read now)."""
        return EmailSubscriber(
            address=str(row[1]),
            name=str(row[2]),
            hashtags=self._tags(row[0]) if hashtags is None else hashtags,
            active=bool(row[3]),
            confirmed_at=from_db_time(row[4] if isinstance(row[4], str) else None),
            last_digest_at=from_db_time(row[5] if isinstance(row[5], str) else None),
            status_reason=str(row[6]),
            linked_chat=str(row[7]),
        )

    def iter_email_subscribers(self, *, active_only: bool = True, batch: int = 1000) -> Iterator[EmailSubscriber]:
        last_id = 0
        while True:
            rows = self._db.execute(
                "SELECT id, address, name, active, confirmed_at, last_digest_at, status_reason, linked_chat"
                " FROM subscribers WHERE channel = 'email' AND id > ? AND (active = 1 OR ? = 0) ORDER BY id LIMIT ?",
                (last_id, int(active_only), batch),
            ).fetchall()
            if not rows:
                return
            tags = self._tags_by_id(rows)
            for row in rows:
                yield self._email_subscriber(row, tags.get(int(str(row[0])), ()))
            last_id = int(str(rows[-1][0]))

    # -- limits -----------------------------------------------------------------------------------

    def take_rate_slot(self, kind: str, key: str, now: datetime, *, limit: int, window: timedelta) -> timedelta:
        """Count one `kind` event for `key` unless `limit` were counted in the `window` up to `now`.

        Returns zero when it was counted, else how long until one would fit. Kept in the state file, in one write
        transaction, so every process that takes slots (`newsbot run`, a separate `newsbot web`) shares the count;
        events older than the window are pruned as it goes.
        """
        since = to_db_time(now - window)
        with self.transaction():
            self._db.execute("DELETE FROM rate_events WHERE kind = ? AND at <= ?", (kind, since))
            row = self._db.execute(
                "SELECT COUNT(*), MIN(at) FROM rate_events WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
            if int(row[0]) >= limit:
                return max(db_time(row[1]) + window - now, timedelta(seconds=1))
            self._db.execute("INSERT INTO rate_events (kind, key, at) VALUES (?, ?, ?)", (kind, key, to_db_time(now)))
        return timedelta(0)
