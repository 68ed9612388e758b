"""Sends the messages to admins that jobs left in the store (`bot.store.notices`): alerts, approval previews.

    sent = await deliver_notices(bot, store, clock)

`newsbot run` calls it from the chat commands' loop about once a second; `newsbot once` once at the end of its
cycle. A notice is marked sent only after Telegram accepted it, so a crash re-sends at most the one in flight.
An admin Telegram refuses to reach (blocked the bot, never opened a chat with it) is given up on for that notice,
with a log line saying what to do; a "retry after" ends the pass and the rest waits for the next one.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Final, Protocol

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.clock import Clock
from bot.config import TelegramConfig
from bot.logs import kv
from bot.publishers.telegram import retry_seconds
from bot.publishers.telegram_bot import telegram_bot
from bot.store import Lease, Notice, worker_id

__all__ = ["NoticeStore", "deliver_notices", "deliver_now"]

log = logging.getLogger("newsbot.notices")

NOTICES_PER_PASS: Final = 30  # Telegram allows 30 messages a second overall
MAX_WAIT_SECONDS: Final = 5.0  # a "retry after" waited out within a pass; longer ones end the pass
_UNCHANGED: Final = "message is not modified"  # an edit to the text it already has: done


class NoticeStore(Protocol):
    def unsent_notices(self, limit: int = 50) -> list[Notice]: ...
    def claim_notices(self, limit: int, now: datetime, lease: Lease) -> list[Notice]: ...
    def release_leases(self, worker: str) -> int: ...
    def notice_sent(self, notice_id: int, message_id: int | None, now: datetime) -> None: ...
    def notice_failed(self, notice_id: int, reason: str, now: datetime) -> None: ...


async def deliver_notices(bot: Bot, store: NoticeStore, clock: Clock, lease: Lease | None = None) -> int:
    """Send (or edit) what waits, oldest first; returns how many went out. Never raises a Telegram error.

    The notices are claimed with `lease` (the worker's: with several workers each notice goes out once); what a
    pass claimed and left is claimed again by the same worker's next pass, or by another once the lease ran out."""
    sent = 0
    for notice in store.claim_notices(NOTICES_PER_PASS, clock(), lease or Lease(worker_id())):
        try:
            message_id = await _deliver_waiting_briefly(bot, notice)
        except RetryAfter:
            break  # a long wait: the rest goes in a later pass
        except (Forbidden, BadRequest) as error:
            if _UNCHANGED in str(error).lower():  # the message stays what it was: a later edit edits it
                store.notice_sent(notice.id, notice.replaced_message_id, clock())
                continue
            log.warning(
                "%s",
                kv(
                    event="notice_undeliverable",
                    chat_id=notice.chat_id,
                    reason=str(error),
                    help="the admin must open a private chat with the bot and press Start",
                ),
            )
            store.notice_failed(notice.id, str(error), clock())
            continue
        except NetworkError as error:  # Telegram unreachable: try again next pass
            log.info("%s", kv(event="notice_deferred", chat_id=notice.chat_id, reason=str(error)))
            break
        except TelegramError as error:
            store.notice_failed(notice.id, str(error), clock())
            continue
        store.notice_sent(notice.id, message_id, clock())
        sent += 1
    return sent


async def _deliver_waiting_briefly(bot: Bot, notice: Notice) -> int | None:
    """`_deliver`, after waiting out a "retry after" of up to MAX_WAIT_SECONDS (Telegram's 1 message a second
    per chat); a longer one is raised."""
    try:
        return await _deliver(bot, notice)
    except RetryAfter as error:
        wait = retry_seconds(error)
        if wait > MAX_WAIT_SECONDS:
            raise
        await asyncio.sleep(wait)
        return await _deliver(bot, notice)


async def _deliver(bot: Bot, notice: Notice) -> int | None:
    keyboard = (
        InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data)] for label, data in notice.buttons])
        if notice.buttons
        else None
    )
    if notice.replaces is not None:
        if notice.replaced_message_id is None:  # the original never reached the admin: send this one instead
            return await _send(bot, notice, keyboard)
        await bot.edit_message_text(
            notice.text,
            chat_id=notice.chat_id,
            message_id=notice.replaced_message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=keyboard,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
        return notice.replaced_message_id
    return await _send(bot, notice, keyboard)


async def _send(bot: Bot, notice: Notice, keyboard: InlineKeyboardMarkup | None) -> int:
    message = await bot.send_message(
        notice.chat_id,
        notice.text,
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )
    return message.message_id


def deliver_now(config: TelegramConfig, token: str, store: NoticeStore, clock: Clock) -> int:
    """One pass with a bot of its own, for `newsbot once` (no chat commands run there); 0 if nothing waits."""
    if not store.unsent_notices(1):
        return 0
    lease = Lease(worker_id())

    async def one_pass() -> int:
        async with telegram_bot(config, token, pool_size=1) as bot:
            return await deliver_notices(bot, store, clock, lease)

    try:
        return asyncio.run(one_pass())
    except TelegramError as error:  # the bot could not start (token refused, Telegram unreachable): next time
        log.warning("%s", kv(event="notices_deferred", reason=str(error)))
        return 0
    finally:  # what this pass claimed and left waits for the next pass, whichever worker makes it
        store.release_leases(lease.worker)
