"""Who may use the control room: one-time sign-in links, sessions, and the checks on every form.

A sign-in link is `<public_url>/admin/login?token=…`, signed by the mail links' `TokenSigner` for the purpose
"admin-login": it names the admin's Telegram id and a random nonce, and expires after LINK_TTL (10 minutes).
Opening it changes nothing (link previews and mail scanners fetch links); its page's **Sign in** button POSTs it,
which records the nonce (so the link works once) and opens a session, in one transaction.

A session is a random id in the cookie COOKIE_NAME (`HttpOnly`, `SameSite=Strict`, `Path=<public path>/admin`,
`Secure` when `[web] public_url` is https); the state keeps only its SHA-256, with the admin's id, the session's
CSRF token and its end, `[web] admin_session_hours` after signing in. **Sign out** deletes the row. Every request
looks the session up and checks the id is still in `[telegram] admins`, so an admin taken off that list loses
access at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol
from urllib.parse import urlencode, urlsplit

from bot.config import Config
from bot.email.tokens import PURPOSES, BadToken, LinkSigning, TokenSigner
from bot.errors import ConfigError, NewsbotError
from bot.store.admin import AdminSession

__all__ = [
    "COOKIE_NAME",
    "CSRF_FIELD",
    "LINK_TTL",
    "LOGIN_PURPOSE",
    "LoginRefused",
    "NewSession",
    "SessionStore",
    "SignedIn",
    "admin_path",
    "check_link",
    "cookie_settings",
    "csrf_matches",
    "login_link",
    "redeem_login",
    "session_length",
    "sign_in_link",
    "sign_out",
    "signed_in",
]

LOGIN_PURPOSE: Final = "admin-login"
_LINK_TTL = PURPOSES[LOGIN_PURPOSE]
assert _LINK_TTL is not None  # a sign-in link always expires
LINK_TTL: Final[timedelta] = _LINK_TTL
COOKIE_NAME: Final = "newsbot_admin"
CSRF_FIELD: Final = "csrf_token"
_NONCE_BYTES: Final = 16
_SESSION_BYTES: Final = 32
ASK_AGAIN: Final = (
    "Ask for a new link: send /login to the bot in a private chat, "
    'or run "newsbot admin-link --admin YOUR_ID" on the server.'
)


class LoginRefused(NewsbotError):
    """A sign-in link that cannot sign anyone in; `message` tells the person what to do, `status` is the answer."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"sign-in refused: {reason}")
        self.status = status
        self.reason = reason  # for the log
        self.message = message  # for the page


class SessionStore(Protocol):
    """What sign-in needs of the store (`bot.store.Store` is one)."""

    def transaction(self) -> AbstractContextManager[None]: ...
    def open_admin_session(
        self, session_hash: str, admin_id: int, csrf_token: str, now: datetime, expires: datetime
    ) -> None: ...
    def admin_session(self, session_hash: str, now: datetime) -> AdminSession | None: ...
    def end_admin_session(self, session_hash: str) -> None: ...
    def use_admin_login(self, nonce: str, admin_id: int, now: datetime, link_expires: datetime) -> bool: ...
    def forget_expired_admin_rows(self, now: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class NewSession:
    session_id: str  # goes into the cookie, never into the state
    admin_id: int
    expires: datetime


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The admin behind a request's cookie."""

    admin_id: int
    csrf_token: str
    session_hash: str
    notice: str  # the notice left for this page by the last action, shown once


# -- links ----------------------------------------------------------------------------------------


def sign_in_link(config: Config, signing: LinkSigning, admin_id: int, now: datetime) -> str:
    """What /login and `newsbot admin-link` give: `login_link` signed by the mail links' signer (`signing`, the
    process's one, keyed with `$<[web] secret_key_env>`).

    ConfigError, saying what to do, for an id not in `[telegram] admins`, no `[web] public_url`, or no usable
    secret (naming its variable, never its value)."""
    _public_base(config, admin_id)
    return login_link(config, signing.signer(), admin_id, now)


def login_link(config: Config, signer: TokenSigner, admin_id: int, now: datetime) -> str:
    """A one-time sign-in link for `admin_id`; ConfigError for an id not in `[telegram] admins` or no public URL."""
    base = _public_base(config, admin_id)
    token = signer.make(LOGIN_PURPOSE, str(admin_id), now, ttl=LINK_TTL, ref=secrets.token_urlsafe(_NONCE_BYTES))
    return f"{base}/admin/login?{urlencode({'token': token})}"


def _public_base(config: Config, admin_id: int) -> str:
    if admin_id not in config.telegram.admins:
        raise ConfigError(
            f"{admin_id} is not in [telegram] admins; only the admins listed there can sign in to the control room"
        )
    base = config.web.public_url.rstrip("/")
    if not base:
        raise ConfigError(
            "[web] public_url is empty; set it to the address the web pages are reached at, such as "
            "https://news.example.com, so sign-in links to the control room can be built"
        )
    return base


def check_link(config: Config, signer: TokenSigner, token: str, now: datetime) -> tuple[int, str]:
    """The admin id and nonce of a genuine, current sign-in link for an admin; LoginRefused otherwise.

    Reading a link uses nothing up: the sign-in page calls this to say early that a link is no good."""
    admin_id, nonce, _expires = _read_link(config, signer, token, now)
    return admin_id, nonce


def _read_link(config: Config, signer: TokenSigner, token: str, now: datetime) -> tuple[int, str, datetime]:
    """`check_link`, and the link's own expiry."""
    try:
        subject, nonce, expires = signer.read_link(token, LOGIN_PURPOSE, now)
    except BadToken as error:
        if error.reason == "expired":
            expired = f"This sign-in link has expired (links last ten minutes). {ASK_AGAIN}"
            raise LoginRefused(400, "expired", expired) from None
        raise LoginRefused(400, error.reason, f"This is not a valid sign-in link. {ASK_AGAIN}") from None
    if not subject.isdecimal() or not nonce or expires is None:
        raise LoginRefused(400, "no admin or nonce in the token", f"This is not a valid sign-in link. {ASK_AGAIN}")
    admin_id = int(subject)
    if admin_id not in config.telegram.admins:
        raise LoginRefused(
            403,
            "not an admin",
            "This link is for someone who is not an admin of this bot (any more), so it cannot sign in. "
            "Only the Telegram users listed in [telegram] admins can use the control room.",
        )
    return admin_id, nonce, expires


def redeem_login(store: SessionStore, config: Config, signer: TokenSigner, token: str, now: datetime) -> NewSession:
    """Use the sign-in link `token` (once) and open a session; LoginRefused for a bad, expired or used link."""
    admin_id, nonce, link_expires = _read_link(config, signer, token, now)
    session = NewSession(secrets.token_urlsafe(_SESSION_BYTES), admin_id, now + session_length(config))
    with store.transaction():
        store.forget_expired_admin_rows(now)
        # Kept until the link's own expiry, which its issuer's clock set (a worker's clock may run ahead of this
        # server's): forgotten any earlier, the link would work again.
        if not store.use_admin_login(nonce, admin_id, now, link_expires):
            raise LoginRefused(
                400, "used before", f"This sign-in link has been used already; each works once. {ASK_AGAIN}"
            )
        csrf = secrets.token_urlsafe(_SESSION_BYTES)
        store.open_admin_session(_hash(session.session_id), admin_id, csrf, now, session.expires)
    return session


# -- sessions -------------------------------------------------------------------------------------


def session_length(config: Config) -> timedelta:
    return timedelta(hours=config.web.admin_session_hours)


def signed_in(store: SessionStore, config: Config, session_id: str | None, now: datetime) -> SignedIn | None:
    """The admin of the session `session_id` (the cookie), if it is current and its admin still listed."""
    if not session_id:
        return None
    session_hash = _hash(session_id)
    session = store.admin_session(session_hash, now)
    if session is None or session.admin_id not in config.telegram.admins:
        return None
    return SignedIn(session.admin_id, session.csrf_token, session_hash, session.notice)


def sign_out(store: SessionStore, session_hash: str) -> None:
    store.end_admin_session(session_hash)


def csrf_matches(expected: str, given: str) -> bool:
    return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


def admin_path(config: Config) -> str:
    """Where the control room is, as the browser sees it: `[web] public_url`'s path (a proxy's prefix) + /admin."""
    return urlsplit(config.web.public_url).path.rstrip("/") + "/admin"


def cookie_settings(config: Config) -> dict[str, Any]:
    """The session cookie's attributes, for Starlette's `Response.set_cookie` (and `delete_cookie`, minus max_age)."""
    return {
        "key": COOKIE_NAME,
        "max_age": int(session_length(config).total_seconds()),
        "path": admin_path(config),
        "secure": config.web.public_url.lower().startswith("https://"),
        "httponly": True,
        "samesite": "strict",
    }


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()
