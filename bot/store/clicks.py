"""Click counts: how many counted hits each article's /r/ link had, per channel and UTC day (bot.clicks decides
what counts). Nothing about who clicked is kept: no subscriber, no address, no time finer than the day.

A hit is one upsert that adds one in the database itself, so workers counting the same link at once lose nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from bot.store.part import StorePart
from bot.store.states import SENT
from bot.store.times import from_db_time


@dataclass(frozen=True, slots=True)
class DailyClicks:
    day: date  # UTC
    channel: str
    clicks: int


@dataclass(frozen=True, slots=True)
class ArticleClicks:
    article_key: str
    title: str  # "" when the article is no longer in the state
    clicks: int


def _day(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the store; pass a timezone-aware time")
    return moment.astimezone(UTC).date().isoformat()


class ClicksPart(StorePart):
    def count_click(self, article_key: str, channel: str, now: datetime) -> None:
        """Add one click on `article_key`'s link on `channel` to the count of `now`'s UTC day."""
        with self.transaction():
            self._db.execute(
                "INSERT INTO clicks (article_key, channel, day, hits) VALUES (?, ?, ?, 1)"
                " ON CONFLICT (article_key, channel, day) DO UPDATE SET hits = clicks.hits + 1",
                (article_key, channel, _day(now)),
            )

    def clicks_per_day(self, since: date) -> list[DailyClicks]:
        """Clicks per UTC day and channel from `since` (that day included) on, oldest day first; days without
        clicks are left out."""
        rows = self._db.execute(
            "SELECT day, channel, SUM(hits) FROM clicks WHERE day >= ? GROUP BY day, channel ORDER BY day, channel",
            (since.isoformat(),),
        ).fetchall()
        return [DailyClicks(date.fromisoformat(str(day)), str(channel), int(hits)) for day, channel, hits in rows]

    def top_articles_by_clicks(self, since: date, limit: int = 10, channel: str | None = None) -> list[ArticleClicks]:
        """The `limit` articles with the most clicks from `since` on (on `channel`, or all channels), most first."""
        where, params = ("AND c.channel = ?", [channel]) if channel is not None else ("", [])
        rows = self._db.execute(
            "SELECT c.article_key, COALESCE(MAX(a.title), ''), SUM(c.hits) AS total FROM clicks c"
            f" LEFT JOIN articles a ON a.key = c.article_key WHERE c.day >= ? {where}"
            " GROUP BY c.article_key ORDER BY total DESC, c.article_key LIMIT ?",
            (since.isoformat(), *params, limit),
        ).fetchall()
        return [ArticleClicks(str(key), str(title), int(total)) for key, title, total in rows]

    def last_digest_mail_at(self) -> datetime | None:
        """When the last digest mail went out (None before the first): clicks on mail links right after it are a
        mail scanner's (bot.clicks.MAIL_SCAN_SECONDS)."""
        row = self._db.execute(
            "SELECT updated_at FROM digest_deliveries WHERE state = ? ORDER BY updated_at DESC LIMIT 1", (SENT,)
        ).fetchone()
        return None if row is None else from_db_time(str(row[0]))
