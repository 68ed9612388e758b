"""The weekly digest: when it is due, and sending it once.

The digest is due once the most recent scheduled time (`[email] digest_day` at `digest_time` in `timezone`)
has passed since the last digest. A bot that was down over several scheduled times sends one digest when it
comes back, not one per missed week.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.config import WEEKDAYS, EmailConfig
from bot.logs import kv
from bot.publishers.base import DigestPublisher
from bot.render import Renderer
from bot.store import SqliteStore, from_db_time, to_db_time

log = logging.getLogger("newsbot.digest")

LAST_DIGEST_KEY = "digest.last_sent"
RETRY_AT_KEY = "digest.retry_at"
CHANNEL = "email"
RETRY_DELAY = timedelta(minutes=10)


def last_scheduled(now: datetime, email: EmailConfig) -> datetime:
    """The most recent scheduled digest time at or before `now`."""
    zone = ZoneInfo(email.timezone)
    local = now.astimezone(zone)
    hour, minute = (int(p) for p in email.digest_time.split(":"))
    days_back = (local.weekday() - WEEKDAYS.index(email.digest_day)) % 7
    for back in (days_back, days_back + 7):
        day = local.date() - timedelta(days=back)
        candidate = datetime.combine(day, time(hour, minute), tzinfo=zone)
        if candidate <= local:
            return candidate.astimezone(now.tzinfo)
    raise AssertionError("a weekly time always exists within two weeks")


def is_due(now: datetime, last_sent: datetime | None, email: EmailConfig) -> bool:
    return last_sent is not None and last_sent < last_scheduled(now, email)


def run_digest(
    store: SqliteStore,
    renderer: Renderer,
    publisher: DigestPublisher,
    email: EmailConfig,
    now: datetime,
    *,
    force: bool = False,
) -> int:
    """Send the digest if due (or forced). Returns the number of articles in it (0: nothing sent)."""
    last_sent = from_db_time(store.get_meta(LAST_DIGEST_KEY))
    if last_sent is None and not force:
        # First start: the first digest goes out at the next scheduled time, not at once.
        store.set_meta(LAST_DIGEST_KEY, to_db_time(now))
        return 0
    retry_at = from_db_time(store.get_meta(RETRY_AT_KEY))
    if not force and (not is_due(now, last_sent, email) or (retry_at is not None and now < retry_at)):
        return 0
    rows = store.pending_rows(CHANNEL)
    articles = [a for row in rows if (a := store.get_article(row.article_key)) is not None]
    if not articles:
        store.set_meta(LAST_DIGEST_KEY, to_db_time(now))
        log.info("%s", kv(event="digest_skipped", reason="nothing new since the last digest"))
        return 0
    digest = renderer.render_digest(articles, title=email.digest_title)
    try:
        receipt = publisher.send_digest(digest, "digest")
    except Exception as exc:  # kept pending; tried again after RETRY_DELAY
        store.set_meta(RETRY_AT_KEY, to_db_time(now + RETRY_DELAY))
        log.error("%s", kv(event="digest_failed", reason=str(exc), retry_in=int(RETRY_DELAY.total_seconds())))
        return 0
    with store.transaction():
        for row in rows:
            store.mark_sent(row.id, receipt.remote_id, now)
        store.set_meta(LAST_DIGEST_KEY, to_db_time(now))
        store.set_meta(RETRY_AT_KEY, "")
    log.info("%s", kv(event="digest_sent", articles=len(articles), remote_id=receipt.remote_id))
    return len(articles)
