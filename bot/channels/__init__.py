"""The channel registry: one `Channel` descriptor per channel, in a fixed order (see `bot.channels.base`).

Explicit, no discovery at import time. Adding a channel: one module here (its descriptor, its text format,
how its publisher is built) and one entry in `REGISTRY`; nothing outside the module branches on its name.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from bot.channels import bluesky, email, mastodon, telegram, x
from bot.channels.base import Channel, PostFormat, SecretNeed, ThreadSettings

__all__ = ["NAMES", "REGISTRY", "Channel", "PostFormat", "SecretNeed", "ThreadSettings", "channel"]

REGISTRY: Final[Mapping[str, Channel]] = MappingProxyType(
    {
        described.name: described
        for described in (telegram.CHANNEL, x.CHANNEL, mastodon.CHANNEL, bluesky.CHANNEL, email.CHANNEL)
    }
)
NAMES: Final = tuple(REGISTRY)


def channel(name: str) -> Channel:
    """The descriptor of channel `name`; ValueError naming the known channels if there is none."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown channel “{name}”: expected one of {', '.join(NAMES)}") from None
