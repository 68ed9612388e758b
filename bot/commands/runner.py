"""Runs the chat commands beside `newsbot run`'s synchronous scheduler: a background thread with its own loop.

    context = open_command_context(config)
    runner = CommandRunner(build_application(config, token, context), config, context)
    runner.start()          # returns once it polls (or stands by for the poller); raises if the bot cannot start
    ...
    runner.stop(timeout=10)
    context.close()

Updates come from getUpdates (long polling; PTB deletes a webhook set earlier when polling starts), or, with a
`webhook` (bot.webhook), from Telegram's POSTs to the web server: `start` then calls setWebhook with the secret
instead of polling, and the server hands each update in with `feed`, from its own thread.

Telegram answers one getUpdates poller at a time (409 Conflict to the others), so with several workers only the
one holding the `updates_lock` (bot.store.UPDATES_LOCK, a PostgreSQL advisory lock on a connection of its own)
polls. The others try it again every few seconds, and one of them starts polling soon after the poller dies (its
connection closes, the lock goes) or stops. On SQLite the one process always holds it.

While it runs it also sends the messages to admins that jobs queued in the store (`bot.commands.notices`),
about once a second. No signal handlers are installed (they belong to the main thread, which owns shutdown).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from telegram import Update
from telegram.ext import Application, Updater

from bot.commands.application import ALLOWED_UPDATES, publish_command_menus
from bot.commands.context import CommandContext
from bot.commands.notices import deliver_notices
from bot.config import Config
from bot.logs import kv
from bot.ratelimit import STOP_CHECK_SECONDS
from bot.store import UPDATES_LOCK, Lease, SenderLocks, worker_id
from bot.webhook import NotAnUpdate, Webhook

__all__ = ["CommandRunner"]

log = logging.getLogger("newsbot.commands")

POLL_TIMEOUT_SECONDS: Final = 10  # long polling: Telegram holds getUpdates open this long when idle
NOTICE_CHECK_SECONDS: Final = 1.0  # how often queued admin notices are looked for
FEED_TIMEOUT_SECONDS: Final = 5.0  # to queue one webhook update on the commands' loop
UPDATES_LOCK_SECONDS: Final = 2.0  # how often a worker that does not poll tries the updates lock (and the poller
# checks it still holds it): another worker polls within about this long after the poller dies


class CommandRunner:
    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        config: Config,
        context: CommandContext,
        *,
        webhook: Webhook | None = None,
        updates_lock: SenderLocks | None = None,
    ) -> None:
        self._application = application
        self._webhook = webhook
        self._updates_lock = updates_lock  # None: this process is the only one, it always polls
        self._loop: asyncio.AbstractEventLoop | None = None
        self._config = config
        self._context = context
        self._thread: threading.Thread | None = None
        self._stop_requested = threading.Event()
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._lease = Lease(worker_id(), config.state.lease_seconds)  # the admin notices this process claims

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 30.0) -> None:
        """Start polling in the background; raise what went wrong if the bot could not start."""
        if self._thread is not None:
            raise RuntimeError("this CommandRunner was already started")
        self._thread = threading.Thread(target=self._run, name="newsbot-commands", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop(timeout)
            raise TimeoutError(f"the Telegram commands did not start within {timeout:g} s")
        if self._failure is not None:
            self._thread.join(timeout)
            raise self._failure

    def feed(self, data: Mapping[str, Any]) -> None:
        """Hand one update from the webhook to the commands (call from any thread); they answer it in their loop.

        Raises NotAnUpdate for a body that is not one, RuntimeError when the commands are not running."""
        loop = self._loop
        if loop is None or not self.running:
            raise RuntimeError("the chat commands are not running")
        if not isinstance(data.get("update_id"), int):
            raise NotAnUpdate("no update_id")
        try:
            update = Update.de_json(dict(data), self._application.bot)
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            raise NotAnUpdate(str(error)) from None
        queued = asyncio.run_coroutine_threadsafe(self._application.update_queue.put(update), loop)
        queued.result(FEED_TIMEOUT_SECONDS)

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop polling and wait for the thread. True if it ended within `timeout` seconds."""
        if self._thread is None:
            return True
        self._stop_requested.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported to start(); the thread must not die silently
            if not self._ready.is_set():
                self._failure = error
                self._ready.set()
            else:
                log.exception("%s", kv(event="commands_crashed"))

    async def _serve(self) -> None:
        application = self._application
        async with application:
            await publish_command_menus(application.bot, self._config)
            await application.start()
            try:
                if self._webhook is not None:
                    await self._take_webhook_updates(self._webhook)
                else:
                    await self._poll_for_updates()
            finally:
                await application.stop()
        log.info("%s", kv(event="commands_stopped"))

    async def _poll_for_updates(self) -> None:
        updater = self._application.updater
        if updater is None:
            raise RuntimeError("the application was built without an updater")

        async def take_turn() -> None:
            await self._poll_while_holding_the_lock(updater)

        try:
            await take_turn()  # the first try raises what is wrong (start() reports it); later ones are logged
            self._started("getUpdates")
            await self._until_stopped(take_turn)
        finally:
            if updater.running:
                await updater.stop()
            if self._updates_lock is not None:
                self._updates_lock.close()  # after the last getUpdates: the next worker may poll now

    async def _poll_while_holding_the_lock(self, updater: Updater) -> None:
        """Start polling when this worker takes the updates lock; stop if it lost it (its connection broke)."""
        locks = self._updates_lock
        holds = True if locks is None else await asyncio.to_thread(locks.holds, UPDATES_LOCK)
        if holds and not updater.running:
            await updater.start_polling(timeout=POLL_TIMEOUT_SECONDS, allowed_updates=ALLOWED_UPDATES)
            if locks is not None:
                log.info("%s", kv(event="updates_polling"))
        elif not holds and updater.running:
            await updater.stop()
            log.warning("%s", kv(event="updates_lost", next_try_seconds=UPDATES_LOCK_SECONDS))

    async def _take_webhook_updates(self, webhook: Webhook) -> None:
        """Tell Telegram where to POST updates; the web server feeds them in. The webhook stays set at stop, so
        Telegram keeps the updates until a worker takes them again."""
        await self._application.bot.set_webhook(
            url=webhook.url, secret_token=webhook.secret, allowed_updates=ALLOWED_UPDATES
        )
        self._loop = asyncio.get_running_loop()
        try:
            self._started("webhook")
            await self._until_stopped()
        finally:
            self._loop = None

    def _started(self, updates: str) -> None:
        log.info("%s", kv(event="commands_started", bot=self._application.bot.username, updates=updates))
        self._ready.set()

    async def _until_stopped(self, take_turn: Callable[[], Awaitable[None]] | None = None) -> None:
        """Send queued admin notices about once a second, and call `take_turn` (the updates lock) every
        UPDATES_LOCK_SECONDS, until a stop is requested."""
        loop = asyncio.get_running_loop()
        next_check = loop.time()
        next_turn = loop.time() + UPDATES_LOCK_SECONDS
        while not self._stop_requested.is_set():
            if take_turn is not None and loop.time() >= next_turn:
                try:
                    await take_turn()
                except Exception:  # Telegram or the state unreachable: tried again next time
                    log.exception("%s", kv(event="updates_lock_failed"))
                next_turn = loop.time() + UPDATES_LOCK_SECONDS
            if loop.time() >= next_check:
                try:
                    await deliver_notices(self._application.bot, self._context.store, self._context.clock, self._lease)
                except Exception:  # a bug or a busy state file: logged, tried again next time
                    log.exception("%s", kv(event="notices_failed"))
                next_check = loop.time() + NOTICE_CHECK_SECONDS
            await asyncio.sleep(STOP_CHECK_SECONDS)
