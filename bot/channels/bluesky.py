"""The Bluesky channel: posts (or threads) to the account's feed, within 300 graphemes, with the link and hashtags
as rich-text facets and the article as a link card (see `bot.publishers.bluesky`)."""

from __future__ import annotations

import os
import unicodedata
from typing import TYPE_CHECKING, Final

from bot.bsky_text import BLUESKY_LIMIT, grapheme_length, rich_text, short_links, without_links
from bot.channels.base import Channel, ChannelSettings, SecretNeed, thread_settings

if TYPE_CHECKING:
    from bot.config import Config
    from bot.publishers.base import Publisher

NAME: Final = "bluesky"
# As on X: a title is not shortened below this before hashtags are dropped to make room for it.
MIN_TITLE_GRAPHEMES: Final = 40


class BlueskyText:
    """Plain text counted in graphemes, as Bluesky counts it. Feed text keeps no URL (`without_links`): on Bluesky
    every URL in the text becomes a link facet, and the only links are the article's and those the template
    writes. The finished text is the text as sent: every link written short, as Bluesky's app writes it
    (`bot.bsky_text.rich_text`), and measured so, so a long link leaves the summary its room; the publisher puts
    each whole link (`Post.short_links`) in the facet over its short text."""

    markup_name = "Bluesky text"
    telegram_html = False
    unit = "graphemes"

    def escape(self, text: str) -> str:
        return text

    def clean(self, text: str) -> str:
        return without_links(text)

    def finish(self, text: str) -> tuple[str, int]:
        sent, _facets = rich_text(unicodedata.normalize("NFC", text.strip()))
        return sent, grapheme_length(sent)

    def short_links(self, text: str) -> tuple[str, ...]:
        return short_links(unicodedata.normalize("NFC", text.strip()))


def _settings(config: Config) -> ChannelSettings:
    return config.bluesky


def _secret_needs(config: Config) -> list[SecretNeed]:
    why = f"the app password of {config.bluesky.handle or 'the [bluesky] handle'} (Settings → App passwords)"
    return [SecretNeed(config.bluesky.app_password_env, True, why)]


def _missing_setting(config: Config) -> tuple[str, str] | None:
    """The account's handle (a dry run writes files and needs none)."""
    if config.bluesky.handle:
        return None
    return (
        "bluesky.handle",
        "is required when a route posts to bluesky: write the account's handle under [bluesky], such as"
        ' handle = "newsbot.bsky.social", and put an app password (Settings → App passwords) in'
        f" ${config.bluesky.app_password_env}",
    )


def _publisher(config: Config) -> Publisher:
    from bot.images import ImageLoader
    from bot.publishers.bluesky import BlueskyPublisher, app_password

    label = str(config.path or "config")
    password = app_password(config.bluesky, dict(os.environ), label)
    return BlueskyPublisher(config.bluesky, password, ImageLoader.from_config(config))


CHANNEL: Final = Channel(
    name=NAME,
    recipient_kind="account",
    own_recipient="timeline",
    template="bluesky.txt.j2",
    default_summary_chars=BLUESKY_LIMIT,
    post_format=BlueskyText(),
    limit=BLUESKY_LIMIT,
    source_chars=BLUESKY_LIMIT * 4,  # graphemes of several code points each; no post shows more
    min_title_chars=MIN_TITLE_GRAPHEMES,
    thread=lambda config: thread_settings(config.bluesky),
    dry_run_extension=".txt",
    settings=_settings,
    secret_needs=_secret_needs,
    build_publisher=_publisher,
    max_posts_per_cycle=lambda config: config.bluesky.max_posts_per_cycle,
    own_targets=lambda config, route: (f"@{config.bluesky.handle}",) if config.bluesky.handle else (),
    missing_setting=_missing_setting,
)
