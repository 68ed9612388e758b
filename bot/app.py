"""Wiring: one `App` holds the store, the renderer, the publishers and the jobs that use them.

Jobs take the time as an argument (or a clock), so tests drive them without sleeping.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from bot import digest
from bot.config import Config
from bot.digest_delivery import DeliveryReport, EmailDigest
from bot.errors import ConfigError
from bot.ingest import Ingest, PollReport
from bot.lock import StateLock
from bot.logs import kv
from bot.outbox import DrainReport, Outbox
from bot.publishers import Publisher, build_publishers
from bot.publishers.base import DigestPublisher
from bot.publishers.file_sink import write_atomically
from bot.render import DIGEST_HTML_TEMPLATE, DIGEST_TEXT_TEMPLATE, TEMPLATES, Digest, Renderer, XThread
from bot.sources.connect import Connections
from bot.store import DIGEST_REQUEST_KEY, SqliteStore, from_db_time, open_store, to_db_time, unauthorized_key
from bot.summarize import default_summarizer

log = logging.getLogger("newsbot")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_renderer(config: Config) -> Renderer:
    return Renderer(
        summarizer=default_summarizer(),
        template_dir=config.templates.dir,
        utm={channel: config.utm(channel) for channel in ("telegram", "x", "email")},
        summary_chars=config.summary_chars(),
        x_thread=XThread(config.x.thread_summary_chars, config.x.thread_link == "first") if config.x.thread else None,
    )


def check_templates(config: Config, renderer: Renderer) -> None:
    """Every template the config will use loads, so a typo shows at start-up, not at the first post."""
    wanted = [
        (f"routes[{i}].template.{channel}", name)
        for i, route in enumerate(config.routes)
        for channel, name in route.template.items()
    ]
    wanted += [("templates.dir", name) for name in (*TEMPLATES.values(), DIGEST_HTML_TEMPLATE, DIGEST_TEXT_TEMPLATE)]
    for key, name in wanted:
        problem = renderer.template_problem(name)
        if problem:
            folder = config.templates.dir or "[templates] dir"
            raise ConfigError(f"{config.path or 'config'}: {key}: {problem}; put the file in {folder} or fix the name")


def build_email_digest(
    config: Config, store: SqliteStore, renderer: Renderer, environ: Mapping[str, str]
) -> EmailDigest:
    """The live digest: SMTP sender, signed links on [web] public_url, DKIM when configured."""
    from bot import web
    from bot.mail import MailIdentity, build_digest_message, load_dkim_key
    from bot.publishers.email import SmtpSender
    from bot.tokens import signer_from_environment

    identity = MailIdentity.from_config(config.email)
    dkim = load_dkim_key(config.email, environ)
    signer = signer_from_environment(config.web, environ)
    if not config.web.public_url:
        raise ConfigError(
            f"{config.path or 'config'}: web.public_url: needed for the unsubscribe and preferences links in the"
            " digest; set it to where subscribers reach `newsbot web`"
        )
    sender = SmtpSender(
        config.email,
        username=environ.get(config.email.username_env, ""),
        password=environ.get(config.email.password_env, ""),
    )

    class Links:
        def unsubscribe(self, address: str, now: datetime) -> str:
            return web.unsubscribe_url(config, signer, address, now)

        def preferences(self, address: str, now: datetime) -> str:
            return web.preferences_url(config, signer, address, now)

    def build(digest: Digest, to: str, name: str, unsubscribe: str, mailto: str, now: datetime) -> EmailMessage:
        return build_digest_message(
            digest, identity=identity, to=to, to_name=name, unsubscribe_url=unsubscribe, unsubscribe_mailto=mailto,
            now=now, dkim=dkim,
        )  # fmt: skip

    return EmailDigest(store, renderer, config, sender, Links(), build)


@dataclass
class CycleReport:
    polls: list[PollReport] = field(default_factory=list)
    drain: DrainReport = field(default_factory=DrainReport)
    digest_articles: int = 0

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
        if self.digest_articles:
            parts.append(f"digest: {self.digest_articles} sent")
        return ", ".join(parts)


class App:
    def __init__(
        self,
        config: Config,
        *,
        clock: Clock = utc_now,
        connections: Connections | None = None,
        publishers: dict[str, Publisher] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.renderer = build_renderer(config)
        check_templates(config, self.renderer)
        self.publishers = publishers if publishers is not None else build_publishers(config)
        self.lock = StateLock(config.state.path)
        self.lock.acquire()
        try:
            self.store: SqliteStore = open_store(config.state.path)
        except BaseException:
            self.lock.release()
            raise
        try:
            for channel in self.publishers:  # credentials may have been fixed since the last run
                self.store.set_meta(unauthorized_key(channel), "")
            self.email_digest: EmailDigest | None = None
            self.last_digest_delivery: DeliveryReport | None = None  # the latest mail batch, for the CLI to report
            if "email" in config.channels_in_use() and not config.output.dry_run:
                self.email_digest = build_email_digest(config, self.store, self.renderer, os.environ)
        except BaseException:
            self.store.close()
            self.lock.release()
            raise
        self.ingest = Ingest(self.store, config, connections=connections)
        self.outbox = Outbox(self.store, self.renderer, self.publishers, config)

    def close(self) -> None:
        for publisher in self.publishers.values():
            publisher.close()
        if self.email_digest is not None:
            self.email_digest.sender.close()
        self.store.close()
        self.lock.release()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- jobs ---------------------------------------------------------------------------------------

    def poll_due_sources(self, *, poll_all: bool = False) -> list[PollReport]:
        now = self.clock()
        sources = self.ingest.sources() if poll_all else self.ingest.due_sources(now)
        return self.ingest.poll_many(sources, now)

    def drain(self, should_stop: Callable[[], bool] = lambda: False) -> DrainReport:
        return self.outbox.drain(self.clock, should_stop)

    def digest(self, *, force: bool = False, should_stop: Callable[[], bool] = lambda: False) -> int:
        """The weekly digest: sent when due (or when forced, or asked for with /digest send).

        Live, every confirmed subscriber gets their own mail; in a dry run one digest of everything routed to
        email is written to files. Returns how many digests went out (dry run: articles in the file). A stop
        request ends the batch after the mail in flight; the rest stays pending in the ledger for the next start.
        """
        requested = self.store.get_meta(DIGEST_REQUEST_KEY) == "1"  # an admin's /digest send
        if self.store.is_paused() and not (force or requested):
            return 0
        if self.email_digest is None:
            sent = self._digest_to_file(force=force or requested)
        else:
            sent = self._digest_by_mail(force=force or requested, should_stop=should_stop)
        if requested:
            self.store.set_meta(DIGEST_REQUEST_KEY, "")
        return sent

    def preview_digest(self) -> tuple[Path, Path, int]:
        """Write the next digest (everything routed to email since the last one) to [output] dir/email/."""
        now = self.clock()
        last = from_db_time(self.store.get_meta(digest.LAST_DIGEST_KEY))
        since = last or now - timedelta(days=7)
        articles = self.store.email_articles(since, now)
        preview = self.renderer.render_digest(articles, title=self.config.email.digest_title)
        folder = self.config.output.dir / "email"
        html, text = folder / "digest.html", folder / "digest.txt"
        write_atomically(html, preview.html)
        write_atomically(text, preview.text)
        return html, text, len(articles)

    def _digest_to_file(self, *, force: bool) -> int:
        publisher = self.publishers.get(digest.CHANNEL)
        if publisher is None or not hasattr(publisher, "send_digest"):
            return 0
        sender: DigestPublisher = publisher  # type: ignore[assignment]
        return digest.run_digest(self.store, self.renderer, sender, self.config.email, self.clock(), force=force)

    def _digest_by_mail(self, *, force: bool, should_stop: Callable[[], bool]) -> int:
        assert self.email_digest is not None
        now = self.clock()
        last = from_db_time(self.store.get_meta(digest.LAST_DIGEST_KEY))
        if last is None and not force:
            self.store.set_meta(digest.LAST_DIGEST_KEY, to_db_time(now))  # first start: wait for the first slot
        elif force or digest.is_due(now, last, self.config.email):
            self.email_digest.start(now)
            self.store.set_meta(digest.LAST_DIGEST_KEY, to_db_time(now))
        report = self.email_digest.deliver(self.clock, should_stop)
        self.last_digest_delivery = report
        if report.stopped:
            log.error("%s", kv(event="digest_stopped", reason=report.stopped))
        return report.sent

    def run_cycle(self, *, poll_all: bool = False, should_stop: Callable[[], bool] = lambda: False) -> CycleReport:
        """One full cycle: poll, publish what is due, send the digest if it is due."""
        report = CycleReport(polls=self.poll_due_sources(poll_all=poll_all))
        report.drain = self.drain(should_stop)
        report.digest_articles = self.digest(should_stop=should_stop)
        return report
