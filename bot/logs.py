"""Logging: one line per event as `event=name key=value ...`, and no secret ever printed.

`setup_logging` installs a filter that replaces the value of every secret environment variable named in the
config with `***`, wherever it appears (library log lines include request URLs, and Telegram's carry the token).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:/@#+")
# Control characters and line breaks a value (a feed's title, a server's error text) may hold are written as escapes,
# so one event stays one line and a carriage return cannot make a terminal show a forged line over it.
_ESCAPED = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, 0x85)} | {
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}
REDACTED = "***"
# Libraries that log every request URL at INFO; their URLs may carry tokens (Telegram puts it in the path).
_CHATTY_LOGGERS = ("httpx", "httpcore", "telegram", "tweepy", "urllib3", "requests_oauthlib", "oauthlib")


def kv(**fields: object) -> str:
    """`key=value` pairs; values with spaces or quotes are quoted so the line stays greppable."""
    parts = []
    for key, value in fields.items():
        text = f"{value:g}" if isinstance(value, float) else str(value)
        if not text or not set(text) <= _SAFE:
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').translate(_ESCAPED) + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = self.redact(record.getMessage())
            record.msg, record.args = message, None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


def secret_values(env_names: Iterable[str]) -> list[str]:
    return [value for name in env_names if (value := os.environ.get(name))]


def setup_logging(verbose: bool, secret_env_names: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(RedactSecrets(secret_values(secret_env_names)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
