"""Which articles a reader gets in a digest: the one selection the send (bot.email.delivery) and every preview
(bot.email.schedule.preview, `newsbot digest --preview`, `/digest preview`) use.

A reader gets the articles routed to email since their last digest (a new reader: the NEW_SUBSCRIBER_WINDOW before
the digest's end) that carry any of their hashtags; a reader without hashtags gets all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from bot.hashtags import normalize
from bot.models import Article

NEW_SUBSCRIBER_WINDOW = timedelta(days=7)


class EmailArticles(Protocol):
    """What the selection needs of the store (`bot.store.Store` is one)."""

    def email_articles(self, since: datetime, until: datetime, limit: int = 200) -> list[Article]: ...


def matching(articles: Sequence[Article], hashtags: Sequence[str]) -> list[Article]:
    """The articles with any of the subscriber's hashtags; all of them for a subscriber without hashtags."""
    if not hashtags:
        return list(articles)
    wanted = {normalize(tag) for tag in hashtags}
    return [a for a in articles if wanted & {normalize(tag) for tag in a.hashtags}]


def articles_for(
    store: EmailArticles, hashtags: Sequence[str], last_digest_at: datetime | None, period_end: datetime
) -> list[Article]:
    """The articles a reader gets in a digest that ends at `period_end`: routed to email since the reader's last
    digest (a new reader: NEW_SUBSCRIBER_WINDOW before `period_end`), with any of the reader's hashtags (no
    hashtags: all of them)."""
    since = last_digest_at or period_end - NEW_SUBSCRIBER_WINDOW
    return matching(store.email_articles(since, period_end), hashtags)
