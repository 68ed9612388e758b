"""The Stats page (GET /admin/stats?days=30): sends, failures and clicks per UTC day and channel as SVG charts with
their tables, the totals per channel, and the most clicked articles, over the last 7, 30 or 90 days.

The figures are bot.stats's, which chat /stats reads too: the same period gives the same numbers. The page opens
on bot.stats.DEFAULT_DAYS (a month). An article's link is shown only when it is an http(s) URL (feeds are
hostile: never a javascript: or data: link).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from markupsafe import Markup
from starlette.responses import Response

from bot.control import charts
from bot.control.page import ControlContext, Page
from bot.stats import DEFAULT_DAYS, PERIODS, Figures, figures, parse_period
from bot.store import ArticleClicks
from bot.urls import is_web_url

TITLE_CHARS: Final = 200  # a title in the table: its control and format characters (bidi overrides) as spaces


@dataclass(frozen=True, slots=True)
class ChannelTotal:
    channel: str
    sent: int
    failed: int
    clicks: int


@dataclass(frozen=True, slots=True)
class TopArticle:
    rank: int
    title: str  # "" when the article is no longer kept
    key: str
    link: str  # its own http(s) link, or "" (no link is shown)
    clicks: int


@dataclass(frozen=True, slots=True)
class DailyFigure:
    """One daily chart and its table."""

    chart_id: str
    svg: Markup  # escaped by bot.control.charts
    table: charts.Table


def view(ctx: ControlContext) -> Response:
    try:
        days, error = parse_period(ctx.request.query_params.get("days", ""), DEFAULT_DAYS), ""
    except ValueError as problem:
        days, error = DEFAULT_DAYS, f"That period is not offered: {problem}. Showing {DEFAULT_DAYS} days."
    shown = figures(ctx.config, ctx.store, ctx.now, days)
    top = charts.TopChart("Most clicked articles", f"Clicks per article in the last {days} days.", _top_items(shown))
    return ctx.render(
        "stats",
        title="Stats",
        status=200 if not error else 400,
        error=error,
        days=days,
        periods=PERIODS,
        first=shown.period.first,
        last=shown.period.last,
        totals=[_total(shown, channel) for channel in shown.channels],
        sends=_daily(shown, "sends", "Sends per day", "Posts and digest mails sent per UTC day and channel,"),
        failures=_daily(shown, "failures", "Failures per day", "Sends that failed per UTC day and channel,"),
        any_failed=any(day.failed for day in shown.sends),
        clicks_counted=shown.clicks_counted,
        clicks=_daily(shown, "clicks", "Clicks per day", "Counted clicks on /r/ links per UTC day and channel,"),
        top_svg=charts.top_bars(top, "top"),
        top_table=charts.top_table(top),
        top=[_top_article(ctx, rank, item) for rank, item in enumerate(shown.top, start=1)],
    )


def _total(shown: Figures, channel: str) -> ChannelTotal:
    return ChannelTotal(channel, shown.sent(channel), shown.failed(channel), shown.clicks_of(channel))


def _daily(shown: Figures, kind: str, title: str, description: str) -> DailyFigure:
    if kind == "clicks":
        counts = {(day.day, day.channel): day.clicks for day in shown.clicks}
    else:
        counts = {(day.day, day.channel): day.sent if kind == "sends" else day.failed for day in shown.sends}
    days, series = charts.daily_series(counts, shown.period.first, shown.period.last, shown.channels)
    chart = charts.DailyChart(title, description, days, series, unit=kind)
    return DailyFigure(kind, charts.daily_bars(chart, kind), charts.daily_table(chart))


def _top_items(shown: Figures) -> tuple[tuple[str, int], ...]:
    return tuple((item.title or f"(no longer kept: {item.article_key})", item.clicks) for item in shown.top)


def _top_article(ctx: ControlContext, rank: int, item: ArticleClicks) -> TopArticle:
    article = ctx.store.get_article(item.article_key)
    link = article.link if article is not None and is_web_url(article.link) else ""
    return TopArticle(rank, charts.shorten(item.title, TITLE_CHARS), item.article_key, link, item.clicks)


PAGE = Page(path="/stats", title="Stats", view=view)
