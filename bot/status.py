"""What the admin views read of the state: the sources and where they stand, each channel's state, the next
digest. Chat (/status, bot.commands.admin) and the control room's Overview (bot.control.overview) both call these,
so they say the same thing; each words it for its own medium.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.alerts import source_fix
from bot.channels import REGISTRY
from bot.config import Config
from bot.email.schedule import LAST_DIGEST_KEY, digest_in_use, is_due, next_scheduled
from bot.store import DIGEST_REQUEST_KEY, AddedSource, SourceState, blocked_until_key, from_db_time, unauthorized_key

__all__ = [
    "ChannelStatus",
    "DigestStatus",
    "FailingSource",
    "StatusStore",
    "channel_statuses",
    "digest_status",
    "failing_sources",
    "paused_sources",
    "source_names",
]


class StatusStore(Protocol):
    """What these views read (`bot.store.Store` is one)."""

    def get_meta(self, key: str) -> str | None: ...
    def added_sources(self) -> list[AddedSource]: ...
    def source_state(self, name: str) -> SourceState: ...


def source_names(config: Config, store: StatusStore) -> list[str]:
    """Every source: those of the config file, then those added in chat."""
    return [s.name for s in config.sources] + [s.name for s in store.added_sources()]


def paused_sources(config: Config, store: StatusStore) -> list[str]:
    """The sources an admin paused (/pausesource, the Sources page): not polled until resumed."""
    return [name for name in source_names(config, store) if store.source_state(name).paused]


@dataclass(frozen=True, slots=True)
class FailingSource:
    state: SourceState
    check: str  # the command that checks its URL
    otherwise: str  # the other way out: remove it from the config file, or /removesource


def failing_sources(config: Config, store: StatusStore) -> list[FailingSource]:
    """The sources whose last poll failed, with what to do (the same advice as the health alert)."""
    urls = {s.name: s.url for s in config.sources} | {s.name: s.url for s in store.added_sources()}
    failing = []
    for name, url in urls.items():
        state = store.source_state(name)
        if state.failures:
            failing.append(FailingSource(state, *source_fix(config, name, url)))
    return failing


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    channel: str
    described: str  # the channel as the config names it ("telegram (@news)")
    stopped: str  # why its credentials were refused; "" when they were not
    limited_until: datetime | None  # its rate limit's reset, while it lasts


def channel_statuses(config: Config, store: StatusStore, now: datetime) -> list[ChannelStatus]:
    """Per channel in use: whether it publishes, or what stops it (refused credentials, a rate-limit reset)."""
    statuses = []
    for channel in config.channels_in_use():
        until = from_db_time(store.get_meta(blocked_until_key(channel)))
        statuses.append(
            ChannelStatus(
                channel,
                REGISTRY[channel].described(config),
                store.get_meta(unauthorized_key(channel)) or "",
                until if until is not None and until > now else None,
            )
        )
    return statuses


@dataclass(frozen=True, slots=True)
class DigestStatus:
    in_use: bool  # some route sends to email
    requested: bool  # an admin asked for it (/digest send): it goes out on the next cycle
    due: bool  # its scheduled time passed: it goes out on the next cycle
    next_at: datetime | None  # the next scheduled time otherwise


def digest_status(config: Config, store: StatusStore, now: datetime) -> DigestStatus:
    if not digest_in_use(config):
        return DigestStatus(False, False, False, None)
    requested = bool(store.get_meta(DIGEST_REQUEST_KEY))
    due = is_due(now, from_db_time(store.get_meta(LAST_DIGEST_KEY)), config.email)
    return DigestStatus(True, requested, due, next_scheduled(now, config.email))
