"""Polling sources: new entries become articles, are de-duplicated, routed, and queued in the outbox."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import httpx

from bot.config import Config, SourceConfig
from bot.errors import SourceError
from bot.identity import build_article
from bot.logs import kv
from bot.models import Article, Entry
from bot.route import decide, outbox_items
from bot.sources import SourceRead, read_source
from bot.store import SourceState, SqliteStore

log = logging.getLogger("newsbot.ingest")

MAX_BACKOFF = timedelta(hours=6)
MAX_PARALLEL_FETCHES = 8
_OLDEST = datetime.min.replace(tzinfo=UTC)


@dataclass
class PollReport:
    source: str
    new: int = 0
    queued: int = 0
    not_modified: bool = False
    error: str = ""
    new_articles: list[Article] = field(default_factory=list)


def newest_first(entries: list[Entry]) -> list[Entry]:
    """Dated entries newest first; undated ones keep document order (feeds list newest first) after them."""
    return sorted(entries, key=lambda e: e.published or _OLDEST, reverse=True)


def next_poll_after_failure(source: SourceConfig, failures: int, now: datetime) -> datetime:
    delay: timedelta = min(timedelta(seconds=source.interval * 2 ** min(failures, 16)), MAX_BACKOFF)
    return now + max(delay, timedelta(seconds=source.interval))


class Ingest:
    def __init__(self, store: SqliteStore, config: Config, client: httpx.Client | None = None) -> None:
        self.store = store
        self.config = config
        self.client = client

    def sources(self) -> list[SourceConfig]:
        """The config's sources, then those admins added from chat (/addsource)."""
        added = [
            SourceConfig(name=s.name, url=s.url, hashtags=s.hashtags)
            for s in self.store.added_sources()
            if s.name not in {c.name for c in self.config.sources}
        ]
        return [*self.config.sources, *added]

    def due_sources(self, now: datetime) -> list[SourceConfig]:
        due = []
        for source in self.sources():
            next_poll = self.store.source_state(source.name).next_poll
            if next_poll is None or next_poll <= now:
                due.append(source)
        return due

    def poll(self, source: SourceConfig, now: datetime) -> PollReport:
        """Read one source; its failure is reported and backed off, never raised."""
        return self.poll_many([source], now)[0]

    def poll_many(self, sources: Sequence[SourceConfig], now: datetime) -> list[PollReport]:
        """Fetch the sources concurrently (one slow source does not hold up the others), then record each in order.

        Only the fetching runs in threads; every state-file write happens here, in the calling thread.
        """
        states = [self.store.source_state(source.name) for source in sources]
        if len(sources) <= 1 or self.client is not None:
            return [
                self._record(source, state, self._fetch(source, state, self.client), now)
                for source, state in zip(sources, states, strict=True)
            ]
        reports: list[PollReport | None] = [None] * len(sources)
        with httpx.Client() as client, ThreadPoolExecutor(min(MAX_PARALLEL_FETCHES, len(sources))) as pool:
            pending = {
                pool.submit(self._fetch, source, state, client): index
                for index, (source, state) in enumerate(zip(sources, states, strict=True))
            }
            # Each source is recorded as soon as it arrives, so the parsed feeds are not all held at once.
            for done in as_completed(pending):
                index = pending.pop(done)
                reports[index] = self._record(sources[index], states[index], done.result(), now)
        return [report for report in reports if report is not None]

    @staticmethod
    def _fetch(source: SourceConfig, state: SourceState, client: httpx.Client | None) -> SourceRead | SourceError:
        try:
            return read_source(
                source.name,
                source.url,
                etag=state.etag,
                last_modified=state.last_modified,
                timeout=source.timeout,
                max_bytes=source.max_bytes,
                client=client,
            )
        except SourceError as exc:
            return exc

    def _record(
        self, source: SourceConfig, state: SourceState, result: SourceRead | SourceError, now: datetime
    ) -> PollReport:
        report = PollReport(source=source.name)
        if isinstance(result, SourceError):
            exc = result
            failures = state.failures + 1
            retry_at = next_poll_after_failure(source, failures, now)
            self.store.save_source_state(
                replace(state, last_poll=now, next_poll=retry_at, failures=failures, last_error=exc.reason)
            )
            log.error(
                "%s",
                kv(
                    event="source_failed",
                    source=source.name,
                    url=source.url,
                    reason=exc.reason,
                    failures=failures,
                    retry_at=retry_at.isoformat(timespec="seconds"),
                ),
            )
            report.error = str(exc)
            return report
        report.not_modified = result.not_modified
        with self.store.transaction():  # one commit per source, not one per article
            if not result.not_modified:
                self._take_entries(source, result.entries, primed=state.primed, now=now, report=report)
            self._save_success(source, state, result, now)
        log.info(
            "%s",
            kv(
                event="source_polled",
                source=source.name,
                not_modified=result.not_modified,
                new=report.new,
                queued=report.queued,
            ),
        )
        return report

    def _save_success(self, source: SourceConfig, state: SourceState, result: SourceRead, now: datetime) -> None:
        self.store.save_source_state(
            replace(
                state,
                etag=result.etag,
                last_modified=result.last_modified,
                primed=True,
                last_poll=now,
                last_success=now,
                next_poll=now + timedelta(seconds=source.interval),
                failures=0,
                last_error="",
            )
        )

    def _take_entries(
        self, source: SourceConfig, entries: list[Entry], *, primed: bool, now: datetime, report: PollReport
    ) -> None:
        # On the first poll only the `backfill` newest entries are posted; the backlog is just marked seen.
        ordered = entries if primed else newest_first(entries)
        for position, entry in enumerate(ordered):
            article = build_article(entry, source=source.name, source_hashtags=source.hashtags, first_seen=now)
            if article.published is None:
                article = replace(article, published=now)
            known = self.store.find_article_key(article.aliases)
            if known is not None:
                self.store.add_aliases(known, article.aliases)
                continue
            post_it = primed or position < source.backfill
            with self.store.transaction():
                self.store.add_article(article)
                if post_it:
                    report.queued += self.route(article, now)
            report.new += 1
            report.new_articles.append(article)
            if not post_it:
                log.debug(
                    "%s",
                    kv(
                        event="backlog_marked_seen",
                        source=source.name,
                        article=article.key,
                        title=article.title[:80],
                    ),
                )

    def route(self, article: Article, now: datetime) -> int:
        """Queue the article wherever the routes send it (channels and matching subscribers). Returns rows added."""
        decision = decide(article, self.config.routes)
        fields = {"article": article.key, "title": article.title[:80]}
        if not decision.targets:
            log.info("%s", kv(event="not_routed", reason=decision.reason, **fields))
            return 0
        log.debug("%s", kv(event="routed", reason=decision.reason, **fields))
        items = outbox_items(article, decision, now)
        own = [i for i in items if self._has_channel_target(i.channel)]
        own += [
            replace(item, recipient=f"{item.recipient}:{chat}")
            for item in own
            if item.channel == "telegram"
            for chat in self.config.telegram.more_channels
        ]
        queued = self.store.enqueue(own, now)
        for item in items:
            if item.channel == "telegram" and self.config.telegram.subscribers:
                queued += self.store.enqueue_for_subscribers(
                    article.key,
                    "telegram",
                    article.hashtags,
                    route=item.route,
                    template=item.template,
                    not_before=item.not_before,
                    now=now,
                )
        return queued

    def _has_channel_target(self, channel: str) -> bool:
        """Telegram posts to a channel only when one is configured (dry runs write the file anyway)."""
        return channel != "telegram" or bool(self.config.telegram.channel) or self.config.output.dry_run
