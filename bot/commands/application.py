"""The python-telegram-bot side of the commands: updates in, `Request`s to the command functions, replies out.

Command functions are synchronous (they use SQLite); each runs in a worker thread so the event loop keeps
polling. PTB handles one update at a time (no `concurrent_updates`), so the store connection is never used by
two commands at once. Every reply is Telegram HTML, checked with `telegram_html`, split at 4096 visible
characters, with the bot token and other configured secrets redacted.
"""

from __future__ import annotations

import asyncio
import logging
import re
import warnings
from collections.abc import Callable, Coroutine
from datetime import timedelta
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
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBDeprecationWarning

from bot import telegram_html
from bot.commands.admin import ADMIN_COMMANDS, broadcast_button
from bot.commands.context import CommandContext, InputError, Reply, Request, reply
from bot.commands.subscriber import SUBSCRIBER_COMMANDS, fallback
from bot.config import Config
from bot.logs import RedactSecrets, kv, secret_values

__all__ = ["ALLOWED_UPDATES", "build_application", "command_menus", "publish_command_menus"]

log = logging.getLogger("newsbot.commands")

ALLOWED_UPDATES: Final = ["message", "callback_query"]  # edits of old commands are not commands
SEND_ATTEMPTS: Final = 3
MAX_RETRY_WAIT_SECONDS: Final = 30.0
_COMMAND: Final = re.compile(r"/([^\s@]*)(?:@\S*)?\s?(.*)", re.DOTALL)

# New messages only: an edited "/pause" is not a new command.
_NEW_MESSAGES: Final = filters.UpdateType.MESSAGE
_PRIVATE_NEW_MESSAGES: Final = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE

CommandRun = Callable[[CommandContext, Request], Reply]
Callback = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


def build_application(config: Config, token: str, context: CommandContext) -> Application[Any, Any, Any, Any, Any, Any]:
    """The bot's chat commands, ready to run (see `CommandRunner`)."""
    application = ApplicationBuilder().token(token).base_url(config.telegram.base_url).build()
    redact = RedactSecrets(
        [token, *secret_values(name for names in config.secret_env_names().values() for name in names)]
    )
    # Forwarded subscriber commands fall through to `fallback`, which says why they are ignored. Admin commands
    # see every new message, so that the admin check refuses (and logs) groups and forwards itself.
    for command in SUBSCRIBER_COMMANDS:
        handler = _on_message(context, command.run, redact.redact)
        application.add_handler(
            CommandHandler(command.name, handler, filters=_PRIVATE_NEW_MESSAGES & ~filters.FORWARDED)
        )
    for command in ADMIN_COMMANDS:
        application.add_handler(
            CommandHandler(command.name, _on_message(context, command.run, redact.redact), filters=_NEW_MESSAGES)
        )
    application.add_handler(CallbackQueryHandler(_on_button(context, redact.redact), pattern=r"^bc:"))
    application.add_handler(MessageHandler(_PRIVATE_NEW_MESSAGES, _on_message(context, fallback, redact.redact)))
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


def _on_message(context: CommandContext, run: CommandRun, redact: Callable[[str], str]) -> Callback:
    async def handle(update: Update, _ptb: ContextTypes.DEFAULT_TYPE) -> None:
        request = _request(update)
        if request is None:
            return
        answer = await _run(context, run, request)
        await _send(update.get_bot(), request.chat_id, answer, redact)

    return handle


def _on_button(context: CommandContext, redact: Callable[[str], str]) -> Callback:
    async def handle(update: Update, _ptb: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.message is None:
            return
        chat = query.message.chat
        request = Request(
            chat_id=chat.id,
            user_id=query.from_user.id,
            chat_type=chat.type,
            command="broadcast-button",
            args=query.data or "",
        )
        answer = await _run(context, broadcast_button, request)
        try:
            await query.answer(None if answer.parts else "Already done.")
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
        return await asyncio.to_thread(run, context, request)
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
            wait = _retry_after_seconds(error)
            if attempt == SEND_ATTEMPTS or wait > MAX_RETRY_WAIT_SECONDS:
                log.warning("%s", kv(event="reply_dropped", chat_id=chat_id, reason="rate limited", retry_after=wait))
                return
            await asyncio.sleep(wait)
        except TelegramError as error:
            log.warning("%s", kv(event="reply_failed", chat_id=chat_id, reason=str(error)))
            return


def _retry_after_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that retry_after becomes a timedelta; both are handled
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
