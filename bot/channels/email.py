"""The email channel: a weekly digest mailed to each confirmed subscriber's mailbox (by the digest job in
bot/email/delivery.py, not item by item by the outbox)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from bot.addresses import InputRuleError, parse_address
from bot.channels.base import Channel, ChannelSettings, PlainText, SecretNeed

if TYPE_CHECKING:
    from bot.config import Config

NAME: Final = "email"


def _settings(config: Config) -> ChannelSettings:
    return config.email


def _secret_needs(config: Config) -> list[SecretNeed]:
    """An SMTP login and DKIM are optional, but a login needs its password and a `dkim_selector` its key; the
    link-signing secret is always needed."""
    email = config.email
    server = "relay" if email.security == "none" else "SMTP server"
    login = SecretNeed(email.username_env, False, f"only if your {server} needs a login")
    password = (
        SecretNeed(email.password_env, True, f"${login.name} is set")
        if login.is_set
        else SecretNeed(email.password_env, False, f"only with ${login.name}")
    )
    dkim = (
        SecretNeed(email.dkim_key_env, True, "[email] dkim_selector is set")
        if email.dkim_selector
        else SecretNeed(email.dkim_key_env, False, "only with [email] dkim_selector")
    )
    return [login, password, dkim, SecretNeed(config.web.secret_key_env, True, "signs the links in the mail")]


def _parse_address(address: str, shown: str) -> str:
    try:
        return parse_address(address)
    except InputRuleError as problem:
        raise ValueError(f"email {shown}: {problem}") from None


CHANNEL: Final = Channel(
    name=NAME,
    recipient_kind="mailbox",
    own_recipient="digest",
    template="email_item.txt.j2",
    default_summary_chars=400,
    post_format=PlainText(),
    limit=None,
    dry_run_extension=".eml",
    settings=_settings,
    secret_needs=_secret_needs,
    csv_columns=("email", "hashtags", "name"),
    parse_csv_address=_parse_address,
    double_opt_in=True,
    scanned_on_delivery=True,
)
