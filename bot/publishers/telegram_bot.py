"""The one place a python-telegram-bot `Bot` is built: the publisher's and the chat commands' alike.

    bot = telegram_bot(config.telegram, token, pool_size=MAX_IN_FLIGHT + 2)
    await bot.initialize()  ...  await bot.shutdown()   # whoever builds one shuts it down

Both get the configured `[telegram] base_url` and `request_timeout` (connect, read, write and waiting for a free
connection); only the connection pool's size is the caller's, since it follows how many requests that part keeps
open at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.config import TelegramConfig

if TYPE_CHECKING:
    from telegram import Bot
    from telegram.request import HTTPXRequest

__all__ = ["telegram_bot"]

# getUpdates is one long poll at a time (only the chat commands poll).
GET_UPDATES_POOL_SIZE = 1


def telegram_bot(config: TelegramConfig, token: str, *, pool_size: int) -> Bot:
    """A Bot for `token` with newsbot's settings and room for `pool_size` requests open at once; not yet initialized.

    One factory, called once per part that talks to Telegram, not one shared Bot: the publisher sends on its own
    event loop (run from the outbox drain's thread), the chat commands on the command runner's loop in another
    thread, and a Bot's httpx.AsyncClient holds connections bound to the loop that opened them, so it must not be
    used from two loops. Each part therefore gets its own Bot, with the same settings, and shuts it down itself
    (the publisher in `close()`, the commands' `Application` when the runner stops).

    A plain `telegram.Bot`, which the chat commands' `Application` accepts too: `ExtBot` would add nothing newsbot
    uses (defaults, arbitrary callback data, a rate limiter) and importing `telegram.ext` for the publisher alone
    costs about 2.5 MB of resident memory.
    """
    from telegram import Bot

    return Bot(
        token,
        base_url=config.base_url,
        request=_request(config, pool_size),
        get_updates_request=_request(config, GET_UPDATES_POOL_SIZE),
    )


def _request(config: TelegramConfig, pool_size: int) -> HTTPXRequest:
    from telegram.request import HTTPXRequest

    timeout = config.request_timeout
    return HTTPXRequest(
        connection_pool_size=pool_size,
        read_timeout=timeout,
        write_timeout=timeout,
        connect_timeout=timeout,
        pool_timeout=timeout,
    )
