"""What `/metrics` shows, in Prometheus's text format. The only module that imports `prometheus_client`.

    metrics = Metrics(enabled=True)            # one per process, built by App (bot.app) and handed to each part
    metrics.send("telegram", "sent")           # where an outcome is decided: bot.outbox, bot.email.delivery
    metrics.rate_limited("telegram", 3.0)      # each rate-limit wait and its seconds: bot.outbox, or a publisher
                                               # that waits some out itself (Telegram, a MeteredPublisher)
    metrics.poll("feed-a", "example.com", 0.21, failed=False) # bot.ingest, once per source polled
    body, content_type = metrics.exposition()  # bot.server, at scrape time

`Metrics()` (disabled, the default) counts nothing and does not import `prometheus_client` (about 60 ms at start-
up), so `newsbot once` and a `run` without `[web] metrics` do not pay for it. Counters live in this process's own
registry (nothing at module level: two Apps in one test never share one). Figures that belong to the state (queue
depth per channel, the current digest's progress) are read from it at scrape time through `read_state_with`, so
every worker sharing a state shows the same numbers.

Series (every name starts with `newsbot_`):
    sends_total{channel,outcome}            one per send decided: sent, wait, stop, unknown, duplicate, rejected,
                                            gone, retry (see bot.outcomes); the digest's mails under channel email
    rate_limited_total{channel}             rate-limit waits: 429 answers, or a window with nothing remaining
    rate_limited_seconds_total{channel}     the seconds they asked to wait
    polls_total{source}, poll_failures_total{source}
    poll_seconds_total{source}              the time spent downloading each source (with polls_total: its mean)
    poll_duration_seconds{host}             a histogram per host ("file" for local files), not per source: at
                                            50,000 sources a histogram each (14 series apiece) was 700,000 series
                                            held in memory and sent at every scrape
    queue_depth{channel}                    outbox rows waiting to be sent (scrape time)
    digest_deliveries{state}                the latest digest's deliveries: sent, pending, failed (scrape time)
    leases_held{kind}                       work this worker holds now (`leases`): outbox rows of the batch being
                                            sent, sources being polled, digest deliveries of its chunk, channels
                                            it is the sender of (see bot.store.leases)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["DIGEST_STATES", "LEASE_KINDS", "Metrics", "StateFigures"]

DIGEST_STATES: Final = ("sent", "pending", "failed")
LEASE_KINDS: Final = ("outbox", "source", "digest", "sender")
# Feeds answer within a few seconds; the slowest buckets catch a source near its timeout.
POLL_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True, slots=True)
class StateFigures:
    """What the state says at scrape time."""

    queue_depth: Mapping[str, int] = field(default_factory=dict)  # channel -> rows waiting
    digest: Mapping[str, int] = field(default_factory=dict)  # state -> deliveries of the latest digest


class _Series:
    """The live series of an enabled `Metrics`, in a registry of its own."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        # auto_describe off: a scrape-time reader is not called at registration
        self.registry = registry = CollectorRegistry(auto_describe=False)
        self.sends = Counter("newsbot_sends", "Sends by channel and outcome", ["channel", "outcome"], registry=registry)
        self.rate_limited = Counter("newsbot_rate_limited", "429 retry-after answers", ["channel"], registry=registry)
        self.waited = Counter(
            "newsbot_rate_limited_seconds", "Seconds 429 answers asked to wait", ["channel"], registry=registry
        )
        # Per-source figures in one dict read at scrape time: three prometheus_client Counters per source were
        # 90 MB at 50,000 sources, this is a tenth of that.
        self.sources = sources = _SourcePolls()
        registry.register(sources)
        self.poll_seconds = Histogram(
            "newsbot_poll_duration_seconds", "Time to download a source, per host", ["host"],
            buckets=POLL_BUCKETS, registry=registry,
        )  # fmt: skip
        self.leases = leases = Gauge("newsbot_leases_held", "Work claimed by this worker", ["kind"], registry=registry)
        for kind in LEASE_KINDS:
            leases.labels(kind).set(0)
        self.state_collector: Any = None


class _SourcePolls:
    """Polls, failures and seconds downloading per source, as three counter families at scrape time.

    Every polled source has all three (failures at 0 until it fails), so rate() works from the start."""

    def __init__(self) -> None:
        self._figures: dict[str, list[float]] = {}  # source -> [polls, failures, seconds]
        self._lock = threading.Lock()

    def count(self, source: str, seconds: float, *, failed: bool) -> None:
        with self._lock:
            figures = self._figures.get(source)
            if figures is None:
                figures = self._figures[source] = [0, 0, 0.0]
            figures[0] += 1
            figures[1] += 1 if failed else 0
            figures[2] += seconds

    def collect(self) -> Iterable[Any]:
        from prometheus_client.metrics_core import CounterMetricFamily

        with self._lock:
            rows = [(source, list(figures)) for source, figures in self._figures.items()]
        polls = CounterMetricFamily("newsbot_polls", "Polls per source", labels=["source"])
        failures = CounterMetricFamily("newsbot_poll_failures", "Failed polls per source", labels=["source"])
        seconds = CounterMetricFamily(
            "newsbot_poll_seconds", "Seconds spent downloading, per source", labels=["source"]
        )
        for source, (poll_count, failure_count, total) in rows:
            polls.add_metric([source], poll_count)
            failures.add_metric([source], failure_count)
            seconds.add_metric([source], total)
        return [polls, failures, seconds]


def _state_collector(read: Callable[[], StateFigures]) -> Any:
    """A collector that asks `read` for the state's figures at each scrape."""
    from prometheus_client.metrics_core import GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector

    class StateCollector(Collector):
        def collect(self) -> Iterable[Metric]:
            figures = read()
            depth = GaugeMetricFamily("newsbot_queue_depth", "Outbox rows waiting to be sent", labels=["channel"])
            for channel, count in sorted(figures.queue_depth.items()):
                depth.add_metric([channel], count)
            digest = GaugeMetricFamily(
                "newsbot_digest_deliveries", "Deliveries of the latest email digest by state", labels=["state"]
            )
            for state in DIGEST_STATES:
                digest.add_metric([state], figures.digest.get(state, 0))
            return [depth, digest]

    return StateCollector()


class Metrics:
    def __init__(self, *, enabled: bool = False) -> None:
        self._series = _Series() if enabled else None

    @property
    def registry(self) -> CollectorRegistry | None:
        return None if self._series is None else self._series.registry

    def send(self, channel: str, outcome: str) -> None:
        if self._series is not None:
            self._series.sends.labels(channel, outcome).inc()

    def rate_limited(self, channel: str, seconds: float) -> None:
        if self._series is not None:
            self._series.rate_limited.labels(channel).inc()
            self._series.waited.labels(channel).inc(max(seconds, 0.0))

    def poll(self, source: str, host: str, seconds: float, *, failed: bool) -> None:
        if (series := self._series) is None:
            return
        series.sources.count(source, max(seconds, 0.0), failed=failed)
        series.poll_seconds.labels(host).observe(max(seconds, 0.0))

    def leases(self, kind: str, count: int) -> None:
        """This worker now holds `count` leases of `kind` (one of LEASE_KINDS)."""
        if self._series is not None:
            self._series.leases.labels(kind).set(count)

    def read_state_with(self, read: Callable[[], StateFigures]) -> None:
        """Scrapes also show what `read` returns (called on the scraping thread); replaces an earlier reader."""
        if (series := self._series) is None:
            return
        if series.state_collector is not None:
            series.registry.unregister(series.state_collector)
        series.state_collector = _state_collector(read)
        series.registry.register(series.state_collector)

    def exposition(self) -> tuple[bytes, str]:
        """The text a scrape gets, and its Content-Type (empty when disabled)."""
        from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

        if self._series is None:
            return b"", CONTENT_TYPE_LATEST
        return generate_latest(self._series.registry), CONTENT_TYPE_LATEST
