"""The publisher registry: channel name -> how to build its publisher. Explicit, no discovery at import time."""

from __future__ import annotations

from collections.abc import Callable

from bot.config import Config
from bot.errors import ConfigError
from bot.publishers.base import DigestPublisher, Publisher
from bot.publishers.file_sink import FileSink

__all__ = ["REGISTRY", "DigestPublisher", "FileSink", "Publisher", "build_publishers"]

# Real publishers register here as they are built (Telegram, X, email).
REGISTRY: dict[str, Callable[[Config], Publisher]] = {}


def build_publishers(config: Config) -> dict[str, Publisher]:
    """One publisher per channel in use: the file sink for every channel when `[output] dry_run = true`."""
    channels = config.channels_in_use()
    if config.output.dry_run:
        return {channel: FileSink(config.output.dir, channel) for channel in channels}
    missing = [c for c in channels if c not in REGISTRY]
    if missing:
        raise ConfigError(
            f"{config.path or 'config'}: output.dry_run: channel(s) {', '.join(missing)} have no live publisher in"
            " this version of newsbot; set [output] dry_run = true to write posts to files instead"
        )
    return {channel: REGISTRY[channel](config) for channel in channels}
