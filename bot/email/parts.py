"""The parts every mail of newsbot is made and sent with, built once per process and handed to whoever mails.

`email_parts` builds, from `[email]`, `[web]` and the environment: who the mail is from (`MailIdentity`), the
DKIM key (or none), the signer of the links in the mail (`TokenSigner`) and one SMTP sender, which connects on
its first message. The digest job, the web pages' confirmation mails and the /email chat command all use these,
so `newsbot run` holds one SMTP connection and closes it on exit (`EmailParts.close`: QUIT).

The sender is shared between threads (the scheduler's digest, the web server, the chat commands' workers), so
`SharedSender` lets one message through at a time; the send rate counts every message to the one server.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage

from bot.config import Config
from bot.email.delivery import MailSender
from bot.email.message import DkimKey, MailIdentity, load_dkim_key
from bot.email.tokens import TokenSigner, signer_from_environment

__all__ = ["EmailParts", "SharedSender", "email_parts"]


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


@dataclass(frozen=True)
class EmailParts:
    """Built once by `email_parts`; whoever builds it closes it."""

    identity: MailIdentity
    dkim: DkimKey | None
    signer: TokenSigner
    sender: SharedSender

    def send(self, message: EmailMessage) -> None:
        """Send one ready-built mail (a confirmation): the web pages' and /email's `send_mail`."""
        self.sender.send(message)

    def close(self) -> None:
        """QUIT the SMTP connection, if one is open."""
        self.sender.close()


def email_parts(config: Config, environ: Mapping[str, str]) -> EmailParts:
    """The live parts, or a ConfigError that names the setting or variable to fix. Nothing connects yet."""
    from bot.email.smtp import SmtpSender

    identity, dkim = MailIdentity.from_config(config.email), load_dkim_key(config.email, environ)
    signer = signer_from_environment(config.web, environ)
    smtp = SmtpSender(
        config.email,
        username=environ.get(config.email.username_env, ""),
        password=environ.get(config.email.password_env, ""),
    )
    return EmailParts(identity, dkim, signer, SharedSender(smtp))
