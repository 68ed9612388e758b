"""The parts every mail of newsbot is made and sent with, built once per process and handed to whoever mails.

`email_parts` builds, from `[email]`, `[web]` and the environment: who the mail is from (`MailIdentity`), the
DKIM key (or none), the signer of the links in the mail (`TokenSigner`), one SMTP sender, which connects on
its first message, and the digest's `[email] connections` (`SmtpConnections`), which a digest batch opens side by
side and closes when it is done (bot.email.connections). The web pages' confirmation mails and the /email chat
command use the one sender, so `newsbot run` holds one SMTP connection between batches and closes it on exit
(`EmailParts.close`: QUIT). All of them take turns from one `SendRate`: `send_rate` is for the server, not per
connection.

The sender is shared between threads (the scheduler's digest, the web server, the chat commands' workers), so
`SharedSender` lets one message through at a time; the send rate counts every message to the one server.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import Config, EmailConfig
from bot.email.identity import DkimKey, MailIdentity, load_dkim_key
from bot.email.tokens import LinkSigning, TokenSigner
from bot.ratelimit import SendRate

if TYPE_CHECKING:
    from email.message import EmailMessage

    from bot.email.delivery import MailSender
    from bot.email.smtp import SmtpSender

__all__ = ["EmailParts", "SharedSender", "SmtpConnections", "email_parts"]


class SharedSender:
    """A MailSender used from several threads: one message (or question) at a time."""

    def __init__(self, sender: MailSender) -> None:
        self._sender = sender
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> str:
        with self._lock:
            return self._sender.send(message)

    def seconds_until_turn(self) -> float:
        with self._lock:
            return self._sender.seconds_until_turn()

    def close(self) -> None:
        with self._lock:
            self._sender.close()


class SmtpOnFirstMail:
    """An SMTP sender made when its first mail goes out: bot.email.smtp loads smtplib and ssl (~15 ms), and most
    `newsbot once` runs mail nothing (the digest's pool opens its connections even then). Nothing connects before
    the first mail either way."""

    def __init__(self, config: EmailConfig, rate: SendRate, username: str, password: str) -> None:
        self._config = config
        self._rate = rate
        self._credentials = (username, password)
        self._smtp: SmtpSender | None = None

    def _sender(self) -> SmtpSender:
        if self._smtp is None:
            from bot.email.smtp import SmtpSender

            username, password = self._credentials
            self._smtp = SmtpSender(self._config, username=username, password=password, rate=self._rate)
        return self._smtp

    def send(self, message: EmailMessage) -> str:
        return self._sender().send(message)

    def seconds_until_turn(self) -> float:
        return self._rate.seconds_until_turn()

    def close(self) -> None:
        if self._smtp is not None:
            self._smtp.close()


class SmtpConnections:
    """The digest's `[email] connections` to the SMTP server (bot.email.connections.MailSenders), on one rate."""

    def __init__(self, config: EmailConfig, rate: SendRate, username: str, password: str) -> None:
        self.count = config.connections
        self._config = config
        self._rate = rate
        self._credentials = (username, password)

    def open(self) -> MailSender:
        username, password = self._credentials
        # No rate of its own: the pool takes each message's turn from the shared rate before it sends.
        return SmtpOnFirstMail(self._config, SendRate(0), username, password)

    def reserve_turn(self) -> float:
        return max(0.0, self._rate.reserve() - self._rate.clock())


@dataclass(frozen=True)
class EmailParts:
    """Built once by `email_parts`; whoever builds it closes it."""

    identity: MailIdentity
    dkim: DkimKey | None
    signer: TokenSigner
    sender: SharedSender
    connections: SmtpConnections

    def send(self, message: EmailMessage) -> None:
        """Send one ready-built mail (a confirmation): the web pages' and /email's `send_mail`."""
        self.sender.send(message)

    def close(self) -> None:
        """QUIT the SMTP connection, if one is open."""
        self.sender.close()


def email_parts(config: Config, environ: Mapping[str, str], signing: LinkSigning) -> EmailParts:
    """The live parts, or a ConfigError that names the setting or variable to fix. Nothing connects yet.

    `signing`: the process's one link signer (bot.email.tokens.link_signing), which the mail's links need."""
    identity = MailIdentity.from_config(config.email)
    dkim = load_dkim_key(config.email, environ, identity)
    signer = signing.signer()
    username, password = environ.get(config.email.username_env, ""), environ.get(config.email.password_env, "")
    rate = SendRate(config.email.send_rate)
    smtp = SmtpOnFirstMail(config.email, rate, username, password)
    connections = SmtpConnections(config.email, rate, username, password)
    return EmailParts(identity, dkim, signer, SharedSender(smtp), connections)
