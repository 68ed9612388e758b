"""The Telegram channel: posts to a channel (or several) and to subscriber chats, in Telegram's HTML.

Its own targets are the entries of `[telegram] channel`: a chat id, an `@name`, or a forum topic written
`CHAT/TOPIC` (the post goes to CHAT with `message_thread_id` TOPIC). The first entry's outbox recipient is
"channel", every further entry's "channel:<entry as written>"; `chat_target` is the one place that turns a
recipient back into (chat, topic), so rows queued before an upgrade keep going where they went.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from bot import telegram_html
from bot.channels.base import Channel, ChannelSettings, SecretNeed

if TYPE_CHECKING:
    from bot.config import Config, RouteConfig, TelegramConfig
    from bot.publishers.base import Publisher

NAME: Final = "telegram"
ROUTE_KEY: Final = "telegram_channels"  # a route's pick among the [telegram] channel entries (RouteConfig)
_CHAT_ID: Final = re.compile(r"^-?\d{1,20}$")
_CHAT: Final = re.compile(r"@[A-Za-z0-9_]{4,}|-?\d+")
TARGET_FORMS: Final = (
    'a chat id such as -1001234567890, a name such as "@mynews", or a forum topic written CHAT/TOPIC'
    ' such as "-1001234567890/42" (TOPIC: the number after the chat in a message link t.me/c/<chat>/<topic>/<message>)'
)


@dataclass(frozen=True, slots=True)
class ChatTarget:
    """Where a post goes: a chat (id or @name) and, in a forum, the topic (Telegram's message_thread_id)."""

    chat: str
    topic: int | None = None

    @property
    def key(self) -> tuple[str, int | None]:
        """What makes two entries the same target (@names are case-insensitive in Telegram)."""
        return (self.chat.lower(), self.topic)


def parse_target(entry: str) -> ChatTarget:
    """An entry of `[telegram] channel` as (chat, topic); ValueError saying the forms expected."""
    chat, slash, topic = entry.partition("/")
    if not _CHAT.fullmatch(chat) or (slash and not (topic.isascii() and topic.isdigit() and int(topic) > 0)):
        raise ValueError(f"“{entry}” is not {TARGET_FORMS}")
    return ChatTarget(chat, int(topic) if slash else None)


def checked_entries(entries: Sequence[str]) -> tuple[str, ...]:
    """The entries of `[telegram] channel`, each a target and none twice; ValueError says which and why."""
    seen: dict[tuple[str, int | None], str] = {}
    for entry in entries:
        key = parse_target(entry).key
        if key in seen:
            raise ValueError(f"“{entry}” is listed twice (as “{seen[key]}” before); list each chat or topic once")
        seen[key] = entry
    return tuple(entries)


def pick_entries(configured: Sequence[str], wanted: Sequence[str]) -> tuple[str, ...]:
    """The configured entries a route names (spelled as configured, in the route's order, once each); ValueError
    naming one that is not configured."""
    by_key = {parse_target(entry).key: entry for entry in configured}
    picked: list[str] = []
    for entry in wanted:
        try:
            found = by_key.get(parse_target(entry).key)
        except ValueError:
            found = None
        if found is None:
            listed = ", ".join(f"“{c}”" for c in configured) or "nothing"
            raise ValueError(f"“{entry}” is not in [telegram] channel (which lists {listed}); add it there first")
        if found not in picked:
            picked.append(found)
    return tuple(picked)


def chat_target(config: TelegramConfig, recipient: str) -> ChatTarget:
    """Where an outbox recipient's post goes: a subscriber is their chat id; "channel" is the first
    `[telegram] channel` entry, "channel:<entry>" that entry."""
    if not CHANNEL.is_own_target(recipient):
        return ChatTarget(recipient)
    entry = recipient.partition(":")[2] or config.channel
    try:
        return parse_target(entry)
    except ValueError:  # not from this config (an old or hand-edited row): Telegram says what is wrong with it
        return ChatTarget(entry)


class TelegramHtml:
    """Every string escaped with `telegram_html.escape`; the post checked and counted as Telegram counts it."""

    markup_name = "Telegram HTML"
    telegram_html = True
    unit = "characters"  # visible ones: the tags do not count

    def escape(self, text: str) -> str:
        from markupsafe import Markup  # here: rendering is not needed to start newsbot

        # Markup tells Jinja's autoescape the string is already escaped (else it would turn ' into &#39;).
        return Markup(telegram_html.escape(text))

    def clean(self, text: str) -> str:
        return text

    def finish(self, text: str) -> tuple[str, int]:
        text = text.strip()
        telegram_html.validate(text)
        return text, telegram_html.visible_length(text)

    def short_links(self, text: str) -> tuple[str, ...]:
        return ()


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


def own_entries(config: TelegramConfig) -> tuple[str, ...]:
    """The entries of `[telegram] channel`, as written, in order."""
    return (config.channel, *config.more_channels) if config.channel else ()


def _recipient(config: TelegramConfig, entry: str) -> str:
    return CHANNEL.own_recipient if entry == config.channel else f"{CHANNEL.own_recipient}:{entry}"


def _chosen_entries(config: Config, route: RouteConfig | None) -> tuple[str, ...]:
    """The route's `telegram_channels`, or every configured entry (no route, or a route without the key)."""
    if route is not None and route.telegram_channels:
        return route.telegram_channels
    return own_entries(config.telegram)


def _own_recipients(config: Config, route: RouteConfig | None) -> tuple[str, ...]:
    """The outbox recipients of the chosen channels and topics; none without one (dry runs write the file anyway)."""
    if not config.telegram.channel:
        return (CHANNEL.own_recipient,) if config.output.dry_run else ()
    return tuple(_recipient(config.telegram, entry) for entry in _chosen_entries(config, route))


def _misplaced_route_key(route: Mapping[str, object], channels: Sequence[str]) -> tuple[str, str] | None:
    """A route's `telegram_channels` picks among the [telegram] channel entries, so its route must post here."""
    if ROUTE_KEY not in route or NAME in channels:
        return None
    return ROUTE_KEY, f"only applies when channels includes “{NAME}”"


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
    csv_columns=("chat_id", "hashtags", "watch", "mute"),
    parse_csv_address=_parse_chat_id,
    max_posts_per_cycle=lambda config: config.telegram.max_posts_per_cycle,
    own_recipients=_own_recipients,
    own_targets=_chosen_entries,
    posts_to_subscribers=lambda config: config.telegram.subscribers,
    misplaced_route_key=_misplaced_route_key,
)
