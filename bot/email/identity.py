"""Who newsbot's mail is from and its DKIM key, read and checked from `[email]` and the environment.

Apart from bot.email.message (which builds the mails) so that checking the mail settings at start, as `newsbot
once` does, needs neither the email package's header machinery nor css-inline: those come with the first mail.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Final

from bot.config import EmailConfig
from bot.errors import ConfigError

__all__ = ["DkimKey", "MailIdentity", "load_dkim_key"]

_NOT_SLUG: Final = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class MailIdentity:
    """Who the mail is from, built once from [email]."""

    sender: str  # "Example News <news@example.com>"
    reply_to: str = ""
    list_name: str = "News digest"

    def __post_init__(self) -> None:
        if "@" not in parseaddr(self.sender)[1]:
            raise ValueError(f'[email] sender “{self.sender}” has no address: write it as "Name <news@example.com>"')

    @classmethod
    def from_config(cls, config: EmailConfig) -> MailIdentity:
        try:
            return cls(sender=config.sender, reply_to=config.reply_to, list_name=config.list_name)
        except ValueError as error:
            raise ConfigError(f"[email] sender: {error}") from None

    @property
    def address(self) -> str:
        return parseaddr(self.sender)[1]

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()

    @property
    def list_id(self) -> str:
        """The list's id: its name as a slug under the sender's domain, e.g. `news-digest.example.com`."""
        ascii_name = unicodedata.normalize("NFKD", self.list_name).encode("ascii", "ignore").decode()
        slug = _NOT_SLUG.sub("-", ascii_name.lower()).strip("-") or "digest"
        return f"{slug[:60].strip('-')}.{self.domain}"


@dataclass(frozen=True, slots=True)
class DkimKey:
    selector: str
    domain: str
    private_key: bytes  # PEM

    def __repr__(self) -> str:  # never print the key
        return f"DkimKey(selector={self.selector!r}, domain={self.domain!r}, private_key=***)"


def load_dkim_key(config: EmailConfig, environ: Mapping[str, str], identity: MailIdentity) -> DkimKey | None:
    """The DKIM key from the variable named by `dkim_key_env`, for the domain of the sender `identity`, or None when
    `dkim_selector` is not set."""
    if not config.dkim_selector:
        return None
    name = config.dkim_key_env
    pem = environ.get(name, "").strip()
    if not pem:
        raise ConfigError(
            f"[email] dkim_selector is set but ${name} is empty: put the PEM private key of selector "
            f"“{config.dkim_selector}” in ${name}, or remove dkim_selector to send unsigned."
        )
    if "\n" not in pem:  # a key pasted into a .env file with literal \n
        pem = pem.replace("\\n", "\n")
    key = pem.strip().encode() + b"\n"
    if not _is_pem_private_key(key):
        raise ConfigError(
            f"[email] ${name} does not hold a PEM private key (-----BEGIN PRIVATE KEY----- or "
            "-----BEGIN RSA PRIVATE KEY-----); put the whole PEM file in it."
        )
    return DkimKey(selector=config.dkim_selector, domain=identity.domain, private_key=key)


def _is_pem_private_key(pem: bytes) -> bool:
    from dkim.crypto import UnparsableKeyError, parse_pem_private_key

    try:
        parse_pem_private_key(pem)
    except (UnparsableKeyError, ValueError, IndexError, TypeError):
        return False
    return True
