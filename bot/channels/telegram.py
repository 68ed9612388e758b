"""The Telegram channel: posts to a channel (or several) and to subscriber chats, in Telegram's HTML."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from markupsafe import Markup

from bot import telegram_html
from bot.channels.base import Channel, ChannelSettings, SecretNeed

if TYPE_CHECKING:
    from bot.config import Config
    from bot.publishers.base import Publisher

NAME: Final = "telegram"
_CHAT_ID: Final = re.compile(r"^-?\d{1,20}$")


class TelegramHtml:
    """Every string escaped with `telegram_html.escape`; the post checked and counted as Telegram counts it."""

    markup_name = "Telegram HTML"
    telegram_html = True

    def escape(self, text: str) -> str:
        # Markup tells Jinja's autoescape the string is already escaped (else it would turn ' into &#39;).
        return Markup(telegram_html.escape(text))

    def clean(self, text: str) -> str:
        return text

    def finish(self, text: str) -> tuple[str, int]:
        text = text.strip()
        telegram_html.validate(text)
        return text, telegram_html.visible_length(text)


def _settings(config: Config) -> ChannelSettings:
    return config.telegram


def _secret_needs(config: Config) -> list[SecretNeed]:
    return [SecretNeed(config.telegram.token_env, True, "the bot token from @BotFather")]


def _publisher(config: Config) -> Publisher:
    from bot.publishers import require_secret
    from bot.publishers.telegram import TelegramPublisher

    return TelegramPublisher(
        config.telegram, token=require_secret(config, "telegram.token_env", config.telegram.token_env)
    )


def _own_recipients(config: Config) -> tuple[str, ...]:
    """The configured channels; none without one (dry runs write the file anyway)."""
    if not config.telegram.channel and not config.output.dry_run:
        return ()
    return (CHANNEL.own_recipient, *(f"{CHANNEL.own_recipient}:{chat}" for chat in config.telegram.more_channels))


def _parse_chat_id(address: str, shown: str) -> str:
    if not _CHAT_ID.match(address):
        raise ValueError(f"chat_id {shown} is not a Telegram chat id (a whole number)")
    return address


CHANNEL: Final = Channel(
    name=NAME,
    recipient_kind="channel or subscriber chat",
    own_recipient="channel",
    template="telegram.html.j2",
    default_summary_chars=700,
    post_format=TelegramHtml(),
    limit=telegram_html.MESSAGE_LIMIT,
    caption_limit=telegram_html.CAPTION_LIMIT,
    dry_run_extension=".html",
    settings=_settings,
    secret_needs=_secret_needs,
    build_publisher=_publisher,
    csv_columns=("chat_id", "hashtags"),
    parse_csv_address=_parse_chat_id,
    max_posts_per_cycle=lambda config: config.telegram.max_posts_per_cycle,
    own_recipients=_own_recipients,
    posts_to_subscribers=lambda config: config.telegram.subscribers,
)
