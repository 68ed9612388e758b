"""Sending the weekly digest by email, one message per confirmed subscriber, with a ledger row per recipient.

A digest run starts by recording the digest and one pending delivery per active subscriber (`create_digest`),
then works through the deliveries. Each subscriber gets the articles routed to email since their last digest
(a new subscriber: the last week) that match their hashtags (bot.email.selection, which the previews use
too); with nothing new they get nothing, and their "last digest" still moves on. Because every
(digest, recipient) is a row, a crash or a pause resumes where it stopped and nobody gets the same digest twice.

What a failed send means is decided by bot.outcomes, the table the outbox reads too; the digest records it as:
the address is gone (a 5xx for it) → failed, the subscriber marked bounced and not mailed again; rejected →
failed with the reason; 4xx or network → retried later with backoff; refused credentials → the run stops,
deliveries stay pending; no answer after the message was sent → retried once at most, then left `unknown`
(never a third copy). After each batch `bot.alerts` tells the admins when more than `[alerts] bounce_rate` of it
bounced, or the credentials were refused. The sender is SMTP (bot.email.smtp) or, in a dry run, `.eml` files
(bot.publishers.file_sink.EmlWriter): the same ledger either way.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from bot import alerts
from bot.config import Config
from bot.email.connections import MailSenders, OneSender, SendPool, Sent, ToSend
from bot.email.contents import DigestContents
from bot.email.selection import articles_for
from bot.errors import PublishError
from bot.logs import kv
from bot.metrics import Metrics
from bot.models import Article
from bot.outcomes import Outcome, outcome_of, wait_seconds
from bot.render import Digest, Renderer
from bot.store import EMAIL, FAILED, SENT, SKIPPED, UNKNOWN, Delivery, EmailSubscriber, Lease, OutboxRow, worker_id

if TYPE_CHECKING:
    from email.message import EmailMessage

log = logging.getLogger("newsbot.digest")

RETRY_BASE = timedelta(minutes=5)
RETRY_MAX = timedelta(hours=6)
MAX_ATTEMPTS = 8
CHUNK_SIZE = 50  # deliveries a worker claims at once: several workers share a batch out in chunks this size


class DigestStore(alerts.AlertStore, Protocol):
    """What the digest needs of the store (`bot.store.Store` is one); bounces are alerted on."""

    def email_articles(self, since: datetime, until: datetime, limit: int = 200) -> list[Article]: ...
    def email_subscriber(self, address: str) -> EmailSubscriber | None: ...
    def deactivate_subscriber(self, channel: str, address: str, reason: str, now: datetime) -> bool: ...
    def pending_rows(self, channel: str, limit: int = 1000) -> list[OutboxRow]: ...
    def mark_sent(self, row_id: int, remote_id: str, now: datetime) -> None: ...
    def create_digest(self, digest_id: str, period_end: datetime, now: datetime) -> int: ...
    def claim_deliveries(self, now: datetime, lease: Lease, limit: int = 50) -> list[Delivery]: ...
    def finish_delivery(
        self,
        delivery: Delivery,
        state: str,
        now: datetime,
        *,
        message_id: str = "",
        reason: str = "",
        article_count: int = 0,
    ) -> None: ...
    def retry_delivery(
        self, delivery: Delivery, not_before: datetime, reason: str, now: datetime, *, unknown: bool = False
    ) -> None: ...


class MailSender(Protocol):
    def send(self, message: EmailMessage) -> str:
        """Hand one message to the SMTP server; returns its Message-ID once the server accepted it."""
        ...

    def seconds_until_turn(self) -> float:
        """How long `send` would wait now to keep to the send rate."""
        ...

    def close(self) -> None: ...


class LinkMaker(Protocol):
    """Signed links for one address (bot.email.web builds them on [web] public_url)."""

    def unsubscribe(self, address: str, now: datetime) -> str: ...

    def preferences(self, address: str, now: datetime) -> str: ...


BuildMessage = Callable[[Digest, str, str, str, str, datetime], "EmailMessage"]
# (digest, to address, to name, unsubscribe url, unsubscribe mailto, now) -> the message


@dataclass
class DeliveryReport:
    sent: int = 0
    nothing_new: int = 0
    bounced: int = 0
    retry_later: int = 0
    failed: int = 0
    unknown: int = 0
    stopped: str = ""

    @property
    def tried(self) -> int:
        """Mails this batch tried to send, whatever became of them (subscribers with nothing new are not counted)."""
        return self.sent + self.bounced + self.retry_later + self.failed + self.unknown

    def summary(self) -> str:
        """What an admin running `newsbot digest --send` needs to know, with what to do about the rest."""
        parts = [f"{self.sent} digest(s) sent"]
        if self.nothing_new:
            parts.append(f"{self.nothing_new} subscriber(s) had nothing new matching their hashtags")
        if self.bounced:
            parts.append(f"{self.bounced} bounced (those subscribers were deactivated)")
        if self.retry_later:
            parts.append(f"{self.retry_later} to retry later (`newsbot run` or the next `newsbot once` sends them)")
        if self.failed or self.unknown:
            parts.append(f"{self.failed + self.unknown} failed for good (the log has each reason)")
        if self.stopped:
            parts.append(f"stopped: {self.stopped}")
        return "; ".join(parts)


def digest_id(now: datetime) -> str:
    return "digest-" + now.strftime("%Y%m%dT%H%M%S%fZ")


class EmailDigest:
    def __init__(
        self,
        store: DigestStore,
        renderer: Renderer,
        config: Config,
        sender: MailSender,
        links: LinkMaker,
        build_message: BuildMessage,
        metrics: Metrics | None = None,
        lease: Lease | None = None,
        senders: MailSenders | None = None,
    ) -> None:
        """`senders`: the connections a batch goes out over ([email] connections); None: `sender` alone."""
        self.metrics = metrics or Metrics()  # App hands in its own
        self.lease = lease or Lease(worker_id(), config.state.lease_seconds)  # App hands in the worker's
        self.store = store
        self.renderer = renderer
        self.config = config
        self.sender = sender  # App closes it
        self.senders = senders or OneSender(sender)
        self.links = links
        self.build_message = build_message
        self.contents = DigestContents(renderer, config.email.digest_title)  # one rendering per distinct digest

    def start(self, now: datetime) -> str:
        """Record a new digest with a pending delivery for every active subscriber. Returns its id."""
        new_id = digest_id(now)
        count = self.store.create_digest(new_id, now, now)
        for row in self.store.pending_rows("email", limit=10_000):  # routed articles are now part of a digest
            self.store.mark_sent(row.id, new_id, now)
        log.info("%s", kv(event="digest_started", digest=new_id, recipients=count))
        return new_id

    def deliver(self, clock: Callable[[], datetime], should_stop: Callable[[], bool] = lambda: False) -> DeliveryReport:
        """Work through every due delivery, in batches so memory stays flat; `should_stop` is checked before each.
        The admins are alerted when too much of it bounced, or the SMTP server refused the credentials."""
        report = self._deliver_due(clock, should_stop)
        batch = alerts.DigestBatch(sent=report.sent, bounced=report.bounced, tried=report.tried, refused=report.stopped)
        alerts.digest_batch(self.store, self.config, EMAIL, batch, clock())
        return report

    def _deliver_due(self, clock: Callable[[], datetime], should_stop: Callable[[], bool]) -> DeliveryReport:
        """Send every due delivery over the pool's connections; what was in flight when the job ends is recorded
        before it ends (a crash of the whole process leaves those to the lease, as with one connection)."""
        report = DeliveryReport()
        pool = SendPool(self.senders, should_stop)
        try:
            self._deliver_chunks(pool, clock, should_stop, report)
        except BaseException:
            pool.halt()
            with contextlib.suppress(Exception):  # the error being raised is the one to see
                self._record(pool.finished(wait=True), report, pool)
            raise
        finally:
            pool.close()
            self.contents.clear()
            self.metrics.leases("digest", 0)
        return report

    def _deliver_chunks(
        self, pool: SendPool, clock: Callable[[], datetime], should_stop: Callable[[], bool], report: DeliveryReport
    ) -> None:
        """Claim due deliveries a chunk at a time and send them. Past half its lease a chunk starts no new mail: the
        rest is claimed again (by this worker or another), so a mail never starts under a lease about to lapse.
        A chunk's outcomes are all recorded before the next claim, which would otherwise hand this worker its own
        deliveries in flight again."""
        chunk = CHUNK_SIZE * self.senders.count
        while not (report.stopped or should_stop()):
            claimed_at = clock()
            deliveries = self.store.claim_deliveries(claimed_at, self.lease, chunk)
            if not deliveries:
                return
            self.metrics.leases("digest", len(deliveries))
            last_start = claimed_at + (self.lease.until(claimed_at) - claimed_at) / 2
            for delivery in deliveries:
                if should_stop() or report.stopped or clock() >= last_start:
                    break
                ready = self._prepare(delivery, clock, report)
                if ready is not None:
                    pool.submit(ready)
                self._record(pool.finished(wait=False), report, pool)
            self._record(pool.finished(wait=True), report, pool)

    def _prepare(self, delivery: Delivery, clock: Callable[[], datetime], report: DeliveryReport) -> ToSend | None:
        """The message for `delivery`, or None when there is none to send (recorded as such)."""
        now = clock()
        subscriber = self.store.email_subscriber(delivery.address)
        if subscriber is None or not subscriber.active:
            self.store.finish_delivery(delivery, SKIPPED, now, reason="no longer subscribed")
            return None
        articles = articles_for(self.store, subscriber.hashtags, subscriber.last_digest_at, delivery.period_end)
        if not articles:
            self.store.finish_delivery(delivery, SKIPPED, now, reason="nothing new")
            report.nothing_new += 1
            return None
        now = clock()  # the mail's Date and links are from when it goes out (the pool's queue is short)
        try:
            message = self._message(subscriber, articles, now)
        except Exception as error:  # this subscriber's data cannot make a mail; the others' still can
            self._unbuildable(delivery, error, now, report)
            return None
        return ToSend(delivery, message, len(articles), now)

    def _record(self, outcomes: Iterator[Sent], report: DeliveryReport, pool: SendPool) -> None:
        """Write each outcome to the ledger; one not started (stopping) leaves its delivery due, untouched."""
        for sent in outcomes:
            delivery, now = sent.job.delivery, sent.job.built_at
            if not sent.started:
                continue
            if sent.error is not None and not isinstance(sent.error, Exception):
                raise sent.error  # the process is ending (KeyboardInterrupt, SystemExit)
            if sent.error is not None:
                self._failed(delivery, sent.error, now, report)
                if report.stopped:
                    pool.halt()
                continue
            self.store.finish_delivery(
                delivery, SENT, now, message_id=sent.message_id, article_count=sent.job.article_count
            )
            self.metrics.send(EMAIL, "sent")
            report.sent += 1
            log.info("%s", kv(event="digest_sent", digest=delivery.digest_id, articles=sent.job.article_count))

    def _message(self, subscriber: EmailSubscriber, articles: list[Article], now: datetime) -> EmailMessage:
        unsubscribe = self.links.unsubscribe(subscriber.address, now)
        digest = self.contents.digest(
            articles,
            subscriber.hashtags,
            unsubscribe_url=unsubscribe,
            preferences_url=self.links.preferences(subscriber.address, now),
        )
        return self.build_message(
            digest, subscriber.address, subscriber.name, unsubscribe, unsubscribe_mailto(self.config.email.sender), now
        )

    def _unbuildable(self, delivery: Delivery, error: Exception, now: datetime, report: DeliveryReport) -> None:
        """Failed for good: building it again would give the same error until someone fixes the subscriber's data."""
        reason = (
            f"the mail could not be built: {error}; fix the subscriber's name or address"
            " (e.g. `newsbot subscribers import` with the corrected row)"
        )
        self.store.finish_delivery(delivery, FAILED, now, reason=reason)
        log.error("%s", kv(event="digest_unbuildable", digest=delivery.digest_id, reason=reason))
        report.failed += 1

    def _failed(self, delivery: Delivery, error: Exception, now: datetime, report: DeliveryReport) -> None:
        """Record a failed send; what the error means comes from bot.outcomes, as in the outbox."""
        fields = {"digest": delivery.digest_id}
        self.metrics.send(EMAIL, outcome_of(error).value)
        match outcome_of(error):
            case Outcome.GONE:
                self.store.finish_delivery(delivery, FAILED, now, reason=f"bounced: {error}")
                self.store.deactivate_subscriber("email", delivery.address, f"bounced: {error}", now)
                log.warning("%s", kv(event="digest_bounced", reason=str(error), **fields))
                report.bounced += 1
            case Outcome.STOP:
                report.stopped = f"the SMTP server refused the credentials ({error}); deliveries stay queued"
                log.error("%s", kv(event="smtp_unauthorized", reason=str(error)))
            case Outcome.UNKNOWN:
                self._unknown(delivery, error, now, report)
            case Outcome.REJECTED | Outcome.DUPLICATE:
                self._failed_for_good(delivery, str(error), now, report)
            case Outcome.WAIT | Outcome.RETRY:
                self._retry(delivery, error, now, report)

    def _unknown(self, delivery: Delivery, error: Exception, now: datetime, report: DeliveryReport) -> None:
        if delivery.unknown_outcomes >= 1:
            # Already resent once after a lost answer: a third copy is worse than a missing one.
            self.store.finish_delivery(delivery, UNKNOWN, now, reason=f"outcome unknown twice: {error}")
            report.unknown += 1
        else:
            self.store.retry_delivery(delivery, now + RETRY_BASE, str(error), now, unknown=True)
            report.retry_later += 1
        log.warning("%s", kv(event="digest_outcome_unknown", reason=str(error), digest=delivery.digest_id))

    def _failed_for_good(self, delivery: Delivery, reason: str, now: datetime, report: DeliveryReport) -> None:
        self.store.finish_delivery(delivery, FAILED, now, reason=reason)
        log.error("%s", kv(event="digest_failed", reason=reason, digest=delivery.digest_id))
        report.failed += 1

    def _retry(self, delivery: Delivery, error: Exception, now: datetime, report: DeliveryReport) -> None:
        """Retry with backoff (a rate limit: no sooner than it asks), until MAX_ATTEMPTS."""
        if delivery.attempts + 1 >= MAX_ATTEMPTS:
            self._failed_for_good(delivery, str(error), now, report)
            return
        reason = str(error) if isinstance(error, PublishError) else f"{type(error).__name__}: {error}"
        wait = max(min(RETRY_BASE * 2**delivery.attempts, RETRY_MAX), timedelta(seconds=wait_seconds(error)))
        self.store.retry_delivery(delivery, now + wait, reason, now)
        log.warning("%s", kv(event="digest_retry_later", reason=reason, digest=delivery.digest_id))
        report.retry_later += 1


def unsubscribe_mailto(sender: str) -> str:
    """A mailto: for List-Unsubscribe, to the sender's mailbox with the subject "unsubscribe"."""
    from email.utils import parseaddr  # here: `once` with nothing due builds no mail (start-up, issue #16)

    address = parseaddr(sender)[1]
    return f"mailto:{address}?subject=unsubscribe" if address else ""
