"""URLs as people may see them: in logs, error messages, `/status` and `/sources`.

A source URL may carry a secret in its user:password part or its query (`?apikey=…`), so what is shown is the
URL without either: `https://user:key@feeds.example.com/rss?apikey=key` → `https://feeds.example.com/rss?…`.
This is the one place that decides it; pure functions, no I/O.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qsl, urlsplit, urlunsplit

__all__ = [
    "DATABASE_SCHEMES",
    "MAX_URL_CHARS",
    "QUERY_MARK",
    "database_url_has_password",
    "database_url_problem",
    "http_url_problem",
    "is_web_url",
    "redact_url",
    "redact_urls_in",
]

MAX_URL_CHARS: Final = 2000  # of a URL a person gives (a source, a page to post)
_SHOWN_URL_CHARS: Final = 60
QUERY_MARK: Final = "…"  # stands for a query that was left out
# Up to whitespace or a quote; closing punctuation at the end belongs to the sentence around it.
_URL_IN_TEXT: Final = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s<>\"']+")
_SENTENCE_PUNCTUATION: Final = ".,;:!?)]"
_USER_INFO: Final = re.compile(r"//[^/?#]*@")


def http_url_problem(url: str) -> str:
    """Why `url` (as a person typed it, trimmed) is not an http(s) URL newsbot can fetch, in words; "" if it is.
    The one rule for URLs given in chat and in the control room."""
    if len(url) > MAX_URL_CHARS:
        return f"That URL is {len(url)} characters long; the limit is {MAX_URL_CHARS}."
    parts = urlsplit(url) if not any(char.isspace() for char in url) else None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        shown = url if len(url) <= _SHOWN_URL_CHARS else url[: _SHOWN_URL_CHARS - 1] + "…"
        return f"“{shown}” is not an http:// or https:// URL."
    return ""


def is_web_url(url: str) -> bool:
    """Whether `url` passes `http_url_problem`: an http(s) URL with a host, no whitespace, at most MAX_URL_CHARS."""
    return not http_url_problem(url)


def redact_url(url: str) -> str:
    """`url` without user:password, without its query (replaced by "…") and without a fragment.

    Text that is not a URL with a host (a path, a file:// URL) comes back unchanged.
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # such as an unclosed "[" in the host: cut the same parts out by hand
        without_user = _USER_INFO.sub("//", url, count=1)
        query_at = without_user.find("?")
        return without_user if query_at < 0 else without_user[:query_at] + "?" + QUERY_MARK
    if not parts.scheme or not parts.netloc:
        return url
    # rpartition, not parts.hostname/port: a malformed port must not stop the redaction.
    host_and_port = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host_and_port, parts.path, QUERY_MARK if parts.query else "", ""))


DATABASE_SCHEMES: Final = ("postgresql", "postgres")  # what libpq takes for a PostgreSQL connection URL
# libpq takes a secret in the query too: postgresql://user@host/db?password=… (sslpassword unlocks the client key).
_SECRET_PARAMETERS: Final = frozenset({"password", "sslpassword"})


def database_url_has_password(url: str) -> bool:
    """Whether a PostgreSQL URL carries a secret: in its user:password part or as a `password=` parameter.
    A URL that cannot be parsed is taken to carry one."""
    try:
        parts = urlsplit(url)
        in_user_info = parts.password is not None
    except ValueError:
        return True
    return in_user_info or any(key in _SECRET_PARAMETERS for key, _ in parse_qsl(parts.query, keep_blank_values=True))


def database_url_problem(url: str, *, in_file: bool) -> str | None:
    """What is wrong with a PostgreSQL state URL, in words for people; None when it is usable.

    A password may come in the URL only from the environment (`in_file` False): secrets never live in the file.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "is not a URL; write it as postgresql://user@host/dbname"
    if parts.scheme not in DATABASE_SCHEMES:
        return "must start with postgresql:// (such as postgresql://newsbot@db.example.net/newsbot)"
    if in_file and database_url_has_password(url):
        return (
            "holds a password; secrets never go in the config file. Put the whole URL in the environment variable"
            " NEWSBOT_DATABASE_URL instead, or keep the login password in PGPASSWORD or ~/.pgpass"
        )
    return None


def redact_urls_in(text: str) -> str:
    """`text` with every URL in it redacted by `redact_url`."""
    return _URL_IN_TEXT.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    found = match.group()
    url = found.rstrip(_SENTENCE_PUNCTUATION)
    return redact_url(url) + found[len(url) :]
