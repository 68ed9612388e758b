"""Draws one PNG chart per benchmark into bench/charts/, from the tables in bench/RESULTS-*.md.

Run from the repository root after the benchmarks (`make bench` runs this last):
`.venv/bin/python bench/charts.py`. Needs the `bench` extra (matplotlib). A missing results file skips its chart.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display; chosen before pyplot is imported

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

BENCH_DIR = Path(__file__).resolve().parent
CHARTS_DIR = BENCH_DIR / "charts"
TELEGRAM_CEILING_PER_SECOND = 30
IMPORT_COST_TARGET_MS = 300

Row = dict[str, str]


def read_tables(path: Path) -> list[list[Row]]:
    """Every Markdown table in `path`, each as a list of rows keyed by the header cells."""
    tables: list[list[Row]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        if _is_row(lines[index]) and index + 1 < len(lines) and set(lines[index + 1]) <= set("|-: "):
            header = _cells(lines[index])
            index += 2
            rows: list[Row] = []
            while index < len(lines) and _is_row(lines[index]):
                rows.append(dict(zip(header, _cells(lines[index]), strict=True)))
                index += 1
            tables.append(rows)
        else:
            index += 1
    return tables


def _is_row(line: str) -> bool:
    return line.startswith("|") and line.rstrip().endswith("|")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def number(cell: str) -> float:
    return float(cell.replace(",", ""))


def _label(axis: Axes, *, x: str, y: str, title: str) -> None:
    axis.set_xlabel(x)
    axis.set_ylabel(y)
    axis.set_title(title)


def ingest_chart(tables: list[list[Row]]) -> Figure:
    rows = tables[0]
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for axis, poll in zip(axes, ("first", "second"), strict=True):
        poll_rows = [row for row in rows if row["poll"] == poll]
        tools = [row["tool"] for row in poll_rows]
        seconds = [number(row["seconds"]) for row in poll_rows]
        bars = axis.bar(tools, seconds, color=["tab:blue" if tool == "newsbot" else "tab:gray" for tool in tools])
        axis.bar_label(bars, fmt="%.2f s")
        axis.set_title(f"{poll} poll of 200 feeds (wall time)")
        axis.set_ylabel("seconds (lower is better)")
    return figure


def summary_chart(tables: list[list[Row]]) -> Figure:
    rows = [row for row in tables[0] if row["Budget"] != "none"]
    metrics = ("ROUGE-1 F1", "ROUGE-2 F1", "ROUGE-L F1")
    figure, axes = plt.subplots(1, len(metrics), figsize=(11, 3.6))
    for axis, metric in zip(axes, metrics, strict=True):
        for method, style in (("newsbot", "o-"), ("lead-fit", "s--")):
            method_rows = [row for row in rows if row["Method"] == method]
            axis.plot([number(r["Budget"]) for r in method_rows], [number(r[metric]) for r in method_rows], style)
        axis.set_title(metric)
        axis.set_xlabel("budget (characters)")
        axis.legend(["newsbot", "lead-fit"])
    axes[0].set_ylabel("mean F1 (higher is better)")
    return figure


def telegram_chart(tables: list[list[Row]]) -> Figure:
    rows = tables[0]
    figure, axis = plt.subplots(figsize=(6, 3.6))
    subscribers = [number(row["subscribers"]) for row in rows]
    axis.plot(subscribers, [number(row["messages/s"]) for row in rows], "o-", label="newsbot")
    axis.axhline(TELEGRAM_CEILING_PER_SECOND, color="tab:red", linestyle="--", label="Telegram's 30/s ceiling")
    axis.set_xscale("log")
    axis.set_ylim(0, TELEGRAM_CEILING_PER_SECOND * 1.15)
    _label(axis, x="subscribers", y="messages per second", title="Telegram fan-out throughput")
    axis.legend(loc="lower right")
    return figure


def digest_chart(tables: list[list[Row]]) -> Figure:
    rows = tables[0]
    figure, axis = plt.subplots(figsize=(6, 3.6))
    labels = [row["subscribers"] for row in rows]
    positions = range(len(rows))
    width = 0.38
    axis.bar([p - width / 2 for p in positions], [number(r["newsbot msg/s"]) for r in rows], width, label="newsbot")
    axis.bar([p + width / 2 for p in positions], [number(r["naive msg/s"]) for r in rows], width, label="naive")
    axis.set_xticks(list(positions), labels)
    _label(axis, x="subscribers", y="digests per second (higher is better)", title="Email digest throughput")
    axis.legend(loc="lower right")
    return figure


def scale_chart(tables: list[list[Row]]) -> Figure:
    rows = tables[0]
    subscribers = [number(row["subscribers"]) for row in rows]
    cycle = [number(row["cycle (s)"]) for row in rows]
    # Linear growth from the smallest size: what "linear" would look like, to compare the curve with.
    linear = [cycle[0] * count / subscribers[0] for count in subscribers]
    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(10, 3.8))
    time_axis.loglog(subscribers, cycle, "o-", label="newsbot")
    time_axis.loglog(subscribers, linear, ":", color="tab:gray", label="linear from 100")
    _label(time_axis, x="subscribers", y="seconds per cycle", title="Cycle time")
    time_axis.legend()
    memory = [number(row["peak RSS (MB)"]) for row in rows]
    memory_axis.semilogx(subscribers, memory, "o-")
    memory_axis.set_ylim(0, max(memory) * 1.2)
    _label(memory_axis, x="subscribers", y="peak RSS (MB)", title="Memory")
    return figure


def startup_chart(tables: list[list[Row]]) -> Figure:
    rows = [row for row in tables[0] if "baseline" not in row["command"]]
    figure, axis = plt.subplots(figsize=(7, 2.8))
    commands = [row["command"] for row in rows]
    costs = [number(row["newsbot's own cost over `python -c pass` (ms)"]) for row in rows]
    bars = axis.barh(commands, costs)
    axis.bar_label(bars, fmt="%.0f ms")
    axis.axvline(IMPORT_COST_TARGET_MS, color="tab:red", linestyle="--", label="target: 300 ms")
    axis.invert_yaxis()
    axis.set_xlabel("milliseconds over `python -c pass` (lower is better)")
    axis.set_title("Start-up cost")
    axis.legend(loc="upper right")
    return figure


CHARTS: dict[str, Callable[[list[list[Row]]], Figure]] = {
    "ingest": ingest_chart,
    "summary": summary_chart,
    "telegram": telegram_chart,
    "digest": digest_chart,
    "scale": scale_chart,
    "startup": startup_chart,
}


def main() -> int:
    CHARTS_DIR.mkdir(exist_ok=True)
    for name, draw in CHARTS.items():
        results = BENCH_DIR / f"RESULTS-{name}.md"
        if not results.exists():
            print(f"skipped {name}: {results.name} is missing (run bench/ first)")
            continue
        figure = draw(read_tables(results))
        figure.tight_layout()
        target = CHARTS_DIR / f"{name}.png"
        figure.savefig(target, dpi=100)
        plt.close(figure)
        print(f"wrote {target.relative_to(BENCH_DIR.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
