"""Server-rendered SVG charts (bot/control/charts.py): structure, escaping, accessibility, scales."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

from bot.control.charts import (
    COLOURS,
    MUTED,
    TEXT,
    DailyChart,
    TopChart,
    daily_bars,
    daily_series,
    daily_table,
    nice_ticks,
    shorten,
    top_bars,
    top_table,
)

NS = {"svg": "http://www.w3.org/2000/svg"}
HOSTILE = '</text><script>alert("x")</script> & <b>Budget</b>\u202e reversed\u200b'
DAYS, SERIES = daily_series(
    {(date(2024, 3, 1), "telegram"): 120, (date(2024, 3, 1), "x"): 30, (date(2024, 3, 3), "email"): 7},
    date(2024, 3, 1),
    date(2024, 3, 3),
    ["telegram", "x", "email"],
)
SENDS = DailyChart("Sends per day", "Posts and digest mails sent.", DAYS, SERIES)


def parsed(markup: str) -> ET.Element:
    return ET.fromstring(markup)


def contrast(colour: str, background: str = "#ffffff") -> float:
    def luminance(hex_colour: str) -> float:
        channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(colour), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_missing_days_are_zero_and_the_table_has_the_same_figures_as_the_chart() -> None:
    assert (date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)) == DAYS
    assert SERIES == (("telegram", (120, 0, 0)), ("x", (30, 0, 0)), ("email", (0, 0, 7)))
    table = daily_table(SENDS)
    assert table.header == ("Day (UTC)", "telegram", "x", "email", "Total")
    assert table.rows == (
        ("2024-03-01", "120", "30", "0", "150"),
        ("2024-03-02", "0", "0", "0", "0"),
        ("2024-03-03", "0", "0", "7", "7"),
    )


def test_a_daily_chart_is_an_image_with_title_and_description_that_scales_to_the_screen() -> None:
    svg = parsed(daily_bars(SENDS, "sends"))

    assert svg.get("role") == "img" and svg.get("width") == "100%"
    assert svg.get("viewBox", "").startswith("0 0 360 ")
    assert svg.get("aria-labelledby") == "sends-title sends-desc"
    assert svg.find("svg:title", NS).text == "Sends per day"  # type: ignore[union-attr]
    desc = svg.find("svg:desc", NS).text  # type: ignore[union-attr]
    assert desc == "Posts and digest mails sent. 1 Mar to 3 Mar, UTC. Total sends: telegram 120, x 30, email 7."
    assert "style" not in ET.tostring(svg, encoding="unicode")  # allowed by a CSP without inline styles
    bars = [rect for rect in svg.iter(f"{{{NS['svg']}}}rect") if rect.find("svg:title", NS) is not None]
    assert [bar.find("svg:title", NS).text for bar in bars] == [  # type: ignore[union-attr]
        "1 Mar, telegram: 120 sends", "1 Mar, x: 30 sends", "3 Mar, email: 7 sends",
    ]  # fmt: skip
    assert len({bar.get("fill") for bar in bars}) == 3  # solid, stripes, dots
    legend = [t.text for t in svg.iter(f"{{{NS['svg']}}}text") if t.text and "(" in t.text]
    assert legend == ["telegram (solid)", "x (stripes)", "email (dots)"]


def test_the_scale_has_round_ticks_from_zero() -> None:
    assert nice_ticks(150) == [0, 50, 100, 150]
    assert nice_ticks(7) == [0, 2, 4, 6, 8]
    assert nice_ticks(1234) == [0, 500, 1000, 1500]
    assert nice_ticks(1) == [0, 1]
    labels = [t.text for t in parsed(daily_bars(SENDS, "s")).iter(f"{{{NS['svg']}}}text")]
    assert labels[:4] == ["0", "50", "100", "150"]


def test_no_data_draws_a_baseline_and_says_so_instead_of_a_made_up_scale() -> None:
    empty = DailyChart("Clicks per day", "Clicks.", DAYS, (("telegram", (0, 0, 0)),), unit="clicks")
    svg = parsed(daily_bars(empty, "clicks"))
    texts = [t.text for t in svg.iter(f"{{{NS['svg']}}}text")]

    assert "No clicks in this period" in texts
    assert "1" not in texts and texts[0] == "0"
    top = parsed(top_bars(TopChart("Top", "Most clicked.", ()), "top"))
    assert [t.text for t in top.iter(f"{{{NS['svg']}}}text")] == ["No clicks yet"]


def test_hostile_labels_are_text_shortened_and_cleaned_of_control_characters() -> None:
    chart = TopChart("Top articles", "Most clicked.", ((HOSTILE, 1234), ("Short", 0)))
    markup = top_bars(chart, "top")
    svg = parsed(markup)

    assert "<script" not in markup and svg.find(".//svg:script", NS) is None and svg.find(".//script") is None
    first = next(t.text for t in svg.iter(f"{{{NS['svg']}}}text") if t.text and t.text.startswith("1."))
    assert first == '1. </text><script>alert("x")</script> & <b>Budget</b>…'
    assert "\u202e" not in markup and "\u200b" not in markup
    assert shorten(HOSTILE, 300).endswith("<b>Budget</b> reversed")
    assert top_table(chart).rows == (("1", HOSTILE, "1,234"), ("2", "Short", "0"))


def test_colours_pass_wcag_contrast_and_patterns_tell_series_apart() -> None:
    assert all(contrast(colour) >= 3 for colour in COLOURS)  # graphical objects
    assert contrast(TEXT) >= 4.5 and contrast(MUTED) >= 4.5  # text
    svg = parsed(daily_bars(SENDS, "two"))
    assert {p.get("id") for p in svg.iter(f"{{{NS['svg']}}}pattern")} == {"two-p1", "two-p2"}
