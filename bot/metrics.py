"""What `/metrics` shows, in Prometheus's text format. The only module that imports `prometheus_client`.

    metrics = Metrics()                        # one per process, built by App (bot.app) and handed to each part
    metrics.send("telegram", "sent")           # where an outcome is decided: bot.outbox, bot.email.delivery
    metrics.rate_limited("telegram", 3.0)      # the Telegram publisher, for each 429 and the seconds it asks
    metrics.poll("feed-a", 0.21, failed=False) # bot.ingest, once per source polled
    body, content_type = metrics.exposition()  # bot.server, at scrape time

Counters live in this process's own registry (nothing at module level: two Apps in one test never share one).
Figures that belong to the state (queue depth per channel, the current digest's progress) are read from it at
scrape time through `read_state_with`, so every worker sharing a state shows the same numbers.

Series (every name starts with `newsbot_`):
    sends_total{channel,outcome}            one per send decided: sent, wait, stop, unknown, duplicate, rejected,
                                            gone, retry (see bot.outcomes); the digest's mails under channel email
    rate_limited_total{channel}             429 "retry after" answers
    rate_limited_seconds_total{channel}     the seconds they asked to wait
    polls_total{source}, poll_failures_total{source}, poll_duration_seconds{source} (a histogram)
    queue_depth{channel}                    outbox rows waiting to be sent (scrape time)
    digest_deliveries{state}                the latest digest's deliveries: sent, pending, failed (scrape time)
    leases_held{kind}                       0 for now: work claimed by this worker (outbox, source, sender)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["DIGEST_STATES", "LEASE_KINDS", "Metrics", "StateFigures"]

DIGEST_STATES: Final = ("sent", "pending", "failed")
LEASE_KINDS: Final = ("outbox", "source", "sender")
# Feeds answer within a few seconds; the slowest buckets catch a source near its timeout.
POLL_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True, slots=True)
class StateFigures:
    """What the state says at scrape time."""

    queue_depth: Mapping[str, int] = field(default_factory=dict)  # channel -> rows waiting
    digest: Mapping[str, int] = field(default_factory=dict)  # state -> deliveries of the latest digest


class _StateCollector(Collector):
    def __init__(self, read: Callable[[], StateFigures]) -> None:
        self._read = read

    def collect(self) -> Iterable[Metric]:
        figures = self._read()
        depth = GaugeMetricFamily("newsbot_queue_depth", "Outbox rows waiting to be sent", labels=["channel"])
        for channel, count in sorted(figures.queue_depth.items()):
            depth.add_metric([channel], count)
        digest = GaugeMetricFamily(
            "newsbot_digest_deliveries", "Deliveries of the latest email digest by state", labels=["state"]
        )
        for state in DIGEST_STATES:
            digest.add_metric([state], figures.digest.get(state, 0))
        return [depth, digest]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)  # a scrape-time reader is not called at registration
        self._sends = Counter(
            "newsbot_sends", "Sends by channel and outcome", ["channel", "outcome"], registry=self.registry
        )
        self._rate_limited = Counter(
            "newsbot_rate_limited", "429 retry-after answers", ["channel"], registry=self.registry
        )
        self._waited = Counter(
            "newsbot_rate_limited_seconds", "Seconds 429 answers asked to wait", ["channel"], registry=self.registry
        )
        self._polls = Counter("newsbot_polls", "Polls per source", ["source"], registry=self.registry)
        self._poll_failures = Counter(
            "newsbot_poll_failures", "Failed polls per source", ["source"], registry=self.registry
        )
        self._poll_seconds = Histogram(
            "newsbot_poll_duration_seconds", "Time to download a source", ["source"],
            buckets=POLL_BUCKETS, registry=self.registry,
        )  # fmt: skip
        leases = Gauge("newsbot_leases_held", "Work claimed by this worker", ["kind"], registry=self.registry)
        for kind in LEASE_KINDS:
            leases.labels(kind).set(0)
        self._state: _StateCollector | None = None

    def send(self, channel: str, outcome: str) -> None:
        self._sends.labels(channel, outcome).inc()

    def rate_limited(self, channel: str, seconds: float) -> None:
        self._rate_limited.labels(channel).inc()
        self._waited.labels(channel).inc(max(seconds, 0.0))

    def poll(self, source: str, seconds: float, *, failed: bool) -> None:
        self._polls.labels(source).inc()
        self._poll_seconds.labels(source).observe(max(seconds, 0.0))
        if failed:
            self._poll_failures.labels(source).inc()
        else:
            self._poll_failures.labels(source).inc(0)  # the series exists at 0, so rate() works from the start

    def read_state_with(self, read: Callable[[], StateFigures]) -> None:
        """Scrapes also show what `read` returns (called on the scraping thread); replaces an earlier reader."""
        if self._state is not None:
            self.registry.unregister(self._state)
        self._state = _StateCollector(read)
        self.registry.register(self._state)

    def exposition(self) -> tuple[bytes, str]:
        """The text a scrape gets, and its Content-Type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
