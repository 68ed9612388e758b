"""Polling sources: new entries become articles, are de-duplicated, routed, and queued in the outbox."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from bot import alerts, keywords
from bot.channels import REGISTRY
from bot.config import Config, RouteConfig, SourceConfig
from bot.errors import SourceError
from bot.identity import build_article
from bot.logs import kv
from bot.metrics import Metrics
from bot.models import Article, Entry
from bot.route import decide, outbox_items
from bot.sources import Reach, SourceRead, download_source
from bot.sources.pages import is_http_url
from bot.sources.reach import origin
from bot.store import SKIPPED_DECISION, AddedSource, Approval, Lease, OutboxItem, SourceState, worker_id
from bot.urls import redact_url

if TYPE_CHECKING:
    from bot.sources.connect import Connections
    from bot.sources.fetched import Fetched
    from bot.sources.workers import Downloads

log = logging.getLogger("newsbot.ingest")

MAX_BACKOFF = timedelta(hours=6)
MAX_PARALLEL_FETCHES = 8
# Sources polled in one poll check: a backlog (the first start, after a long stop) goes out over several checks, so
# that the downloads held in memory at once stay bounded and publishing is not held up for the whole backlog.
MAX_POLLS_PER_CHECK = 1000
# Sources downloaded ahead of the one being recorded, in steps of this many (two steps at a time): the bodies held
# at once stay few, whatever the number of sources due.
DOWNLOAD_STEP = 16
_OLDEST = datetime.min.replace(tzinfo=UTC)


@dataclass(slots=True)
class PollReport:
    source: str
    new: int = 0
    queued: int = 0
    not_modified: bool = False
    error: str = ""
    # The new articles that were routed: a first poll's backlog, only marked seen, is not kept (200 feeds × 50
    # entries held to the end of the poll were a third of its memory).
    new_articles: list[Article] = field(default_factory=list)


def newest_first(entries: list[Entry]) -> list[Entry]:
    """Dated entries newest first; undated ones keep document order (feeds list newest first) after them."""
    return sorted(entries, key=lambda e: e.published or _OLDEST, reverse=True)


def next_poll_after_failure(source: SourceConfig, failures: int, now: datetime) -> datetime:
    delay: timedelta = min(timedelta(seconds=source.interval * 2 ** min(failures, 16)), MAX_BACKOFF)
    return now + max(delay, timedelta(seconds=source.interval))


def _succeeded(source: SourceConfig, state: SourceState, result: SourceRead, now: datetime) -> SourceState:
    """The poll state after a poll that worked: due again one interval from now, any failure streak over."""
    return replace(
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


def _tally(reports: Iterable[PollReport]) -> dict[str, int]:
    """One poll check in numbers, for its one log line."""
    tally = {"sources": 0, "not_modified": 0, "failed": 0, "new": 0, "queued": 0}
    for report in reports:
        tally["sources"] += 1
        tally["not_modified"] += report.not_modified
        tally["failed"] += bool(report.error)
        tally["new"] += report.new
        tally["queued"] += report.queued
    return tally


def _likely_changed(pairs: Iterable[tuple[SourceConfig, SourceState]]) -> int:
    """Sources whose answer will probably have to be parsed: those without an ETag or Last-Modified from their last
    poll (never polled, or a server that sends neither) cannot be answered 304 Not Modified."""
    return sum(1 for _source, state in pairs if not state.etag and not state.last_modified)


def _metrics_host(url: str) -> str:
    """The host label of a source's poll time in /metrics ("file" for a local file)."""
    return (origin(url)[1] or "file") if is_http_url(url) else "file"


def _queues_by_host(sources: Sequence[SourceConfig]) -> list[deque[int]]:
    """The indexes of `sources`, one queue per host in order of first appearance; each local file its own."""
    # Imported here: httpx takes ~50 ms to import, and `once` with nothing due must start fast.
    from bot.sources.connect import host_of

    queues: dict[str, deque[int]] = {}
    for index, source in enumerate(sources):
        key = host_of(source.url) if is_http_url(source.url) else f"local {index}"
        queues.setdefault(key, deque()).append(index)
    return list(queues.values())


def _lanes(queues: list[deque[int]]) -> list[deque[int]]:
    """Each host's queue once per lane it gets (its first lanes first, so that every host starts early)."""
    # Imported here: httpx takes ~50 ms to import, and `once` with nothing due must start fast.
    from bot.sources.connect import MAX_CONNECTIONS_PER_HOST

    counts = [min(MAX_CONNECTIONS_PER_HOST, len(queue)) for queue in queues]
    return [queue for lane in range(max(counts)) for queue, count in zip(queues, counts, strict=True) if lane < count]


class IngestStore(alerts.AlertStore, Protocol):
    """What polling needs of the store (`bot.store.Store` is one); a failing source is alerted on."""

    def added_sources(self) -> list[AddedSource]: ...
    def added_sources_changes(self) -> int: ...
    def source_state(self, name: str) -> SourceState: ...
    def source_states(self, names: Sequence[str]) -> dict[str, SourceState]: ...
    def add_source_states(self, names: Iterable[str]) -> None: ...
    def due_source_names(self, now: datetime) -> list[str]: ...
    def claim_sources(self, names: Sequence[str], now: datetime, lease: Lease) -> list[str]: ...
    def save_source_state(self, state: SourceState) -> None: ...
    def save_source_states(self, states: Sequence[SourceState]) -> None: ...
    def find_article_keys(self, aliases: Sequence[str]) -> dict[str, str]: ...
    def add_articles(self, articles: Sequence[Article]) -> None: ...
    def add_aliases(self, article_key: str, aliases: Iterable[str]) -> None: ...
    def enqueue(self, items: Iterable[OutboxItem], now: datetime, *, held: bool = False) -> int: ...
    def approvals_for_article(self, article_key: str) -> list[Approval]: ...
    def add_approval(self, article_key: str, route: str, now: datetime, deadline: datetime | None) -> int | None: ...
    def enqueue_for_subscribers(
        self,
        article_key: str,
        channel: str,
        hashtags: Iterable[str],
        *,
        route: str,
        template: str,
        not_before: datetime,
        now: datetime,
        words: Sequence[str] | None = None,
        held: bool = False,
    ) -> int: ...
    def words_in_use(self, channel: str) -> list[str]: ...


class Ingest:
    def __init__(
        self,
        store: IngestStore,
        config: Config,
        connections: Connections | None = None,
        metrics: Metrics | None = None,
        lease: Lease | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.connections = connections
        self.metrics = metrics or Metrics()
        self.lease = lease or Lease(worker_id(), config.state.lease_seconds)  # App hands in the worker's
        self.max_per_check = MAX_POLLS_PER_CHECK
        self._with_state: set[str] = set()  # sources known to have a poll state row (rows are never deleted)
        self._from_config: tuple[tuple[SourceConfig, ...], frozenset[SourceConfig]] = ((), frozenset())
        self._all: tuple[tuple[SourceConfig, ...], int, list[SourceConfig]] | None = None  # what `sources` read

    def config_sources(self) -> frozenset[SourceConfig]:
        """The config's sources as a set (50,000 of them: a look-up per poll must not read the whole list)."""
        if self._from_config[0] is not self.config.sources:
            self._from_config = (self.config.sources, frozenset(self.config.sources))
        return self._from_config[1]

    def sources(self) -> list[SourceConfig]:
        """The config's sources, then those admins added from chat (/addsource) or by `newsbot sources import`
        (read again only when one was added or removed since the last time)."""
        changes = self.store.added_sources_changes()
        if self._all is None or self._all[0] is not self.config.sources or self._all[1] != changes:
            in_config = {source.name for source in self.config.sources}
            added = [
                SourceConfig(name=s.name, url=s.url, hashtags=s.hashtags)
                for s in self.store.added_sources()
                if s.name not in in_config
            ]
            self._all = (self.config.sources, changes, [*self.config.sources, *added])
        return list(self._all[2])

    def due_sources(self, now: datetime) -> list[SourceConfig]:
        """The sources due now (at most `max_per_check`, the longest overdue first), in config order, each
        claimed for this worker until its poll is saved (or the lease runs out), so that one worker at a time polls
        a source however many share the state.

        Due sources come from an index of when each is due: a check reads the due rows, not all of them."""
        sources = self.sources()
        position = {source.name: index for index, source in enumerate(sources)}
        new = [name for name in position if name not in self._with_state]
        if new:
            self.store.add_source_states(new)
            self._with_state.update(new)
        due = [name for name in self.store.due_source_names(now) if name in position][: self.max_per_check]
        claimed = self.store.claim_sources(sorted(due, key=position.__getitem__), now, self.lease)
        return [sources[position[name]] for name in claimed]

    def poll(self, source: SourceConfig, now: datetime) -> PollReport:
        """Read one source; its failure is reported and backed off, never raised."""
        return self.poll_many([source], now)[0]

    def poll_many(self, sources: Sequence[SourceConfig], now: datetime) -> list[PollReport]:
        """Download the sources concurrently (one slow source does not hold up the others), parse what changed
        (partly in worker processes when there is a lot of it: `bot.sources.workers`), and record each source in
        config order as soon as it is parsed, dropping its body and entries before the next (memory). Downloading
        runs at most `DOWNLOAD_STEP` sources ahead of the next to record (two steps at a time), so parsing starts
        with the first download and only a few bodies are held at once.
        Every state-file write happens here, in the calling thread.
        """
        if not sources:  # nothing due: nothing to fetch, and the fetcher (httpx) stays unimported
            return []
        # Imported here: the parse workers' module and httpx take ~60 ms to import; `once` with nothing due must
        # start fast.
        from bot.sources.workers import Downloads, parse_pool, parsed_in_order, usable_cores, worker_count

        known = self.store.source_states([source.name for source in sources])
        pairs = [(source, known[source.name]) for source in sources]
        seconds: dict[str, float] = {}  # source -> download time, for /metrics
        reports: dict[str, PollReport] = {}
        unchanged: list[SourceState] = []  # most polls (304 Not Modified): saved together in one statement
        with ExitStack() as stack:
            workers = worker_count(_likely_changed(pairs), usable_cores())
            pool = stack.enter_context(parse_pool(workers)) if workers else None
            downloads = Downloads([source.name for source in sources], [source.url for source in sources], pool)
            next_step = self._start_downloads(pairs, downloads, seconds, stack)
            for index, ((source, state), result) in enumerate(zip(pairs, parsed_in_order(downloads), strict=True)):
                if index and index % DOWNLOAD_STEP == 0:
                    next_step()
                if isinstance(result, SourceRead) and result.not_modified and not state.failures:
                    unchanged.append(_succeeded(source, state, result, now))
                    log.debug("%s", kv(event="source_polled", source=source.name, not_modified=True, new=0, queued=0))
                    reports[source.name] = PollReport(source=source.name, not_modified=True)
                else:
                    reports[source.name] = self._record(source, state, result, now)
        self.store.save_source_states(unchanged)
        for source in sources:
            took, failed = seconds.get(source.name, 0.0), bool(reports[source.name].error)
            self.metrics.poll(source.name, _metrics_host(source.url), took, failed=failed)
        log.info("%s", kv(event="sources_polled", **_tally(reports.values())))
        return [reports[source.name] for source in sources]

    def _start_downloads(
        self,
        pairs: Sequence[tuple[SourceConfig, SourceState]],
        downloads: Downloads,
        seconds: dict[str, float],
        stack: ExitStack,
    ) -> Callable[[], None]:
        """Start downloading the first two steps of `pairs` into `downloads`; the function returned starts the next
        step (the caller calls it each time it has taken a step's worth). With connections handed in (tests) or a
        single source, everything is downloaded here, in the calling thread, before this returns."""
        if len(pairs) <= 1 or self.connections is not None:
            for index, (source, state) in enumerate(pairs):
                downloads.arrive(index, self._download(source, state, self.connections, seconds))
            return lambda: None
        # Imported here: httpx takes ~50 ms to import, and `once` with nothing due must start fast.
        from bot.sources.connect import Connections

        shared = stack.enter_context(Connections())
        fetchers = stack.enter_context(ThreadPoolExecutor(MAX_PARALLEL_FETCHES))
        stack.callback(downloads.close)  # first thing on the way out: a caller that stopped parses nothing more
        steps = iter(range(0, len(pairs), DOWNLOAD_STEP))

        def next_step() -> None:
            start = next(steps, None)
            if start is not None:
                self._download_by_host(pairs, range(start, min(start + DOWNLOAD_STEP, len(pairs))), shared,
                                       seconds, downloads, fetchers)  # fmt: skip

        next_step()
        next_step()
        return next_step

    def _download_by_host(
        self,
        pairs: Sequence[tuple[SourceConfig, SourceState]],
        step: range,
        shared: Connections,
        seconds: dict[str, float],
        downloads: Downloads,
        fetchers: ThreadPoolExecutor,
    ) -> None:
        """Download the `step` of `pairs` into `downloads`: different hosts in parallel, one host's sources over at
        most `MAX_CONNECTIONS_PER_HOST` lanes, each lane fetching its host's next source when the last one is done
        (over the connection it kept alive, if any). Lanes rather than one task per source: a thread never waits
        for its host's turn while other hosts wait."""
        queues = _queues_by_host([pairs[index][0] for index in step])

        def lane(queue: deque[int]) -> None:
            try:
                while True:
                    try:
                        index = step[queue.popleft()]  # deque.popleft is atomic: lanes of one host share its queue
                    except IndexError:
                        return
                    source, state = pairs[index]
                    downloads.arrive(index, self._download(source, state, shared, seconds))
            except BaseException as error:  # a bug, not a failed fetch: the caller must not wait for it forever
                downloads.fail(error)
                raise

        for queue in _lanes(queues):
            fetchers.submit(lane, queue)

    def reach(self, source: SourceConfig) -> Reach:
        """A source from the config file may be on a private host; one added in chat may not (bot/sources/reach)."""
        return Reach(from_operator=source in self.config_sources(), allow_private=self.config.fetch.allow_private)

    def _download(
        self, source: SourceConfig, state: SourceState, connections: Connections | None, seconds: dict[str, float]
    ) -> SourceRead | Fetched | SourceError:
        started = time.monotonic()
        try:
            return download_source(
                source.name,
                source.url,
                etag=state.etag,
                last_modified=state.last_modified,
                timeout=source.timeout,
                max_bytes=source.max_bytes,
                reach=self.reach(source),
                connections=connections,
            )
        except SourceError as exc:
            return exc
        finally:
            seconds[source.name] = time.monotonic() - started

    def _record(
        self, source: SourceConfig, state: SourceState, result: SourceRead | SourceError, now: datetime
    ) -> PollReport:
        report = PollReport(source=source.name)
        if isinstance(result, SourceError):
            exc = result
            failures = state.failures + 1
            retry_at = next_poll_after_failure(source, failures, now)
            failed = replace(state, last_poll=now, next_poll=retry_at, failures=failures, last_error=exc.reason)
            with self.store.transaction():
                self.store.save_source_state(failed)
                alerts.source_failed(self.store, self.config, source, failed, now)
            log.error(
                "%s",
                kv(
                    event="source_failed",
                    source=source.name,
                    url=redact_url(source.url),
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
            if state.failures:
                alerts.source_works(self.store, self.config, source.name, now)
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
        self.store.save_source_state(_succeeded(source, state, result, now))

    def _take_entries(
        self, source: SourceConfig, entries: list[Entry], *, primed: bool, now: datetime, report: PollReport
    ) -> None:
        """New articles are stored (in one go) and routed; stories already known just gain any new aliases.

        On a source's first poll only its `backfill` newest entries are routed; the backlog is only marked seen.
        """
        ordered = entries if primed else newest_first(entries)
        articles = [
            build_article(entry, source=source.name, source_hashtags=source.hashtags, first_seen=now)
            for entry in ordered
        ]
        known = self.store.find_article_keys([alias for article in articles for alias in article.aliases])
        new: list[Article] = []
        posted: list[Article] = []
        extra_aliases: list[tuple[str, tuple[str, ...]]] = []
        for position, article in enumerate(articles):
            existing = next((known[alias] for alias in article.aliases if alias in known), None)
            if existing is not None:
                extra_aliases.append((existing, article.aliases))
                continue
            if article.published is None:
                article = replace(article, published=now)
            known.update(dict.fromkeys(article.aliases, article.key))  # the same story twice in one feed
            new.append(article)
            if primed or position < source.backfill:
                posted.append(article)
            else:
                log.debug("%s", kv(event="backlog_marked_seen", source=source.name, article=article.key))
        self.store.add_articles(new)
        for key, aliases in extra_aliases:
            self.store.add_aliases(key, aliases)
        for article in posted:
            report.queued += self.route(article, now)
        report.new += len(new)
        report.new_articles.extend(posted)

    def route(self, article: Article, now: datetime) -> int:
        """Queue the article wherever the routes send it (channels and matching subscribers). Returns rows added.

        The rows of a route with `approval = true` are queued held, with an approval that waits for an admin.
        """
        decision = decide(article, self.config.routes)
        fields = {"article": article.key, "title": article.title[:80]}
        if not decision.targets:
            log.info("%s", kv(event="not_routed", reason=decision.reason, **fields))
            return 0
        log.debug("%s", kv(event="routed", reason=decision.reason, **fields))
        by_route: dict[str, list[tuple[OutboxItem, RouteConfig]]] = {}
        for item, (_channel, route) in zip(outbox_items(article, decision, now), decision.targets, strict=True):
            by_route.setdefault(route.name, []).append((item, route))
        queued = 0
        decided = (  # an article routed again (/post) keeps what an admin decided for it
            {a.route: a.decision for a in self.store.approvals_for_article(article.key) if a.decision}
            if any(targets[0][1].approval for targets in by_route.values())
            else {}
        )
        with self.store.transaction():  # held rows and their approval land together
            for name, targets in by_route.items():
                route = targets[0][1]
                if route.approval and decided.get(name) == SKIPPED_DECISION:
                    continue  # an admin turned it down (/post again routes it the same way)
                held = route.approval and name not in decided  # approved once: new rows (a new subscriber) go
                added = self._enqueue(article, targets, now, held)
                if added and held:
                    deadline = now + route.approval_timeout if route.approval_timeout else None
                    self.store.add_approval(article.key, name, now, deadline)
                    log.info("%s", kv(event="held_for_approval", route=name, **fields))
                queued += added
        return queued

    def _enqueue(
        self, article: Article, targets: list[tuple[OutboxItem, RouteConfig]], now: datetime, held: bool
    ) -> int:
        own = [
            replace(item, recipient=recipient)
            for item, route in targets
            for recipient in REGISTRY[item.channel].recipients(self.config, route)
        ]
        queued = self.store.enqueue(own, now, held=held)
        for item, _route in targets:
            if REGISTRY[item.channel].posts_to_subscribers(self.config):
                queued += self.store.enqueue_for_subscribers(
                    article.key,
                    item.channel,
                    article.hashtags,
                    route=item.route,
                    template=item.template,
                    not_before=item.not_before,
                    now=now,
                    words=self._subscriber_words_in(article, item.channel),
                    held=held,
                )
        return queued

    def _subscriber_words_in(self, article: Article, channel: str) -> list[str] | None:
        """The subscribers' watch and mute words that occur in the article; None when no subscriber has any."""
        words = self.store.words_in_use(channel)
        if not words:
            return None
        return keywords.found_in(keywords.searchable(article.title, article.text, article.summary), words)
