"""What the control room shows (read only): sends and failures per day and channel, the deliveries ledger as a
filtered list (with each article's link), subscribers found by chat id or address (with their hashtags and their
watch and mute words), and active subscribers per hashtag.

Where a channel's sends are recorded:
- Telegram and X (every channel the outbox publishes item by item): one outbox row per (article, channel,
  recipient); its state is the outcome and `updated_at` the moment of it.
- The email digest (`DIGEST_CHANNEL`): one `digest_deliveries` row per (digest, address) is one mail. The
  channel's outbox rows (recipient "digest") only say which digest took an article (their `remote_id` is the
  digest's id): they are not mails, so the send counts leave them out and count the deliveries instead.

In the deliveries list a digest mail is a row of its own: channel email, recipient the address, no article, its
title "Digest <id>", `digest_id` set. An article's own email row ("digest", sent, `digest_id` = the digest that
took it) stays in the list too, so filtering by article shows which digest carried it; digest mails carry no
article, so an article filter leaves them out.

Days are UTC days (the store's times are UTC text: the first ten characters are the day). The list is newest
first in a stable order (time, then posts before digest mails, then row id / digest id and address, all
descending) and pages by keyset (`DeliveryCursor`), so a page costs the same however deep it is and rows written
meanwhile never shift the next page.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from bot.channels import REGISTRY
from bot.store.articles import key_prefix_pattern
from bot.store.part import StorePart
from bot.store.states import FAILED, SENT, STATES
from bot.store.subscribers import EMAIL, MUTE, WATCH, hashtags_of, words_of
from bot.store.times import db_time, to_db_time

DIGEST_CHANNEL = EMAIL  # digest_deliveries are this channel's mails
PAGE_SIZE = 50  # rows of a list page
EXPORT_BATCH = 500  # rows read at a time by the export iterators
_POST_SELECT = (
    "SELECT o.id, o.article_key, COALESCE(a.title, ''), o.channel, o.recipient, o.state, o.updated_at, o.last_error,"
    " o.remote_id, COALESCE(a.link, '') FROM outbox o LEFT JOIN articles a ON a.key = o.article_key"
)
_POST, _DIGEST = 1, 0  # the kind of a delivery row, in its sort order (posts first at the same moment)


@dataclass(frozen=True, slots=True)
class DaySends:
    day: date  # UTC
    channel: str
    sent: int
    failed: int


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    """What the Deliveries page filters by; an empty field does not filter."""

    article: str = ""  # an article key or its start (any case)
    channel: str = ""
    recipient: str = ""  # exactly: a chat id, "channel", "timeline", "digest", or an email address (any case)
    outcome: str = ""  # a state of bot.store.states: sent, failed, skipped, pending, held, unknown

    def __post_init__(self) -> None:
        if self.outcome and self.outcome not in STATES:
            raise ValueError(f"unknown outcome “{self.outcome}”: expected one of {', '.join(STATES)}")


@dataclass(frozen=True, slots=True, order=True)
class DeliveryCursor:
    """Where a page of deliveries ends: the next page starts after it. `token` / `parse` carry it in a URL."""

    at: str  # store time
    kind: int
    row_id: int  # outbox id (posts), 0 for digest mails
    digest_id: str = ""
    address: str = ""

    @property
    def token(self) -> str:
        return "~".join((self.at, str(self.kind), str(self.row_id), self.digest_id, self.address))

    @classmethod
    def parse(cls, token: str) -> DeliveryCursor:
        """The cursor a `token` holds; ValueError (say: start from the first page) if it is not one."""
        parts = token.split("~", 4)
        try:
            db_time(parts[0])
            cursor = cls(parts[0], int(parts[1]), int(parts[2]), parts[3], parts[4])
        except (ValueError, IndexError):
            raise ValueError("not a page of the deliveries list; start again from the first page") from None
        if cursor.kind not in (_POST, _DIGEST):
            raise ValueError("not a page of the deliveries list; start again from the first page")
        return cursor


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One row of the deliveries list."""

    article_key: str  # "" for a digest mail
    title: str  # the article's title, or "Digest <id>"
    channel: str
    recipient: str
    state: str
    at: datetime  # when the row last changed: the outcome's moment once it is sent, failed or skipped
    error: str
    digest_id: str  # a digest mail's digest; for an article's email row, the digest that took it; else ""
    cursor: DeliveryCursor
    link: str = ""  # the article's own link ("" for a digest mail)


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    rows: tuple[DeliveryRecord, ...]
    next: DeliveryCursor | None  # None: this is the last page


@dataclass(frozen=True, slots=True)
class SubscriberFilter:
    """What the Subscribers page searches by; an empty field does not filter."""

    query: str = ""  # a chat id or an email address (any case), or the start of one with `prefix`
    prefix: bool = True
    channel: str = ""
    active: bool | None = None


@dataclass(frozen=True, slots=True)
class SubscriberRecord:
    id: int
    channel: str
    address: str
    name: str
    hashtags: tuple[str, ...]  # as written; empty: follows everything
    active: bool
    status_reason: str
    created_at: datetime
    watching: tuple[str, ...] = ()  # words that also bring them articles (/watch), as first written
    muting: tuple[str, ...] = ()  # words that keep articles from them (/mute)


@dataclass(frozen=True, slots=True)
class HashtagCounts:
    """Active subscribers of one channel per hashtag they follow, most followed first."""

    channel: str
    everything: int  # active subscribers who follow no hashtag (they get everything routed to subscribers)
    tags: tuple[tuple[str, int], ...]  # (hashtag as first written, active subscribers following it)


def _day(stamp: object) -> date:
    return date.fromisoformat(str(stamp))


class ReportsPart(StorePart):
    # -- sends ------------------------------------------------------------------------------------

    def sends_per_day(self, since: datetime) -> list[DaySends]:
        """Sends and failures per UTC day and channel from `since` on, by day then channel (days without any are
        left out: `bot.control.charts.daily_series` fills them in)."""
        found: dict[tuple[date, str], list[int]] = {}
        for day, channel, state, count in self._outcomes(since, "substr({t}, 1, 10)"):
            found.setdefault((_day(day), channel), [0, 0])[state == FAILED] += count
        return [DaySends(day, channel, *counts) for (day, channel), counts in sorted(found.items())]

    def _outcomes(self, since: datetime, bucket: str) -> Iterator[tuple[str, str, str, int]]:
        """(bucket, channel, state, count) of sent and failed posts and digest mails since `since`."""
        stamp = to_db_time(since)
        channels = _posting_channels()
        posts = self._db.execute(  # `channel IN` lets it read the index (channel, state, updated_at) alone
            f"SELECT {bucket.format(t='updated_at')}, channel, state, COUNT(*) FROM outbox"
            f" WHERE channel IN ({', '.join('?' for _ in channels)}) AND state IN (?, ?) AND updated_at >= ?"
            " GROUP BY 1, channel, state",
            (*channels, SENT, FAILED, stamp),
        ).fetchall()
        mails = self._db.execute(
            f"SELECT {bucket.format(t='updated_at')}, state, COUNT(*) FROM digest_deliveries"
            " WHERE updated_at >= ? AND state IN (?, ?) GROUP BY 1, state",
            (stamp, SENT, FAILED),
        ).fetchall()
        for row in posts:
            yield str(row[0]), str(row[1]), str(row[2]), int(row[3])
        for row in mails:
            yield str(row[0]), DIGEST_CHANNEL, str(row[1]), int(row[2])

    # -- deliveries -------------------------------------------------------------------------------

    def deliveries(
        self, where: DeliveryFilter, after: DeliveryCursor | None = None, limit: int = PAGE_SIZE
    ) -> DeliveryPage:
        """One page of the deliveries `where` selects, newest first, starting after `after` (see the module
        docstring for the order and for how digest mails appear)."""
        posts = self._post_deliveries(where, after, limit + 1)
        mails = self._digest_deliveries(where, after, limit + 1)
        merged = list(heapq.merge(posts, mails, key=lambda r: r.cursor, reverse=True))[: limit + 1]
        rows = tuple(merged[:limit])
        return DeliveryPage(rows, rows[-1].cursor if len(merged) > limit else None)

    def iter_deliveries(self, where: DeliveryFilter, batch: int = EXPORT_BATCH) -> Iterator[DeliveryRecord]:
        """Every delivery `where` selects, in the list's order, read `batch` at a time (the CSV export)."""
        after: DeliveryCursor | None = None
        while True:
            page = self.deliveries(where, after, batch)
            yield from page.rows
            if page.next is None:
                return
            after = page.next

    def _post_deliveries(self, where: DeliveryFilter, after: DeliveryCursor | None, limit: int) -> list[DeliveryRecord]:
        """The first `limit` outbox rows `where` selects after `after`: one query per channel, each read in order
        from an index that starts with the channel (whatever the other filters), merged newest first."""
        conditions, params = _post_conditions(where, after)
        # An article's or a chat's rows are few next to the table: found by their own index and sorted, rather
        # than walking the channel's whole history newest first for the few that match (SQLite, lacking
        # statistics, would otherwise walk it for the ORDER BY's sake; `|| ''` keeps the order, not the index).
        moment = "o.updated_at || ''" if where.article or where.recipient else "o.updated_at"
        channels = (where.channel,) if where.channel else tuple(REGISTRY)
        per_channel = [
            [
                _post_record(row)
                for row in self._db.execute(
                    f"{_POST_SELECT} WHERE o.channel = ?{conditions} ORDER BY {moment} DESC, o.id DESC LIMIT ?",
                    (channel, *params, limit),
                ).fetchall()
            ]
            for channel in channels
        ]
        return list(heapq.merge(*per_channel, key=lambda r: r.cursor, reverse=True))[:limit]

    def _digest_deliveries(
        self, where: DeliveryFilter, after: DeliveryCursor | None, limit: int
    ) -> list[DeliveryRecord]:
        if where.article or where.channel not in ("", DIGEST_CHANNEL):
            return []  # a digest mail carries no one article, and is only of the digest channel
        conditions: list[str] = ["1 = 1"]
        params: list[object] = []
        if where.recipient:
            conditions.append("d.address = ?")
            params.append(where.recipient.lower())  # the store keeps email addresses lower-cased
        if where.outcome:
            conditions.append("d.state = ?")
            params.append(where.outcome)
        if after is not None:
            conditions.append(_digest_after(after))
            params += [after.at, after.at] if after.kind == _POST else [after.at, after.at, *_digest_key(after)]
        rows = self._db.execute(
            "SELECT d.digest_id, d.address, d.state, d.updated_at, d.last_error FROM digest_deliveries d"
            f" WHERE {' AND '.join(conditions)} ORDER BY d.updated_at DESC, d.digest_id DESC, d.address DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
        return [_digest_record(row) for row in rows]

    # -- subscribers ------------------------------------------------------------------------------

    def find_subscribers(
        self, where: SubscriberFilter, before_id: int | None = None, limit: int = PAGE_SIZE
    ) -> list[SubscriberRecord]:
        """Subscribers `where` selects, newest first, with ids below `before_id` (the next page starts below the
        last id shown). An address matches in any case (the store keeps email addresses lower-cased)."""
        conditions: list[str] = ["1 = 1"]
        params: list[object] = []
        query = where.query.strip()
        if query:
            if where.prefix:
                conditions.append("substr(s.address, 1, ?) IN (?, ?)")
                params += [len(query), query, query.lower()]
            else:
                conditions.append("s.address IN (?, ?)")
                params += [query, query.lower()]
        if where.channel:
            conditions.append("s.channel = ?")
            params.append(where.channel)
        if where.active is not None:
            conditions.append("s.active = ?")
            params.append(int(where.active))
        if before_id is not None:
            conditions.append("s.id < ?")
            params.append(before_id)
        rows = self._db.execute(
            "SELECT s.id, s.channel, s.address, s.name, s.active, s.status_reason, s.created_at FROM subscribers s"
            f" WHERE {' AND '.join(conditions)} ORDER BY s.id DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
        tags = hashtags_of(self._db, [int(row[0]) for row in rows])
        words = words_of(self._db, [(str(row[1]), str(row[2])) for row in rows])
        return [
            _subscriber_record(row, tags.get(int(row[0]), ()), words.get((str(row[1]), str(row[2])), {}))
            for row in rows
        ]

    def iter_found_subscribers(self, where: SubscriberFilter, batch: int = EXPORT_BATCH) -> Iterator[SubscriberRecord]:
        """Every subscriber `where` selects, newest first, read `batch` at a time (the CSV export)."""
        before: int | None = None
        while True:
            page = self.find_subscribers(where, before, batch)
            yield from page
            if len(page) < batch:
                return
            before = page[-1].id

    def hashtag_counts(self) -> list[HashtagCounts]:
        """Per channel with subscribers, its active subscribers per hashtag, most followed first."""
        tagged = self._db.execute(
            "SELECT s.channel, t.tag_key, MIN(t.tag), COUNT(*) FROM subscriber_tags t"
            " JOIN subscribers s ON s.id = t.subscriber_id WHERE s.active = 1"
            " GROUP BY s.channel, t.tag_key ORDER BY s.channel, COUNT(*) DESC, t.tag_key"
        ).fetchall()
        untagged = self._db.execute(
            "SELECT s.channel, COUNT(*) FROM subscribers s WHERE s.active = 1"
            " AND NOT EXISTS (SELECT 1 FROM subscriber_tags t WHERE t.subscriber_id = s.id) GROUP BY s.channel"
        ).fetchall()
        everything = {str(row[0]): int(row[1]) for row in untagged}
        tags: dict[str, list[tuple[str, int]]] = {}
        for row in tagged:
            tags.setdefault(str(row[0]), []).append((str(row[2]), int(row[3])))
        return [
            HashtagCounts(channel, everything.get(channel, 0), tuple(tags.get(channel, ())))
            for channel in sorted(everything.keys() | tags.keys())
        ]


def _posting_channels() -> tuple[str, ...]:
    """The channels whose outbox rows are their sends: those the outbox publishes item by item."""
    return tuple(described.name for described in REGISTRY.values() if described.build_publisher is not None)


def _post_conditions(where: DeliveryFilter, after: DeliveryCursor | None) -> tuple[str, list[object]]:
    """What `where` and `after` ask of an outbox row `o` besides its channel (SQL to append, and its parameters)."""
    sql, params = "", list[object]()
    if where.article:
        sql += " AND o.article_key IN (SELECT k.key FROM articles k WHERE LOWER(k.key) LIKE ?)"
        params.append(key_prefix_pattern(where.article))
    if where.recipient:
        sql += " AND o.recipient = ?"
        params.append(where.recipient)
    if where.outcome:
        sql += " AND o.state = ?"
        params.append(where.outcome)
    if after is not None:  # posts come before digest mails at the same moment: none is left after a digest mail
        sql += " AND (o.updated_at < ? OR (o.updated_at = ? AND o.id < ?))"
        params += [after.at, after.at, after.row_id if after.kind == _POST else 0]
    return sql, params


def _digest_after(after: DeliveryCursor) -> str:
    """The condition on a digest mail `d` that it comes after `after` in the list's order."""
    if after.kind == _POST:  # at the same moment every digest mail comes after every post
        return "(d.updated_at < ? OR d.updated_at = ?)"
    return "(d.updated_at < ? OR (d.updated_at = ? AND (d.digest_id < ? OR (d.digest_id = ? AND d.address < ?))))"


def _digest_key(after: DeliveryCursor) -> list[str]:
    return [after.digest_id, after.digest_id, after.address]


def _post_record(row: tuple[object, ...]) -> DeliveryRecord:
    at = str(row[6])
    channel, state, remote_id = str(row[3]), str(row[5]), str(row[8])
    return DeliveryRecord(
        article_key=str(row[1]),
        title=str(row[2]),
        channel=channel,
        recipient=str(row[4]),
        state=state,
        at=db_time(at),
        error=str(row[7]),
        digest_id=remote_id if channel == DIGEST_CHANNEL and state == SENT else "",
        cursor=DeliveryCursor(at, _POST, int(str(row[0]))),
        link=str(row[9]),
    )


def _digest_record(row: tuple[object, ...]) -> DeliveryRecord:
    digest_id, address, at = str(row[0]), str(row[1]), str(row[3])
    return DeliveryRecord(
        article_key="",
        title=f"Digest {digest_id}",
        channel=DIGEST_CHANNEL,
        recipient=address,
        state=str(row[2]),
        at=db_time(at),
        error=str(row[4]),
        digest_id=digest_id,
        cursor=DeliveryCursor(at, _DIGEST, 0, digest_id, address),
    )


def _subscriber_record(
    row: tuple[object, ...], hashtags: tuple[str, ...], words: dict[str, tuple[str, ...]]
) -> SubscriberRecord:
    return SubscriberRecord(
        id=int(str(row[0])),
        channel=str(row[1]),
        address=str(row[2]),
        name=str(row[3]),
        hashtags=hashtags,
        active=bool(row[4]),
        status_reason=str(row[5]),
        created_at=db_time(row[6]),
        watching=words.get(WATCH, ()),
        muting=words.get(MUTE, ()),
    )
