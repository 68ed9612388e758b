"""Draining the outbox: render each due item, hand it to its channel's publisher, record the outcome.

What a publishing error means is decided by one table, bot.outcomes (the email digest reads it too); here is
how the outbox records each outcome:
- WAIT (RateLimited): the item waits exactly `retry_after` seconds; the channel pauses for the rest of this drain.
- STOP (Unauthorized): the channel stops until restart (its queue is kept); the reason is kept for `/status`, and
  the admins are alerted (bot.alerts), and told again once the channel sends after the restart.
- UNKNOWN: the item is marked unknown (/post sends it again, /skip if it went out).
- DUPLICATE: skipped. REJECTED: marked failed with the reason, never retried.
- GONE (RecipientGone): the item is marked skipped and the subscriber deactivated.
- RETRY (any other PublishError or unexpected exception): retried later with exponential backoff, up to
  `[outbox] max_attempts`, then marked failed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from bot import alerts
from bot.channels import REGISTRY
from bot.clock import Clock
from bot.config import Config
from bot.errors import PublishError, RateLimited, RenderError
from bot.logs import kv
from bot.metrics import Metrics
from bot.models import Article, Post, Receipt
from bot.outcomes import Outcome, outcome_of, wait_seconds
from bot.publishers import Publisher
from bot.publishers.base import AnnouncesLimit, BatchPublisher, MeteredPublisher
from bot.render import Renderer
from bot.route import is_own_target, next_slot
from bot.store import (
    Lease,
    OutboxRow,
    SenderLocks,
    blocked_until_key,
    from_db_time,
    to_db_time,
    unauthorized_key,
    worker_id,
)
from bot.store.leases import SoleSender

log = logging.getLogger("newsbot.outbox")

BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
BATCH_SIZE = 500  # rows read and handed to a publisher at once: bounds memory during a large fan-out


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


@dataclass
class DrainReport:
    sent: int = 0
    retry_later: int = 0
    failed: int = 0
    skipped: int = 0
    halted: dict[str, str] = field(default_factory=dict)  # channel -> why it stopped during this drain

    def add(self, other: DrainReport) -> None:
        self.sent += other.sent
        self.retry_later += other.retry_later
        self.failed += other.failed
        self.skipped += other.skipped
        self.halted.update(other.halted)


class _ChannelPaused(Exception):
    """Stop this channel for the rest of the drain."""


class OutboxStore(alerts.AlertStore, Protocol):
    """What draining needs of the store (`bot.store.Store` is one); refused credentials are alerted on."""

    def is_paused(self) -> bool: ...
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def get_article(self, key: str) -> Article | None: ...
    def due_article_keys(self, channel: str, now: datetime, limit: int, *, newest_first: bool = False) -> list[str]: ...
    def claim_rows(
        self, channel: str, article_key: str, now: datetime, lease: Lease, after_id: int = 0, limit: int = 500
    ) -> list[OutboxRow]: ...
    def due_slotted_rows(self, route: str, channel: str, now: datetime) -> list[OutboxRow]: ...
    def sent_since(self, channel: str, since: datetime) -> tuple[int, datetime | None]: ...
    def save_progress(self, row_id: int, remote_ids: Sequence[str], now: datetime) -> None: ...
    def mark_sent(self, row_id: int, remote_id: str, now: datetime) -> None: ...
    def mark_failed(self, row_id: int, reason: str, now: datetime) -> None: ...
    def mark_skipped(self, row_id: int, reason: str, now: datetime) -> None: ...
    def mark_unknown(self, row_id: int, reason: str, now: datetime) -> None: ...
    def defer(self, row_id: int, not_before: datetime, reason: str, now: datetime, *, count_attempt: bool) -> None: ...
    def deactivate_subscriber(self, channel: str, address: str, reason: str, now: datetime) -> bool: ...
    def migrate_address(self, channel: str, old: str, new: str, now: datetime) -> None: ...


class Outbox:
    def __init__(
        self,
        store: OutboxStore,
        renderer: Renderer,
        publishers: Mapping[str, Publisher],
        config: Config,
        metrics: Metrics | None = None,
        *,
        lease: Lease | None = None,
        senders: SenderLocks | None = None,
    ) -> None:
        self.store = store
        self.renderer = renderer
        self.publishers = publishers
        self.config = config
        self.metrics = metrics or Metrics()
        self.lease = lease or Lease(worker_id(), config.state.lease_seconds)  # what this worker claims rows with
        self.senders = senders or SoleSender()  # which channels this worker sends on
        self.unauthorized: dict[str, str] = {}  # channels stopped until restart
        self._limits_learned: set[str] = set()

    def release_slots(self, now: datetime) -> None:
        """For routes with posting slots: at most `per_slot` articles per channel go out per slot."""
        for route in self.config.routes:
            if not route.at:
                continue
            for channel in route.channels:
                rows = self.store.due_slotted_rows(route.name, channel, now)
                released: set[str] = set()
                later = next_slot(route, now + timedelta(minutes=1))
                for row in rows:
                    if row.article_key in released or len(released) < route.per_slot:
                        released.add(row.article_key)
                        continue
                    self.store.defer(row.id, later, "waiting for the next posting slot", now, count_attempt=False)

    def drain(self, clock: Clock, should_stop: Callable[[], bool] = lambda: False) -> DrainReport:
        """Publish what is due, channel by channel, at most `max_posts_per_cycle` articles per channel."""
        report = DrainReport()
        if self.store.is_paused():
            report.halted = dict.fromkeys(self.publishers, "paused by an admin; /resume to go on")
            return report
        self.release_slots(clock())
        for channel in self.publishers:
            if REGISTRY[channel].build_publisher is None:  # delivered by another job (the email digest)
                continue
            # Checked before anything is claimed or written: another worker sends on it (bot.store.leases).
            sender = self.senders.holds(channel)
            self.metrics.leases("sender", self.senders.held())
            if not sender:
                continue
            blocked = self._blocked(channel, clock())
            if blocked:
                report.halted[channel] = blocked
                continue
            drained = self._drain_channel(channel, clock, should_stop)
            if drained.sent and channel not in self.unauthorized:
                alerts.channel_works(self.store, self.config, channel, clock())
            report.add(drained)
        return report

    def _blocked(self, channel: str, now: datetime) -> str:
        """Why the channel may not publish now ("" if it may): refused credentials, or a rate-limit reset."""
        if channel in self.unauthorized:
            return self.unauthorized[channel]
        until = from_db_time(self.store.get_meta(blocked_until_key(channel)))
        if until is not None and now < until:
            return f"rate limited until {until.isoformat(timespec='seconds')}"
        return ""

    def _budget(self, channel: str, now: datetime) -> tuple[int, str]:
        """How many articles the channel may publish in this drain, and why not when none."""
        budget = REGISTRY[channel].budget
        if budget is None:
            return self.config.max_posts_per_cycle(channel), ""
        return budget(self.config, self.store, now)

    def _drain_channel(self, channel: str, clock: Clock, should_stop: Callable[[], bool]) -> DrainReport:
        report = DrainReport()
        limit, why = self._budget(channel, clock())
        if limit <= 0:
            report.halted[channel] = why
            return report
        newest_first = REGISTRY[channel].newest_first(self.config)
        for article_key in self.store.due_article_keys(channel, clock(), limit, newest_first=newest_first):
            if should_stop():  # a stop request (SIGTERM) starts no new article
                break
            publisher = self.publishers[channel]  # built here, at the first article due (bot.publishers.Publishers)
            self._learn_limit(channel, publisher)
            try:
                self._publish_article(channel, publisher, article_key, clock, should_stop, report)
            except _ChannelPaused as pause:
                report.halted[channel] = str(pause)
                break
        return report

    def _learn_limit(self, channel: str, publisher: Publisher) -> None:
        """A service that announces its longest post (a Mastodon instance) is rendered to, once it is known."""
        if channel in self._limits_learned or not isinstance(publisher, AnnouncesLimit):
            return
        limit = publisher.announced_limit()
        if limit is not None:
            self.renderer.use_limit(channel, limit)
        self._limits_learned.add(channel)

    def _publish_article(
        self,
        channel: str,
        publisher: Publisher,
        article_key: str,
        clock: Clock,
        should_stop: Callable[[], bool],
        report: DrainReport,
    ) -> None:
        article = self.store.get_article(article_key)
        rendered: dict[str, Post | RenderError] = {}  # template -> post, rendered once for every recipient
        after_id = 0
        while rows := self.store.claim_rows(channel, article_key, clock(), self.lease, after_id, BATCH_SIZE):
            after_id = rows[-1].id
            self.metrics.leases("outbox", len(rows))
            ready: list[tuple[OutboxRow, Post]] = []
            for row in rows:
                post = self._render(article, row, rendered)
                if isinstance(post, RenderError):
                    self.store.mark_failed(row.id, str(post), clock())
                    log.error("%s", kv(event="render_failed", article=article_key, channel=channel, reason=str(post)))
                    report.failed += 1
                else:
                    ready.append((row, replace(post, recipient=row.recipient, posted=row.progress)))
            try:
                self._deliver(publisher, ready, clock, should_stop, report)
            finally:
                self.metrics.leases("outbox", 0)  # each outcome recorded ended its lease; the others run out
            if should_stop():
                return

    def _render(
        self, article: Article | None, row: OutboxRow, cache: dict[str, Post | RenderError]
    ) -> Post | RenderError:
        if article is None:
            return RenderError(f"article {row.article_key} is missing from the state file")
        if row.template not in cache:
            try:
                cache[row.template] = self.renderer.render(article, row.channel, template=row.template or None)
            except RenderError as exc:
                cache[row.template] = exc
        return cache[row.template]

    def _deliver(
        self,
        publisher: Publisher,
        ready: list[tuple[OutboxRow, Post]],
        clock: Clock,
        should_stop: Callable[[], bool],
        report: DrainReport,
    ) -> None:
        """Hand the posts to the publisher (as one batch if it takes batches) and record each outcome."""
        halts: list[str] = []
        if isinstance(publisher, BatchPublisher):
            rows_by_post = {id(post): row for row, post in ready}

            def record(post: Post, outcome: Receipt | Exception) -> None:
                halt = self._record(rows_by_post[id(post)], outcome, clock, report)
                if halt:
                    halts.append(halt)

            publisher.publish_batch([post for _row, post in ready], record, should_stop)
        else:
            for row, post in ready:
                outcome: Receipt | Exception
                try:
                    outcome = publisher.publish(post)
                except Exception as exc:  # every failure is recorded below; none may lose the item
                    outcome = exc
                if isinstance(outcome, RateLimited) and not isinstance(publisher, MeteredPublisher):
                    self.metrics.rate_limited(row.channel, outcome.retry_after)  # a metered one counts its own
                halt = self._record(row, outcome, clock, report)
                if halt:
                    halts.append(halt)
                    break
                if should_stop():
                    break
        if halts:
            raise _ChannelPaused(halts[0])

    def _record(self, row: OutboxRow, outcome: Receipt | Exception, clock: Clock, report: DrainReport) -> str:
        """Write one outcome to the ledger (what an error means: bot.outcomes). Returns why the channel must pause."""
        fields = {"article": row.article_key, "channel": row.channel, "recipient": row.recipient}
        if isinstance(outcome, PublishError) and outcome.progress:
            self.store.save_progress(row.id, outcome.progress, clock())
            row = replace(row, progress=outcome.progress)
        if isinstance(outcome, Receipt):
            self.store.mark_sent(row.id, outcome.remote_id, clock())
            self._follow_migration(row, outcome, clock)
            log.info("%s", kv(event="sent", remote_id=outcome.remote_id, **fields))
            self.metrics.send(row.channel, "sent")
            report.sent += 1
            return ""
        self.metrics.send(row.channel, outcome_of(outcome).value)
        match outcome_of(outcome):
            case Outcome.WAIT:
                return self._wait(row, outcome, clock, report)
            case Outcome.STOP:
                reason = f"credentials refused ({outcome}); fix them and restart newsbot — the queue is kept"
                self.unauthorized[row.channel] = reason
                with self.store.transaction():
                    self.store.set_meta(unauthorized_key(row.channel), reason)
                    alerts.channel_refused(self.store, self.config, row.channel, str(outcome), clock())
                log.error("%s", kv(event="unauthorized", channel=row.channel, reason=str(outcome)))
                return reason
            case Outcome.UNKNOWN:
                self.store.mark_unknown(
                    row.id, f"outcome unknown: {outcome}; /post to send again, /skip if it went out", clock()
                )
                log.error("%s", kv(event="outcome_unknown", reason=str(outcome), **fields))
                report.failed += 1
            case Outcome.DUPLICATE:
                self.store.mark_skipped(row.id, str(outcome), clock())
                log.warning("%s", kv(event="duplicate", reason=str(outcome), **fields))
                report.skipped += 1
            case Outcome.REJECTED:
                self.store.mark_failed(row.id, f"rejected: {outcome}", clock())
                log.error("%s", kv(event="rejected", reason=str(outcome), **fields))
                report.failed += 1
            case Outcome.GONE:
                self.store.mark_skipped(row.id, f"recipient gone: {outcome}", clock())
                if not is_own_target(row.channel, row.recipient):
                    self.store.deactivate_subscriber(row.channel, row.recipient, str(outcome), clock())
                log.warning("%s", kv(event="recipient_gone", reason=str(outcome), **fields))
                report.skipped += 1
            case Outcome.RETRY:  # transient PublishError, or a bug in a publisher: retry, never lose the item
                self._retry_later(row, outcome, clock, report)
        return ""

    def _wait(self, row: OutboxRow, error: Exception, clock: Clock, report: DrainReport) -> str:
        """Rate limited: the row waits exactly `retry_after`, and so does the channel. Returns why it pauses."""
        wait = wait_seconds(error)
        not_before = clock() + timedelta(seconds=math.ceil(wait))
        self.store.defer(row.id, not_before, str(error), clock(), count_attempt=False)
        # Kept in the state file, so a restarted process (or the next `newsbot once`) waits too.
        self.store.set_meta(blocked_until_key(row.channel), to_db_time(not_before))
        fields = {"article": row.article_key, "channel": row.channel, "recipient": row.recipient}
        log.warning("%s", kv(event="rate_limited", retry_after=wait, **fields))
        report.retry_later += 1
        return f"rate limited, retrying in {wait:g} s"

    def _follow_migration(self, row: OutboxRow, receipt: Receipt, clock: Clock) -> None:
        new_address = receipt.extra.get("migrated_to")
        if not new_address:
            return
        if is_own_target(row.channel, row.recipient):
            self.store.set_meta(f"{row.channel}.{row.recipient}.migrated_to", new_address)
            log.error(
                "%s",
                kv(
                    event="channel_migrated",
                    channel=row.channel,
                    new_chat_id=new_address,
                    fix=f"set [{row.channel}] channel = {new_address}",
                ),
            )
        else:
            self.store.migrate_address(row.channel, row.recipient, new_address, clock())

    def _retry_later(self, row: OutboxRow, exc: Exception, clock: Clock, report: DrainReport) -> None:
        attempts = row.attempts + 1
        reason = str(exc) if isinstance(exc, PublishError) else f"{type(exc).__name__}: {exc}"
        fields = {"article": row.article_key, "channel": row.channel, "recipient": row.recipient}
        if attempts >= self.config.outbox.max_attempts:
            self.store.mark_failed(row.id, f"gave up after {attempts} attempts: {reason}", clock())
            log.error("%s", kv(event="gave_up", attempts=attempts, reason=reason, **fields))
            report.failed += 1
            return
        self.store.defer(row.id, clock() + backoff(attempts), reason, clock(), count_attempt=True)
        log.warning(
            "%s",
            kv(event="retry_later", attempts=attempts, reason=reason, **fields),
            exc_info=None if isinstance(exc, PublishError) else exc,
        )
        report.retry_later += 1
