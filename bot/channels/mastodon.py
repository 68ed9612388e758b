"""The Mastodon channel: posts (or threads) to the account's timeline on one instance, within the instance's
character limit as Mastodon counts it: every link 23 characters, whatever its length, and a content warning
(a route's `spoiler_text`) counted in.

The limit is decided in one place, `post_limit`: `[mastodon] max_characters` when set, else what the instance
announces (`configuration.statuses.max_characters`, read once by the publisher when it is built), else 500.
"""

from __future__ import annotations

import os
import re
import unicodedata
from typing import TYPE_CHECKING, Final

from bot.channels.base import Channel, ChannelSettings, SecretNeed, thread_settings

if TYPE_CHECKING:
    from bot.config import Config
    from bot.publishers.base import Publisher

NAME: Final = "mastodon"
DEFAULT_LIMIT: Final = 500  # Mastodon's own, for an instance that does not say
URL_CHARS: Final = 23  # what Mastodon counts for any link, however long
# An instance may announce any number; beyond this it is not believed (the renderer would measure huge drafts).
MAX_BELIEVED_LIMIT: Final = 100_000
# Feed title and text are cut to this before rendering: more than any post shows, and twitter-text's link finder
# slows down badly on long runs of dots (see bot.render._source_title_and_text).
SOURCE_CHARS: Final = 10_000
# Feed text must not notify anyone: "@user" and "@user@host" lose their at sign, as on X.
_MENTION: Final = re.compile(r"(?<![\w/@])@(?=[a-z0-9_]+(?:@[\w.-]+\w)?)", re.IGNORECASE)
# Feed text must not carry live links of its own: Mastodon links only what starts with a scheme.
_FEED_LINK: Final = re.compile(r"\b(?:https?|ftp)://([^\s/?#:]+)\S*", re.IGNORECASE)


def post_limit(config: Config, announced: int | None) -> int:
    """The longest post on the configured instance: the config's, else the instance's announcement, else 500."""
    if config.mastodon.max_characters is not None:
        return config.mastodon.max_characters
    if announced is None or announced <= 0:
        return DEFAULT_LIMIT
    return min(announced, MAX_BELIEVED_LIMIT)


def counted_length(text: str) -> int:
    """`text`'s length as Mastodon counts it: characters, each link (as Mastodon finds them: with a scheme) 23.

    Characters are counted as code points; Mastodon counts grapheme clusters, never more, so a post that fits
    here fits there (an emoji sequence of several code points is counted high, not low).
    """
    from bot.xtext import quiet_import

    with quiet_import():  # the same link finder Mastodon's Ruby twitter-text uses
        from twitter_text import extract_urls_with_indices

    urls = extract_urls_with_indices(text, extract_urls_without_protocol=False)
    linked = sum(url["indices"][1] - url["indices"][0] for url in urls)
    return int(len(text) - linked + URL_CHARS * len(urls))


class MastodonText:
    """Plain text without mentions or links of the feed's making, counted as Mastodon does (`counted_length`)."""

    markup_name = "Mastodon text"
    telegram_html = False
    unit = "characters"  # every link counted as 23

    def escape(self, text: str) -> str:
        return text

    def clean(self, text: str) -> str:
        text = _FEED_LINK.sub(lambda match: match.group(1).replace(".", "[.]"), text)
        return _MENTION.sub("", text)

    def finish(self, text: str) -> tuple[str, int]:
        text = unicodedata.normalize("NFC", text.strip())
        return text, counted_length(text)

    def short_links(self, text: str) -> tuple[str, ...]:
        return ()


def _settings(config: Config) -> ChannelSettings:
    return config.mastodon


def _secret_needs(config: Config) -> list[SecretNeed]:
    return [SecretNeed(config.mastodon.token_env, True, "the access token of the account that posts")]


def _missing_setting(config: Config) -> tuple[str, str] | None:
    if config.mastodon.api_base_url:
        return None
    return (
        "mastodon.api_base_url",
        'is required when a route posts to mastodon: the instance\'s address, such as "https://mastodon.social"',
    )


def _publisher(config: Config) -> Publisher:
    from bot.errors import ConfigError
    from bot.publishers.mastodon import MastodonPublisher

    token = os.environ.get(config.mastodon.token_env, "").strip()
    if not token:
        raise ConfigError(
            f"{config.path or 'config'}: mastodon: set {config.mastodon.token_env} to the account's access token"
            " (Preferences → Development → New application, scopes write:statuses write:media read:accounts)"
            " before posting to Mastodon, or set [output] dry_run = true"
        )
    return MastodonPublisher(config, token)


CHANNEL: Final = Channel(
    name=NAME,
    recipient_kind="account",
    own_recipient="timeline",
    template="mastodon.txt.j2",
    default_summary_chars=500,
    post_format=MastodonText(),
    limit=DEFAULT_LIMIT,
    max_length=lambda config: config.mastodon.max_characters,
    content_warnings=True,
    source_chars=SOURCE_CHARS,
    thread=lambda config: thread_settings(config.mastodon),
    dry_run_extension=".txt",
    settings=_settings,
    secret_needs=_secret_needs,
    build_publisher=_publisher,
    max_posts_per_cycle=lambda config: config.mastodon.max_posts_per_cycle,
    # A dry run writes files and needs no instance (posts are then measured against 500 or max_characters).
    missing_setting=_missing_setting,
)
