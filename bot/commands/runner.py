"""Runs the chat commands beside `newsbot run`'s synchronous scheduler: a background thread with its own loop.

    context = open_command_context(config)
    runner = CommandRunner(build_application(config, token, context), config, context)
    runner.start()          # returns once polling has started; raises if the bot cannot start
    ...
    runner.stop(timeout=10)
    context.close()

While it runs it also sends the messages to admins that jobs queued in the store (`bot.commands.notices`),
about once a second. No signal handlers are installed (they belong to the main thread, which owns shutdown).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Final

from telegram.ext import Application

from bot.commands.application import ALLOWED_UPDATES, publish_command_menus
from bot.commands.context import CommandContext
from bot.commands.notices import deliver_notices
from bot.config import Config
from bot.logs import kv
from bot.ratelimit import STOP_CHECK_SECONDS

__all__ = ["CommandRunner"]

log = logging.getLogger("newsbot.commands")

POLL_TIMEOUT_SECONDS: Final = 10  # long polling: Telegram holds getUpdates open this long when idle
NOTICE_CHECK_SECONDS: Final = 1.0  # how often queued admin notices are looked for


class CommandRunner:
    def __init__(
        self, application: Application[Any, Any, Any, Any, Any, Any], config: Config, context: CommandContext
    ) -> None:
        self._application = application
        self._config = config
        self._context = context
        self._thread: threading.Thread | None = None
        self._stop_requested = threading.Event()
        self._ready = threading.Event()
        self._failure: BaseException | None = None

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
        updater = application.updater
        if updater is None:
            raise RuntimeError("the application was built without an updater")
        async with application:
            await publish_command_menus(application.bot, self._config)
            await application.start()
            try:
                await updater.start_polling(timeout=POLL_TIMEOUT_SECONDS, allowed_updates=ALLOWED_UPDATES)
                try:
                    log.info("%s", kv(event="commands_started", bot=application.bot.username))
                    self._ready.set()
                    await self._until_stopped()
                finally:
                    await updater.stop()
            finally:
                await application.stop()
        log.info("%s", kv(event="commands_stopped"))

    async def _until_stopped(self) -> None:
        """Send queued admin notices about once a second until a stop is requested."""
        loop = asyncio.get_running_loop()
        next_check = loop.time()
        while not self._stop_requested.is_set():
            if loop.time() >= next_check:
                try:
                    await deliver_notices(self._application.bot, self._context.store, self._context.clock)
                except Exception:  # a bug or a busy state file: logged, tried again next time
                    log.exception("%s", kv(event="notices_failed"))
                next_check = loop.time() + NOTICE_CHECK_SECONDS
            await asyncio.sleep(STOP_CHECK_SECONDS)
