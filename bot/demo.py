"""`newsbot demo`: the whole pipeline on the bundled samples, with the dry-run file sink. No network, no tokens."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import App
from bot.channels import REGISTRY
from bot.config import Config, parse_config
from bot.errors import RenderError
from bot.ingest import PollReport
from bot.models import Article

SAMPLES_DIR = Path(__file__).parent / "samples"
STATE_NAME = ".newsbot-demo.sqlite"
DEMO_READER = "reader@example.org"


def demo_sources() -> list[dict[str, Any]]:
    """Every bundled feed and article page, each posted in full on the first run (large backfill)."""
    files = sorted(p for p in SAMPLES_DIR.iterdir() if p.suffix in (".rss", ".atom", ".json", ".txt"))
    return [{"name": p.stem, "url": str(p), "backfill": 1000} for p in files]


def demo_config(out_dir: Path) -> Config:
    return parse_config(
        {
            "state": {"path": str(out_dir / STATE_NAME)},
            "output": {"dir": str(out_dir), "dry_run": True},
            "outbox": {"max_posts_per_cycle": 100},
            "sources": demo_sources(),
            "routes": [
                {
                    "name": "politics",
                    "hashtags": ["PoliticsNews", "Politics", "MiddleEastNews", "MiddleEast", "World"],
                    "channels": ["telegram", "x", "mastodon", "bluesky", "email"],
                },
                {
                    "name": "science-and-tech",
                    "hashtags": ["TechNews", "Technology", "Science", "Space", "Climate"],
                    "channels": ["telegram", "x", "mastodon", "bluesky", "email"],
                },
                {"name": "everything-else", "hashtags": ["*"], "channels": ["email"]},
            ],
            "telegram": {"utm": {"utm_source": "telegram", "utm_medium": "social"}},
            "x": {"utm": {"utm_source": "x", "utm_medium": "social"}},
            "mastodon": {"utm": {"utm_source": "mastodon", "utm_medium": "social"}},
            "bluesky": {"utm": {"utm_source": "bluesky", "utm_medium": "social"}},
            "email": {"utm": {"utm_source": "newsletter", "utm_medium": "email"}},
        }
    )


@dataclass(frozen=True)
class Row:
    title: str
    hashtags: str
    channels: str
    usage: str


def _usage(app: App, article: Article, channels: list[str]) -> str:
    parts = []
    for channel in channels:
        try:
            post = app.renderer.render(article, channel)
        except RenderError:
            parts.append(f"{channel} n/a")
            continue
        parts.append(f"{channel} {post.length}/{post.limit}")
    return "  ".join(parts)


def _table(rows: list[Row]) -> str:
    header = Row("article", "hashtags", "channels", "characters used / limit")
    cells = [header, *rows]
    widths = [min(max(len(getattr(r, f)) for r in cells), 44) for f in ("title", "hashtags", "channels")]

    def fit(text: str, width: int) -> str:
        return text if len(text) <= width else text[: width - 1] + "…"

    lines = []
    for row in cells:
        values = [fit(row.title, widths[0]), fit(row.hashtags, widths[1]), fit(row.channels, widths[2])]
        lines.append("  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + "  " + row.usage)
    lines.insert(1, "-" * min(len(lines[0]) + 10, 150))
    return "\n".join(lines)


def _rows(app: App, polls: list[PollReport]) -> list[Row]:
    rows = []
    for poll in polls:
        for article in poll.new_articles:
            channels = [r.channel for r in app.store.rows_for_article(article.key)]
            rows.append(
                Row(
                    title=article.title,
                    hashtags=" ".join("#" + t for t in article.hashtags) or "-",
                    channels=", ".join(channels) or "(no route)",
                    usage=_usage(app, article, channels),
                )
            )
    return rows


def _demo_reader(app: App) -> None:
    """One confirmed subscriber of every hashtag, so the digest has someone to mail (as an .eml file)."""
    if app.store.email_subscriber(DEMO_READER) is None:
        app.store.request_email_subscription(DEMO_READER, (), app.clock())
        app.store.confirm_email(DEMO_READER, app.clock())


def _post_files(config: Config) -> str:
    """Where the dry run wrote each channel's posts: "telegram/*.html, x/*.txt, ..." (from the registry)."""
    return ", ".join(
        f"{name}/*{REGISTRY[name].dry_run_extension}"
        for name in config.channels_in_use()
        if REGISTRY[name].build_publisher is not None
    )


def run_demo(out_dir: Path) -> str:
    """Run one cycle and the digest on the samples; return what to print."""
    config = demo_config(out_dir)
    with App(config) as app:
        _demo_reader(app)
        report = app.run_cycle(poll_all=True)
        rows = _rows(app, report.polls)
        if rows:  # a second run writes nothing
            preview = app.preview_digest()
            mailed = app.digest(force=True).sent
    if not rows:
        return (
            f"Nothing new: every sample article was already posted (state in {config.state.path}).\n"
            f"Delete {out_dir} to run the demo from scratch."
        )
    lines = [_table(rows), "", report.summary() + "."]
    lines.append(f"Posts written under {out_dir}/: {_post_files(config)}")
    if preview.article_count:
        lines.append(f"Digest with {preview.article_count} article(s): {out_dir}/email/digest.html and digest.txt")
    if mailed:
        lines.append(f"Digest mail to {DEMO_READER}, as it would go to the SMTP server: {out_dir}/email/*.eml")
    lines.append("Run the demo again: nothing new is posted the second time.")
    return "\n".join(lines)
