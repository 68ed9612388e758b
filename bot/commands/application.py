"""The python-telegram-bot side of the commands: updates in, `Request`s to the command functions, replies out.

Chats are answered side by side and each chat in the order its messages came (`OneAtATimePerChat`): a slow
command (/addsource, /post of a URL, /email) or a "retry after" from Telegram holds up only its own chat.
Command functions are synchronous (they use SQLite); each runs in one of the context's worker threads, with
that thread's own store connection, so the event loop keeps polling.

A user may send at most `[telegram] commands_per_minute` commands in any minute (admins are not limited: they
are trusted, and since chats do not wait for each other, an admin's burst slows only the admin's own chat).
The first command over the limit gets one short notice; the rest are dropped without an answer, since
answering each would be a flood of our own.

Every reply is Telegram HTML, checked with `telegram_html`, split at 4096 visible characters, with the bot token
and other configured secrets redacted.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final

from telegram import (
    Bot,
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import telegram_html
from bot.commands.admin import ADMIN_COMMANDS, broadcast_button, is_admin
from bot.commands.approval import approval_button, plain_message
from bot.commands.context import BUTTON, CommandContext, InputError, Reply, Request, reply
from bot.commands.subscriber import SUBSCRIBER_COMMANDS
from bot.config import Config
from bot.logs import RedactSecrets, kv, secret_values
from bot.publishers.telegram import retry_seconds
from bot.publishers.telegram_bot import telegram_bot
from bot.ratelimit import PerKeyLimit

__all__ = [
    "ALLOWED_UPDATES",
    "CommandLimit",
    "OneAtATimePerChat",
    "build_application",
    "command_menus",
    "publish_command_menus",
]

log = logging.getLogger("newsbot.commands")

ALLOWED_UPDATES: Final = ["message", "callback_query"]  # edits of old commands are not commands
SEND_ATTEMPTS: Final = 3
MAX_RETRY_WAIT_SECONDS: Final = 30.0
# Chats answered at once (their commands share the context's worker threads); more wait in PTB's update queue.
MAX_CHATS_AT_ONCE: Final = 256
COMMAND_LIMIT_SECONDS: Final = 60.0  # the window of [telegram] commands_per_minute
SLOW_DOWN: Final = (
    "Slow down, please: that is more than {limit} commands in a minute. "
    "Send the next one in {seconds} s; until then I ignore commands from you."
)
_COMMAND: Final = re.compile(r"/([^\s@]*)(?:@\S*)?\s?(.*)", re.DOTALL)

# New messages only: an edited "/pause" is not a new command.
_NEW_MESSAGES: Final = filters.UpdateType.MESSAGE
_PRIVATE_NEW_MESSAGES: Final = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE

CommandRun = Callable[[CommandContext, Request], Reply]
Callback = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]

# Inline buttons: the prefix of their callback data ("bc:yes:…") -> the function that handles a press.
BUTTONS: Final[dict[str, CommandRun]] = {"bc": broadcast_button, "ap": approval_button}


def build_application(config: Config, token: str, context: CommandContext) -> Application[Any, Any, Any, Any, Any, Any]:
    """The bot's chat commands, ready to run (see `CommandRunner`)."""
    application = (
        ApplicationBuilder()
        .bot(telegram_bot(config.telegram, token, pool_size=MAX_CHATS_AT_ONCE))  # a reply per chat answered
        .concurrent_updates(OneAtATimePerChat(MAX_CHATS_AT_ONCE))
        .build()
    )
    redact = RedactSecrets(
        [token, *secret_values(name for names in config.secret_env_names().values() for name in names)]
    ).redact
    limit = CommandLimit(config)
    # Forwarded subscriber commands fall through to `fallback`, which says why they are ignored. Admin commands
    # see every new message, so that the admin check refuses (and logs) groups and forwards itself.
    for command in SUBSCRIBER_COMMANDS:
        handler = _on_message(context, command.run, redact, limit)
        application.add_handler(
            CommandHandler(command.name, handler, filters=_PRIVATE_NEW_MESSAGES & ~filters.FORWARDED)
        )
    for command in ADMIN_COMMANDS:
        handler = _on_message(context, command.run, redact, limit)
        application.add_handler(CommandHandler(command.name, handler, filters=_NEW_MESSAGES))
    pattern = "^(" + "|".join(BUTTONS) + "):"
    application.add_handler(CallbackQueryHandler(_on_button(context, redact, limit), pattern=pattern))
    application.add_handler(MessageHandler(_PRIVATE_NEW_MESSAGES, _on_message(context, plain_message, redact, limit)))
    return application


def command_menus(config: Config) -> list[tuple[BotCommandScope, list[BotCommand]]]:
    """Telegram's command menu: subscriber commands in every private chat, all of them in each admin's chat."""
    for_subscribers = [BotCommand(command.name, command.description) for command in SUBSCRIBER_COMMANDS]
    for_admins = for_subscribers + [BotCommand(command.name, command.description) for command in ADMIN_COMMANDS]
    menus: list[tuple[BotCommandScope, list[BotCommand]]] = [(BotCommandScopeAllPrivateChats(), for_subscribers)]
    menus += [(BotCommandScopeChat(admin), for_admins) for admin in config.telegram.admins]
    return menus


async def publish_command_menus(bot: Bot, config: Config) -> None:
    """setMyCommands per scope. A failure (an admin who never opened a chat with the bot) is logged, not fatal."""
    for scope, commands in command_menus(config):
        try:
            await bot.set_my_commands(commands, scope=scope)
        except TelegramError as error:
            log.warning("%s", kv(event="set_commands_failed", scope=scope.type, reason=str(error)))


# --- updates in ------------------------------------------------------------------------------------------


class OneAtATimePerChat(BaseUpdateProcessor):
    """Updates of different chats are handled side by side; those of one chat one after another, in the order
    they came (so "/subscribe #x" then "/unsubscribe #x" leaves #x unsubscribed).

    An update for a busy chat joins that chat's line and returns at once: the task already working on the chat
    handles it next. Waiting updates so take none of the `max_concurrent_updates` places, and a flood into one
    chat cannot crowd out the others.
    """

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._lines: dict[int, deque[Awaitable[Any]]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        line = self._lines.get(chat.id)
        if line is not None:
            line.append(coroutine)
            return
        self._lines[chat.id] = line = deque([coroutine])
        try:
            while line:
                try:
                    await line.popleft()
                except Exception:  # PTB hands handler errors to its error handlers; this is a last resort
                    log.exception("%s", kv(event="update_failed", chat_id=chat.id))
        finally:
            del self._lines[chat.id]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


class CommandLimit:
    """At most `[telegram] commands_per_minute` commands per user in any minute; admins are not limited.

    A user over the limit is told once (at most one notice a minute); later commands in the same stretch are
    dropped without an answer.
    """

    def __init__(self, config: Config, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._per_minute = config.telegram.commands_per_minute
        self._commands = PerKeyLimit(self._per_minute, COMMAND_LIMIT_SECONDS)
        self._notices = PerKeyLimit(1, COMMAND_LIMIT_SECONDS)
        self._clock = clock

    def refusal(self, request: Request) -> Reply | None:
        """None if the command may run (it is counted); otherwise the answer instead: the notice, or nothing."""
        if is_admin(self._config, request.user_id):
            return None
        now = self._clock()
        wait = self._commands.take(request.user_id, now)
        if wait <= 0:
            return None
        if self._notices.take(request.user_id, now) > 0:
            return reply()
        log.warning("%s", kv(event="commands_limited", user_id=request.user_id, retry_after=math.ceil(wait)))
        return reply(SLOW_DOWN.format(limit=self._per_minute, seconds=math.ceil(wait)))


def _on_message(
    context: CommandContext, run: CommandRun, redact: Callable[[str], str], limit: CommandLimit
) -> Callback:
    async def handle(update: Update, _ptb: ContextTypes.DEFAULT_TYPE) -> None:
        request = _request(update)
        if request is None:
            return
        refusal = limit.refusal(request)
        answer = await _run(context, run, request) if refusal is None else refusal
        await _send(update.get_bot(), request.chat_id, answer, redact)

    return handle


def _on_button(context: CommandContext, redact: Callable[[str], str], limit: CommandLimit) -> Callback:
    async def handle(update: Update, _ptb: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.message is None:
            return
        chat = query.message.chat
        data = query.data or ""
        run = BUTTONS.get(data.split(":", 1)[0])
        request = Request(chat_id=chat.id, user_id=query.from_user.id, chat_type=chat.type, command=BUTTON, args=data)
        if run is None:
            return
        if (refusal := limit.refusal(request)) is not None:
            await _send(update.get_bot(), request.chat_id, refusal, redact)
            return
        answer = await _run(context, run, request)
        try:
            await query.answer(answer.toast or (None if answer.parts else "Already done."))
        except TelegramError as error:  # too late to answer: the press still counted
            log.info("%s", kv(event="callback_answer_failed", reason=str(error)))
        await _send(update.get_bot(), request.chat_id, answer, redact)

    return handle


def _request(update: Update) -> Request | None:
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if message is None or user is None or chat is None:
        return None
    text = message.text or message.caption or ""
    command, args = "", text
    if (match := _COMMAND.fullmatch(text)) is not None:
        command, args = match.group(1).lower()[:64], match.group(2)
    return Request(
        chat_id=chat.id,
        user_id=user.id,
        chat_type=chat.type,
        command=command,
        args=args,
        forwarded=message.forward_origin is not None or bool(message.is_automatic_forward),
        first_name=user.first_name or "",
    )


async def _run(context: CommandContext, run: CommandRun, request: Request) -> Reply:
    """The command in a worker thread; bad input becomes its explanation, a bug a short apology and a log line."""
    try:
        return await context.run(run, request)
    except InputError as error:
        return reply(error.html)
    except Exception:
        log.exception("%s", kv(event="command_failed", command=request.command, user_id=request.user_id))
        return reply("Sorry, something went wrong with that command. It is logged; try again later.")


# --- replies out -----------------------------------------------------------------------------------------


async def _send(bot: Bot, chat_id: int, answer: Reply, redact: Callable[[str], str]) -> None:
    messages = _messages(answer, redact)
    keyboard = (
        InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data) for label, data in answer.buttons]])
        if answer.buttons
        else None
    )
    for index, html in enumerate(messages):
        await _send_one(bot, chat_id, html, keyboard if index == len(messages) - 1 else None)


def _messages(answer: Reply, redact: Callable[[str], str]) -> list[str]:
    """Each part redacted, validated and split into messages of at most 4096 visible characters."""
    messages: list[str] = []
    for part in answer.parts:
        html = redact(part)
        try:
            messages += telegram_html.split(html)
        except ValueError as error:  # a bug in a command's HTML: send it as plain text rather than nothing
            log.error("%s", kv(event="reply_invalid_html", reason=str(error)))
            messages += telegram_html.split(telegram_html.escape(html))
    return messages


async def _send_one(bot: Bot, chat_id: int, html: str, keyboard: InlineKeyboardMarkup | None) -> None:
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            await bot.send_message(
                chat_id,
                html,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
            return
        except RetryAfter as error:
            wait = retry_seconds(error)
            if attempt == SEND_ATTEMPTS or wait > MAX_RETRY_WAIT_SECONDS:
                log.warning("%s", kv(event="reply_dropped", chat_id=chat_id, reason="rate limited", retry_after=wait))
                return
            await asyncio.sleep(wait)
        except TelegramError as error:
            log.warning("%s", kv(event="reply_failed", chat_id=chat_id, reason=str(error)))
            return
