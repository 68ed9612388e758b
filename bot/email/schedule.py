"""The weekly digest: when it is due, sending it once, and previewing what a reader would get.

The digest is due once the most recent scheduled time (`[email] digest_day` at `digest_time` in `timezone`)
has passed since the last digest. A bot that was down over several scheduled times sends one digest when it
comes back, not one per missed week. On the very first start no digest goes out: the first one waits for the
first scheduled time.

There is one path: `run_digest` starts a digest when due and works through its deliveries with an
`EmailDigest`, whose sender is SMTP or, in a dry run, `.eml` files. `preview` shows the articles that path would
mail a reader, picked by the same function (`bot.email.selection.articles_for`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.addresses import InputRuleError, parse_address
from bot.config import WEEKDAYS, Config, EmailConfig
from bot.email.delivery import DeliveryReport, EmailDigest
from bot.email.selection import EmailArticles, articles_for
from bot.logs import kv
from bot.render import Digest, Renderer
from bot.store import EMAIL, EmailSubscriber, from_db_time, to_db_time

log = logging.getLogger("newsbot.digest")

LAST_DIGEST_KEY = "digest.last_sent"  # the latest digest's start, or the first start (which sends none)


def digest_in_use(config: Config) -> bool:
    """Whether any route sends to email, so that there is a weekly digest to send."""
    return EMAIL in config.channels_in_use()


class ScheduleStore(EmailArticles, Protocol):
    """What deciding when the digest is due and previewing it need of the store (`bot.store.Store` is one)."""

    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def transaction(self) -> AbstractContextManager[None]: ...
    def latest_period_end(self) -> datetime | None: ...
    def email_subscriber(self, address: str) -> EmailSubscriber | None: ...


class NotASubscriber(ValueError):
    """A preview was asked for an address that `digest --send` would not mail; the message says why."""


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


def next_scheduled(now: datetime, email: EmailConfig) -> datetime:
    """The first scheduled digest time after `now` (a week after `last_scheduled`, at the same local time)."""
    zone = ZoneInfo(email.timezone)
    previous = last_scheduled(now, email).astimezone(zone)
    following = datetime.combine(previous.date() + timedelta(days=7), previous.time(), tzinfo=zone)
    return following.astimezone(now.tzinfo)


def is_due(now: datetime, last_sent: datetime | None, email: EmailConfig) -> bool:
    return last_sent is not None and last_sent < last_scheduled(now, email)


def run_digest(
    store: ScheduleStore,
    mail: EmailDigest,
    email: EmailConfig,
    clock: Callable[[], datetime],
    *,
    force: bool = False,
    request_key: str = "",
    should_stop: Callable[[], bool] = lambda: False,
) -> DeliveryReport:
    """Start a digest if one is due (or `force`, or the meta value `request_key` is "1": an admin's /digest send,
    taken as the digest starts), then deliver whatever is due, this digest's or an earlier one's.

    Deciding and starting happen in one write transaction, so that of several workers sharing the state one starts
    the digest and the others see it started; the deliveries are then shared out (`EmailDigest.deliver`).
    A stop request ends the batch after the mail in flight; the rest stays pending in the ledger.
    """
    with store.transaction():
        _start_if_due(store, mail, email, clock(), force=force, request_key=request_key)
    report = mail.deliver(clock, should_stop)
    if report.stopped:
        log.error("%s", kv(event="digest_stopped", reason=report.stopped))
    return report


def _start_if_due(
    store: ScheduleStore, mail: EmailDigest, email: EmailConfig, now: datetime, *, force: bool, request_key: str
) -> None:
    requested = bool(request_key) and store.get_meta(request_key) == "1"
    last_sent = from_db_time(store.get_meta(LAST_DIGEST_KEY))
    if last_sent is None and not (force or requested):
        store.set_meta(LAST_DIGEST_KEY, to_db_time(now))  # first start: wait for the first scheduled time
    elif force or requested or is_due(now, last_sent, email):
        mail.start(now)
        store.set_meta(LAST_DIGEST_KEY, to_db_time(now))
        if requested:
            store.set_meta(request_key, "")


def preview(store: ScheduleStore, renderer: Renderer, email: EmailConfig, now: datetime, to: str = "") -> Digest:
    """The digest `run_digest` would mail `to` if forced now, rendered without the reader's own links.

    Without `to`: a reader of every hashtag who got the last digest (before the first one: a new subscriber).
    Raises NotASubscriber when `to` is no address, or no active subscriber's.
    """
    if to:
        hashtags, last_digest_at = _subscriber(store, to)
    else:
        hashtags, last_digest_at = (), store.latest_period_end()
    articles = articles_for(store, hashtags, last_digest_at, now)
    return renderer.render_digest(articles, title=email.digest_title, reader_hashtags=hashtags)


def _subscriber(store: ScheduleStore, to: str) -> tuple[tuple[str, ...], datetime | None]:
    try:
        address = parse_address(to)
    except InputRuleError as error:
        raise NotASubscriber(str(error)) from None
    subscriber = store.email_subscriber(address)
    if subscriber is None:
        raise NotASubscriber(
            f"{address} is not subscribed to the digest; `newsbot subscribers export --channel email` lists who is"
        )
    if not subscriber.active:
        why = subscriber.status_reason or "not active"
        raise NotASubscriber(f"{address} gets no digest ({why}): `newsbot digest --send` sends them nothing")
    return subscriber.hashtags, subscriber.last_digest_at
