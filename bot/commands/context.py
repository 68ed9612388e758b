"""What every chat command works with, and how it reads its input and shapes its reply.

A command is a plain function `(CommandContext, Request) -> Reply`: it reads and writes the store and never
calls a publisher (what it wants published goes into the outbox). `application.py` turns Telegram updates into
`Request`s and `Reply`s into messages, so the commands themselves know nothing about python-telegram-bot.

Input is never trusted: `argument` caps its length, `clean` drops control characters, lone surrogates and
bidirectional overrides, and `echo` shortens and escapes anything shown back to the user. A command rejects
bad input by raising `InputError` with the reply to send.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

from markupsafe import Markup

from bot import telegram_html
from bot.approvals import ApprovalStore
from bot.clicks import renderer_of
from bot.clock import Clock, utc_now
from bot.commands.notices import NoticeStore
from bot.config import Config
from bot.email.schedule import ScheduleStore
from bot.email.signups import ConfirmEmail, SignUpStore
from bot.email.tokens import LinkSigning, link_signing
from bot.hashtags import TAG_RULE, HashtagError
from bot.hashtags import parse_hashtags as parse_typed_tags
from bot.ingest import IngestStore
from bot.invisible import is_hidden
from bot.keywords import KEYWORD_RULE, KeywordError
from bot.keywords import parse_keywords as parse_typed_keywords
from bot.models import Article
from bot.render import Renderer, build_environment
from bot.stats import StatsStore
from bot.store import AddedSource, Incident, OutboxRow, StorePerThread, Subscriber
from bot.urls import MAX_URL_CHARS, http_url_problem

__all__ = [
    "BUTTON",
    "MAX_ARGUMENT_CHARS",
    "MAX_URL_CHARS",
    "Command",
    "CommandContext",
    "CommandStore",
    "InputError",
    "Reply",
    "Request",
    "argument",
    "clean",
    "echo",
    "open_command_context",
    "parse_article_ref",
    "parse_count",
    "parse_hashtags",
    "parse_http_url",
    "parse_words",
    "reply",
]

BUTTON: Final = "button"  # the `command` of a button press
MAX_ARGUMENT_CHARS: Final = 4000
ECHO_CHARS: Final = 80
_SHOWN_PROBLEMS: Final = 5
_ARTICLE_REF: Final = re.compile(r"[A-Za-z0-9-]{1,64}")


class CommandStore(IngestStore, SignUpStore, ScheduleStore, NoticeStore, ApprovalStore, StatsStore, Protocol):
    """What the commands (admin.py, subscriber.py) need of the store (`bot.store.Store` is one): besides
    their own calls, /post routes through `Ingest`, /email records through `bot.email.signups` and /digest
    previews through `bot.email.schedule`, the runner sends admin notices (`bot.commands.notices`), the
    approval buttons decide through `bot.approvals`, and /stats counts through `bot.stats`."""

    # admin.py
    def is_paused(self) -> bool: ...
    def set_paused(self, paused: bool) -> None: ...
    def queue_counts(self) -> dict[tuple[str, str], int]: ...
    def pending_articles(self, limit: int = 20) -> list[tuple[str, str, int, datetime]]: ...
    def rows_in_state(self, state: str, limit: int = 20) -> list[OutboxRow]: ...
    def rows_for_article(self, article_key: str) -> list[OutboxRow]: ...
    def outcome_counts_since(self, since: datetime) -> dict[tuple[str, str], int]: ...
    def release_now(self, article_key: str, now: datetime) -> int: ...
    def skip_pending(self, article_key: str, reason: str, now: datetime) -> int: ...
    def add_source(self, source: AddedSource) -> bool: ...
    def added_source_with_url(self, url: str) -> str: ...
    def remove_source(self, name: str) -> bool: ...
    def set_source_paused(self, name: str, paused: bool) -> None: ...
    def add_article(self, article: Article) -> None: ...
    def get_article(self, key: str) -> Article | None: ...
    def find_article_key(self, aliases: Iterable[str]) -> str | None: ...
    def find_articles(self, key_prefix: str, limit: int = 5) -> list[Article]: ...
    def count_subscribers(self, channel: str) -> dict[bool, int]: ...
    def iter_subscribers(self, channel: str, batch: int = 1000) -> Iterator[Subscriber]: ...
    def set_alerts(self, chat_id: int, on: bool, now: datetime) -> None: ...
    def open_incidents(self) -> list[Incident]: ...
    # subscriber.py
    def subscribe(self, channel: str, address: str, now: datetime) -> bool: ...
    def subscriber(self, channel: str, address: str) -> Subscriber | None: ...
    def deactivate_subscriber(self, channel: str, address: str, reason: str, now: datetime) -> bool: ...
    def add_subscriber_tags(self, channel: str, address: str, tags: Iterable[str], now: datetime) -> None: ...
    def remove_subscriber_tags(self, channel: str, address: str, tags: Iterable[str], now: datetime) -> None: ...
    def subscriber_words(self, channel: str, address: str, kind: str) -> tuple[str, ...]: ...
    def add_subscriber_words(self, channel: str, address: str, kind: str, words: Iterable[str]) -> None: ...
    def remove_subscriber_words(self, channel: str, address: str, kind: str, words: Iterable[str]) -> None: ...
    def recent_articles(self, limit: int, channel: str | None = None) -> list[Article]: ...


COMMAND_THREADS: Final = 8  # commands running at once, each with its own store connection; more wait their turn


class CommandContext:
    """The command side's own view of newsbot.

    Commands run side by side in the context's worker threads (`run`, from the event loop); `store` is the
    calling thread's own connection to the state file. The state file is opened (and migrated) when the context
    is made, so that a broken one is reported at start-up. `close` waits for running commands, then closes the
    connections.
    """

    def __init__(self, config: Config, renderer: Renderer, clock: Clock, signing: LinkSigning) -> None:
        self.config = config
        self.renderer = renderer
        self.signing = signing  # the process's one link signer: /login's sign-in links
        self.clock = clock  # UTC
        # Records an /email sign-up and sends its mail as the web form does (bot.email.signups); None when the digest
        # is not live.
        self.confirm_email: ConfirmEmail | None = None
        self._pages = build_environment(config.templates.dir)
        self._stores = StorePerThread(config.state)
        self._stores.get()
        self._workers = ThreadPoolExecutor(COMMAND_THREADS, thread_name_prefix="newsbot-command")

    @property
    def store(self) -> CommandStore:
        return self._stores.get()

    async def run(self, command: Callable[[CommandContext, Request], Reply], request: Request) -> Reply:
        """`command` in a worker thread, so that the event loop goes on with other chats meanwhile."""
        return await asyncio.get_running_loop().run_in_executor(self._workers, command, self, request)

    def render_page(self, template: str, **values: object) -> str:
        """A chat reply from a template (welcome, help). String values are escaped for Telegram here."""
        safe = {key: _telegram_safe(value) for key, value in values.items()}
        return self._pages.get_template(template).render(safe).strip()

    def close(self) -> None:
        self._workers.shutdown(wait=True, cancel_futures=True)
        self._stores.close()


def open_command_context(
    config: Config, clock: Clock = utc_now, *, renderer: Renderer | None = None, signing: LinkSigning | None = None
) -> CommandContext:
    """A context with its own store connections (the main loop keeps another one on the same WAL file).

    `renderer` and `signing`: the ones `newsbot run` built (bot.app.App); when not given (tests), built the same way
    (bot.clicks.renderer_of, the secret from the environment), so previews in chat look like the posts."""
    if signing is None:
        signing = link_signing(config.web, os.environ)
    if renderer is None:
        renderer = renderer_of(config, os.environ, signing)
    return CommandContext(config, renderer, clock, signing)


def _telegram_safe(value: object) -> object:
    """Strings escaped the Telegram way (Jinja's own escaping would turn ' into &#39;), inside lists and dicts too."""
    if isinstance(value, Markup):
        return value
    if isinstance(value, str):
        return Markup(telegram_html.escape(value))
    if isinstance(value, list | tuple):
        return [_telegram_safe(item) for item in value]
    if isinstance(value, dict):
        return {key: _telegram_safe(item) for key, item in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class Request:
    """One command as a user sent it (or one button press: `command` BUTTON, `args` its data)."""

    chat_id: int
    user_id: int
    chat_type: str  # "private", "group", "supergroup", "channel"
    command: str  # lower case, without '/' and '@botname'
    args: str  # the raw text after the command
    forwarded: bool = False
    first_name: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """Telegram HTML messages to send in order; the buttons (label, callback data) go under the last one.

    `toast`: for a button press, the short answer Telegram shows over the chat (plain text, at most 200 chars)."""

    parts: tuple[str, ...]
    buttons: tuple[tuple[str, str], ...] = ()
    toast: str = ""


def reply(*parts: str, buttons: Iterable[tuple[str, str]] = (), toast: str = "") -> Reply:
    return Reply(tuple(part for part in parts if part.strip()), tuple(buttons), toast[:200])


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # as typed after '/'
    description: str  # shown in Telegram's command menu
    run: Callable[[CommandContext, Request], Reply]


class InputError(Exception):
    """The user's input cannot be used; `html` is the reply that says why."""

    def __init__(self, html: str) -> None:
        super().__init__(html)
        self.html = html


# --- reading input ----------------------------------------------------------------------------------------


def argument(text: str, *, limit: int = MAX_ARGUMENT_CHARS) -> str:
    """The arguments of a command, cleaned; InputError if they are longer than `limit` characters."""
    if len(text) > limit:
        raise InputError(f"That is too long ({len(text)} characters); the limit is {limit}.")
    return clean(text, keep_newlines=True)


def clean(text: str, *, keep_newlines: bool = False) -> str:
    """`text` without control characters, lone surrogates and bidi overrides (which could disguise a reply).

    Tabs and newlines are kept with `keep_newlines`, otherwise they become spaces.
    """
    out: list[str] = []
    for char in text:
        if char in "\n\t":
            out.append(char if keep_newlines else " ")
        elif is_hidden(char):
            continue
        else:
            out.append(char)
    return "".join(out).strip()


def echo(text: str, limit: int = ECHO_CHARS) -> str:
    """User input as it may be shown back: cleaned, on one line, shortened, escaped for Telegram HTML."""
    text = clean(text)
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return telegram_html.escape(text)


def parse_hashtags(text: str) -> list[str]:
    """Hashtags separated by spaces or commas, '#' optional (the rule of `bot.hashtags.parse_hashtags`).

    Returns them without '#', de-duplicated case-insensitively. InputError naming what is wrong otherwise.
    """
    try:
        return parse_typed_tags(clean(text))
    except HashtagError as error:
        raise InputError(_hashtag_problem(error)) from None


def _hashtag_problem(error: HashtagError) -> str:
    if not error.bad:
        return f"That is {error.count} hashtags; send at most {error.most} at a time. Nothing was changed."
    shown = ", ".join(f"<code>{echo(word, 40)}</code>" for word in error.bad[:_SHOWN_PROBLEMS])
    more = f" and {len(error.bad) - _SHOWN_PROBLEMS} more" if len(error.bad) > _SHOWN_PROBLEMS else ""
    return f"Not a hashtag: {shown}{more}. A hashtag is {TAG_RULE}, such as <code>#Climate</code>. Nothing was changed."


def parse_words(text: str) -> list[str]:
    """Watch or mute words separated by commas, so a phrase keeps its spaces (the rule of `bot.keywords`).

    Returns them trimmed and de-duplicated, however many; InputError naming what is wrong otherwise.
    """
    try:
        return parse_typed_keywords(clean(text, keep_newlines=True), most=None)
    except KeywordError as error:
        raise InputError(
            f"{echo(str(error), 200)} A word to watch or mute is {KEYWORD_RULE}; separate words with commas."
            " Nothing was changed."
        ) from None


def parse_count(text: str, *, default: int, low: int, high: int) -> int:
    text = clean(text)
    if not text:
        return default
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise InputError(f"Give a number from {low} to {high}, not <code>{echo(text, 20)}</code>.")
    return int(text)


def parse_http_url(text: str) -> str:
    """An http(s) URL of at most MAX_URL_CHARS characters, without spaces; InputError otherwise."""
    url = clean(text)
    problem = http_url_problem(url)
    if problem:
        raise InputError(telegram_html.escape(problem))
    return url


def parse_article_ref(text: str) -> str:
    """An article key or the start of one; InputError otherwise."""
    ref = clean(text)
    if not _ARTICLE_REF.fullmatch(ref):
        raise InputError(
            f"<code>{echo(ref, 40)}</code> is not an article key; /queue shows keys such as <code>3f9a1c2b7d4e</code>."
        )
    return ref
