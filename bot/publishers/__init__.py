"""Building the publishers: each channel's descriptor (`bot.channels.REGISTRY`) says how to build its own."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from functools import partial

from bot.channels import REGISTRY
from bot.config import Config
from bot.errors import ConfigError
from bot.publishers.base import Publisher
from bot.publishers.file_sink import FileSink

__all__ = ["FileSink", "Publisher", "Publishers", "build_publishers", "require_secret"]


def require_secret(config: Config, key: str, env_name: str) -> str:
    """The value of a secret's environment variable; a clear ConfigError (without any value) if it is unset."""
    value = os.environ.get(env_name, "").strip()
    if not value:
        raise ConfigError(
            f"{config.path or 'config'}: {key}: the environment variable {env_name} is not set;"
            f" export it before starting newsbot (or set [output] dry_run = true)"
        )
    return value


class Publishers(Mapping[str, Publisher]):
    """The publisher of each channel, built the first time it is asked for (`on_built` sees it then). The outbox
    asks only when an article is due on the channel, so a cycle with nothing to send never imports
    python-telegram-bot or tweepy. `close` closes those that were built."""

    def __init__(
        self,
        builders: Mapping[str, Callable[[], Publisher]],
        on_built: Callable[[Publisher], None] = lambda publisher: None,
    ) -> None:
        self._builders = dict(builders)
        self._built: dict[str, Publisher] = {}
        self._on_built = on_built

    @classmethod
    def ready(cls, publishers: Mapping[str, Publisher], on_built: Callable[[Publisher], None]) -> Publishers:
        """Publishers built already (tests hand in their own)."""
        return cls({channel: partial(publishers.__getitem__, channel) for channel in publishers}, on_built)

    def __getitem__(self, channel: str) -> Publisher:
        if channel not in self._built:
            publisher = self._builders[channel]()
            self._on_built(publisher)
            self._built[channel] = publisher
        return self._built[channel]

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)

    def close(self) -> None:
        for publisher in self._built.values():
            publisher.close()


def build_publishers(config: Config, on_built: Callable[[Publisher], None] = lambda publisher: None) -> Publishers:
    """One publisher per channel in use that publishes item by item: the file sink for each when
    `[output] dry_run = true`. Each is built when first used (see `Publishers`); a channel without a secret it
    requires is built at once, so the start stops with its ConfigError that names the variable to set.

    Email has none: the digest job mails subscribers itself (in a dry run, to `.eml` files)."""
    builders = {
        channel: build
        for channel in config.channels_in_use()
        if (build := REGISTRY[channel].build_publisher) is not None
    }
    if config.output.dry_run:
        return Publishers({channel: partial(FileSink, config.output.dir, channel) for channel in builders}, on_built)
    for channel, build in builders.items():
        if any(need.required and not need.is_set for need in REGISTRY[channel].secret_needs(config)):
            build(config)  # raises the channel's ConfigError
    return Publishers({channel: partial(build, config) for channel, build in builders.items()}, on_built)
