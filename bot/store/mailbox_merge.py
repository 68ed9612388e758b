"""Schema 5's one-off merge: one email subscriber per mailbox (see `merge_mailbox_duplicates`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from bot.store.db import Database
from bot.store.states import FAILED, PENDING, SENT, SKIPPED, UNKNOWN
from bot.store.subscribers import EMAIL

# Of two deliveries of one digest to two spellings of a mailbox, the one furthest along is kept: never send again
# what went out (or may have).
_DELIVERY_RANK = {SENT: 0, UNKNOWN: 1, PENDING: 2, FAILED: 3, SKIPPED: 4}


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    address: str
    active: bool
    name: str
    linked_chat: str
    created_at: str
    updated_at: str
    confirmed_at: str | None
    last_digest_at: str | None


def merge_mailbox_duplicates(db: Database) -> None:
    """Schema 5: email addresses lower-cased, and rows that differed only in case merged into one.

    Addresses used to be stored as typed, so `Bob@Example.NET` and `bob@example.net` were two subscribers and got
    two digests. For each mailbox:
    - if any of its rows is active, the active row confirmed first is kept. It follows every hashtag the active
      rows followed (none, meaning everything, if one of them followed none), so the reader loses no article;
      its confirmation is the earliest, its last digest the latest (so nothing comes twice), its name and linked
      chat its own or else another row's. A confirmed subscription is never lost.
    - if none is active, the most recently changed row is kept as it is: an unsubscribe or a bounce stands.
    The other rows go; the digest ledger follows the kept row (see `_DELIVERY_RANK`).
    """
    rows = db.execute(
        "SELECT id, address, active, name, linked_chat, created_at, updated_at, confirmed_at, last_digest_at"
        " FROM subscribers WHERE channel = ? ORDER BY id",
        (EMAIL,),
    ).fetchall()
    mailboxes: defaultdict[str, list[_Row]] = defaultdict(list)
    for row in rows:
        found = _Row(
            id=int(row[0]),
            address=str(row[1]),
            active=bool(row[2]),
            name=str(row[3]),
            linked_chat=str(row[4]),
            created_at=str(row[5]),
            updated_at=str(row[6]),
            confirmed_at=None if row[7] is None else str(row[7]),
            last_digest_at=None if row[8] is None else str(row[8]),
        )
        mailboxes[found.address.lower()].append(found)
    for mailbox, group in mailboxes.items():
        if len(group) > 1 or group[0].address != mailbox:
            _merge_mailbox(db, mailbox, group)


def _merge_mailbox(db: Database, mailbox: str, group: list[_Row]) -> None:
    active = [row for row in group if row.active]
    if active:
        kept = min(active, key=lambda row: (row.confirmed_at is None, row.confirmed_at or "", row.id))
    else:
        kept = max(group, key=lambda row: (row.updated_at, row.id))
    others = [row for row in group if row is not kept]
    if active:
        _merge_tags(db, kept, [row for row in active if row is not kept])
        db.execute(
            "UPDATE subscribers SET confirmed_at = ?, last_digest_at = ? WHERE id = ?",
            (
                min((row.confirmed_at for row in active if row.confirmed_at), default=None),
                max((row.last_digest_at for row in active if row.last_digest_at), default=None),
                kept.id,
            ),
        )
    by_recency = [kept, *sorted(others, key=lambda row: row.updated_at, reverse=True)]
    db.execute(
        "UPDATE subscribers SET name = ?, linked_chat = ?, created_at = ? WHERE id = ?",
        (
            next((row.name for row in by_recency if row.name), ""),
            next((row.linked_chat for row in by_recency if row.linked_chat), ""),
            min(row.created_at for row in group),
            kept.id,
        ),
    )
    for row in others:
        db.execute("DELETE FROM subscriber_tags WHERE subscriber_id = ?", (row.id,))
        db.execute("DELETE FROM subscribers WHERE id = ?", (row.id,))
    db.execute("UPDATE subscribers SET address = ? WHERE id = ?", (mailbox, kept.id))
    _merge_deliveries(db, mailbox, [row.address for row in group])


def _merge_tags(db: Database, kept: _Row, others: list[_Row]) -> None:
    def follows_everything(row: _Row) -> bool:
        return db.execute("SELECT 1 FROM subscriber_tags WHERE subscriber_id = ?", (row.id,)).fetchone() is None

    if follows_everything(kept) or any(follows_everything(row) for row in others):
        db.execute("DELETE FROM subscriber_tags WHERE subscriber_id = ?", (kept.id,))
        return
    for row in others:
        db.execute(
            "INSERT INTO subscriber_tags (subscriber_id, tag_key, tag) SELECT ?, tag_key, tag FROM subscriber_tags"
            " WHERE subscriber_id = ? ON CONFLICT (subscriber_id, tag_key) DO NOTHING",
            (kept.id, row.id),
        )


def _merge_deliveries(db: Database, mailbox: str, spellings: list[str]) -> None:
    marks = ", ".join("?" for _ in spellings)
    rows = db.execute(
        f"SELECT digest_id, address, state FROM digest_deliveries WHERE address IN ({marks})", spellings
    ).fetchall()
    by_digest: defaultdict[str, list[tuple[str, str]]] = defaultdict(list)
    for digest_id, address, state in rows:
        by_digest[str(digest_id)].append((str(address), str(state)))
    for digest_id, deliveries in by_digest.items():
        best = min(deliveries, key=lambda delivery: (_DELIVERY_RANK.get(delivery[1], len(_DELIVERY_RANK)), delivery))
        for address, _state in deliveries:
            if address != best[0]:
                db.execute("DELETE FROM digest_deliveries WHERE digest_id = ? AND address = ?", (digest_id, address))
        db.execute(
            "UPDATE digest_deliveries SET address = ? WHERE digest_id = ? AND address = ?",
            (mailbox, digest_id, best[0]),
        )
