"""How a sign-up for the email digest is recorded and limited: one rule for the web form and the /email command.

- An address that already gets the digest is not recorded again: whoever asks must not change its name or
  hashtags. The caller mails it a note with its settings link instead of a confirmation link.
- Each request is kept on its own (`SignUpStore.add_sign_up_request`) and its confirmation link names it, so a
  link confirms exactly what its own mail said: never what a stranger who knows the address typed before or
  since, and a reader who asks again with other hashtags gets those from the newer link.
- A mailbox gets at most `[web] subscribe_per_hour` of these mails in any hour. The count lives in the state file,
  so the form and /email share it, in `newsbot run` and in a separate `newsbot web` alike. The mailbox is the
  address without a `+tag` in its local part: `victim+1@example.org` and `victim+2@example.org` count as one.

Callers answer the same whether the address was new, pending or subscribed, so nobody learns from the answer
whether an address subscribes (the web form answers a mailbox's limit with 429, /email not even that: the limit
is the same for every address, so neither says anything about it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol

from bot.email.tokens import PURPOSES
from bot.errors import NewsbotError
from bot.store import EmailSubscriber

__all__ = [
    "MAILBOX_LIMIT",
    "RATE_WINDOW",
    "ConfirmEmail",
    "MailboxLimited",
    "Recorded",
    "SignUp",
    "SignUpStore",
    "mailbox_key",
    "record_sign_up",
]

RATE_WINDOW: Final = timedelta(hours=1)
MAILBOX_LIMIT: Final = "confirmation mail"  # the store's rate_events kind: sign-up mails per mailbox
_CONFIRM_LINK_LIFETIME: Final = PURPOSES["confirm"]


@dataclass(frozen=True, slots=True)
class SignUp:
    """What someone asked for; every field already passed its rule in bot.addresses / the hashtag parser."""

    address: str
    name: str = ""
    hashtags: tuple[str, ...] = ()
    linked_chat: str = ""  # the Telegram chat that sent /email


@dataclass(frozen=True, slots=True)
class Recorded:
    """What `record_sign_up` did: `request_id` for a sign-up to confirm, None when the address already subscribes."""

    subscriber: EmailSubscriber
    request_id: int | None


class MailboxLimited(NewsbotError):
    """The mailbox had its sign-up mails for this hour; nothing was recorded or sent."""

    def __init__(self, retry_after: timedelta) -> None:
        super().__init__(f"this mailbox had its sign-up mails for the hour; try again in {retry_after}")
        self.retry_after = retry_after


def mailbox_key(address: str) -> str:
    """The key of the per-mailbox limit: the address lower-cased, without a `+tag` in the local part."""
    local, _, domain = address.lower().rpartition("@")
    return f"{local.split('+', 1)[0] or local}@{domain}"


class SignUpStore(Protocol):
    """What recording a sign-up needs of the store (`bot.store.Store` is one)."""

    def transaction(self) -> AbstractContextManager[None]: ...
    def take_rate_slot(self, kind: str, key: str, now: datetime, *, limit: int, window: timedelta) -> timedelta: ...
    def email_subscriber(self, address: str) -> EmailSubscriber | None: ...
    def request_email_subscription(
        self,
        address: str,
        tags: Iterable[str],
        now: datetime,
        *,
        name: str = "",
        linked_chat: str = "",
        keep_pending_since: datetime | None = None,
    ) -> EmailSubscriber: ...
    def add_sign_up_request(
        self,
        address: str,
        tags: Sequence[str],
        now: datetime,
        *,
        name: str = "",
        linked_chat: str = "",
        forget_before: datetime,
    ) -> int: ...


# Records a sign-up and mails what `record_sign_up` decides (the /email command's view of it); raises
# MailboxLimited, or whatever the mailer raises.
ConfirmEmail = Callable[[SignUpStore, SignUp, datetime], None]


def record_sign_up(store: SignUpStore, sign_up: SignUp, now: datetime, *, per_hour: int) -> Recorded:
    """Count one mail to the mailbox and record `sign_up`: what the mail about it is to say.

    An active subscriber means "already subscribed": mail the note with the settings link, not a confirm link.
    Raises MailboxLimited, recording nothing, when the mailbox had `per_hour` mails in the last hour.
    """
    wait = store.take_rate_slot(MAILBOX_LIMIT, mailbox_key(sign_up.address), now, limit=per_hour, window=RATE_WINDOW)
    if wait:
        raise MailboxLimited(wait)
    current = store.email_subscriber(sign_up.address)
    if current is not None and current.active:
        return Recorded(current, None)
    assert _CONFIRM_LINK_LIFETIME is not None
    links_sent_since = now - _CONFIRM_LINK_LIFETIME
    with store.transaction():
        subscriber = store.request_email_subscription(
            sign_up.address,
            sign_up.hashtags,
            now,
            name=sign_up.name,
            linked_chat=sign_up.linked_chat,
            keep_pending_since=links_sent_since,
        )
        request_id = store.add_sign_up_request(
            sign_up.address,
            sign_up.hashtags,
            now,
            name=sign_up.name,
            linked_chat=sign_up.linked_chat,
            forget_before=links_sent_since,
        )
    return Recorded(subscriber, request_id)
