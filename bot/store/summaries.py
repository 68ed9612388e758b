"""Summaries written by a language model (bot.ai_summary), kept so that no article is asked for twice, and the
count of requests per UTC day that the daily cap is checked against. Several workers share both.

A summary is kept per article text and model (one SHA-256 of both), language ("" for the article's own) and
budget in characters. Taking a request from the day's allowance is one statement, so two workers never both take
the last one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.store.part import StorePart
from bot.store.times import to_db_time


class SummariesPart(StorePart):
    def model_summary(self, text_hash: str, language: str, budget: int) -> str | None:
        """The summary kept for this article text, language and budget; None if there is none."""
        row = self._db.execute(
            "SELECT summary FROM model_summaries WHERE text_hash = ? AND language = ? AND budget = ?",
            (text_hash, language, budget),
        ).fetchone()
        return None if row is None else str(row[0])

    def keep_model_summary(self, text_hash: str, language: str, budget: int, summary: str, now: datetime) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO model_summaries (text_hash, language, budget, summary, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (text_hash, language, budget) DO NOTHING",
                (text_hash, language, budget, summary, to_db_time(now)),
            )

    def take_model_request(self, now: datetime, daily_cap: int) -> bool:
        """Count one request on `now`'s UTC day if fewer than `daily_cap` were made that day; False if none is left."""
        day = now.astimezone(UTC).date().isoformat()
        with self.transaction():
            row = self._db.execute(
                "INSERT INTO model_requests (day, requests) SELECT ?, 1 WHERE ? > 0"
                " ON CONFLICT (day) DO UPDATE SET requests = model_requests.requests + 1"
                " WHERE model_requests.requests < ? RETURNING requests",
                (day, daily_cap, daily_cap),
            ).fetchone()
        return row is not None
