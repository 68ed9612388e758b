"""What a channel is: one frozen `Channel` descriptor holds everything particular to it.

Code outside a channel's own module reads the descriptor (`bot.channels.REGISTRY`) and never branches on a
channel's name. The descriptor imports nothing heavy: the publisher is built by a factory that imports its
library (python-telegram-bot, tweepy) only when called, so the CLI starts fast.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.config import Config, RouteConfig
    from bot.publishers.base import Publisher


@dataclass(frozen=True)
class SecretNeed:
    """One environment variable a channel reads: whether it must be set, and when it matters, in words."""

    name: str
    required: bool
    why: str

    @property
    def is_set(self) -> bool:
        return bool(os.environ.get(self.name, "").strip())


class ChannelSettings(Protocol):
    """The settings every channel's config table has (`[telegram]`, `[x]`, `[email]`)."""

    @property
    def utm(self) -> Mapping[str, str]: ...

    @property
    def summary_chars(self) -> int: ...


class SentLog(Protocol):
    """What a channel's budget reads from the store."""

    def sent_since(self, channel: str, since: datetime) -> tuple[int, datetime | None]: ...


class PostFormat(Protocol):
    """How a channel's post text is escaped, cleaned of feed markup and measured (see `bot.render`)."""

    # What a rendered post that fails `finish` is called in the error ("Telegram HTML").
    markup_name: str
    # The post is Telegram HTML, so an admin's preview in chat may show it as it will look (else it is escaped).
    telegram_html: bool
    # What `finish` counts, in words for messages ("characters", "weighted characters", "graphemes").
    unit: str

    def escape(self, text: str) -> str:
        """A string as the channel's templates get it (escaped and marked safe, or as it is)."""
        ...

    def clean(self, text: str) -> str:
        """Feed text (title, summary) as the channel may show it."""
        ...

    def finish(self, text: str) -> tuple[str, int]:
        """The rendered text as it goes out, and its length as the channel counts it; ValueError if invalid."""
        ...

    def short_links(self, text: str) -> tuple[str, ...]:
        """The whole URLs of the rendered `text` that `finish` writes short, in order (the publisher links each
        short text to its URL); () where links go out as written."""
        ...


class PlainText:
    """Plain text counted in characters, as it is (email)."""

    markup_name = "plain text"
    telegram_html = False
    unit = "characters"

    def escape(self, text: str) -> str:
        return text

    def clean(self, text: str) -> str:
        return text

    def finish(self, text: str) -> tuple[str, int]:
        text = text.strip()
        return text, len(text)

    def short_links(self, text: str) -> tuple[str, ...]:
        return ()


def as_given(address: str, shown: str) -> str:
    return address


@dataclass(frozen=True, slots=True)
class ThreadSettings:
    """How a summary longer than one post goes out as a reply chain."""

    summary_chars: int = 800  # the summary spread over the thread
    link_first: bool = True  # the link (and hashtags) in the first post, else in the last


class ThreadedSettings(Protocol):
    """A config table with reply chains ([x], [mastodon], [bluesky])."""

    @property
    def thread(self) -> bool: ...

    @property
    def thread_summary_chars(self) -> int: ...

    @property
    def thread_link(self) -> str: ...


def thread_settings(settings: ThreadedSettings) -> ThreadSettings | None:
    """The table's threads as the renderer takes them; None when `thread` is off."""
    return ThreadSettings(settings.thread_summary_chars, settings.thread_link == "first") if settings.thread else None


def no_thread(config: Config) -> ThreadSettings | None:
    return None


def no_override(config: Config) -> int | None:
    return None


def never(config: Config) -> bool:
    return False


def nothing_missing(config: Config) -> tuple[str, str] | None:
    return None


def no_route_keys(route: Mapping[str, object], channels: Sequence[str]) -> tuple[str, str] | None:
    return None


@dataclass(frozen=True, slots=True)
class Channel:
    """Everything particular to one channel. Length limits are in the channel's own unit (`PostFormat.finish`)."""

    name: str
    recipient_kind: str  # who gets its posts, in words: "channel or subscriber chat", "account", "mailbox"
    own_recipient: str  # the recipient of its own post: "channel", "timeline", "digest"
    template: str  # the packaged article template
    default_summary_chars: int
    post_format: PostFormat
    # The longest post; None: no hard limit, the summary budget (summary_chars) bounds it.
    limit: int | None
    dry_run_extension: str  # of the dry run's files under out/<name>/
    settings: Callable[[Config], ChannelSettings]  # its config table
    secret_needs: Callable[[Config], list[SecretNeed]]  # as this config uses them: the one place that decides
    # Its publisher; None: delivered by another job (the email digest), not item by item by the outbox.
    build_publisher: Callable[[Config], Publisher] | None = None
    # With an image, the post goes as a photo whose caption has this (smaller) limit; None: images are linked.
    caption_limit: int | None = None
    # Feed title and text are cut to this many characters before rendering (no post could show more).
    source_chars: int | None = None
    # When a post is too long even without a summary: hashtags are dropped one by one before the title is
    # shortened below this many characters; None: the hashtags stay and only the title is shortened.
    min_title_chars: int | None = None
    # The longest post as the config sets it ([mastodon] max_characters), instead of `limit`; None: `limit`. A
    # publisher may announce its service's own limit when it is built (bot.publishers.base.AnnouncesLimit).
    max_length: Callable[[Config], int | None] = no_override
    # A route's `spoiler_text` goes out as a content warning before the post, and counts in its length.
    content_warnings: bool = False
    # Whether (and how) a long summary goes out as a reply chain, as the config says ([x] thread); None: one post.
    thread: Callable[[Config], ThreadSettings | None] = no_thread
    # `newsbot subscribers import|export`: the address column, then hashtags (the two import needs), then the
    # optional ones (bot.subscribers_csv knows `name`, `watch`, `mute`); () none
    csv_columns: tuple[str, ...] = ()
    # The address as stored, from the cell and the cell quoted for people; ValueError says what is wrong with it.
    parse_csv_address: Callable[[str, str], str] = as_given
    double_opt_in: bool = False  # an address becomes a subscriber only once it confirmed (email)
    # Security gateways open every link of its messages as they arrive, so a click right after a send is no reader's
    # (bot.clicks does not count those).
    scanned_on_delivery: bool = False
    max_posts_per_cycle: Callable[[Config], int | None] = no_override  # None: [outbox] max_posts_per_cycle
    newest_first: Callable[[Config], bool] = never  # which queued posts go first when the budget is short
    # The recipients of its own post for a route (None: for any route): a channel may post to several, only to
    # those the route names, or to none when it has none configured.
    own_recipients: Callable[[Config, RouteConfig | None], tuple[str, ...]] | None = None
    # Where its own posts for a route go, as the config names them (for people: /routes, /status); () one place.
    own_targets: Callable[[Config, RouteConfig | None], tuple[str, ...]] | None = None
    posts_to_subscribers: Callable[[Config], bool] = never  # routed articles also go to matching subscribers
    # How many articles it may publish in this drain, and why not when none; None: `max_posts_per_cycle`.
    budget: Callable[[Config, SentLog, datetime], tuple[int, str]] | None = None
    # A setting its table must have when a route posts here for real (not a dry run): (key, what to write), as
    # `bot.config` reports it; None when nothing is missing.
    missing_setting: Callable[[Config], tuple[str, str] | None] = nothing_missing
    # A route key only this channel reads, set on a route (its raw table) whose `channels` leave this one out:
    # (the key, what is wrong), as `bot.config` reports it under the route; None when the route's keys fit.
    misplaced_route_key: Callable[[Mapping[str, object], Sequence[str]], tuple[str, str] | None] = no_route_keys

    @property
    def csv_address_column(self) -> str | None:
        return self.csv_columns[0] if self.csv_columns else None

    def secret_env_names(self, config: Config) -> tuple[str, ...]:
        return tuple(need.name for need in self.secret_needs(config))

    def recipients(self, config: Config, route: RouteConfig | None = None) -> tuple[str, ...]:
        """The outbox recipients of its own post of an article that `route` sends here (None: any route)."""
        return self.own_recipients(config, route) if self.own_recipients else (self.own_recipient,)

    def targets(self, config: Config, route: RouteConfig | None = None) -> tuple[str, ...]:
        """Where its own posts (for `route`) go, as the config names them; () when it has one place only."""
        return self.own_targets(config, route) if self.own_targets else ()

    def described(self, config: Config, route: RouteConfig | None = None) -> str:
        """Its name and, when it names them, where its own posts (for `route`) go: "telegram (@news, @forum/42)"."""
        targets = self.targets(config, route)
        return f"{self.name} ({', '.join(targets)})" if targets else self.name

    def is_own_target(self, recipient: str) -> bool:
        """Its own post ("channel", or "channel:<entry>" for a further Telegram channel or topic), not a subscriber."""
        return recipient == self.own_recipient or recipient.startswith(self.own_recipient + ":")
