"""A fake Telegram Bot API server for tests: real HTTP on 127.0.0.1, so python-telegram-bot is never mocked.

    fake = FakeTelegram()
    fake.start()
    bot = telegram.Bot(fake.token, base_url=fake.base_url)
    ...
    fake.stop()

or use the `fake_telegram` fixture. The server answers like https://api.telegram.org: the same JSON shapes, the
same error descriptions and HTTP statuses, the same validation of HTML, lengths and inline keyboards (through
`bot.telegram_html`), and the same flood limits (see `FakeTelegram`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import json
import math
import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from html.parser import HTMLParser
from http import HTTPStatus
from typing import Any, Final, Literal

import pytest
from aiohttp import web

from bot import telegram_html
from tests.fakes.aiohttp_thread import ThreadedAiohttpServer

__all__ = ["SEND_METHODS", "FakeTelegram", "InjectedFault", "Message", "RandomFaults", "Request", "fake_telegram"]

ChatId = int | str
JSON = dict[str, Any]

# Methods that deliver (or change) a message: the only ones that count against the flood limits and that the
# injected faults (retry_after, fail, drop_connection) apply to.
SEND_METHODS: Final = frozenset(
    {"sendMessage", "sendPhoto", "editMessageText", "editMessageCaption", "editMessageReplyMarkup"}
)

_METHODS: Final = (
    "getMe",
    "sendMessage",
    "sendPhoto",
    "editMessageText",
    "editMessageCaption",
    "editMessageReplyMarkup",
    "deleteMessage",
    "sendChatAction",
    "getUpdates",
    "deleteWebhook",
    "setWebhook",
    "getWebhookInfo",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "answerCallbackQuery",
    "getChat",
    "close",
    "logOut",
)
_CANONICAL: Final = {name.lower(): name for name in _METHODS}  # Bot API method names are case-insensitive

# Parameters whose value is an object or array, sent JSON-encoded inside form fields.
_JSON_FIELDS: Final = frozenset(
    {
        "reply_markup",
        "link_preview_options",
        "entities",
        "caption_entities",
        "scope",
        "commands",
        "allowed_updates",
        "reply_parameters",
        "media",
    }
)
_INT_FIELDS: Final = frozenset(
    {"message_id", "offset", "limit", "timeout", "user_id", "cache_time", "message_thread_id", "reply_to_message_id"}
)
_BOOL_FIELDS: Final = frozenset(
    {
        "disable_notification",
        "protect_content",
        "show_alert",
        "drop_pending_updates",
        "has_spoiler",
        "allow_sending_without_reply",
        "disable_web_page_preview",
        "show_caption_above_media",
        "allow_paid_broadcast",
    }
)
_CHAT_ID_FIELDS: Final = frozenset({"chat_id", "from_chat_id"})

_PATH: Final = re.compile(r"/bot([^/]+)/([^/]+)/?")
_NUMERIC_ID: Final = re.compile(r"-?[0-9]+")
_BUTTON_URL: Final = re.compile(r"(?i)(?:https?|tg)://\S+")
_BOT_COMMAND: Final = re.compile(r"[a-z0-9_]{1,32}")
_LEADING_COMMAND: Final = re.compile(r"/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?")
_PARSE_MODES: Final = frozenset({"html", "markdown", "markdownv2"})

_CALLBACK_DATA_LIMIT: Final = 64
_COMMAND_DESCRIPTION_LIMIT: Final = 256
_LONG_POLL_CAP: Final = 1.0  # seconds; getUpdates never holds a request longer, so tests stay fast
_LONG_POLL_STEP: Final = 0.01
_HANG_UP_GRACE: Final = 0.2  # seconds a superseded getUpdates waits for its client to have hung up before its 409
_POLL_CONFLICT: Final = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
_MAX_UPLOAD: Final = 50 * 1024 * 1024
_SWEEP_EVERY: Final = 1024  # sends between sweeps of idle per-chat windows
_DECODE_CACHE_SIZE: Final = 1024
_FIRST_CHANNEL_ID: Final = -1_001_000_000_000  # synthetic ids for chats addressed as "@username"


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP call the server received. `status` is the HTTP status answered, 0 if the connection was dropped."""

    method: str
    params: dict[str, Any]
    at: float
    status: int


@dataclass(frozen=True, slots=True)
class Message:
    """A message the server accepted: a send, or (with `edited` True) a later edit of message `message_id`.

    `text` is the text or caption exactly as sent (raw HTML when parse_mode is HTML). `photo` is the URL or
    file_id sent, or "upload:<filename>" for an uploaded file. `reply_markup` and `link_preview_options` are
    the decoded objects; they may be shared between messages, so treat them as read-only. `message_thread_id` is
    the forum topic it was sent to (None: the chat itself).
    """

    message_id: int
    chat_id: int | str
    text: str
    parse_mode: str | None
    kind: Literal["text", "photo"]
    photo: str | None
    reply_markup: dict[str, Any] | None
    link_preview_options: dict[str, Any] | None
    at: float
    edited: bool = False
    message_thread_id: int | None = None


@dataclass(frozen=True, slots=True)
class InjectedFault:
    """One fault a fake injected at random: its kind, the chat or address it hit, when (the fake's clock).

    `delivered` is True when the send was carried out before the fault hid the answer (a time-out or a dropped
    connection after delivery): the client cannot know, so a resend is a legitimate duplicate.
    """

    kind: str
    target: str
    at: float
    delivered: bool = False
    retry_after: float = 0.0


class RandomFaults:
    """Seeded random faults for a fake's sends: each send gets one with probability `rate`.

    The kinds are dealt in shuffled rounds (every kind once per round), so even a short run sees each kind;
    the same seed and the same number of sends give the same sequence of decisions. Not thread-safe: call
    under the fake's lock.
    """

    def __init__(self, rate: float, kinds: Iterable[str], seed: int, allowed: Iterable[str]) -> None:
        self.kinds = tuple(kinds)
        unknown = set(self.kinds) - set(allowed)
        if not 0.0 <= rate <= 1.0 or not self.kinds or unknown:
            raise ValueError(f"rate must be in [0, 1] and kinds among {sorted(allowed)}; got {rate}, {self.kinds}")
        self.rate = rate
        self._rng = random.Random(seed)
        self._round: list[str] = []
        self.log: list[InjectedFault] = []

    def pick(self) -> str | None:
        """The fault for the next send, or None."""
        if self._rng.random() >= self.rate:
            return None
        if not self._round:
            self._round = list(self.kinds)
            self._rng.shuffle(self._round)
        return self._round.pop()

    def record(self, fault: InjectedFault) -> None:
        self.log.append(fault)

    def counts(self) -> dict[str, int]:
        """Faults injected, per kind (every kind asked for is listed, 0 if it never came up)."""
        counted = Counter(fault.kind for fault in self.log)
        return {kind: counted[kind] for kind in self.kinds}

    def after_delivery(self, target: str | None = None) -> int:
        """Faults that hid the answer to a send that was delivered (to `target`, or to any)."""
        return sum(1 for f in self.log if f.delivered and (target is None or f.target == target))


class RandomFaultsReport:
    """What a fake tells a test about the random faults it injected: the class using it sets `_lock` and `_random`
    (None until `random_faults` is called). A fault's `target` is the chat or address it hit, "" on a one-account
    fake (X, Mastodon, Bluesky)."""

    _lock: AbstractContextManager[object]
    _random: RandomFaults | None

    @property
    def fault_log(self) -> list[InjectedFault]:
        """Every randomly injected fault, in order (a snapshot)."""
        with self._lock:
            return list(self._random.log) if self._random else []

    def fault_counts(self) -> dict[str, int]:
        """Randomly injected faults per kind."""
        with self._lock:
            return self._random.counts() if self._random else {}

    def after_delivery_faults(self, target: str | None = None) -> int:
        """Random "timeout"/"drop" faults that hid the answer to a send that was delivered (to `target`, or any)."""
        with self._lock:
            return self._random.after_delivery(target) if self._random else 0


TELEGRAM_FAULT_KINDS: Final = ("429", "5xx", "timeout", "drop", "slow")


class _ApiError(Exception):
    """An error answer: {"ok": false, "error_code": status, "description": ..., "parameters": ...}."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(problem: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {problem}")


@dataclass(frozen=True, slots=True)
class _Upload:
    filename: str
    size: int


@dataclass(slots=True)
class _InjectedRetry:
    seconds: int
    remaining: int
    chat: ChatId | None
    skip: int = 0  # matching sends let through first


class _Window:
    """Sliding window: at most `limit` events in any `span` seconds. Holds at most `limit` timestamps."""

    __slots__ = ("limit", "span", "times")

    def __init__(self, limit: int, span: float) -> None:
        self.limit = limit
        self.span = span
        self.times: deque[float] = deque()

    def wait(self, now: float) -> float:
        """Seconds until one more event fits; 0.0 if it fits now."""
        while self.times and self.times[0] <= now - self.span:
            self.times.popleft()
        if len(self.times) < self.limit:
            return 0.0
        return self.times[len(self.times) - self.limit] + self.span - now

    def add(self, now: float) -> None:
        self.times.append(now)

    def idle(self, now: float) -> bool:
        return not self.times or self.times[-1] <= now - self.span


def _chat_key(value: object) -> ChatId:
    """A chat id as the server stores it: int for numeric ids (sent as "123" in forms), str for "@username"."""
    if isinstance(value, bool):
        raise _bad_request("chat_id is empty")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text) if _NUMERIC_ID.fullmatch(text) else text


def _is_group_or_channel(chat: ChatId) -> bool:
    return isinstance(chat, str) or chat < 0


class _EntityParser(HTMLParser):
    """MessageEntity objects for (already validated) Telegram HTML, offsets in UTF-16 units like Telegram's."""

    _TYPES: Final = {
        "b": "bold",
        "strong": "bold",
        "i": "italic",
        "em": "italic",
        "u": "underline",
        "ins": "underline",
        "s": "strikethrough",
        "strike": "strikethrough",
        "del": "strikethrough",
        "a": "text_link",
        "code": "code",
        "pre": "pre",
        "blockquote": "blockquote",
        "span": "spoiler",
        "tg-spoiler": "spoiler",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._units = 0
        self.entities: list[JSON] = []
        self._open: list[tuple[str, int, JSON]] = []

    def handle_data(self, data: str) -> None:
        self._units += telegram_html.utf16_length(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        entity: JSON = {"type": self._TYPES.get(tag, "bold")}
        values = dict(attrs)
        if tag == "a":
            entity["url"] = values.get("href") or ""
        elif tag == "blockquote" and "expandable" in values:
            entity["type"] = "expandable_blockquote"
        elif tag == "code" and self._open and self._open[-1][0] == "pre":
            language = (values.get("class") or "").removeprefix("language-")
            if language:
                self._open[-1][2]["language"] = language
                entity = {}  # <pre><code class="language-x"> is one pre entity with a language
        self._open.append((tag, self._units, entity))

    def handle_endtag(self, tag: str) -> None:
        if not self._open:
            return
        _tag, start, entity = self._open.pop()
        if entity and self._units > start:
            self.entities.append({**entity, "offset": start, "length": self._units - start})

    @classmethod
    def parse(cls, html: str) -> list[JSON]:
        parser = cls()
        parser.feed(html)
        parser.close()
        return sorted(parser.entities, key=lambda e: (e["offset"], -e["length"]))


class FakeTelegram(RandomFaultsReport, ThreadedAiohttpServer):
    """A Telegram Bot API server on 127.0.0.1 for python-telegram-bot to talk to over real HTTP.

    Start it, point `telegram.Bot(fake.token, base_url=fake.base_url)` at it, and read back what it received:
    `requests` (every call), `messages(chat_id)` (what was delivered), `commands`, `count_429`.

    Flood limits (when `enforce_limits`), like Telegram's, on sliding windows of the server's clock (`clock`,
    time.monotonic by default) read when a request arrives. Only sends count: sendMessage, sendPhoto and
    editMessage* (`SEND_METHODS`), and only the ones that were delivered (refused sends take no room). A send
    arriving at time t is delivered only if, counting it:
      * at most `overall_per_second` sends (all chats) arrived in (t - 1.0, t];
      * at most `per_chat_per_second` sends to its chat arrived in (t - 1.0, t];
      * for a group or channel (a negative id or "@username"), at most `per_group_per_minute` sends to that
        chat arrived in (t - 60.0, t].
    A send over any limit is answered 429 {"description": "Too Many Requests: retry after N", "parameters":
    {"retry_after": N}}, where N is the whole number of seconds (at least 1) after which every window has room
    for it, is not delivered, and adds one to `count_429`. A window frees a slot exactly `span` seconds after
    the send that filled it: a client that keeps >= 1.0 s (>= 60.0 s for the group window) between the
    n-th and the (n + limit)-th send never sees a 429.

    Order of checks for a send: wrong token (401), injected faults (drop_connection, fail, retry_after),
    missing chat_id, the chat's state (migrate, block, deactivate), content validation (400), flood limits
    (429). Webhooks: setWebhook records `webhook_url` and `webhook_secret` (deleteWebhook clears them); while one
    is set, getUpdates is refused with 409, as Telegram does, and `take_updates()` hands the test the queued
    updates to POST to the webhook itself. Two pollers: a getUpdates still waiting when another one arrives is
    answered 409 "Conflict: terminated by other getUpdates request; ...", as Telegram does, unless its client has
    hung up (a poller that stopped or died: its answer reaches nobody). Injected faults apply to sends only, so a
    background getUpdates loop does not consume them;
    `delay` applies to every answer and is served after the request was processed: a send that times out on
    the client WAS delivered, as can happen with the real Telegram.

    Memory: message texts are interned (one article sent to 10,000 chats is stored once), decoded JSON
    parameters are shared, and the per-chat windows of idle chats are dropped periodically.
    """

    server_name = "FakeTelegram"
    base_path = "/bot"
    client_max_size = _MAX_UPLOAD

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        overall_per_second: int = 30,
        per_chat_per_second: int = 1,
        per_group_per_minute: int = 20,
        enforce_limits: bool = True,
        bot_username: str = "newsbot_test_bot",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.token = token
        self.bot_username = bot_username
        self.enforce_limits = enforce_limits
        self._clock = clock
        self._per_chat_per_second = per_chat_per_second
        self._per_group_per_minute = per_group_per_minute
        self._bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 1

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        # what was received
        self._requests: list[Request] = []
        self._messages: list[Message] = []
        self._by_chat: dict[ChatId, list[Message]] = {}
        self._current: dict[tuple[ChatId, int], Message] = {}  # latest version of each message
        self._last_message_id: dict[ChatId, int] = {}
        self._commands: dict[str, list[dict[str, Any]]] = {}
        self._count_429 = 0
        # flood limits
        self._overall = _Window(overall_per_second, 1.0)
        self._chat_windows: dict[ChatId, _Window] = {}
        self._group_windows: dict[ChatId, _Window] = {}
        self._sends_since_sweep = 0
        # faults
        self._chat_faults: dict[ChatId, _ApiError] = {}
        self._forum_topics: dict[ChatId, frozenset[int]] = {}  # forum chat -> its topics' message_thread_ids
        self._retries: list[_InjectedRetry] = []
        self._fail_status = 502
        self._fail_times = 0
        self._fail_after = 0
        self._drop_times = 0
        self._delay = 0.0
        self._random: RandomFaults | None = None
        self._random_retry_after = 1
        self._random_delays = (0.0, 0.0)  # (timeout, slow)
        # updates for getUpdates
        self._updates: deque[tuple[int, JSON]] = deque()
        self._update_ids = itertools.count(1)
        self._polls = 0  # getUpdates calls so far: a waiting one that sees a later one was superseded
        self._callback_ids = itertools.count(4_000_000_001)
        self._open_callbacks: set[str] = set()
        self.webhook_url = ""
        self.webhook_secret = ""
        self._channel_ids: dict[str, int] = {}
        self._supergroups: set[int] = set()
        # storage helpers
        self._strings: dict[str, str] = {}
        self._decoded: dict[str, Any] = {}

    # --- what the server received -----------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        """Every call, in order of arrival (a snapshot)."""
        with self._lock:
            return list(self._requests)

    def calls(self, method: str) -> list[Request]:
        """The calls of one method, e.g. fake.calls("answerCallbackQuery")."""
        with self._lock:
            return [request for request in self._requests if request.method == method]

    def messages(self, chat_id: ChatId | None = None) -> list[Message]:
        """Accepted sends and edits (an edit is a new entry with edited=True), in order; all chats if None."""
        with self._lock:
            if chat_id is None:
                return list(self._messages)
            return list(self._by_chat.get(_chat_key(chat_id), ()))

    @property
    def commands(self) -> dict[str, list[dict[str, Any]]]:
        """setMyCommands by scope: "default", "all_private_chats", "chat:123", "chat_member:123:456", ...

        A language_code is appended as "/<code>", e.g. "default/de".
        """
        with self._lock:
            return {scope: [dict(command) for command in commands] for scope, commands in self._commands.items()}

    @property
    def count_429(self) -> int:
        with self._lock:
            return self._count_429

    def wait_for_messages(self, chat_id: ChatId, count: int, timeout: float = 10.0) -> list[Message]:
        """Block until at least `count` messages reached the chat; AssertionError naming what did arrive."""
        key = _chat_key(chat_id)
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._by_chat.get(key, ())) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    arrived = self._by_chat.get(key, [])
                    refused = [r for r in self._requests if r.status != HTTPStatus.OK and r.method in SEND_METHODS]
                    raise AssertionError(
                        f"expected {count} message(s) in chat {key!r} within {timeout} s, got {len(arrived)}: "
                        f"{[m.text[:80] for m in arrived]!r}; refused sends (any chat): "
                        f"{[(r.method, r.params.get('chat_id'), r.status) for r in refused[-10:]]!r}"
                    )
                self._changed.wait(left)
            return list(self._by_chat[key])

    def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Block until `condition()` holds, checked whenever a request is recorded, such as
        `fake.wait_until(lambda: fake.count_429 == 1)`; AssertionError if it does not within `timeout` s."""
        with self._changed:
            if not self._changed.wait_for(condition, timeout):
                raise AssertionError(f"still not true after {timeout} s; requests: {len(self._requests)}")

    # --- fault injection --------------------------------------------------------------------------

    def block(self, chat_id: ChatId) -> None:
        """Sends to the chat get 403 "Forbidden: bot was blocked by the user" (kicked, for a group/channel)."""
        key = _chat_key(chat_id)
        if isinstance(key, int) and key > 0:
            description = "Forbidden: bot was blocked by the user"
        elif self._chat_type(key) == "channel":
            description = "Forbidden: bot is not a member of the channel chat"
        else:
            description = "Forbidden: bot was kicked from the group chat"
        with self._lock:
            self._chat_faults[key] = _ApiError(403, description)

    def deactivate(self, chat_id: ChatId) -> None:
        """Sends to the chat get 403 "Forbidden: user is deactivated"."""
        with self._lock:
            self._chat_faults[_chat_key(chat_id)] = _ApiError(403, "Forbidden: user is deactivated")

    def forum(self, chat_id: ChatId, topics: Iterable[int]) -> None:
        """Make the chat a forum with these topics: a send with another message_thread_id gets 400 "message
        thread not found" (as Telegram answers); a chat never made a forum takes any message_thread_id."""
        with self._lock:
            self._forum_topics[_chat_key(chat_id)] = frozenset(topics)

    def migrate(self, chat_id: ChatId, new_chat_id: int) -> None:
        """Sends to the group get 400 "group chat was upgraded to a supergroup chat" with migrate_to_chat_id."""
        with self._lock:
            self._supergroups.add(new_chat_id)
            self._chat_faults[_chat_key(chat_id)] = _ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": new_chat_id},
            )

    def retry_after(self, seconds: int, times: int = 1, chat_id: ChatId | None = None, after: int = 0) -> None:
        """After `after` more sends, the next `times` sends (to `chat_id`, or to any chat) get 429 with
        retry_after `seconds`."""
        chat = None if chat_id is None else _chat_key(chat_id)
        with self._lock:
            self._retries.append(_InjectedRetry(seconds, times, chat, after))

    def fail(self, status: int = 502, times: int = 1, after: int = 0) -> None:
        """After `after` more sends, the next `times` sends get `status` (e.g. 502 "Bad Gateway"), undelivered."""
        with self._lock:
            self._fail_status, self._fail_times, self._fail_after = status, times, after

    def delay(self, seconds: float) -> None:
        """Every answer waits `seconds` (0 to stop), after the request was processed."""
        with self._lock:
            self._delay = seconds

    def drop_connection(self, times: int = 1) -> None:
        """The next `times` sends are not processed: the server closes the connection without answering."""
        with self._lock:
            self._drop_times = times

    def random_faults(
        self,
        rate: float,
        kinds: Iterable[str] = TELEGRAM_FAULT_KINDS,
        *,
        seed: int = 0,
        retry_after: int = 1,
        timeout_delay: float = 1.0,
        slow_delay: float = 0.2,
    ) -> None:
        """From now on each send (SEND_METHODS, right token) gets, with probability `rate`, one of `kinds`:

        * "429": 429 with `retry_after`, not delivered;
        * "5xx": 502 Bad Gateway, not delivered;
        * "timeout": delivered, answered after `timeout_delay` s (set it above the client's time-out);
        * "drop": delivered, then the connection is closed without an answer;
        * "slow": delivered, answered after `slow_delay` s (below the client's time-out).

        "timeout" and "drop" after delivery leave the client unsure; `fault_log` marks them `delivered`. These
        come on top of the flood limits and the one-off faults above. `rate=0` stops them.
        """
        with self._lock:
            self._random = RandomFaults(rate, kinds, seed, TELEGRAM_FAULT_KINDS)
            self._random_retry_after = retry_after
            self._random_delays = (timeout_delay, slow_delay)

    def after_delivery_faults(self, chat_id: ChatId | None = None) -> int:
        """Random "timeout"/"drop" faults that hid the answer to a delivered send (to `chat_id`, or to any)."""
        return super().after_delivery_faults(None if chat_id is None else str(_chat_key(chat_id)))

    # --- updates for getUpdates -------------------------------------------------------------------

    def send_text(
        self,
        text: str,
        *,
        user_id: int,
        chat_id: int | None = None,
        username: str = "alice",
        chat_type: str = "private",
        forward: bool = False,
    ) -> int:
        """Queue a message from a user (a bot_command entity for a leading /command); returns its update_id."""
        chat = user_id if chat_id is None else chat_id
        if chat_type == "private" and chat != user_id:
            chat_type = self._chat_type(chat)
        with self._lock:
            message: JSON = {
                "message_id": self._next_message_id(chat),
                "from": self._user(user_id, username),
                "chat": self._chat(chat, chat_type, username),
                "date": int(time.time()),
                "text": text,
            }
            if command := _LEADING_COMMAND.match(text):
                message["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": telegram_html.utf16_length(command.group())}
                ]
            if forward:
                message["forward_origin"] = {
                    "type": "hidden_user",
                    "sender_user_name": "Someone Else",
                    "date": int(time.time()) - 3600,
                }
            return self._queue_update("message", message)

    def press_button(
        self, data: str, *, user_id: int, chat_id: int | None = None, message_id: int | None = None
    ) -> int:
        """Queue a callback_query for a button under message `message_id` (default: the chat's latest)."""
        chat = user_id if chat_id is None else chat_id
        with self._lock:
            if message_id is None and self._by_chat.get(chat):
                message_id = self._by_chat[chat][-1].message_id
            record = self._current.get((chat, message_id or 0))
            message: JSON = (
                self._message_json(record)
                if record is not None
                else {"chat": self._chat(chat), "message_id": message_id or 1, "date": 0}  # InaccessibleMessage
            )
            query_id = str(next(self._callback_ids))
            self._open_callbacks.add(query_id)
            query: JSON = {
                "id": query_id,
                "from": self._user(user_id, "alice"),
                "message": message,
                "chat_instance": str(abs(chat) * 7 + 11),
                "data": data,
            }
            return self._queue_update("callback_query", query)

    @property
    def polls(self) -> int:
        """getUpdates calls taken in so far, counted on arrival (`calls` records a call once it is answered)."""
        with self._lock:
            return self._polls

    def take_updates(self) -> list[JSON]:
        """The queued updates, removed from the getUpdates queue: what Telegram would POST to a webhook."""
        with self._lock:
            updates = [update for _id, update in self._updates]
            self._updates.clear()
            return updates

    def _queue_update(self, kind: str, payload: JSON) -> int:
        update_id = next(self._update_ids)
        self._updates.append((update_id, {"update_id": update_id, kind: payload}))
        return update_id

    # --- HTTP -------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived = self._clock()
        match = _PATH.fullmatch(request.path)
        if match is None:
            return self._answer(_ApiError(404, "Not Found").body(), 404)
        token, name = match.groups()
        method = _CANONICAL.get(name.lower(), name)
        try:
            params = await self._read_params(request)
        except _ApiError as error:
            self._record(Request(method, {}, arrived, error.status))
            return self._answer(error.body(), error.status)

        with self._lock:
            delay = self._delay
            fault = self._random.pick() if self._random and token == self.token and method in SEND_METHODS else None
            if token == self.token and method in SEND_METHODS and self._drop_times > 0:
                self._drop_times -= 1
                self._requests.append(Request(method, params, arrived, 0))
                drop = True
            else:
                drop = False
        if drop:
            transport = request.transport
            if transport is not None:
                transport.abort()
            raise asyncio.CancelledError  # nothing more to answer on a closed connection
        if fault in ("429", "5xx"):
            return self._refuse_at_random(fault, method, params, arrived)

        try:
            if token != self.token:
                raise _ApiError(401, "Unauthorized")
            if method == "getUpdates":
                with self._lock:
                    if self.webhook_url:
                        raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
                result: Any = await self._get_updates(params, request)
            else:
                with self._lock:
                    result = self._dispatch(method, params, arrived)
            body: JSON = {"ok": True, "result": result}
            status = 200
        except _ApiError as error:
            body, status = error.body(), error.status
        if fault is not None:  # "timeout", "drop", "slow": the send was processed, its answer is late or lost
            delay = max(delay, self._after_processing(fault, params, arrived, delivered=status == HTTPStatus.OK))
        self._record(Request(method, params, arrived, 0 if fault == "drop" else status))
        if fault == "drop":
            transport = request.transport
            if transport is not None:
                transport.abort()
            raise asyncio.CancelledError  # nothing more to answer on a closed connection
        if delay > 0:
            await asyncio.sleep(delay)
        return self._answer(body, status)

    def _refuse_at_random(self, fault: str, method: str, params: JSON, arrived: float) -> web.Response:
        """A random "429" or "5xx": the send is not processed."""
        chat = str(_chat_key(params.get("chat_id", "")))
        if fault == "429":
            error = self._too_many(self._random_retry_after)
        else:
            error = _ApiError(HTTPStatus.BAD_GATEWAY, "Bad Gateway")
        with self._lock:
            assert self._random is not None
            self._random.record(InjectedFault(fault, chat, arrived, retry_after=float(self._random_retry_after)))
        self._record(Request(method, params, arrived, error.status))
        return self._answer(error.body(), error.status)

    def _after_processing(self, fault: str, params: JSON, arrived: float, *, delivered: bool) -> float:
        """Record a "timeout", "drop" or "slow" fault; returns how long to hold the answer."""
        chat = str(_chat_key(params.get("chat_id", "")))
        with self._lock:
            assert self._random is not None
            timeout_delay, slow_delay = self._random_delays
            hidden = delivered and fault in ("timeout", "drop")
            self._random.record(InjectedFault(fault, chat, arrived, delivered=hidden))
        return {"timeout": timeout_delay, "slow": slow_delay}.get(fault, 0.0)

    @staticmethod
    def _answer(body: JSON, status: int) -> web.Response:
        return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    def _record(self, request: Request) -> None:
        with self._changed:
            self._requests.append(request)
            if request.status == HTTPStatus.TOO_MANY_REQUESTS:
                self._count_429 += 1
            self._changed.notify_all()

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        """Query string plus body (form, multipart or JSON), with ints, booleans and nested JSON decoded."""
        raw: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            body = await request.read()
            if body.strip():
                try:
                    decoded = json.loads(body)
                except ValueError:
                    raise _bad_request("can't parse JSON encoded request body") from None
                if not isinstance(decoded, dict):
                    raise _bad_request("can't parse JSON encoded request body")
                raw.update(decoded)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    raw[name] = _Upload(value.filename, len(value.file.read()))
                else:
                    raw[name] = value
        uploads = {name: value for name, value in raw.items() if isinstance(value, _Upload)}
        params: dict[str, Any] = {}
        for name, value in raw.items():
            if isinstance(value, _Upload):
                if name not in uploads or any(v == f"attach://{name}" for v in raw.values()):
                    continue  # attached under another parameter
                params[name] = f"upload:{value.filename}"
            elif isinstance(value, str) and value.startswith("attach://") and value[9:] in uploads:
                params[name] = f"upload:{uploads[value[9:]].filename}"
            else:
                params[name] = self._decode(name, value)
        return params

    def _decode(self, name: str, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if name in _CHAT_ID_FIELDS:
            return _chat_key(value)
        if name in _INT_FIELDS:
            try:
                return int(float(value))
            except ValueError:
                raise _bad_request(f"invalid {name} specified") from None
        if name in _BOOL_FIELDS:
            return value.strip().lower() in ("true", "1")
        if name in _JSON_FIELDS:
            with self._lock:
                if value in self._decoded:
                    return self._decoded[value]
            try:
                decoded = json.loads(value)
            except ValueError:
                what = "reply keyboard markup" if name == "reply_markup" else name
                raise _bad_request(f"can't parse {what} JSON object") from None
            with self._lock:
                if len(self._decoded) >= _DECODE_CACHE_SIZE:
                    self._decoded.clear()
                self._decoded[value] = decoded
            return decoded
        return self._intern(value)

    def _intern(self, text: str) -> str:
        with self._lock:
            return self._strings.setdefault(text, text)

    # --- methods ----------------------------------------------------------------------------------

    def _dispatch(self, method: str, params: JSON, now: float) -> Any:
        """Answer one call (the lock is held). Raises _ApiError for an error answer."""
        if method in SEND_METHODS:
            return self._send(method, params, now)
        if method == "getMe":
            return {
                **self._bot_user(),
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
                "can_connect_to_business": False,
                "has_main_web_app": False,
            }
        if method in ("setWebhook", "deleteWebhook", "getWebhookInfo"):
            return self._webhook(method, params)
        if method in ("close", "logOut", "sendChatAction"):
            return True
        if method == "deleteMessage":
            chat = self._required_chat(params)
            if (chat, params.get("message_id")) not in self._current:
                raise _bad_request("message to delete not found")
            return True
        if method in ("setMyCommands", "getMyCommands", "deleteMyCommands"):
            return self._my_commands(method, params)
        if method == "answerCallbackQuery":
            query_id = str(params.get("callback_query_id", ""))
            if query_id not in self._open_callbacks:
                raise _bad_request("query is too old and response timeout expired or query ID is invalid")
            self._open_callbacks.discard(query_id)
            return True
        if method == "getChat":
            chat = self._required_chat(params)
            if (fault := self._chat_faults.get(chat)) is not None and fault.status == HTTPStatus.BAD_REQUEST:
                raise fault
            return {
                **self._chat(chat),
                "accent_color_id": 0,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": False,
                    "limited_gifts": False,
                    "unique_gifts": False,
                    "premium_subscription": False,
                    "gifts_from_channels": False,
                },
            }
        raise _ApiError(404, "Not Found: method not found")

    def _send(self, method: str, params: JSON, now: float) -> Any:
        chat_param = params.get("chat_id")
        chat = None if chat_param in (None, "") else _chat_key(chat_param)
        if self._fail_times > 0 and self._fail_after > 0:
            self._fail_after -= 1
        elif self._fail_times > 0:
            self._fail_times -= 1
            status = self._fail_status
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = "Error"
            raise _ApiError(status, phrase)
        for injected in self._retries:
            if injected.chat is None or injected.chat == chat:
                if injected.skip > 0:
                    injected.skip -= 1
                    break
                injected.remaining -= 1
                if injected.remaining <= 0:
                    self._retries.remove(injected)
                raise self._too_many(injected.seconds)
        if chat is None:
            raise _bad_request("chat_id is empty")
        if (fault := self._chat_faults.get(chat)) is not None:
            raise fault

        if method in ("sendMessage", "sendPhoto"):
            message = self._new_message(method, chat, params, now)
        else:
            message = self._edited_message(method, chat, params, now)

        if self.enforce_limits and (wait := self._flood_wait(chat, now)) > 0:
            raise self._too_many(max(1, math.ceil(wait)))

        if not message.edited:
            message = dataclasses.replace(message, message_id=self._next_message_id(chat))
        self._deliver(chat, message)
        return self._message_json(message, edit_date=int(time.time()) if message.edited else None)

    def _too_many(self, seconds: int) -> _ApiError:
        return _ApiError(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})

    def _new_message(self, method: str, chat: ChatId, params: JSON, now: float) -> Message:
        parse_mode = _parse_mode(params)
        markup = _reply_markup(params)
        if method == "sendMessage":
            text = params.get("text")
            _check_text(text, parse_mode, telegram_html.MESSAGE_LIMIT, caption=False)
            kind: Literal["text", "photo"] = "text"
            photo = None
        else:
            text = params.get("caption") or ""
            _check_text(text, parse_mode, telegram_html.CAPTION_LIMIT, caption=True)
            photo = params.get("photo")
            if not isinstance(photo, str) or not photo:
                raise _bad_request("there is no photo in the request")
            kind = "photo"
        preview = params.get("link_preview_options")
        return Message(
            message_id=0,
            chat_id=chat,
            text=self._intern(str(text)),
            parse_mode=parse_mode,
            kind=kind,
            photo=photo,
            reply_markup=markup,
            link_preview_options=preview if isinstance(preview, dict) else None,
            at=now,
            message_thread_id=self._topic(chat, params),
        )

    def _topic(self, chat: ChatId, params: JSON) -> int | None:
        topic = params.get("message_thread_id")
        if topic is None:
            return None
        topics = self._forum_topics.get(chat)
        if not isinstance(topic, int) or (topics is not None and topic not in topics):
            raise _bad_request("message thread not found")
        return topic

    def _edited_message(self, method: str, chat: ChatId, params: JSON, now: float) -> Message:
        if params.get("inline_message_id"):
            raise _bad_request("MESSAGE_ID_INVALID")
        message_id = params.get("message_id")
        current = self._current.get((chat, message_id)) if isinstance(message_id, int) else None
        if current is None:
            raise _bad_request("message to edit not found")
        markup = _reply_markup(params)
        text: object = current.text
        parse_mode, preview = current.parse_mode, current.link_preview_options
        if method == "editMessageText":
            if current.kind != "text":
                raise _bad_request("there is no text in the message to edit")
            parse_mode = _parse_mode(params)
            text = params.get("text")
            _check_text(text, parse_mode, telegram_html.MESSAGE_LIMIT, caption=False)
            given_preview = params.get("link_preview_options")
            preview = given_preview if isinstance(given_preview, dict) else None
        elif method == "editMessageCaption":
            if current.kind != "photo":
                raise _bad_request("there is no caption in the message to edit")
            parse_mode = _parse_mode(params)
            text = params.get("caption") or ""
            _check_text(text, parse_mode, telegram_html.CAPTION_LIMIT, caption=True)
        if (str(text), parse_mode, markup) == (current.text, current.parse_mode, current.reply_markup):
            raise _bad_request(
                "message is not modified: specified new message content and reply markup are exactly the same "
                "as a current content and reply markup of the message"
            )
        return Message(
            message_id=current.message_id,
            chat_id=chat,
            text=self._intern(str(text)),
            parse_mode=parse_mode,
            kind=current.kind,
            photo=current.photo,
            reply_markup=markup,
            link_preview_options=preview,
            at=now,
            edited=True,
            message_thread_id=current.message_thread_id,
        )

    def _flood_wait(self, chat: ChatId, now: float) -> float:
        """Seconds until every window has room for a send to `chat`; 0.0 if it has now (and takes the room)."""
        windows = [self._overall, self._window(self._chat_windows, chat, self._per_chat_per_second, 1.0)]
        if _is_group_or_channel(chat):
            windows.append(self._window(self._group_windows, chat, self._per_group_per_minute, 60.0))
        wait = max(window.wait(now) for window in windows)
        if wait > 0:
            return wait
        for window in windows:
            window.add(now)
        self._sends_since_sweep += 1
        if self._sends_since_sweep >= _SWEEP_EVERY:
            self._sends_since_sweep = 0
            for table in (self._chat_windows, self._group_windows):
                for idle in [key for key, window in table.items() if window.idle(now)]:
                    del table[idle]
        return 0.0

    @staticmethod
    def _window(table: dict[ChatId, _Window], chat: ChatId, limit: int, span: float) -> _Window:
        window = table.get(chat)
        if window is None:
            window = table[chat] = _Window(limit, span)
        return window

    def _deliver(self, chat: ChatId, message: Message) -> None:
        self._messages.append(message)
        self._by_chat.setdefault(chat, []).append(message)
        self._current[chat, message.message_id] = message
        self._changed.notify_all()

    def _my_commands(self, method: str, params: JSON) -> Any:
        scope = params.get("scope")
        key = _scope_key(scope if isinstance(scope, dict) else None, params.get("language_code"))
        if method == "getMyCommands":
            return self._commands.get(key, [])
        if method == "deleteMyCommands":
            self._commands.pop(key, None)
            return True
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict) or not _BOT_COMMAND.fullmatch(str(command.get("command", ""))):
                raise _bad_request("BOT_COMMAND_INVALID")
            description = str(command.get("description", ""))
            if not description.strip() or len(description) > _COMMAND_DESCRIPTION_LIMIT:
                raise _bad_request("command description is empty" if not description.strip() else "BOT_COMMAND_INVALID")
        if commands:
            self._commands[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
        else:
            self._commands.pop(key, None)
        return True

    def _webhook(self, method: str, params: JSON) -> Any:
        if method == "getWebhookInfo":
            return {
                "url": self.webhook_url,
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }
        if method == "deleteWebhook":
            self.webhook_url = self.webhook_secret = ""
            return True
        url, secret = str(params.get("url", "")), str(params.get("secret_token", ""))
        if url and not url.startswith("https://"):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise _bad_request("bad webhook: secret token contains unallowed characters")
        self.webhook_url, self.webhook_secret = url, secret
        return True

    async def _get_updates(self, params: JSON, request: web.Request) -> list[JSON]:
        offset = params.get("offset")
        limit = params.get("limit") or 100
        timeout = params.get("timeout") or 0
        deadline = time.monotonic() + min(max(float(timeout), 0.0), _LONG_POLL_CAP)
        with self._lock:
            self._polls += 1
            poll = self._polls
        superseded_at: float | None = None
        while True:
            with self._lock:
                if isinstance(offset, int) and offset < 0:
                    while len(self._updates) > -offset:
                        self._updates.popleft()
                elif isinstance(offset, int):
                    while self._updates and self._updates[0][0] < offset:
                        self._updates.popleft()  # confirmed
                if self._polls != poll:
                    superseded_at = superseded_at or time.monotonic()
                    if request.transport is None or request.transport.is_closing():
                        return []  # its client hung up: no one to answer
                    if time.monotonic() >= superseded_at + _HANG_UP_GRACE:
                        raise _ApiError(409, _POLL_CONFLICT)
                elif self._updates or time.monotonic() >= deadline:
                    return [update for _id, update in itertools.islice(self._updates, max(1, min(limit, 100)))]
            await asyncio.sleep(_LONG_POLL_STEP)

    # --- object builders (lock held) --------------------------------------------------------------

    def _next_message_id(self, chat: ChatId) -> int:
        next_id = self._last_message_id.get(chat, 0) + 1
        self._last_message_id[chat] = next_id
        return next_id

    def _required_chat(self, params: JSON) -> ChatId:
        chat = params.get("chat_id")
        if chat in (None, ""):
            raise _bad_request("chat_id is empty")
        return _chat_key(chat)

    def _bot_user(self) -> JSON:
        return {"id": self._bot_id, "is_bot": True, "first_name": "newsbot test", "username": self.bot_username}

    @staticmethod
    def _user(user_id: int, username: str) -> JSON:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": username.capitalize(),
            "username": username,
            "language_code": "en",
        }

    def _chat_type(self, chat: ChatId) -> str:
        if isinstance(chat, str):
            return "channel"
        if chat > 0:
            return "private"
        if chat in self._supergroups:
            return "supergroup"
        return "channel" if str(chat).startswith("-100") else "group"

    def _chat(self, chat: ChatId, chat_type: str | None = None, username: str = "alice") -> JSON:
        chat_type = chat_type or self._chat_type(chat)
        if isinstance(chat, str):
            chat_id = self._channel_ids.setdefault(chat, _FIRST_CHANNEL_ID - len(self._channel_ids))
            return {"id": chat_id, "type": chat_type, "title": chat.lstrip("@"), "username": chat.lstrip("@")}
        if chat_type == "private":
            return {"id": chat, "type": "private", "first_name": username.capitalize(), "username": username}
        return {"id": chat, "type": chat_type, "title": f"Test {chat_type} {chat}"}

    def _message_json(self, message: Message, edit_date: int | None = None) -> JSON:
        chat = self._chat(message.chat_id)
        result: JSON = {"message_id": message.message_id, "date": int(time.time()), "chat": chat}
        if chat["type"] == "channel":
            result["sender_chat"] = chat  # channel posts have no "from"
        else:
            result["from"] = self._bot_user()
        if edit_date is not None:
            result["edit_date"] = edit_date
        if message.message_thread_id is not None:
            result["message_thread_id"] = message.message_thread_id
            result["is_topic_message"] = True
        is_html = (message.parse_mode or "").lower() == "html"
        text, entities = (_parse_html(message.text)[1:]) if is_html else (message.text, ())
        if message.kind == "photo":
            result["photo"] = _photo_sizes(message.photo or "")
            if text:
                result["caption"] = text
            if entities:
                result["caption_entities"] = list(entities)
        else:
            result["text"] = text
            if entities:
                result["entities"] = list(entities)
            if message.link_preview_options:
                result["link_preview_options"] = message.link_preview_options
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            result["reply_markup"] = message.reply_markup
        return result


# --- validation -----------------------------------------------------------------------------------


def _parse_mode(params: JSON) -> str | None:
    parse_mode = params.get("parse_mode")
    if not parse_mode:
        return None
    if str(parse_mode).lower() not in _PARSE_MODES:
        raise _bad_request("unsupported parse_mode")
    return str(parse_mode)


def _check_text(text: object, parse_mode: str | None, limit: int, *, caption: bool) -> None:
    if not isinstance(text, str):
        if caption:
            return
        raise _bad_request("message text is empty")
    is_html = (parse_mode or "").lower() == "html"
    problem, visible = _parse_html(text)[:2] if is_html else ("", text)
    if problem:
        raise _bad_request(f"can't parse entities: {problem}")
    if not caption and not visible.strip():
        raise _bad_request("message text is empty")
    if telegram_html.utf16_length(visible) > limit:
        raise _bad_request("message caption is too long" if caption else "message is too long")


@functools.lru_cache(maxsize=256)  # one article sent to many chats is parsed once
def _parse_html(html: str) -> tuple[str, str, tuple[JSON, ...]]:
    """(why Telegram would refuse `html` or "", its visible text, its entities). Treat the entities as read-only."""
    try:
        telegram_html.validate(html)
    except ValueError as error:
        return str(error), "", ()
    return "", telegram_html.visible_text(html), tuple(_EntityParser.parse(html))


def _reply_markup(params: JSON) -> dict[str, Any] | None:
    markup = params.get("reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _bad_request("can't parse reply keyboard markup JSON object")
    keyboard = markup.get("inline_keyboard")
    if keyboard is None:
        return markup
    if not isinstance(keyboard, list) or not all(isinstance(row, list) for row in keyboard):
        raise _bad_request(
            'can\'t parse inline keyboard button: Field "inline_keyboard" of the InlineKeyboardMarkup '
            "should be an Array of Arrays"
        )
    for row in keyboard:
        for button in row:
            _check_button(button)
    return markup


def _check_button(button: object) -> None:
    if not isinstance(button, dict):
        raise _bad_request("can't parse inline keyboard button: InlineKeyboardButton should be an Object")
    if not isinstance(button.get("text"), str):
        raise _bad_request("can't parse inline keyboard button: Can't find field \"text\"")
    if set(button) == {"text"}:
        raise _bad_request("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
    if "url" in button and not (isinstance(button["url"], str) and _BUTTON_URL.fullmatch(button["url"])):
        raise _bad_request("BUTTON_URL_INVALID")
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= _CALLBACK_DATA_LIMIT:
            raise _bad_request("BUTTON_DATA_INVALID")


def _scope_key(scope: Mapping[str, Any] | None, language_code: object) -> str:
    kind = str((scope or {}).get("type", "default"))
    if kind in ("default", "all_private_chats", "all_group_chats", "all_chat_administrators"):
        key = kind
    elif kind in ("chat", "chat_administrators"):
        key = f"{kind}:{_chat_key((scope or {}).get('chat_id', ''))}"
    elif kind == "chat_member":
        key = f"chat_member:{_chat_key((scope or {}).get('chat_id', ''))}:{(scope or {}).get('user_id')}"
    else:
        raise _bad_request("unsupported bot command scope type")
    return f"{key}/{language_code}" if language_code else key


def _photo_sizes(photo: str) -> list[JSON]:
    unique = f"{abs(hash(photo)) % 10**12:012d}"
    return [
        {"file_id": f"AgAC{unique}s", "file_unique_id": f"AQAD{unique}s", "width": 90, "height": 60, "file_size": 1200},
        {"file_id": f"AgAC{unique}m", "file_unique_id": f"AQAD{unique}m", "width": 800, "height": 533},
    ]


# --- fixture --------------------------------------------------------------------------------------


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    """A started FakeTelegram with the default limits; stopped after the test."""
    fake = FakeTelegram()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
