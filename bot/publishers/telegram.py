"""Telegram publisher: channel posts and subscriber messages through python-telegram-bot, within Telegram's limits.

A recipient becomes a chat and, for a forum topic, a message_thread_id through `bot.channels.telegram.chat_target`.

Limits (Telegram's, configurable in [telegram]): 30 messages per second overall, 1 per second to one chat,
20 per minute to one group or channel; 4096 visible characters per message, 1024 per photo caption.

A batch is sent concurrently (at most `max_in_flight` requests at once) under a client-side limiter, so a
fan-out runs close to the overall ceiling with memory bounded by the batch size. Errors become newsbot's:
RetryAfter waits exactly `retry_after` and retries that chat (or, for long waits, returns RateLimited);
TimedOut / NetworkError / 5xx → PublishError (retried with backoff by the outbox); Forbidden → RecipientGone
for a subscriber, Unauthorized for the configured channel (and for its forum topic not found); ChatMigrated →
sent again to the new chat id, which the receipt reports; a BadRequest about entities → sent once more as plain
text, and the template problem logged.
A post longer than one message is retried from its first part not yet accepted, never from the start (the
accepted parts go back to the outbox as the error's `progress` when it retries later, as X threads do). A stop
request ends every wait for a turn (rate limit or RetryAfter) of a post not yet started; that post stays queued.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot import telegram_html
from bot.channels.telegram import CHANNEL as TELEGRAM
from bot.channels.telegram import ChatTarget, chat_target
from bot.config import TelegramConfig
from bot.errors import PublishError, RateLimited, RecipientGone, Rejected, Unauthorized
from bot.logs import kv
from bot.metrics import Metrics
from bot.models import Post, Receipt, ShareLink
from bot.publishers.telegram_bot import telegram_bot
from bot.ratelimit import ChatRateLimiter, StopRequested
from bot.route import is_own_target

if TYPE_CHECKING:
    import telegram

log = logging.getLogger("newsbot.telegram")

Outcome = Receipt | PublishError
CHANNEL_RECIPIENT = TELEGRAM.own_recipient
MIGRATED_TO = "migrated_to"
# RetryAfter waits up to this long inside a batch; longer ones go back to the outbox as RateLimited.
MAX_INLINE_RETRY_AFTER = 60.0
SHARE_BUTTONS_PER_ROW = 3
_PHOTO_URL_PROBLEMS = ("wrong file identifier", "failed to get http url content", "wrong type of the web page")
_PARSE_PROBLEMS = ("can't parse entities", "can't find end", "unsupported start tag", "unexpected end tag")
_GONE_PROBLEMS = ("chat not found", "user not found", "peer_id_invalid", "bot was kicked", "have no rights")
_NO_TOPIC = "message thread not found"


@dataclass
class _Attempt:
    """One post on its way: the ids of the parts Telegram already accepted (a retry resumes after them), and
    whether to give up waiting for a turn (a stop request before the post's first part went out)."""

    should_stop: Callable[[], bool]
    sent_ids: list[str] = field(default_factory=list)
    migrated_to: str = ""  # the chat's new id once Telegram said it moved; sent_ids are then that chat's

    def give_up(self) -> Callable[[], bool] | None:
        return self.should_stop if not self.sent_ids else None  # a started post is finished


@dataclass
class _BatchState:
    stop: bool = False  # credentials refused or a stop was requested: start no more sends
    reason: str = ""
    retry_after: float = 0.0


@dataclass
class TelegramPublisher:
    config: TelegramConfig
    token: str
    channel: str = "telegram"
    message_limit: int = telegram_html.MESSAGE_LIMIT
    caption_limit: int = telegram_html.CAPTION_LIMIT
    metrics: Metrics = field(default_factory=Metrics)  # App hands in its own (bot.publishers.base.MeteredPublisher)
    _loop: asyncio.AbstractEventLoop = field(init=False)
    _bot: telegram.Bot | None = field(init=False, default=None)
    _limiter: ChatRateLimiter = field(init=False)
    _migrated: dict[str, str] = field(init=False, default_factory=dict)  # configured chat -> its new id

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._limiter = ChatRateLimiter(
            overall_per_second=self.config.messages_per_second,
            per_chat_per_second=self.config.messages_per_chat_per_second,
            per_group_per_minute=self.config.messages_per_group_per_minute,
        )

    # -- the Publisher protocol ---------------------------------------------------------------------

    def publish(self, post: Post) -> Receipt:
        outcomes: list[Outcome] = []
        self.publish_batch([post], lambda _post, outcome: outcomes.append(outcome))
        if not outcomes:
            raise PublishError("not sent: the channel was stopped")
        if isinstance(outcomes[0], PublishError):
            raise outcomes[0]
        return outcomes[0]

    def publish_batch(
        self,
        posts: Sequence[Post],
        on_result: Callable[[Post, Outcome], None],
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        """Send every post; `on_result` is called (in this thread) as each one's outcome is known.

        A post whose send never started (credentials refused, or `should_stop`) gets no call: it stays queued.
        """
        self._loop.run_until_complete(self._send_all(posts, on_result, should_stop))

    def close(self) -> None:
        if self._bot is not None:
            self._loop.run_until_complete(self._bot.shutdown())
            self._bot = None
        self._loop.close()

    # -- sending ----------------------------------------------------------------------------------

    async def _ready_bot(self) -> telegram.Bot:
        if self._bot is None:
            # room for the fan-out's `max_in_flight` sends at once, and two to spare
            bot = telegram_bot(self.config, self.token, pool_size=self.config.max_in_flight + 2)
            try:
                await bot.initialize()
            except Exception as exc:
                raise _translate(exc, CHANNEL_RECIPIENT) from None
            self._bot = bot
        return self._bot

    async def _send_all(
        self, posts: Sequence[Post], on_result: Callable[[Post, Outcome], None], should_stop: Callable[[], bool]
    ) -> None:
        try:
            await self._ready_bot()
        except PublishError as error:
            for post in posts:
                on_result(post, error)
            return
        state = _BatchState()
        slots = asyncio.Semaphore(self.config.max_in_flight)

        async def one(post: Post) -> None:
            async with slots:
                if state.stop or should_stop():
                    state.stop = True
                    return
                try:
                    outcome = await self._send_with_retries(post, _Attempt(should_stop, list(post.posted)))
                except StopRequested:  # still waiting for its turn: nothing went out, it stays queued
                    state.stop = True
                    return
                if isinstance(outcome, Unauthorized):
                    state.stop = True
                on_result(post, outcome)

        await asyncio.gather(*(one(post) for post in posts))

    async def _send_with_retries(self, post: Post, attempt: _Attempt) -> Outcome:
        """Send one post; RetryAfter is waited out here (exactly `retry_after`) unless it is long.

        A retry resumes after the parts already accepted, so a long post never repeats a part: here, and through
        the error's `progress` (kept in the ledger) when the outbox retries it later.
        """
        while True:
            try:
                return await self._send(post, attempt)
            except _RetryLater as wait:
                if wait.seconds > MAX_INLINE_RETRY_AFTER:
                    return self._with_progress(RateLimited(wait.seconds), attempt)
                log.warning("%s", kv(event="telegram_retry_after", recipient=post.recipient, seconds=wait.seconds))
            except PublishError as error:
                return self._with_progress(error, attempt)

    @staticmethod
    def _with_progress(error: PublishError, attempt: _Attempt) -> PublishError:
        if attempt.sent_ids and not attempt.migrated_to:  # a moved chat gets the whole post again: no progress
            error.progress = tuple(attempt.sent_ids)
        return error

    async def _send(self, post: Post, attempt: _Attempt) -> Receipt:
        if attempt.migrated_to:
            return await self._send_to_migrated_chat(post, attempt)
        target = self._target(post.recipient)
        try:
            ids = await self._deliver(target, post, attempt)
            return Receipt(remote_id=",".join(ids))
        except StopRequested:
            raise
        except Exception as exc:
            from telegram.error import ChatMigrated

            if not isinstance(exc, ChatMigrated):
                raise self._translate_or_wait(exc, post.recipient) from None
            new_chat = str(exc.new_chat_id)
            log.warning("%s", kv(event="telegram_chat_migrated", recipient=post.recipient, new_chat_id=new_chat))
            if is_own_target("telegram", post.recipient):
                self._migrated[target.chat] = new_chat
        attempt.migrated_to = new_chat
        attempt.sent_ids.clear()  # the new chat gets the whole post
        return await self._send_to_migrated_chat(post, attempt)

    async def _send_to_migrated_chat(self, post: Post, attempt: _Attempt) -> Receipt:
        try:
            topic = self._target(post.recipient).topic
            ids = await self._deliver(ChatTarget(attempt.migrated_to, topic), post, attempt)
        except StopRequested:
            raise
        except Exception as exc:
            raise self._translate_or_wait(exc, post.recipient) from None
        return Receipt(remote_id=",".join(ids), extra={MIGRATED_TO: attempt.migrated_to})

    def _translate_or_wait(self, exc: Exception, recipient: str) -> Exception:
        from telegram.error import RetryAfter

        if isinstance(exc, RetryAfter):
            seconds = retry_seconds(exc)
            self.metrics.rate_limited(self.channel, seconds)
            self._limiter.pause_all(seconds)
            return _RetryLater(seconds)
        return _translate(exc, recipient)

    async def _deliver(self, target: ChatTarget, post: Post, attempt: _Attempt) -> list[str]:
        """Send the post as a photo with caption, or as one or more messages; returns the message ids."""
        bot = await self._ready_bot()
        chat_id, topic = target.chat, target.topic
        markup = share_keyboard(post.share_links)
        if post.image_url and telegram_html.visible_length(post.text) <= self.caption_limit:
            try:
                await self._limiter.acquire(chat_id, attempt.give_up())
                message = await bot.send_photo(
                    chat_id,
                    post.image_url,
                    caption=post.text,
                    parse_mode="HTML",
                    reply_markup=markup,
                    message_thread_id=topic,
                )
                return [str(message.message_id)]
            except Exception as exc:
                if not _is_photo_url_problem(exc):
                    raise
                log.warning("%s", kv(event="telegram_photo_refused", image=post.image_url, reason=str(exc)))
        try:
            parts = telegram_html.split(post.text, self.message_limit)
        except ValueError as problem:
            # HTML Telegram would refuse: say so, and still deliver the words once, as plain text.
            log.error("%s", kv(event="telegram_template_problem", chat=chat_id, reason=str(problem)))
            plain = telegram_html.visible_text(post.text)
            parts = [plain[i : i + self.message_limit] for i in range(0, len(plain), self.message_limit)]
            return await self._send_parts(bot, target, parts, markup, attempt, html=False)
        return await self._send_parts(bot, target, parts, markup, attempt)

    async def _send_parts(
        self,
        bot: telegram.Bot,
        target: ChatTarget,
        parts: Sequence[str],
        markup: telegram.InlineKeyboardMarkup | None,
        attempt: _Attempt,
        *,
        html: bool = True,
    ) -> list[str]:
        """The parts not yet accepted, in order, the share buttons under the last; returns every part's id."""
        for index in range(len(attempt.sent_ids), len(parts)):
            last = index == len(parts) - 1
            sent = await self._send_text(bot, target, parts[index], markup if last else None, attempt, html=html)
            attempt.sent_ids.append(sent)
        return list(attempt.sent_ids)

    async def _send_text(
        self,
        bot: telegram.Bot,
        target: ChatTarget,
        text: str,
        markup: telegram.InlineKeyboardMarkup | None,
        attempt: _Attempt,
        *,
        html: bool = True,
    ) -> str:
        from telegram import LinkPreviewOptions
        from telegram.error import BadRequest

        preview = LinkPreviewOptions(is_disabled=not self.config.link_preview)
        await self._limiter.acquire(target.chat, attempt.give_up())  # a forum's topics share its chat's limits
        try:
            message = await bot.send_message(
                target.chat,
                text,
                parse_mode="HTML" if html else None,
                reply_markup=markup,
                link_preview_options=preview,
                message_thread_id=target.topic,
            )
        except BadRequest as exc:
            if not html or not any(p in str(exc).lower() for p in _PARSE_PROBLEMS):
                raise
            # Telegram refused our HTML: say so, and still deliver the words once, as plain text.
            log.error("%s", kv(event="telegram_template_problem", chat=target.chat, reason=str(exc)))
            return await self._send_text(bot, target, telegram_html.visible_text(text), markup, attempt, html=False)
        return str(message.message_id)

    def _target(self, recipient: str) -> ChatTarget:
        """The recipient's chat and forum topic (see `chat_target`), in the chat's new id once it moved."""
        target = chat_target(self.config, recipient)
        if not is_own_target("telegram", recipient):
            return target
        return ChatTarget(self._migrated.get(target.chat, target.chat), target.topic)


class _RetryLater(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds:g} s")
        self.seconds = seconds


def retry_seconds(exc: telegram.error.RetryAfter) -> float:
    """The seconds a RetryAfter asks to wait: the one reader of it, for posts and for chat replies alike."""
    from telegram.warnings import PTBDeprecationWarning

    with warnings.catch_warnings():  # PTB 22 warns that retry_after becomes a timedelta; both are handled
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def share_keyboard(links: Sequence[ShareLink]) -> telegram.InlineKeyboardMarkup | None:
    """Share buttons, three to a row. Telegram only accepts http(s) and tg:// button links, so mailto is left out."""
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    buttons = [InlineKeyboardButton(link.label, url=link.url) for link in links if link.url.startswith("http")]
    if not buttons:
        return None
    rows = [buttons[i : i + SHARE_BUTTONS_PER_ROW] for i in range(0, len(buttons), SHARE_BUTTONS_PER_ROW)]
    return InlineKeyboardMarkup(rows)


def _is_photo_url_problem(exc: Exception) -> bool:
    from telegram.error import BadRequest

    return isinstance(exc, BadRequest) and any(p in str(exc).lower() for p in _PHOTO_URL_PROBLEMS)


def _translate(exc: Exception, recipient: str) -> PublishError:
    """python-telegram-bot's exceptions as newsbot's (see bot/errors.py)."""
    from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError

    reason = str(exc)
    is_channel = is_own_target("telegram", recipient)
    if isinstance(exc, InvalidToken):
        return Unauthorized("the bot token was refused: check the token in the environment variable")
    if isinstance(exc, Forbidden):
        if is_channel:
            return Unauthorized(f"{reason}: add the bot to the channel as an administrator that may post")
        return RecipientGone(reason)
    if isinstance(exc, BadRequest):
        if is_channel and _NO_TOPIC in reason.lower():
            return Unauthorized(
                f"{reason}: check the topic of CHAT/TOPIC in [telegram] channel (the number after the chat in a"
                " message link t.me/c/<chat>/<topic>/<message>) and that the topic still exists"
            )
        if any(p in reason.lower() for p in _GONE_PROBLEMS):
            if is_channel:
                return Unauthorized(f"{reason}: check [telegram] channel and that the bot is a member")
            return RecipientGone(reason)
        return Rejected(reason)
    if isinstance(exc, NetworkError):  # TimedOut, connection errors, 5xx
        return PublishError(f"network: {reason or type(exc).__name__}")
    return PublishError(f"{type(exc).__name__}: {reason}")
