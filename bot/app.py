"""Wiring: one `App` holds the store, the renderer, the publishers and the jobs that use them.

Jobs take the time as an argument (or a clock), so tests drive them without sleeping.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from bot import alerts, approvals
from bot.clicks import renderer_of
from bot.clock import Clock, utc_now
from bot.config import Config
from bot.email import schedule
from bot.email.delivery import DeliveryReport, EmailDigest
from bot.email.jobs import build_dry_run_digest, build_email_digest
from bot.email.tokens import link_signing
from bot.ingest import Ingest, PollReport
from bot.lock import lock_for
from bot.logs import kv
from bot.metrics import Metrics
from bot.outbox import DrainReport, Outbox
from bot.publishers import Publisher, Publishers, build_publishers
from bot.publishers.base import MeteredPublisher
from bot.publishers.file_sink import write_atomically
from bot.render import check_templates
from bot.store import (
    DIGEST_REQUEST_KEY,
    Lease,
    Store,
    StoreError,
    open_store,
    sender_locks,
    unauthorized_key,
    worker_id,
)

if TYPE_CHECKING:
    from bot.email.parts import EmailParts
    from bot.sources.connect import Connections

log = logging.getLogger("newsbot")


class DigestPreview(NamedTuple):
    html: Path
    text: Path
    article_count: int


@dataclass
class CycleReport:
    polls: list[PollReport] = field(default_factory=list)
    drain: DrainReport = field(default_factory=DrainReport)
    digest: DeliveryReport = field(default_factory=DeliveryReport)

    def summary(self) -> str:
        failed = [p for p in self.polls if p.error]
        parts = [
            f"polled {len(self.polls)} source(s)" + (f" ({len(failed)} failed)" if failed else ""),
            f"{sum(p.new for p in self.polls)} new article(s)",
            f"{sum(p.queued for p in self.polls)} queued",
            f"{self.drain.sent} sent",
        ]
        if self.drain.retry_later:
            parts.append(f"{self.drain.retry_later} to retry later")
        if self.drain.failed:
            parts.append(f"{self.drain.failed} failed")
        if self.digest.sent:
            parts.append(f"digest: {self.digest.sent} sent")
        return ", ".join(parts)


class App:
    def __init__(
        self,
        config: Config,
        *,
        clock: Clock = utc_now,
        connections: Connections | None = None,
        publishers: dict[str, Publisher] | None = None,
        compile_templates: bool = True,
    ) -> None:
        """`compile_templates=False` (`newsbot once`): only check that each template is there; the renderer compiles
        them all before its first render, so a run with nothing to render never imports Jinja."""
        self.config = config
        self.clock = clock
        # What /metrics shows (bot.server); each part counts its own events into it. Off: counts nothing.
        self.metrics = Metrics(enabled=config.web.metrics)
        # The one link signer (mail links, click links, the control room's sign-in), read from the environment once.
        self.signing = link_signing(config.web, os.environ)
        # With [analytics] on, links go out as click links; a missing secret stops the start here, before anything runs.
        self.renderer = renderer_of(config, os.environ, self.signing)
        check_templates(config, self.renderer, files_only=not compile_templates)
        self.publishers = (
            Publishers.ready(publishers, self._count_into_metrics)
            if publishers is not None
            else build_publishers(config, self._count_into_metrics)
        )
        # Several workers may share a PostgreSQL state (bot.store.leases): what this one claims, and the channels it
        # sends on. On SQLite the lock below keeps it to one process.
        self.lease = Lease(worker_id(), config.state.lease_seconds)
        self.senders = sender_locks(config.state, os.environ)
        self.lock = lock_for(config.state, os.environ)
        self.lock.acquire()
        try:
            # Concrete: App builds it and hands it to every job, so a Protocol would list nearly every method.
            self.store: Store = open_store(config.state)
        except BaseException:
            self.lock.release()
            raise
        try:
            for channel in self.publishers:  # credentials may have been fixed since the last run
                self.store.set_meta(unauthorized_key(channel), "")
            self.email: EmailParts | None = None  # the live mail parts, for the web pages and /email too
            self.email_digest: EmailDigest | None = None
            if schedule.digest_in_use(config) and config.output.dry_run:
                self.email_digest = build_dry_run_digest(config, self.store, self.renderer, self.signing)
            elif schedule.digest_in_use(config):
                from bot.email.parts import email_parts

                self.email = email_parts(config, os.environ, self.signing)
                self.email_digest = build_email_digest(config, self.store, self.renderer, self.email)
        except BaseException:
            self.store.close()
            self.lock.release()
            raise
        if self.email_digest is not None:
            self.email_digest.metrics = self.metrics
            self.email_digest.lease = self.lease
        self.ingest = Ingest(self.store, config, connections=connections, metrics=self.metrics, lease=self.lease)
        # A source taken out of the config file since the last run cannot fail any more: its alert is over.
        alerts.forget_gone_sources(self.store, {source.name for source in self.ingest.sources()}, clock())
        self.outbox = Outbox(
            self.store, self.renderer, self.publishers, config, metrics=self.metrics, lease=self.lease,
            senders=self.senders,
        )  # fmt: skip
        self._drain_requests_seen = 0  # the store's drain requests when the last drain started

    def _count_into_metrics(self, publisher: Publisher) -> None:
        if isinstance(publisher, MeteredPublisher):
            publisher.metrics = self.metrics

    def close(self) -> None:
        self.publishers.close()
        self.renderer.close()  # the model's HTTP client and state connections, with [summarize] provider = "openai"
        if self.email_digest is not None:  # the SMTP connection (`self.email`'s sender) or the .eml writer
            self.email_digest.sender.close()
        self.senders.close()  # another worker may send on our channels from now on
        try:  # and take over at once what this one had claimed
            self.store.release_leases(self.lease.worker)
        except StoreError as error:  # the leases run out by themselves
            log.warning("%s", kv(event="leases_kept", reason=str(error)))
        self.store.close()
        self.lock.release()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- jobs ---------------------------------------------------------------------------------------

    def poll_due_sources(
        self, *, poll_all: bool = False, should_stop: Callable[[], bool] = lambda: False
    ) -> list[PollReport]:
        """Poll the sources due now (or all of them). A backlog (the first start, a start after a long stop) goes
        in checks of `Ingest.max_per_check` sources one after another, so the downloads held at once stay few;
        a stop request ends it after the check in flight (the rest is due at the next start)."""
        if poll_all:
            return self.ingest.poll_many(self.ingest.sources(), self.clock())
        reports: list[PollReport] = []
        while True:
            now = self.clock()
            sources = self.ingest.due_sources(now)
            self.metrics.leases("source", len(sources))
            try:
                reports.extend(self.ingest.poll_many(sources, now))
            finally:
                self.metrics.leases("source", 0)
            if len(sources) < self.ingest.max_per_check or should_stop():
                return reports

    def drain(self, should_stop: Callable[[], bool] = lambda: False) -> DrainReport:
        """Publish what is due, after the approval queue's business: previews of newly held articles queued for
        the admins, and `on_timeout` applied to those past their deadline (so an approved one may go now)."""
        approvals.send_previews(self.store, self.renderer, self.config, self.clock())
        approvals.apply_timeouts(self.store, self.renderer, self.config, self.clock())
        self._drain_requests_seen = self.store.drain_requests()  # rows queued before this count, this drain sees
        return self.outbox.drain(self.clock, should_stop)

    def drain_requested(self) -> bool:
        """Rows due now were queued since the last drain started (by a poll, /post, a broadcast) or publishing
        resumed: `newsbot run` drains at once (see `bot.store.meta.DRAIN_REQUESTS_KEY`). Reads only."""
        return self.store.drain_requests() != self._drain_requests_seen

    def digest(self, *, force: bool = False, should_stop: Callable[[], bool] = lambda: False) -> DeliveryReport:
        """The weekly digest: sent when due (or when forced, or asked for with /digest send).

        Every confirmed subscriber gets their own mail (in a dry run, an `.eml` file). Returns what happened to
        each. A stop request ends the batch after the mail in flight; the rest stays pending in the ledger for
        the next start.
        """
        requested = self.store.get_meta(DIGEST_REQUEST_KEY) == "1"  # an admin's /digest send
        if self.email_digest is None or (self.store.is_paused() and not (force or requested)):
            return DeliveryReport()
        return schedule.run_digest(
            self.store, self.email_digest, self.config.email, self.clock, force=force,
            request_key=DIGEST_REQUEST_KEY, should_stop=should_stop,
        )  # fmt: skip

    def preview_digest(self, to: str = "") -> DigestPreview:
        """Write the digest `to` would get if it were sent now to [output] dir/email/digest.html and digest.txt.

        Without `to`: a reader of every hashtag (see `bot.email.schedule.preview`). Raises schedule.NotASubscriber.
        """
        preview = schedule.preview(self.store, self.renderer, self.config.email, self.clock(), to)
        folder = self.config.output.dir / "email"
        html, text = folder / "digest.html", folder / "digest.txt"
        write_atomically(html, preview.html)
        write_atomically(text, preview.text)
        return DigestPreview(html, text, preview.article_count)

    def run_cycle(self, *, poll_all: bool = False, should_stop: Callable[[], bool] = lambda: False) -> CycleReport:
        """One full cycle: poll, publish what is due, send the digest if it is due."""
        report = CycleReport(polls=self.poll_due_sources(poll_all=poll_all, should_stop=should_stop))
        report.drain = self.drain(should_stop)
        report.digest = self.digest(should_stop=should_stop)
        return report
