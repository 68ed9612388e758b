"""Charts for the control room: inline SVG drawn on the server, no JavaScript.

- `daily_bars`: a stacked bar per UTC day, one segment per channel (sends per day, clicks per day);
- `top_bars`: horizontal bars for a "top N" (articles by clicks), each label on its own line above its bar, so
  long titles fit a phone's width.

Each chart is `role="img"` with a `<title>` and a `<desc>` (which also gives the totals), and `daily_table` /
`top_table` give the same figures as a table for the page to show beside it (screen readers, and anyone who wants
the numbers). Channels are told apart by a pattern as well as a colour, named in a legend; every colour has at
least 3:1 contrast against white (WCAG 1.4.11) and text at least 4.5:1. Labels come from feeds, so they are
hostile: the SVG is built with ElementTree (which escapes every text and attribute), control and format
characters (bidi overrides, zero-width) become spaces, and long labels are shortened with "…" (the full label is
the bar's tooltip). The SVG has a viewBox and `width="100%"`, so it scales to a 390 px screen; it uses
presentation attributes, never `style`, so a Content-Security-Policy without 'unsafe-inline' styles allows it.
Several charts may share a page: each gets its own `chart_id`, which prefixes every id inside it.
"""

from __future__ import annotations

import math
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from markupsafe import Markup

WIDTH: Final = 360  # viewBox units: about a pixel each on a 390 px screen
TEXT: Final = "#1a1a1a"  # 17:1 on white
MUTED: Final = "#4d4d4d"  # axis labels: 8.5:1 on white
GRID: Final = "#d9d9d9"  # decorative lines only
# One per series, each >= 3:1 on white (graphical objects), told apart by PATTERNS as well.
COLOURS: Final = ("#1f5f9e", "#a84300", "#2b7a3d", "#6b3fa0")
PATTERNS: Final = ("solid", "stripes", "dots", "crosshatch")
MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
LEGEND_LABEL_CHARS: Final = 18
TOP_LABEL_CHARS: Final = 52
_SVG_NS: Final = "http://www.w3.org/2000/svg"


@dataclass(frozen=True, slots=True)
class DailyChart:
    title: str  # "Sends per day"
    description: str  # one sentence on what it shows; the totals are added to it
    days: tuple[date, ...]
    series: tuple[tuple[str, tuple[int, ...]], ...]  # (channel, one value per day), in legend order
    unit: str = "sends"


@dataclass(frozen=True, slots=True)
class TopChart:
    title: str
    description: str
    items: tuple[tuple[str, int], ...]  # (label, value), largest first
    unit: str = "clicks"


@dataclass(frozen=True, slots=True)
class Table:
    """The figures of a chart as a table: the page renders it (escaped) beside the chart."""

    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def daily_series(
    counts: Mapping[tuple[date, str], int], first: date, last: date, channels: Sequence[str]
) -> tuple[tuple[date, ...], tuple[tuple[str, tuple[int, ...]], ...]]:
    """Every day from `first` to `last` and, per channel, its value each day (0 where `counts` has none)."""
    days = tuple(first + timedelta(days=n) for n in range((last - first).days + 1))
    return days, tuple((channel, tuple(counts.get((day, channel), 0) for day in days)) for channel in channels)


def nice_ticks(maximum: int, intervals: int = 4) -> list[int]:
    """Round axis ticks from 0 to at least `maximum`: steps of 1, 2 or 5 times a power of ten."""
    if maximum <= 0:
        return [0, 1]
    raw = maximum / intervals
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return list(range(0, math.ceil(maximum / step) * step + 1, step))


def shorten(label: str, limit: int) -> str:
    """`label` as a chart may show it: control and format characters as spaces, runs of space as one, and at most
    `limit` characters (cut with "…")."""
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp") else ch for ch in label)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def day_label(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]}"


# -- the daily chart ---------------------------------------------------------------------------------------------

_LEFT, _RIGHT, _TOP, _PLOT_HEIGHT, _AXIS_LABELS, _LEGEND_ROW = 34, 6, 10, 150, 18, 18
_LEGEND_PER_ROW = 2  # "telegram (stripes)" and the next label overlap at three a row


def daily_bars(chart: DailyChart, chart_id: str) -> Markup:
    """`chart` as a stacked bar chart (see the module docstring)."""
    legend_rows = math.ceil(len(chart.series) / _LEGEND_PER_ROW)
    height = _TOP + _PLOT_HEIGHT + _AXIS_LABELS + legend_rows * _LEGEND_ROW + 6
    svg = _svg(chart_id, height, chart.title, _daily_description(chart))
    _patterns(svg, chart_id, len(chart.series))
    totals = [sum(values[n] for _name, values in chart.series) for n in range(len(chart.days))]
    ticks = nice_ticks(max(totals, default=0))
    _y_axis(svg, ticks if any(totals) else [0], ticks[-1])  # no data: the baseline alone, no made-up scale
    if not any(totals):
        _note(svg, f"No {chart.unit} in this period", _TOP + _PLOT_HEIGHT / 2)
    _day_bars(svg, chart, chart_id, ticks[-1])
    _legend(svg, chart_id, [name for name, _values in chart.series], _TOP + _PLOT_HEIGHT + _AXIS_LABELS + 4)
    return _markup(svg)


def _daily_description(chart: DailyChart) -> str:
    totals = ", ".join(f"{name} {sum(values)}" for name, values in chart.series) or "none"
    span = f"{day_label(chart.days[0])} to {day_label(chart.days[-1])}" if chart.days else "no days"
    return f"{chart.description} {span}, UTC. Total {chart.unit}: {totals}."


def _y_axis(svg: ET.Element, ticks: list[int], top: int) -> None:
    for tick in ticks:
        y = _y(tick, top)
        _add(svg, "line", x1=_LEFT, x2=WIDTH - _RIGHT, y1=y, y2=y, stroke=GRID if tick else MUTED)
        _text(svg, f"{tick:,}", x=_LEFT - 4, y=y + 3.5, anchor="end", fill=MUTED)


def _y(value: float, top: int) -> float:
    return round(_TOP + _PLOT_HEIGHT - _PLOT_HEIGHT * value / top, 2)


def _day_bars(svg: ET.Element, chart: DailyChart, chart_id: str, top: int) -> None:
    count = max(len(chart.days), 1)
    slot = (WIDTH - _LEFT - _RIGHT) / count
    every = math.ceil(count / 7)  # at most 7 day labels
    for n, day in enumerate(chart.days):
        x = _LEFT + n * slot + slot * 0.15
        base = 0
        for index, (name, values) in enumerate(chart.series):
            if values[n]:
                bar = _add(svg, "rect", x=round(x, 2), width=round(slot * 0.7, 2), stroke="#ffffff")
                bar.set("y", str(_y(base + values[n], top)))
                bar.set("height", str(round(_y(base, top) - _y(base + values[n], top), 2)))
                bar.set("fill", _fill(chart_id, index))
                _add(bar, "title").text = f"{day_label(day)}, {shorten(name, 40)}: {values[n]:,} {chart.unit}"
                base += values[n]
        if n % every == 0:
            _text(svg, day_label(day), x=round(x + slot * 0.35, 2), y=_TOP + _PLOT_HEIGHT + 13, anchor="middle")


def _legend(svg: ET.Element, chart_id: str, names: list[str], y: float) -> None:
    column = (WIDTH - _LEFT) / _LEGEND_PER_ROW
    for index, name in enumerate(names):
        row, place = divmod(index, _LEGEND_PER_ROW)
        x, top = _LEFT + place * column, y + row * _LEGEND_ROW
        _add(svg, "rect", x=x, y=top, width=12, height=12, fill=_fill(chart_id, index), stroke=TEXT)
        _text(svg, f"{shorten(name, LEGEND_LABEL_CHARS)} ({PATTERNS[index % len(PATTERNS)]})", x=x + 16, y=top + 10)


# -- the top-N chart ---------------------------------------------------------------------------------------------

_ITEM_HEIGHT, _BAR_HEIGHT, _VALUE_ROOM = 36, 14, 56


def top_bars(chart: TopChart, chart_id: str) -> Markup:
    """`chart` as horizontal bars, each label above its bar and the value at its end."""
    height = max(len(chart.items), 1) * _ITEM_HEIGHT + 8
    svg = _svg(chart_id, height, chart.title, _top_description(chart))
    if not chart.items:
        _note(svg, f"No {chart.unit} yet", height / 2)
    top = max((value for _label, value in chart.items), default=0) or 1
    room = WIDTH - 8 - _VALUE_ROOM
    for rank, (label, value) in enumerate(chart.items):
        y = 4 + rank * _ITEM_HEIGHT
        group = _add(svg, "g")
        _add(group, "title").text = f"{rank + 1}. {shorten(label, 300)}: {value:,} {chart.unit}"
        _text(group, f"{rank + 1}. {shorten(label, TOP_LABEL_CHARS)}", x=4, y=y + 12)
        width = max(round(room * value / top, 2), 1 if value else 0)
        _add(group, "rect", x=4, y=y + 17, width=width, height=_BAR_HEIGHT, fill=COLOURS[0])
        _text(group, f"{value:,}", x=round(4 + width + 4, 2), y=y + 28)
    return _markup(svg)


def _top_description(chart: TopChart) -> str:
    listed = "; ".join(f"{shorten(label, 80)}: {value:,}" for label, value in chart.items) or "none yet"
    return f"{chart.description} {chart.unit.capitalize()}: {listed}."


# -- tables ------------------------------------------------------------------------------------------------------


def daily_table(chart: DailyChart) -> Table:
    """The daily chart's figures: a row per day (UTC), a column per channel, and the day's total."""
    header = ("Day (UTC)", *(name for name, _values in chart.series), "Total")
    rows = tuple(
        (
            day.isoformat(),
            *(f"{values[n]:,}" for _name, values in chart.series),
            f"{sum(values[n] for _name, values in chart.series):,}",
        )
        for n, day in enumerate(chart.days)
    )
    return Table(chart.title, header, rows)


def top_table(chart: TopChart) -> Table:
    rows = tuple((str(rank), label, f"{value:,}") for rank, (label, value) in enumerate(chart.items, start=1))
    return Table(chart.title, ("Rank", "Article", chart.unit.capitalize()), rows)


# -- SVG parts ---------------------------------------------------------------------------------------------------


def _svg(chart_id: str, height: float, title: str, description: str) -> ET.Element:
    svg = ET.Element("svg", xmlns=_SVG_NS, viewBox=f"0 0 {WIDTH} {height:g}", width="100%", role="img")
    svg.set("aria-labelledby", f"{chart_id}-title {chart_id}-desc")
    svg.set("font-family", "system-ui, sans-serif")
    svg.set("font-size", "11")
    _add(svg, "title", id=f"{chart_id}-title").text = shorten(title, 200)
    _add(svg, "desc", id=f"{chart_id}-desc").text = shorten(description, 2000)
    return svg


def _patterns(svg: ET.Element, chart_id: str, count: int) -> None:
    """One fill per series: its colour, overlaid with white stripes, dots or cross-hatching (the first solid)."""
    defs = _add(svg, "defs")
    marks = {
        "stripes": [("path", {"d": "M-1,1 l2,-2 M0,6 l6,-6 M5,7 l2,-2", "stroke-width": "1.5"})],
        "dots": [("circle", {"cx": "3", "cy": "3", "r": "1.3"})],
        "crosshatch": [("path", {"d": "M0,0 L6,6 M6,0 L0,6", "stroke-width": "1.2"})],
    }
    for index in range(count):
        kind = PATTERNS[index % len(PATTERNS)]
        if kind == "solid":
            continue
        pattern = _add(defs, "pattern", id=f"{chart_id}-p{index}", width=6, height=6, patternUnits="userSpaceOnUse")
        _add(pattern, "rect", width=6, height=6, fill=COLOURS[index % len(COLOURS)])
        for tag, attributes in marks[kind]:
            _add(pattern, tag, stroke="#ffffff", fill="#ffffff", **attributes)


def _fill(chart_id: str, index: int) -> str:
    if PATTERNS[index % len(PATTERNS)] == "solid":
        return COLOURS[index % len(COLOURS)]
    return f"url(#{chart_id}-p{index})"


def _note(svg: ET.Element, text: str, y: float) -> None:
    _text(svg, text, x=WIDTH / 2, y=y, anchor="middle", fill=MUTED)


def _text(parent: ET.Element, text: str, *, x: float, y: float, anchor: str = "start", fill: str = TEXT) -> None:
    element = _add(parent, "text", x=x, y=y, fill=fill)
    if anchor != "start":
        element.set("text-anchor", anchor)
    element.text = text


def _add(parent: ET.Element, tag: str, **attributes: object) -> ET.Element:
    return ET.SubElement(parent, tag, {key.replace("_", "-"): str(value) for key, value in attributes.items()})


def _markup(svg: ET.Element) -> Markup:
    """The SVG for a page: ElementTree has escaped every text and attribute in it."""
    return Markup(ET.tostring(svg, encoding="unicode"))
