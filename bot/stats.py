"""The figures of "the last N days": sends, failures and clicks per channel, per day, and the most clicked
articles. Chat (/stats, bot.commands.admin) and the control room's Stats page (bot.control.stats) both read them
here, so they count the same things over the same days; each words them for its own medium.

A period of N days is the last N UTC days, today included: from 00:00 UTC of the first day until now. Clicks are
only counted per UTC day (bot.store.clicks), so sends are taken over the same whole days, and a figure for "7
days" is the sum of the seven bars a chart of those days shows. Sends are the ledger's (bot.store.reports): a post
per (article, channel, recipient), a mail per digest and address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Protocol

from bot.config import Config
from bot.store.clicks import ArticleClicks, DailyClicks
from bot.store.reports import DaySends

__all__ = [
    "CHAT_DAYS",
    "DEFAULT_DAYS",
    "PERIODS",
    "Figures",
    "Period",
    "StatsStore",
    "figures",
    "parse_period",
    "period",
]

PERIODS: Final = (7, 30, 90)  # the choices offered; chat's /stats says 7 unless told
CHAT_DAYS: Final = 7
# The page opens on a month: 30 daily bars show a trend and a weekly rhythm that a week's seven cannot, and still
# fit a phone (7 days is what chat shows; both are a click away).
DEFAULT_DAYS: Final = 30
TOP_ARTICLES: Final = 10


class StatsStore(Protocol):
    """What the figures read (`bot.store.Store` is one)."""

    def sends_per_day(self, since: datetime) -> list[DaySends]: ...
    def clicks_per_day(self, since: date) -> list[DailyClicks]: ...
    def top_articles_by_clicks(
        self, since: date, limit: int = 10, channel: str | None = None
    ) -> list[ArticleClicks]: ...


@dataclass(frozen=True, slots=True)
class Period:
    days: int
    first: date  # UTC, included
    last: date  # UTC, today

    @property
    def since(self) -> datetime:
        return datetime.combine(self.first, time(0), tzinfo=UTC)


def period(now: datetime, days: int) -> Period:
    """The last `days` UTC days up to `now`, today included."""
    last = now.astimezone(UTC).date()
    return Period(days, last - timedelta(days=days - 1), last)


def parse_period(text: str, default: int) -> int:
    """A period as a person writes it ("30", "30d", "30 days"); `default` when empty; ValueError naming the
    choices otherwise."""
    words = text.strip().lower().removesuffix("days").removesuffix("day").removesuffix("d").strip()
    if not words:
        return default
    if words.isdigit() and int(words) in PERIODS:
        return int(words)
    raise ValueError(f"choose a period of {', '.join(str(p) for p in PERIODS[:-1])} or {PERIODS[-1]} days")


@dataclass(frozen=True, slots=True)
class Figures:
    period: Period
    channels: tuple[str, ...]  # those in use and any other with figures in the period, by name
    sends: tuple[DaySends, ...]  # per day and channel, days without any left out
    clicks: tuple[DailyClicks, ...]  # per day and channel, days without any left out
    top: tuple[ArticleClicks, ...]  # most clicked first
    clicks_counted: bool  # [analytics] enabled, or clicks were counted in the period (it was on before)

    def sent(self, channel: str) -> int:
        return sum(day.sent for day in self.sends if day.channel == channel)

    def failed(self, channel: str) -> int:
        return sum(day.failed for day in self.sends if day.channel == channel)

    def clicks_of(self, channel: str) -> int:
        return sum(day.clicks for day in self.clicks if day.channel == channel)


def figures(config: Config, store: StatsStore, now: datetime, days: int, top: int = TOP_ARTICLES) -> Figures:
    """Everything /stats and the Stats page show of the last `days` days (see the module docstring)."""
    span = period(now, days)
    sends = tuple(store.sends_per_day(span.since))
    clicks = tuple(store.clicks_per_day(span.first))
    seen = {day.channel for day in sends} | {day.channel for day in clicks}
    channels = tuple(sorted(seen | set(config.channels_in_use())))
    return Figures(
        period=span,
        channels=channels,
        sends=sends,
        clicks=clicks,
        top=tuple(store.top_articles_by_clicks(span.first, limit=top)),
        clicks_counted=config.analytics.enabled or bool(clicks),
    )
