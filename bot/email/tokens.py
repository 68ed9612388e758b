"""Signed links: confirm a sign-up, unsubscribe, change preferences (in mail), and click links (bot.clicks).

A token is `PAYLOAD.SIGNATURE`, both URL-safe base64 without padding. The payload is compact JSON holding the
purpose, the address, when the token was issued and when it expires (or null: never). The signature is
HMAC-SHA256 over a version label and the encoded payload, keyed with the secret from the environment variable
named by `[web] secret_key_env`; it is compared in constant time.

Nothing is stored per token, so a token cannot be revoked, only expire: a confirm token used twice confirms
again (harmless), an unsubscribe token works for ever (it must work from an old digest). Changing the secret
invalidates every link already sent, unsubscribe links in old digests included. (The control room's sign-in
links, purpose "admin-login", are also made here; bot.control.auth records their `ref` so each works once.)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Final, NamedTuple

from bot.config import WebConfig
from bot.errors import ConfigError, NewsbotError

__all__ = [
    "MIN_SECRET_BYTES",
    "PURPOSES",
    "BadToken",
    "LinkSigning",
    "TokenSigner",
    "link_signing",
    "signer_from_environment",
]

# purpose -> how long its links stay valid (None: for ever)
PURPOSES: Final[Mapping[str, timedelta | None]] = MappingProxyType(
    {
        "confirm": timedelta(days=7),
        "unsubscribe": None,
        "preferences": timedelta(days=30),
        "admin-login": timedelta(minutes=10),  # bot.control.auth: the "address" is an admin's Telegram id
        "click": None,  # bot.clicks: names an article and a channel, not a person (the "address" is the article key)
    }
)
MIN_SECRET_BYTES: Final = 16
MAX_TOKEN_CHARS: Final = 2048  # an address of 254 characters gives about 450
_VERSION: Final = b"newsbot-link-v1\x00"  # in the MAC input, so these signatures mean nothing elsewhere
_B64: Final = re.compile(r"^[A-Za-z0-9_-]+$")


class BadToken(NewsbotError):
    """A link token that is forged, tampered with, for another purpose, expired or not a token at all."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"bad link token: {reason}")
        self.reason = reason


class TokenSigner:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the signing secret must be at least {MIN_SECRET_BYTES} bytes long")
        self._secret = secret

    def __repr__(self) -> str:
        return "TokenSigner(<secret>)"

    def make(self, purpose: str, address: str, now: datetime, *, ttl: timedelta | None, ref: str = "") -> str:
        """A token for `address` and `purpose`, valid from `now` for `ttl` (None: no expiry).

        `ref` names one record the link is about (a confirm link's sign-up request); `read_with_ref` returns it.
        """
        if purpose not in PURPOSES:
            raise ValueError(f"unknown token purpose {purpose!r}; expected one of {', '.join(PURPOSES)}")
        issued = _epoch(now)
        expires = None if ttl is None else issued + int(ttl.total_seconds())
        body: dict[str, object] = {"p": purpose, "a": address, "i": issued, "e": expires}
        if ref:
            body["r"] = ref
        payload = _encode(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        return f"{payload}.{_encode(self._sign(payload))}"

    def read(self, token: str, purpose: str, now: datetime) -> str:
        """The address `token` was made for; raises BadToken(reason) unless it is genuine, for `purpose` and current."""
        return self.read_with_ref(token, purpose, now)[0]

    def read_with_ref(self, token: str, purpose: str, now: datetime) -> tuple[str, str]:
        """The address and the `ref` ("" if none) `token` was made for; raises BadToken like `read`."""
        address, ref, _expires = self.read_link(token, purpose, now)
        return address, ref

    def read_link(self, token: str, purpose: str, now: datetime) -> tuple[str, str, datetime | None]:
        """The address, the `ref` and the expiry (None: never) of `token`; raises BadToken like `read`.

        The expiry is the token's own, from its issuer's clock: a one-time link is remembered as used until then."""
        payload, signature = _split(token)
        if not hmac.compare_digest(self._sign(payload), signature):
            raise BadToken("the signature does not match")
        claims = _claims(_decode(payload))
        if claims.purpose != purpose:
            raise BadToken(f"made for {claims.purpose!r}, not {purpose!r}")
        if claims.expires is not None and _epoch(now) >= claims.expires:
            raise BadToken("expired")
        expires = None if claims.expires is None else datetime.fromtimestamp(claims.expires, UTC)
        return claims.address, claims.ref, expires

    def _sign(self, payload: str) -> bytes:
        return hmac.new(self._secret, _VERSION + payload.encode("ascii"), hashlib.sha256).digest()


def signer_from_environment(config: WebConfig, environ: Mapping[str, str]) -> TokenSigner:
    """The signer keyed with `$<secret_key_env>`; a ConfigError naming the variable (never its value) if unusable."""
    name = config.secret_key_env
    secret = environ.get(name, "").encode("utf-8")
    fix = (
        f"set ${name} to a long random string, for example the output of "
        "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`, and keep it: changing it breaks every "
        "link already sent"
    )
    if not secret:
        raise ConfigError(f"${name} is not set; the web pages sign the links in mail with it: {fix}")
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(f"${name} is shorter than {MIN_SECRET_BYTES} bytes: {fix}")
    return TokenSigner(secret)


@dataclass(frozen=True, slots=True)
class LinkSigning:
    """The one link signer of a process (`link_signing`), handed to every part that signs or reads links: the
    mail's links, the click links, the control room's sign-in. Without a usable secret, `signer()` raises the
    ConfigError that says what to set, and each part decides what that means for it (the start stops, the control
    room stays off, a dry run's mail shows placeholders)."""

    usable: TokenSigner | None
    problem: str = ""  # why there is none: the ConfigError's message

    def signer(self) -> TokenSigner:
        if self.usable is None:
            raise ConfigError(self.problem)
        return self.usable


def link_signing(config: WebConfig, environ: Mapping[str, str]) -> LinkSigning:
    """The signer keyed with `$<secret_key_env>`, read once; built where the parts of a process are built."""
    try:
        return LinkSigning(signer_from_environment(config, environ))
    except ConfigError as error:
        return LinkSigning(None, str(error))


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the token signer; pass a timezone-aware time")
    return int(moment.timestamp())


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise BadToken("not valid base64") from None


def _split(token: str) -> tuple[str, bytes]:
    if not token:
        raise BadToken("empty")
    if len(token) > MAX_TOKEN_CHARS:
        raise BadToken("too long")
    payload, dot, signature = token.partition(".")
    if not dot or not _B64.match(payload) or not _B64.match(signature):
        raise BadToken("not in the form PAYLOAD.SIGNATURE")
    return payload, _decode(signature)


class _Claims(NamedTuple):
    purpose: str
    address: str
    issued: int
    expires: int | None
    ref: str


def _claims(raw: bytes) -> _Claims:
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadToken("the payload is not JSON") from None
    if not isinstance(body, dict):
        raise BadToken("the payload is not an object")
    purpose, address, issued, expires = body.get("p"), body.get("a"), body.get("i"), body.get("e")
    # type() rather than isinstance(): JSON true/false must not pass as times.
    if not (isinstance(purpose, str) and isinstance(address, str) and type(issued) is int):
        raise BadToken("the payload lacks purpose, address or issue time")
    if expires is not None and type(expires) is not int:
        raise BadToken("the payload's expiry is not a time")
    ref = body.get("r", "")
    if not isinstance(ref, str):
        raise BadToken("the payload's reference is not text")
    return _Claims(purpose, address, issued, expires, ref)
