"""The publisher registry: channel name -> how to build its publisher. Explicit, no discovery at import time."""

from __future__ import annotations

import os
from collections.abc import Callable

from bot.config import Config
from bot.errors import ConfigError
from bot.publishers.base import Publisher
from bot.publishers.file_sink import FileSink

__all__ = ["REGISTRY", "FileSink", "Publisher", "build_publishers", "require_secret"]


def _telegram(config: Config) -> Publisher:
    from bot.publishers.telegram import TelegramPublisher

    return TelegramPublisher(
        config.telegram,
        token=require_secret(config, "telegram.token_env", config.telegram.token_env),
        max_in_flight=config.telegram.max_in_flight,
        request_timeout=config.telegram.request_timeout,
    )


def _x(config: Config) -> Publisher:
    from bot.publishers.x import XCredentials, XPublisher

    label = str(config.path or "config")
    return XPublisher(config.x, XCredentials.from_environment(config.x, dict(os.environ), label))


# Live publishers, one per channel that publishes item by item. Email is sent by the digest job
# (bot/digest_delivery.py), one message per subscriber, so it has no entry here.
REGISTRY: dict[str, Callable[[Config], Publisher]] = {"telegram": _telegram, "x": _x}


def require_secret(config: Config, key: str, env_name: str) -> str:
    """The value of a secret's environment variable; a clear ConfigError (without any value) if it is unset."""
    value = os.environ.get(env_name, "").strip()
    if not value:
        raise ConfigError(
            f"{config.path or 'config'}: {key}: the environment variable {env_name} is not set;"
            f" export it before starting newsbot (or set [output] dry_run = true)"
        )
    return value


def build_publishers(config: Config) -> dict[str, Publisher]:
    """One publisher per channel in use: the file sink for every channel when `[output] dry_run = true`.

    Email has none: the digest job mails subscribers itself (in a dry run, to `.eml` files)."""
    channels = tuple(c for c in config.channels_in_use() if c != "email")
    if config.output.dry_run:
        return {channel: FileSink(config.output.dir, channel) for channel in channels}
    missing = [c for c in channels if c not in REGISTRY]
    if missing:
        raise ConfigError(
            f"{config.path or 'config'}: output.dry_run: channel(s) {', '.join(missing)} have no live publisher in"
            " this version of newsbot; set [output] dry_run = true to write posts to files instead"
        )
    return {channel: REGISTRY[channel](config) for channel in channels}
