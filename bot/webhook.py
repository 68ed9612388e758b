"""The rules for Telegram webhooks (`[telegram] webhook_url`): the secret, the header it comes in, the path.

With a webhook URL, newsbot calls setWebhook with a `secret_token` from NEWSBOT_TELEGRAM_WEBHOOK_SECRET, and
Telegram POSTs each update to that URL with the secret in the X-Telegram-Bot-Api-Secret-Token header; the web
server (bot.server) takes them at the URL's path and hands them to the chat commands (bot.commands.runner).
A request without the right header gets 403 and changes nothing. Without a webhook URL: getUpdates, as before.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from bot.config import Config
from bot.errors import ConfigError

__all__ = [
    "MAX_UPDATE_BYTES",
    "RESERVED_PATHS",
    "SECRET_HEADER",
    "WEBHOOK_SECRET_ENV",
    "NotAnUpdate",
    "Webhook",
    "secret_matches",
    "webhook_from_config",
]

WEBHOOK_SECRET_ENV: Final = "NEWSBOT_TELEGRAM_WEBHOOK_SECRET"
SECRET_HEADER: Final = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE_BYTES: Final = 1_000_000  # an update is a message of at most 4096 characters and its entities
# Telegram's rule for secret_token: 1-256 characters, only these.
_SECRET: Final = re.compile(r"[A-Za-z0-9_-]{1,256}")
# The web server's own pages: a webhook there would hide them.
RESERVED_PATHS: Final = frozenset(
    {"/", "/subscribe", "/confirm", "/unsubscribe", "/preferences", "/healthz", "/readyz", "/metrics", "/admin"}
)


class NotAnUpdate(ValueError):
    """A webhook body that is not a Telegram update: answered 400, nothing changes."""


@dataclass(frozen=True, slots=True)
class Webhook:
    url: str  # the public URL given to setWebhook
    path: str  # where the web server takes the updates
    secret: str  # never logged


def webhook_from_config(config: Config, environ: Mapping[str, str]) -> Webhook | None:
    """The webhook `[telegram] webhook_url` asks for, None without one. Raises ConfigError (without the secret's
    value) when the secret is missing or not one Telegram accepts, or when the path is one of the server's pages."""
    url = config.telegram.webhook_url
    if not url:
        return None
    where = f"{config.path or 'config'}: telegram.webhook_url"
    path = urlsplit(url).path or "/"
    if path.rstrip("/") in RESERVED_PATHS or path == "/" or path.startswith("/admin/"):  # the control room
        raise ConfigError(f"{where}: its path {path} is one of newsbot's own pages; use one such as /telegram/webhook")
    secret = environ.get(WEBHOOK_SECRET_ENV, "")
    if not secret:
        raise ConfigError(
            f"{where}: set the environment variable {WEBHOOK_SECRET_ENV} to a random secret"
            " (1-256 characters of A-Z, a-z, 0-9, _ and -), e.g. from `openssl rand -hex 32`"
        )
    if not _SECRET.fullmatch(secret):
        raise ConfigError(
            f"{where}: {WEBHOOK_SECRET_ENV} must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule);"
            " make a new one, e.g. with `openssl rand -hex 32`"
        )
    return Webhook(url=url, path=path, secret=secret)


def secret_matches(expected: str, given: str | None) -> bool:
    """The header's secret is the webhook's, compared in constant time."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())
