"""The X channel: posts (or threads) to the account's timeline, within the weighted 280 characters and a daily
budget (the free tier allows 17 posts a day)."""

from __future__ import annotations

import os
import unicodedata
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from bot.channels.base import Channel, ChannelSettings, SecretNeed, SentLog, thread_settings
from bot.xtext import X_LIMIT, neutralize, weighted_length

if TYPE_CHECKING:
    from bot.config import Config
    from bot.publishers.base import Publisher

NAME: Final = "x"
DAY: Final = timedelta(days=1)
# On X, a title is not shortened below this before hashtags are dropped to make room for it.
MIN_X_TITLE_CHARS: Final = 40


class XText:
    """Plain text without mentions and links of the feed's making (`bot.xtext.neutralize`), counted as X does.

    Only what feed text says is rewritten: the link and the hashtags go out as links on purpose.
    """

    markup_name = "X text"
    telegram_html = False
    unit = "weighted characters"  # most count 1, CJK and emoji 2, every link 23 (twitter-text)

    def escape(self, text: str) -> str:
        return text

    def clean(self, text: str) -> str:
        return neutralize(text)

    def finish(self, text: str) -> tuple[str, int]:
        text = unicodedata.normalize("NFC", text.strip())
        return text, weighted_length(text)

    def short_links(self, text: str) -> tuple[str, ...]:
        return ()  # X shortens links itself (t.co): they go out whole


def _settings(config: Config) -> ChannelSettings:
    return config.x


def _secret_needs(config: Config) -> list[SecretNeed]:
    """Either an OAuth 2.0 token or all four of OAuth 1.0a."""
    bearer = SecretNeed(config.x.bearer_token_env, False, "an OAuth 2.0 token instead of the four OAuth 1.0a ones")
    why = f"${bearer.name} is set instead" if bearer.is_set else f"OAuth 1.0a, unless ${bearer.name} is set"
    return [SecretNeed(name, not bearer.is_set, why) for name in config.x.oauth1_env_names()] + [bearer]


def _publisher(config: Config) -> Publisher:
    from bot.images import ImageLoader
    from bot.publishers.x import XCredentials, XPublisher

    label = str(config.path or "config")
    credentials = XCredentials.from_environment(config.x, dict(os.environ), label)
    return XPublisher(config.x, credentials, images=ImageLoader.from_config(config))


def _budget(config: Config, sent_log: SentLog, now: datetime) -> tuple[int, str]:
    """`max_posts_per_cycle`, within the daily limit, one at a time when spreading them over the day."""
    limit = config.max_posts_per_cycle(NAME)
    daily = config.x.daily_limit
    sent, last = sent_log.sent_since(NAME, now - DAY)
    if sent >= daily:
        return 0, f"daily limit of {daily} posts reached; the queue waits"
    if config.x.spread and last is not None and now < last + DAY / daily:
        return (
            0,
            f"spreading {daily} posts over the day; next at {(last + DAY / daily).isoformat(timespec='seconds')}",
        )
    return min(limit, daily - sent, 1 if config.x.spread else limit), ""


CHANNEL: Final = Channel(
    name=NAME,
    recipient_kind="account",
    own_recipient="timeline",
    template="x.txt.j2",
    default_summary_chars=280,
    post_format=XText(),
    limit=X_LIMIT,
    source_chars=X_LIMIT,
    min_title_chars=MIN_X_TITLE_CHARS,
    thread=lambda config: thread_settings(config.x),
    dry_run_extension=".txt",
    settings=_settings,
    secret_needs=_secret_needs,
    build_publisher=_publisher,
    max_posts_per_cycle=lambda config: config.x.max_posts_per_cycle,
    newest_first=lambda config: config.x.order == "newest",
    budget=_budget,
)
