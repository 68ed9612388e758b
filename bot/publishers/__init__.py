"""Building the publishers: each channel's descriptor (`bot.channels.REGISTRY`) says how to build its own."""

from __future__ import annotations

import os

from bot.channels import REGISTRY
from bot.config import Config
from bot.errors import ConfigError
from bot.publishers.base import Publisher
from bot.publishers.file_sink import FileSink

__all__ = ["FileSink", "Publisher", "build_publishers", "require_secret"]


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
    """One publisher per channel in use that publishes item by item: the file sink for each when
    `[output] dry_run = true`.

    Email has none: the digest job mails subscribers itself (in a dry run, to `.eml` files)."""
    builders = {
        channel: build
        for channel in config.channels_in_use()
        if (build := REGISTRY[channel].build_publisher) is not None
    }
    if config.output.dry_run:
        return {channel: FileSink(config.output.dir, channel) for channel in builders}
    return {channel: build(config) for channel, build in builders.items()}
