"""Wiring: one `App` holds the store, the renderer, the publishers and the jobs that use them.

Jobs take the time as an argument (or a clock), so tests drive them without sleeping.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from bot import digest
from bot.config import Config
from bot.errors import ConfigError
from bot.ingest import Ingest, PollReport
from bot.lock import StateLock
from bot.logs import kv
from bot.outbox import DrainReport, Outbox
from bot.publishers import Publisher, build_publishers
from bot.publishers.base import DigestPublisher
from bot.render import DIGEST_HTML_TEMPLATE, DIGEST_TEXT_TEMPLATE, TEMPLATES, Renderer, XThread
from bot.store import DIGEST_REQUEST_KEY, SqliteStore, open_store, unauthorized_key
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
            parts.append(f"digest sent with {self.digest_articles} article(s)")
        return ", ".join(parts)


class App:
    def __init__(
        self,
        config: Config,
        *,
        clock: Clock = utc_now,
        http_client: httpx.Client | None = None,
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
        for channel in self.publishers:  # credentials may have been fixed since the last run
            self.store.set_meta(unauthorized_key(channel), "")
        self.ingest = Ingest(self.store, config, client=http_client)
        self.outbox = Outbox(self.store, self.renderer, self.publishers, config)

    def close(self) -> None:
        for publisher in self.publishers.values():
            publisher.close()
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
        return [self.ingest.poll(source, now) for source in sources]

    def drain(self, should_stop: Callable[[], bool] = lambda: False) -> DrainReport:
        return self.outbox.drain(self.clock, should_stop)

    def digest(self, *, force: bool = False) -> int:
        publisher = self.publishers.get(digest.CHANNEL)
        if publisher is None:
            return 0
        if not hasattr(publisher, "send_digest"):
            log.error("%s", kv(event="digest_unsupported", channel=digest.CHANNEL))
            return 0
        sender: DigestPublisher = publisher  # type: ignore[assignment]
        requested = self.store.get_meta(DIGEST_REQUEST_KEY) == "1"  # an admin's /digest send
        if self.store.is_paused() and not (force or requested):
            return 0
        sent = digest.run_digest(
            self.store, self.renderer, sender, self.config.email, self.clock(), force=force or requested
        )
        if requested:
            self.store.set_meta(DIGEST_REQUEST_KEY, "")
        return sent

    def run_cycle(self, *, poll_all: bool = False, should_stop: Callable[[], bool] = lambda: False) -> CycleReport:
        """One full cycle: poll, publish what is due, send the digest if it is due."""
        report = CycleReport(polls=self.poll_due_sources(poll_all=poll_all))
        report.drain = self.drain(should_stop)
        report.digest_articles = self.digest()
        return report
