"""Health alerts: when something needs an admin, each admin gets one Telegram message, and one when it works again.

    alerts.source_failed(store, config, source, state, now)     # from polling, after each failed poll
    alerts.source_works(store, config, source_name, now)         # a successful poll that ended a run of failures
    alerts.channel_refused(store, config, channel, reason, now)  # a channel's server refused its credentials
    alerts.channel_works(store, config, channel, now)            # that channel sent something again
    alerts.digest_batch(store, config, channel, batch, now)      # after each digest batch: bounces, SMTP login

Each problem is an incident in the state file (`bot.store.incidents`), keyed by what it is about; opening one that
is open already does nothing, so a source failing every poll, or a restart, tells nobody twice. Opening and
closing queue one notice per admin in `[telegram] admins` who has not turned alerts off (/alerts off); the chat
bot sends them (`bot.commands.notices`). Thresholds come from `[alerts]`. Every message says what is wrong, since
when (UTC, with the date) and what to do; names and error texts are escaped (they may come from anyone's feed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol

from bot.config import Config, SourceConfig
from bot.store import Incident, SourceState
from bot.telegram_html import escape
from bot.urls import redact_url, redact_urls_in

__all__ = [
    "DIGEST_KEY",
    "AlertStore",
    "DigestBatch",
    "channel_key",
    "channel_refused",
    "channel_works",
    "digest_batch",
    "forget_gone_sources",
    "source_failed",
    "source_fix",
    "source_key",
    "source_works",
    "when",
]

DIGEST_KEY: Final = "digest"
_SOURCE_PREFIX: Final = "source:"
ERROR_CHARS: Final = 300  # of an error text shown in an alert


class AlertStore(Protocol):
    """What alerting needs of the store (`bot.store.Store` is one)."""

    def transaction(self) -> AbstractContextManager[None]: ...
    def open_incident(self, key: str, what: str, now: datetime) -> bool: ...
    def close_incident(self, key: str, now: datetime) -> Incident | None: ...
    def alerts_off(self) -> set[int]: ...
    def add_notice(
        self,
        chat_id: int,
        text: str,
        now: datetime,
        *,
        buttons: Sequence[tuple[str, str]] = (),
        replaces: int | None = None,
    ) -> int: ...


class IncidentList(Protocol):
    def open_incidents(self) -> list[Incident]: ...
    def close_incident(self, key: str, now: datetime) -> Incident | None: ...


@dataclass(frozen=True, slots=True)
class DigestBatch:
    """What one digest batch did: mails sent, bounced, tried in all, and why it stopped ("" if it did not)."""

    sent: int
    bounced: int
    tried: int
    refused: str = ""  # the SMTP server refused the credentials


def source_key(name: str) -> str:
    return f"{_SOURCE_PREFIX}{name}"


def channel_key(channel: str) -> str:
    return f"channel:{channel}"


def when(moment: datetime) -> str:
    """A time as alerts show it: UTC, with the date."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


# --- sources -----------------------------------------------------------------------------------------------


def source_failed(store: AlertStore, config: Config, source: SourceConfig, state: SourceState, now: datetime) -> None:
    """After a failed poll (`state` as saved): once `[alerts] source_failures` polls in a row failed, alert."""
    if state.failures < config.alerts.source_failures:
        return
    error = redact_urls_in(state.last_error)[:ERROR_CHARS]
    last_worked = when(state.last_success) if state.last_success else "never"
    check, remedy = source_fix(config, source.name, source.url)
    text = (
        f"⚠️ <b>Source {escape(source.name)} is failing</b>\n"
        f"Since {when(now)}: {state.failures} polls in a row failed (it last worked: {last_worked}).\n"
        f"Last error: {escape(error)}\n"
        f"What to do: check the URL with <code>{escape(check)}</code>, {escape(remedy)}. I poll it less often"
        " meanwhile, and say so here when it works again."
    )
    _open(store, config, source_key(source.name), f"source {source.name}: {error}", text, now)


def source_fix(config: Config, name: str, url: str) -> tuple[str, str]:
    """What to do about a failing source, in plain text: the command that checks its URL, and the other way out."""
    check = f"newsbot preview {redact_url(url)} --channel telegram"
    if name in {s.name for s in config.sources}:
        return check, f"or remove it from {config.path or 'the config file'} and restart newsbot"
    return check, f"or /removesource {name} if it is gone"


def forget_gone_sources(store: IncidentList, known: set[str], now: datetime) -> None:
    """Close, without a message, the incidents of sources no longer configured or added (nothing left to fail)."""
    for incident in store.open_incidents():
        if incident.key.startswith(_SOURCE_PREFIX) and incident.key[len(_SOURCE_PREFIX) :] not in known:
            store.close_incident(incident.key, now)


def source_works(store: AlertStore, config: Config, name: str, now: datetime) -> None:
    """After a successful poll that ended a run of failures: close its incident, if there was one."""
    _close(store, config, source_key(name), now, lambda since: f"✅ <b>Source {escape(name)} works again</b>{since}")


# --- channels ----------------------------------------------------------------------------------------------


def channel_refused(store: AlertStore, config: Config, channel: str, reason: str, now: datetime) -> None:
    """A channel's server refused to take its posts (credentials refused, or no right to post where it is told
    to, such as a channel the bot is not an admin of or a forum topic that does not exist): the channel stopped
    until that is fixed. `reason` says which, and how to fix it."""
    names = config.secret_env_names().get(channel, ())
    variables = ", ".join(f"<code>{escape(name)}</code>" for name in names) or "its credentials"
    text = (
        f"⛔ <b>{escape(channel)} stopped: its posts were refused</b>\n"
        f"Since {when(now)}: {escape(redact_urls_in(reason)[:ERROR_CHARS])}\n"
        f"What to do: fix what that says (the credentials in {variables} in newsbot's environment, or where and"
        " with which rights the account posts), then restart newsbot. Nothing is lost: the queue waits and goes"
        " out after the restart."
    )
    _open(store, config, channel_key(channel), f"{channel}: credentials refused", text, now)


def channel_works(store: AlertStore, config: Config, channel: str, now: datetime) -> None:
    """The channel sent something: close its incident, if there was one."""
    _close(store, config, channel_key(channel), now, lambda since: f"✅ <b>{escape(channel)} sends again</b>{since}")


# --- the digest --------------------------------------------------------------------------------------------


def digest_batch(store: AlertStore, config: Config, channel: str, batch: DigestBatch, now: datetime) -> None:
    """After a digest batch: alert when more than `[alerts] bounce_rate` of it bounced, or the SMTP login was
    refused; close those when a later batch is under the rate, or sent anything."""
    if batch.refused:
        channel_refused(store, config, channel, batch.refused, now)
    elif batch.sent:
        channel_works(store, config, channel, now)
    if not batch.tried:
        return
    rate, limit = batch.bounced / batch.tried, config.alerts.bounce_rate
    shares = f"{batch.bounced} of {batch.tried}"
    if rate <= limit:
        back = f"✅ <b>Digest bounces are back within {_percent(limit)}</b> (the latest batch: {shares} bounced)"
        _close(store, config, DIGEST_KEY, now, lambda since: back + since)
        return
    text = (
        f"📭 <b>{_percent(rate)} of the digest bounced</b>\n"
        f"Since {when(now)}: {shares} mails of the batch bounced ([alerts] bounce_rate is {_percent(limit)});"
        " those subscribers were deactivated.\n"
        "What to do: check the list for old or mistyped addresses (<code>newsbot subscribers export --channel"
        " email</code>), and the SMTP relay's bounce reasons (the log has each: <code>event=digest_bounced</code>)."
    )
    _open(store, config, DIGEST_KEY, f"{shares} digest mails bounced", text, now)


def _percent(share: float) -> str:
    """0.05 -> "5%", 0.125 -> "12.5%"."""
    return f"{share:.1%}".replace(".0%", "%")


# --- telling the admins ------------------------------------------------------------------------------------


def _open(store: AlertStore, config: Config, key: str, what: str, text: str, now: datetime) -> None:
    with store.transaction():  # the incident and its notices land together
        if store.open_incident(key, what, now):
            _tell_admins(store, config, text, now)


def _close(store: AlertStore, config: Config, key: str, now: datetime, words: Callable[[str], str]) -> None:
    with store.transaction():
        incident = store.close_incident(key, now)
        if incident is not None:
            _tell_admins(store, config, words(f"\nOpen since {when(incident.opened_at)}, fixed {when(now)}."), now)


def _tell_admins(store: AlertStore, config: Config, text: str, now: datetime) -> None:
    muted = store.alerts_off()
    for admin in config.telegram.admins:
        if admin not in muted:
            store.add_notice(admin, text, now)
