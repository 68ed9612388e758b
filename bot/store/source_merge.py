"""Schema 20's one-off merge: one added source per URL (see `merge_source_duplicates`)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.hashtags import unique
from bot.store.articles import SOURCES_CHANGES_KEY, url_key
from bot.store.db import Database
from bot.store.meta import REQUEST_DRAIN_SQL as COUNT_UP_SQL


@dataclass(frozen=True, slots=True)
class _Added:
    name: str
    url: str
    hashtags: list[str]
    paused: bool


def merge_source_duplicates(db: Database) -> None:
    """Schema 20: each added source gets its `url_key`, and sources added twice with one URL become one.

    Two admins adding one URL at once (two workers, or two chat commands) could make two sources polling one feed:
    every article was fetched twice (posted once: an article is known by its guid and link, whichever source found
    it first). For each URL held by several added sources, the oldest (`added_at`, then name) is kept, and it:
    - follows the hashtags of all of them (its own first), so every article still gets the hashtags it got before;
    - stays paused only if all of them were paused: the feed was polled if any one was.
    The others are removed as `remove_source` removes one: their poll state row is kept (rows are never deleted),
    unpaused so that a later source with the same name starts unpaused. Their articles keep their name as `source`
    (the name they were found under); an open alert about one is closed when newsbot starts
    (`bot.alerts.forget_gone_sources`). Running workers read the sources again (the changes count goes up).
    """
    rows = db.execute(
        "SELECT a.name, a.url, a.hashtags, COALESCE(s.paused, 0) FROM added_sources a"
        " LEFT JOIN sources s ON s.name = a.name ORDER BY a.added_at, a.name"
    ).fetchall()
    by_url: dict[str, list[_Added]] = {}
    for name, url, hashtags, paused in rows:
        by_url.setdefault(str(url), []).append(_Added(str(name), str(url), json.loads(str(hashtags)), bool(paused)))
    merged = False
    for group in by_url.values():
        if len(group) > 1:
            _merge(db, group)
            merged = True
    db.executemany(
        "UPDATE added_sources SET url_key = ? WHERE name = ?",
        [(url_key(group[0].url), group[0].name) for group in by_url.values()],
    )
    if merged:
        db.execute(COUNT_UP_SQL, (SOURCES_CHANGES_KEY,))


def _merge(db: Database, group: list[_Added]) -> None:
    kept, others = group[0], group[1:]
    hashtags = unique([tag for source in group for tag in source.hashtags])
    db.execute("UPDATE added_sources SET hashtags = ? WHERE name = ?", (json.dumps(hashtags), kept.name))
    if kept.paused and not all(source.paused for source in others):
        db.execute("UPDATE sources SET paused = 0 WHERE name = ?", (kept.name,))
    for source in others:
        db.execute("DELETE FROM added_sources WHERE name = ?", (source.name,))
        db.execute("UPDATE sources SET paused = 0 WHERE name = ?", (source.name,))
