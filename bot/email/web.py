"""The small web app for the email digest: sign up (double opt-in), confirm, unsubscribe, change hashtags.

Routes (every page from templates/web/*.html.j2, autoescaped, no JavaScript):
    GET  /, /subscribe           the sign-up form
    POST /subscribe              record a sign-up awaiting confirmation and mail the confirm link; the answer is the
                                 same whether or not the address already subscribes, so the form cannot probe it.
                                 How a sign-up is recorded and limited per mailbox is bot.email.signups, shared
                                 with /email
    GET  /confirm?token=         a page with one "Confirm my subscription" button (the link in the confirmation mail);
                                 never changes anything, since mail scanners open every link in a mail
    POST /confirm?token=         confirm the sign-up
    GET  /unsubscribe?token=     a page with one button; never changes anything (mail scanners follow links)
    POST /unsubscribe?token=     unsubscribe at once; also RFC 8058 one-click (body List-Unsubscribe=One-Click)
    GET  /preferences?token=     the subscriber's hashtags in a form
    POST /preferences?token=     replace them
    GET  /healthz                "ok"

The signed token (bot.email.tokens) is the only authority for confirm, unsubscribe and preferences, so those POSTs need
no CSRF token (and the RFC 8058 one-click POST comes from mail providers, without an Origin). The sign-up form has
no token, so a browser's word decides: a POST whose `Sec-Fetch-Site` is cross-site or same-site, or whose `Origin`
is neither `[web] public_url` nor the request's own host, gets 403 and sends nothing. A bad, expired or misused
token gets a 400 page and changes nothing. A good token whose work is done (confirmed already, unsubscribed since)
gets a page that says so and what to do next.

Hashtags: the forms offer the hashtags of the digest's articles of the last 30 days as checkboxes, next to a text
field for others. A chosen hashtag that articles of the last year carried is saved in the spelling first seen
(`technews` becomes `TechNews`); one that none carried is kept as typed, with a note on the next page that it
matches nothing yet. Every text field has a `maxlength`, so a browser cannot send more than `MAX_BODY_BYTES`.

Rate limits, over a sliding hour: `[web] subscribe_per_hour` accepted sign-ups per client IP (a form with a
mistake does not count; any POST counts towards a cap FLOOD_FACTOR times larger), kept in memory per process so
visitors' IPs are never written down; and as many mails per mailbox, kept in the state file (bot.email.signups). The
client IP is the socket's peer; for IPv6 its /64. Behind a reverse proxy every request comes from the proxy: set
`[web] forwarded_allow_ips` to the proxy's address so uvicorn takes the client's from X-Forwarded-For, and only
then: trusting that header from anyone would let a client pick its own IP. It is empty (off) by default.

The server (`build_server`) bounds what one client can hold: REQUEST_TIMEOUT_SECONDS to send each request, head
and body (uvicorn has no such timeout, so `_DeadlineProtocol` adds it), KEEP_ALIVE_SECONDS idle between requests,
MAX_HEAD_BYTES of request head, MAX_CONNECTIONS at once (more get 503).

The store: one `PagesStore` (from `store_factory`) for the app's lifetime, opened in the lifespan and closed at
shutdown. The endpoints are `async def` and call it synchronously on the event loop, so only one request uses the
connection at a time and no lock is needed; each call is a short SQLite statement, fine at this scale. Sending
mail can take seconds, so `send_mail` runs in the thread pool.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, ClassVar, Final, Protocol, TypeVar
from urllib.parse import urlencode, urlsplit

import h11
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.addresses import MAX_ADDRESS_CHARS, MAX_NAME_CHARS, InputRuleError, parse_address, parse_display_name
from bot.clock import utc_now
from bot.config import Config
from bot.email.message import (
    CONFIRM_BUTTON,
    DkimKey,
    MailIdentity,
    build_already_subscribed_message,
    build_confirmation_message,
)
from bot.email.parts import EmailParts
from bot.email.signups import (
    RATE_WINDOW,
    ConfirmEmail,
    MailboxLimited,
    Recorded,
    SignUp,
    SignUpStore,
    record_sign_up,
)
from bot.email.tokens import PURPOSES, BadToken, TokenSigner
from bot.errors import ConfigError
from bot.hashtags import is_accepted_tag
from bot.hashtags import normalize as normalize_tag
from bot.hashtags import parse_hashtags as parse_typed_tags
from bot.logs import kv
from bot.ratelimit import PerKeyLimit
from bot.render import build_environment
from bot.slash_redirects import relative_slash_redirects
from bot.store import AWAITING_CONFIRMATION, EMAIL, EmailSubscriber, SignUpRequest, open_store

__all__ = [
    "FLOOD_FACTOR",
    "KEEP_ALIVE_SECONDS",
    "MAX_BODY_BYTES",
    "MAX_CONNECTIONS",
    "MAX_HEAD_BYTES",
    "REQUEST_TIMEOUT_SECONDS",
    "SECURITY_HEADERS",
    "ConfirmationRequest",
    "FormError",
    "Guard",
    "MakeConfirmation",
    "PagesStore",
    "SendMail",
    "app_from_config",
    "build_app",
    "build_server",
    "confirm_url",
    "confirmation_mail",
    "cross_site",
    "email_confirmer",
    "parse_address",
    "parse_hashtags",
    "preferences_url",
    "serve",
    "start_in_thread",
    "unsubscribe_url",
]

log = logging.getLogger("newsbot")

MAX_BODY_BYTES: Final = 10_000  # a form body larger than this gets 413
FLOOD_FACTOR: Final = 10  # sign-up POSTs of any kind per IP and hour, as a multiple of [web] subscribe_per_hour
REQUEST_TIMEOUT_SECONDS: Final = 10.0  # to send one whole request, head and body
KEEP_ALIVE_SECONDS: Final = 5  # an idle connection between requests
MAX_HEAD_BYTES: Final = 16 * 1024  # request line and headers; a signed link is about 500 bytes
MAX_CONNECTIONS: Final = 100  # open at once; a proxy in front pools its own
SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",  # pages carry signed links; keep them out of shared caches
}
ONE_CLICK_FIELD: Final = "List-Unsubscribe"
ONE_CLICK_VALUE: Final = "One-Click"

_MIN_SIMILAR_CHARS: Final = 3  # "#ai" may hint at "#AIRegulation"; "#a" would hint at half of all hashtags

# The hashtags offered as checkboxes: the most used of the digest's articles in the last SUGGESTION_DAYS. A typed
# hashtag takes the spelling of one seen in the last KNOWN_TAG_DAYS, and gets a note when none matches.
SUGGESTED_TAGS: Final = 30
SUGGESTION_DAYS: Final = 30
KNOWN_TAG_DAYS: Final = 365
# The largest form a browser can send stays under MAX_BODY_BYTES: each text field has a maxlength (a character is
# at most 9 bytes once percent-encoded) and the checkboxes together may take SUGGESTION_BYTES.
MAX_HASHTAGS_FIELD_CHARS: Final = 500
SUGGESTION_BYTES: Final = 2000

SendMail = Callable[[EmailMessage], None]
_Value = TypeVar("_Value")


@dataclass(frozen=True, slots=True)
class ConfirmationRequest:
    """What the double opt-in mail says: confirm with `link`, or, when already subscribed, change preferences."""

    to: str
    name: str
    hashtags: tuple[str, ...]
    link: str  # the confirm URL; the preferences URL when `already_subscribed`
    already_subscribed: bool
    now: datetime


MakeConfirmation = Callable[[ConfirmationRequest], EmailMessage]


# -- links ----------------------------------------------------------------------------------------


def confirm_url(config: Config, signer: TokenSigner, address: str, now: datetime, *, request_id: int = 0) -> str:
    """The link that confirms sign-up request `request_id` (0: whatever the store holds for `address`)."""
    return _link(config, signer, "confirm", address, now, ref=str(request_id or ""))


def unsubscribe_url(config: Config, signer: TokenSigner, address: str, now: datetime) -> str:
    """The link for the List-Unsubscribe header and the digest's footer; it never expires."""
    return _link(config, signer, "unsubscribe", address, now)


def preferences_url(config: Config, signer: TokenSigner, address: str, now: datetime) -> str:
    return _link(config, signer, "preferences", address, now)


def _link(config: Config, signer: TokenSigner, purpose: str, address: str, now: datetime, *, ref: str = "") -> str:
    return f"{_public_base(config)}/{_relative(signer, purpose, address, now, ref=ref)}"


def _public_base(config: Config) -> str:
    base = config.web.public_url.rstrip("/")
    if not base:
        raise ConfigError(
            "[web] public_url is empty; set it to the address subscribers reach the web pages at, "
            "such as https://news.example.com, so links in mail can be built"
        )
    return base


def _relative(signer: TokenSigner, purpose: str, address: str, now: datetime, *, ref: str = "") -> str:
    token = signer.make(purpose, address, now, ttl=PURPOSES[purpose], ref=ref)
    return f"{purpose}?{urlencode({'token': token})}"


# -- form values ----------------------------------------------------------------------------------


FormError = InputRuleError  # a form value the user must fix; the message is shown to them


class FieldError(FormError):
    """A FormError about one field of the form (its `name`), which the page marks as invalid."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_hashtags(text: str) -> list[str]:
    """Hashtags from the form's text ("#Climate #Politics", commas allowed, '#' optional); empty means everything.

    The rule is `bot.hashtags.parse_hashtags`; a form passes over a '#' typed on its own, as in "#Climate #".
    """
    return parse_typed_tags(text, skip_bare_hash=True)


@dataclass(frozen=True, slots=True)
class TagMatch:
    """Chosen hashtags checked against those seen in the news (see `match_seen`)."""

    tags: tuple[str, ...]  # as chosen, each in the spelling first seen when it has been seen
    unseen: tuple[str, ...] = ()  # the chosen ones no article has carried: they match nothing yet
    similar: tuple[str, ...] = ()  # seen hashtags that contain an unseen one ("Politics" → "PoliticsNews")


def match_seen(tags: Sequence[str], seen: Sequence[str], *, most_similar: int = 3) -> TagMatch:
    """`tags` in the spelling of `seen` (most used first) where one matches case-insensitively, and the rest."""
    spelling = {normalize_tag(tag): tag for tag in reversed(seen)}
    unseen = [tag for tag in tags if normalize_tag(tag) not in spelling]
    hints = [normalize_tag(tag) for tag in unseen if len(tag) >= _MIN_SIMILAR_CHARS]
    similar = [tag for tag in seen if any(hint in normalize_tag(tag) for hint in hints)]
    return TagMatch(
        tags=tuple(spelling.get(normalize_tag(tag), tag) for tag in tags),
        unseen=tuple(unseen),
        similar=tuple(similar[:most_similar]),
    )


def unseen_note(match: TagMatch) -> str:
    """What a page says about chosen hashtags that match nothing yet; "" when every one has been seen."""
    if not match.unseen:
        return ""
    note = (
        f"No news has been tagged {_shown_tags(match.unseen, ', ')} yet, so "
        f"{'it matches' if len(match.unseen) == 1 else 'they match'} nothing for now. Check the spelling"
    )
    if match.similar:
        return f"{note}: maybe you mean {_shown_tags(match.similar, ' or ')}?"
    return f"{note}; if it is right, such news will come to you once it is published."


def _shown_tags(tags: Iterable[str], separator: str = " ") -> str:
    return separator.join(f"#{tag}" for tag in tags)


def chosen_tags(form: FormData) -> list[str]:
    """The hashtags a form chose: its ticked checkboxes (`tag`) and its text field (`hashtags`), as one list."""
    ticked = [value for value in form.getlist("tag") if isinstance(value, str)]
    return parse_hashtags(" ".join([*ticked, _field(form, "hashtags")]))


def _sign_up(form: FormData, seen_tags: Sequence[str] = ()) -> tuple[SignUp, str]:
    """The sign-up a form asks for, hashtags in the spelling of `seen_tags`, and the note on those never seen.

    Raises FieldError naming the first field to fix.
    """
    address = _in_field("email", lambda form: parse_address(_field(form, "email")), form)
    name = _in_field("name", lambda form: parse_display_name(_field(form, "name")), form)
    match = match_seen(_in_field("hashtags", chosen_tags, form), seen_tags)
    return SignUp(address=address, name=name, hashtags=match.tags), unseen_note(match)


def _in_field(name: str, parse: Callable[[FormData], _Value], form: FormData) -> _Value:
    try:
        return parse(form)
    except FormError as error:
        raise FieldError(name, str(error)) from None


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class _TagFields:
    """The hashtag part of a form: a checkbox for each suggested hashtag, and the text field for the others."""

    choices: tuple[tuple[str, bool], ...]  # (hashtag, ticked)
    other: str

    @classmethod
    def from_tags(cls, suggested: Sequence[str], chosen: Sequence[str]) -> _TagFields:
        keys = {normalize_tag(tag) for tag in chosen}
        offered = {normalize_tag(tag) for tag in suggested}
        others = [tag for tag in chosen if normalize_tag(tag) not in offered]
        return cls(tuple((tag, normalize_tag(tag) in keys) for tag in suggested), _shown_tags(others))

    @classmethod
    def from_form(cls, suggested: Sequence[str], form: FormData | None) -> _TagFields:
        """As the visitor left them, so a form shown again with an error loses nothing."""
        if form is None:
            return cls.from_tags(suggested, ())
        ticked = [value.lstrip("#") for value in form.getlist("tag") if isinstance(value, str)]
        fields = cls.from_tags(suggested, ticked)
        return cls(fields.choices, " ".join(part for part in (fields.other, _field(form, "hashtags")) if part))


# -- the confirmation mail ------------------------------------------------------------------------


def confirmation_mail(identity: MailIdentity, dkim: DkimKey | None = None) -> MakeConfirmation:
    """The double opt-in mail; for an address that already subscribes, a note with its settings link."""

    def build(request: ConfirmationRequest) -> EmailMessage:
        if request.already_subscribed:
            return build_already_subscribed_message(
                identity=identity, to=request.to, preferences_url=request.link, now=request.now, dkim=dkim
            )
        return build_confirmation_message(
            identity=identity,
            to=request.to,
            confirm_url=request.link,
            hashtags=request.hashtags,
            now=request.now,
            dkim=dkim,
        )

    return build


def _confirmation_request(
    config: Config, signer: TokenSigner, sign_up: SignUp, recorded: Recorded, now: datetime
) -> ConfirmationRequest:
    """The mail about a recorded sign-up (`record_sign_up`): a link that confirms this request and names what it
    asked for, or for someone already subscribed their settings link and what they have."""
    subscriber = recorded.subscriber
    if recorded.request_id is None:
        link = preferences_url(config, signer, subscriber.address, now)
        return ConfirmationRequest(subscriber.address, subscriber.name, subscriber.hashtags, link, True, now)
    link = confirm_url(config, signer, subscriber.address, now, request_id=recorded.request_id)
    return ConfirmationRequest(subscriber.address, sign_up.name, sign_up.hashtags, link, False, now)


# -- rate limits ----------------------------------------------------------------------------------


# -- the pages ------------------------------------------------------------------------------------


class PagesStore(SignUpStore, Protocol):
    """What the pages need of the store (`bot.store.Store` is one): sign-ups, confirm, unsubscribe, hashtags."""

    def close(self) -> None: ...
    def hashtags_seen(self, since: datetime, channel: str) -> list[tuple[str, int]]: ...
    def sign_up_request(self, request_id: int, address: str) -> SignUpRequest | None: ...
    def confirm_sign_up(self, address: str, request: SignUpRequest | None, now: datetime) -> bool: ...
    def deactivate_subscriber(self, channel: str, address: str, reason: str, now: datetime) -> bool: ...
    def set_subscriber_tags(self, channel: str, address: str, tags: Iterable[str], now: datetime) -> None: ...


class _Pages:
    """The endpoints; built once per app, holding what they share."""

    def __init__(
        self,
        config: Config,
        *,
        store_factory: Callable[[], PagesStore],
        signer: TokenSigner,
        send_mail: SendMail | None,
        make_confirmation: MakeConfirmation | None,
        clock: Callable[[], datetime],
    ) -> None:
        self._config = config
        self._store_factory = store_factory
        self._store: PagesStore | None = None
        self._signer = signer
        self._send_mail = send_mail
        self._make_confirmation = make_confirmation
        self._clock = clock
        self._env = build_environment(config.templates.dir)
        self._posts_per_ip = PerKeyLimit(FLOOD_FACTOR * config.web.subscribe_per_hour, RATE_WINDOW.total_seconds())
        self._sign_ups_per_ip = PerKeyLimit(config.web.subscribe_per_hour, RATE_WINDOW.total_seconds())

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        store = self._store = self._store_factory()
        try:
            yield
        finally:
            store.close()
            if self._store is store:  # another lifespan of the same app (tests) may have replaced it
                self._store = None

    @property
    def store(self) -> PagesStore:
        if self._store is None:
            raise RuntimeError("the web app's store is not open: run the app with its lifespan")
        return self._store

    def routes(self) -> list[Route]:
        return [
            Route("/", self.subscribe_form, methods=["GET"]),
            Route("/subscribe", self.subscribe_form, methods=["GET"]),
            Route("/subscribe", self.subscribe, methods=["POST"]),
            Route("/confirm", self.confirm_page, methods=["GET"]),
            Route("/confirm", self.confirm, methods=["POST"]),
            Route("/unsubscribe", self.unsubscribe_page, methods=["GET"]),
            Route("/unsubscribe", self.unsubscribe, methods=["POST"]),
            Route("/preferences", self.preferences_page, methods=["GET"]),
            Route("/preferences", self.save_preferences, methods=["POST"]),
            Route("/healthz", self.healthz, methods=["GET"]),
        ]

    # -- sign up --

    async def subscribe_form(self, request: Request) -> Response:
        return self._subscribe_page()

    async def subscribe(self, request: Request) -> Response:
        now = self._clock()
        if self._send_mail is None:
            return self._message(503, "Sign-up is closed", "Sign-up by email is not available at the moment.")
        if _cross_site(request, self._config.web.public_url):
            log.info("%s", kv(event="web_cross_site_refused"))
            return self._cross_site_refused()
        client = _client(request)
        if wait := self._posts_per_ip.take(client, now.timestamp()):
            return self._too_many(wait, limit="posts per ip")
        form = await request.form()
        try:
            sign_up, note = _sign_up(form, self._seen_tags(KNOWN_TAG_DAYS))
        except FormError as error:
            return self._subscribe_page(form, error, status=400)
        if wait := self._sign_ups_per_ip.wait(client, now.timestamp()):
            return self._too_many(wait, limit="ip")
        try:
            recorded = record_sign_up(self.store, sign_up, now, per_hour=self._config.web.subscribe_per_hour)
        except MailboxLimited as limited:
            return self._too_many(limited.retry_after.total_seconds(), limit="mailbox")
        self._sign_ups_per_ip.record(client, now.timestamp())
        return await self._send_confirmation(sign_up, recorded, now, note)

    async def _send_confirmation(self, sign_up: SignUp, recorded: Recorded, now: datetime, note: str) -> Response:
        assert self._send_mail is not None and self._make_confirmation is not None
        request = _confirmation_request(self._config, self._signer, sign_up, recorded, now)
        try:
            await run_in_threadpool(self._send_mail, self._make_confirmation(request))
        except Exception as error:  # whatever the mailer raises, the visitor gets a page and the log a line
            log.error("%s", kv(event="web_confirmation_not_sent", error=type(error).__name__, reason=str(error)))
            return self._message(
                503, "Please try again later", "We could not send the confirmation email just now. Please try later."
            )
        log.info("%s", kv(event="web_confirmation_sent"))
        return self._check_inbox(sign_up.address, note)

    def _cross_site_refused(self) -> Response:
        return self._message(
            403,
            "Sign-up refused",
            "This form was sent to us from another web site, so nothing was done and no mail was sent.",
            "To subscribe, open our sign-up page yourself and send the form from there.",
            link=("subscribe", "Open the sign-up form"),
        )

    def _check_inbox(self, address: str, note: str) -> Response:
        return self._message(
            200,
            "Check your inbox",
            f"We sent an email to {address}. Open the link in it to confirm your subscription.",
            "If it does not arrive within a few minutes, look in your spam folder.",
            note=f"{note} Once subscribed, you can change your hashtags." if note else "",
        )

    def _seen_tags(self, days: int) -> list[str]:
        """The hashtags of the digest's articles of the last `days` days, most used first, as first spelt."""
        since = self._clock() - timedelta(days=days)
        return [tag for tag, _count in self.store.hashtags_seen(since, EMAIL)]

    def _suggested_tags(self) -> list[str]:
        """The checkboxes: the most used recent hashtags that any form accepts, within the body budget."""
        usable = [tag for tag in self._seen_tags(SUGGESTION_DAYS) if is_accepted_tag(tag)]
        return _within_bytes(usable[:SUGGESTED_TAGS], SUGGESTION_BYTES)

    # -- confirm --

    async def confirm_page(self, request: Request) -> Response:
        found = self._confirmation(request, self._clock())
        if found is None:
            return self._bad_confirm_link()
        address, sign_up = found
        subscriber = self.store.email_subscriber(address)
        if subscriber is None or not subscriber.awaiting_confirmation:
            return self._confirm_done(address, subscriber)
        return self._render(
            200,
            "confirm",
            title="Confirm your subscription",
            address=address,
            hashtags=_shown_tags(subscriber.hashtags if sign_up is None else sign_up.hashtags, ", "),
            action=_same_url(request),
            button=CONFIRM_BUTTON,
        )

    async def confirm(self, request: Request) -> Response:
        now = self._clock()
        found = self._confirmation(request, now)
        if found is None:
            return self._bad_confirm_link()
        address, sign_up = found
        subscriber = self.store.email_subscriber(address)
        if subscriber is None or not subscriber.awaiting_confirmation:
            return self._confirm_done(address, subscriber)
        self.store.confirm_sign_up(address, sign_up, now)
        log.info("%s", kv(event="web_confirmed"))
        return self._message(
            200,
            "You're subscribed",
            f"Thank you. The weekly digest will come to {address}.",
            link=(_relative(self._signer, "preferences", address, now), "Choose your hashtags"),
        )

    def _confirm_done(self, address: str, subscriber: EmailSubscriber | None) -> Response:
        """The answer to a good confirmation link with nothing left to confirm."""
        if subscriber is None:
            return self._message(
                400,
                "This link does not work",
                f"There is no sign-up for {address} any more. Please sign up again.",
                link=("subscribe", "Sign up"),
            )
        if subscriber.active:
            return self._message(
                200,
                "You're already subscribed",
                f"{address} already gets the weekly digest, so this link has nothing left to do.",
                link=(_relative(self._signer, "preferences", address, self._clock()), "Choose your hashtags"),
            )
        return self._message(
            200,
            "This address has left the list",
            f"{address} {_left_because(subscriber.status_reason)} after this link was sent, so the link no longer "
            "subscribes it.",
            "To get the digest again, sign up again: we will send you a new confirmation link.",
            link=("subscribe", "Sign up again"),
        )

    def _bad_confirm_link(self) -> Response:
        return self._message(
            400,
            "This link does not work",
            "The confirmation link is broken or has expired (links work for 7 days).",
            link=("subscribe", "Sign up again"),
        )

    # -- unsubscribe --

    async def unsubscribe_page(self, request: Request) -> Response:
        address = self._read_token(request, "unsubscribe", self._clock())
        if address is None:
            return self._bad_unsubscribe_link()
        subscriber = self.store.email_subscriber(address)
        if subscriber is None or not subscriber.active:
            return self._message(
                200,
                "You're unsubscribed",
                f"{address} {_left_because(subscriber.status_reason if subscriber else '')} and gets no digests, "
                "so there is nothing to do.",
                link=("subscribe", "Changed your mind? Sign up again"),
            )
        return self._render(200, "unsubscribe", title="Unsubscribe", address=address, action=_same_url(request))

    async def unsubscribe(self, request: Request) -> Response:
        now = self._clock()
        address = self._read_token(request, "unsubscribe", now)
        if address is None:
            return self._bad_unsubscribe_link()
        one_click = _field(await request.form(), ONE_CLICK_FIELD) == ONE_CLICK_VALUE
        if self.store.deactivate_subscriber("email", address, "unsubscribed", now):
            log.info("%s", kv(event="web_unsubscribed", one_click=one_click))
        if one_click:
            return PlainTextResponse("Unsubscribed.\n")
        return self._message(
            200,
            "You're unsubscribed",
            f"{address} will get no more digests.",
            link=("subscribe", "Changed your mind? Sign up again"),
        )

    def _bad_unsubscribe_link(self) -> Response:
        return self._message(
            400,
            "This link does not work",
            "The unsubscribe link is broken. Please use the link in the latest digest, or reply to it.",
        )

    # -- preferences --

    async def preferences_page(self, request: Request) -> Response:
        found = self._subscriber_for(request)
        if isinstance(found, Response):
            return found
        return self._preferences(request, found)

    async def save_preferences(self, request: Request) -> Response:
        found = self._subscriber_for(request)
        if isinstance(found, Response):
            return found
        form = await request.form()
        try:
            match = match_seen(chosen_tags(form), self._seen_tags(KNOWN_TAG_DAYS))
        except FormError as error:
            return self._preferences(request, found, error=FieldError("hashtags", str(error)), form=form)
        self.store.set_subscriber_tags("email", found.address, match.tags, self._clock())
        log.info("%s", kv(event="web_preferences_saved", hashtags=len(match.tags)))
        updated = self.store.email_subscriber(found.address) or found
        return self._preferences(request, updated, saved=True, note=unseen_note(match))

    def _subscriber_for(self, request: Request) -> EmailSubscriber | Response:
        """The active subscriber the preferences token names, or the page to answer instead."""
        address = self._read_token(request, "preferences", self._clock())
        if address is None:
            return self._message(
                400,
                "This link does not work",
                "The link is broken or has expired (links to your settings work for 30 days). "
                "Use the link at the bottom of your latest digest.",
            )
        subscriber = self.store.email_subscriber(address)
        if subscriber is None or not subscriber.active:
            # set_subscriber_tags would create a subscriber that never confirmed: never call it for these.
            return self._message(
                400,
                "Not subscribed",
                f"{address} {_left_because(subscriber.status_reason if subscriber else '')} and gets no digests, "
                "so there are no settings to change.",
                link=("subscribe", "Sign up again" if subscriber else "Sign up"),
            )
        return subscriber

    def _preferences(
        self,
        request: Request,
        subscriber: EmailSubscriber,
        *,
        saved: bool = False,
        note: str = "",
        error: FormError | None = None,
        form: FormData | None = None,
        status: int = 0,
    ) -> Response:
        """The settings page; after an error, the form as the subscriber left it (`form`)."""
        suggested = self._suggested_tags()
        fields = _TagFields.from_form(suggested, form) if form else _TagFields.from_tags(suggested, subscriber.hashtags)
        return self._render(
            status or (400 if error else 200),
            "preferences",
            title="Your digest settings",
            address=subscriber.address,
            current=_shown_tags(subscriber.hashtags),
            tags=fields,
            saved=saved,
            note=note,
            **_error_context(error),
            action=_same_url(request),
            unsubscribe_url=_relative(self._signer, "unsubscribe", subscriber.address, self._clock()),
        )

    # -- misc --

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 413:
            response = self._too_much_data(request)
        else:
            titles = {404: "Page not found", 405: "Not allowed"}
            texts = {
                404: "There is no page at this address.",
                405: "This page does not accept that kind of request.",
            }
            response = self._message(
                status, titles.get(status, "Bad request"), texts.get(status, "The request was not understood.")
            )
        if isinstance(exc, HTTPException) and exc.headers:
            response.headers.update(exc.headers)
        return response

    def _too_much_data(self, request: Request) -> Response:
        """413: the form again, with what can be kept (the link's token; the body was never read), or a way back."""
        error = FormError(
            f"Too much data: the form sent more than {MAX_BODY_BYTES // 1000} KB, so nothing was saved. "
            "Please fill it in again with fewer hashtags."
        )
        page = request.url.path.rsplit("/", 1)[-1]
        if page == "subscribe" and self._send_mail is not None:
            return self._subscribe_page(error=error, status=413)
        if page == "preferences":
            found = self._subscriber_for(request)
            if isinstance(found, Response):
                return found
            return self._preferences(request, found, error=error, status=413)
        return self._message(413, "Too much data", str(error), link=(_same_url(request), "Back to the page"))

    def _confirmation(self, request: Request, now: datetime) -> tuple[str, SignUpRequest | None] | None:
        """The address a confirm link is for and the sign-up request it confirms (None: a link sent before requests
        were kept, which confirms what the store holds); None for a bad link."""
        found = self._read_token_with_ref(request, "confirm", now)
        if found is None:
            return None
        address, ref = found
        return address, (self.store.sign_up_request(int(ref), address) if ref.isdecimal() else None)

    def _read_token(self, request: Request, purpose: str, now: datetime) -> str | None:
        found = self._read_token_with_ref(request, purpose, now)
        return None if found is None else found[0]

    def _read_token_with_ref(self, request: Request, purpose: str, now: datetime) -> tuple[str, str] | None:
        """The address and reference of the request's `token`; None (logged) when the link is bad."""
        try:
            return self._signer.read_with_ref(request.query_params.get("token", ""), purpose, now)
        except BadToken as error:
            log.info("%s", kv(event="web_bad_token", purpose=purpose, reason=error.reason))
            return None

    def _subscribe_page(
        self, form: FormData | None = None, error: FormError | None = None, *, status: int = 200
    ) -> Response:
        values = {name: _field(form, name) if form else "" for name in ("email", "name")}
        return self._render(
            status,
            "subscribe",
            title=f"Subscribe to {self._config.email.list_name}",
            tags=_TagFields.from_form(self._suggested_tags(), form),
            **_error_context(error),
            **values,
        )

    def _too_many(self, wait: float, *, limit: str) -> Response:
        log.info("%s", kv(event="web_rate_limited", limit=limit))
        response = self._message(
            429,
            "Please try again later",
            "There have been too many sign-ups from here or to this address. Please try again in an hour.",
        )
        response.headers["Retry-After"] = str(max(1, int(wait + 0.999)))
        return response

    def _message(
        self, status: int, title: str, *paragraphs: str, link: tuple[str, str] | None = None, note: str = ""
    ) -> Response:
        link_url, link_text = link or ("", "")
        return self._render(
            status, "message", title=title, paragraphs=paragraphs, note=note, link_url=link_url, link_text=link_text
        )

    def _render(self, status: int, page: str, **context: Any) -> Response:
        html = self._env.get_template(f"web/{page}.html.j2").render(
            list_name=self._config.email.list_name, limits=_FIELD_LIMITS, **context
        )
        return HTMLResponse(html, status_code=status)


_FIELD_LIMITS: Final[Mapping[str, int]] = {
    "email": MAX_ADDRESS_CHARS,
    "name": MAX_NAME_CHARS,
    "hashtags": MAX_HASHTAGS_FIELD_CHARS,
}


def _error_context(error: FormError | None) -> dict[str, str]:
    """What a form template needs to show `error` and mark its field (`aria-invalid`, `aria-describedby`)."""
    if error is None:
        return {"error": "", "invalid": ""}
    return {"error": str(error), "invalid": error.field if isinstance(error, FieldError) else ""}


def _left_because(reason: str) -> str:
    """Why an address gets no digests, as the rest of a sentence that starts with the address.

    "unsubscribed" is the reader's own link; "unsubscribed by an admin" the control room's and the CSV import's:
    the reader sees the same either way."""
    if reason.startswith("unsubscribed"):
        return "was unsubscribed"
    if reason.startswith("bounced"):
        return "was taken off the list because mail to it could not be delivered"
    if reason == AWAITING_CONFIRMATION:
        return "was never confirmed"
    return "is not on the list"


def _within_bytes(tags: Sequence[str], budget: int) -> list[str]:
    """The first `tags` whose checkboxes (`tag=…&`, percent-encoded) take at most `budget` bytes of a form."""
    kept: list[str] = []
    for tag in tags:
        budget -= len(urlencode({"tag": tag})) + 1
        if budget < 0:
            break
        kept.append(tag)
    return kept


def _client(request: Request) -> str:
    """The key of the per-IP limit: the peer's address; for IPv6 its /64, which one client usually holds whole."""
    host = request.client.host if request.client else "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)


def _cross_site(request: Request, public_url: str) -> bool:
    """True if a browser sent this POST from another site (cross-site request forgery).

    Browsers mark every request with `Sec-Fetch-Site`, which pages cannot set; older ones send only `Origin`.
    `Origin: null` says nothing (our pages' `Referrer-Policy: no-referrer` makes browsers send it for our own
    form), and a client that sends neither is not a browser acting for someone else.
    """
    fetch_site = request.headers.get("sec-fetch-site", "").lower()
    if fetch_site:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("origin", "").strip().lower()
    if not origin or origin == "null":
        return False
    own_host = request.headers.get("host", "").lower()
    return _origin(origin) != _origin(public_url) and urlsplit(origin).netloc != own_host


def _origin(url: str) -> str:
    """scheme://host[:port] of `url`, lower-cased, without the scheme's default port."""
    parts = urlsplit(url.lower())
    netloc = parts.netloc.removesuffix({"https": ":443", "http": ":80"}.get(parts.scheme, ""))
    return f"{parts.scheme}://{netloc}"


def _same_url(request: Request) -> str:
    """The path's last segment with its query, relative, so the app also works under a path prefix."""
    last = request.url.path.rsplit("/", 1)[-1]
    return f"{last}?{request.url.query}" if request.url.query else last


# -- middleware -----------------------------------------------------------------------------------


class _Guard:
    """Adds the security headers to every response and refuses request bodies over `max_body` bytes (413)."""

    def __init__(self, app: ASGIApp, *, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)  # an app's own (the control room's stricter CSP) stands
            await send(message)

        try:
            await self.app(scope, self._limited(scope, receive), send_with_headers)
        except ClientDisconnect:  # gone mid-request (or cut off at the request deadline): nobody to answer
            log.info("%s", kv(event="web_client_gone"))

    def _limited(self, scope: Scope, receive: Receive) -> Receive:
        declared = Headers(scope=scope).get("content-length", "0")
        received = 0

        async def limited_receive() -> Message:
            # Raised inside the endpoint (while it reads the form), so the app's error handler renders the 413 page.
            nonlocal received
            if not declared.isdigit() or int(declared) > self.max_body:
                raise HTTPException(413)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise HTTPException(413)
            return message

        return limited_receive


Guard = _Guard  # the same limits and headers for the whole server (bot.server)
cross_site = _cross_site  # the control room (bot.control) refuses the same cross-site POSTs


# -- the app and its server -----------------------------------------------------------------------


def build_app(
    config: Config,
    *,
    store_factory: Callable[[], PagesStore],
    signer: TokenSigner,
    send_mail: SendMail | None,
    clock: Callable[[], datetime],
    make_confirmation: MakeConfirmation | None = None,
) -> Starlette:
    """The ASGI app. `send_mail` None closes sign-up (503) but keeps confirm, unsubscribe and preferences working.

    `make_confirmation` builds the double opt-in mail (`confirmation_mail` of the process's one sender identity and
    DKIM key, bot.email.parts); required with `send_mail`.
    """
    if send_mail is not None and make_confirmation is None:
        raise ValueError("build_app: pass make_confirmation with send_mail (confirmation_mail of the mail parts)")
    _public_base(config)  # fail at start-up, not on the first sign-up
    pages = _Pages(
        config,
        store_factory=store_factory,
        signer=signer,
        send_mail=send_mail,
        make_confirmation=make_confirmation,
        clock=clock,
    )
    app = Starlette(
        routes=pages.routes(),
        middleware=[Middleware(_Guard, max_body=MAX_BODY_BYTES)],
        exception_handlers={HTTPException: pages.http_error},
        lifespan=pages.lifespan,
    )
    relative_slash_redirects(app.router)
    return app


class _DeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for receiving each request, head and body.

    uvicorn times out only idle keep-alive connections, so a client that sent half a request kept its connection
    (and one of MAX_CONNECTIONS) for ever. Here the clock starts when the connection opens or the previous
    response is done and stops once the request is complete; at the deadline the connection is closed.
    """

    request_timeout: ClassVar[float] = REQUEST_TIMEOUT_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._restart_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._request_incomplete():
            self._stop_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._restart_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        super().connection_lost(exc)

    def _request_incomplete(self) -> bool:
        return self.conn.their_state in (h11.IDLE, h11.SEND_BODY)

    def _restart_deadline(self) -> None:
        self._stop_deadline()
        if self._request_incomplete() and not self.transport.is_closing():
            self._deadline = self.loop.call_later(self.request_timeout, self._cut_off)

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _cut_off(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            log.info("%s", kv(event="web_request_timeout"))
            self.transport.close()


def build_server(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    forwarded_allow_ips: Sequence[str] = (),
    request_timeout: float = REQUEST_TIMEOUT_SECONDS,
) -> uvicorn.Server:
    """A uvicorn server for `app`, with the limits in the module docstring.

    `forwarded_allow_ips`: the reverse proxies whose X-Forwarded-For names the client; empty trusts none. The
    access log stays off: its lines would carry the signed tokens of the links.
    """

    class Protocol(_DeadlineProtocol):
        pass

    Protocol.request_timeout = request_timeout
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=Protocol,
        lifespan="on",
        access_log=False,
        server_header=False,
        log_level="warning",
        proxy_headers=bool(forwarded_allow_ips),
        forwarded_allow_ips=list(forwarded_allow_ips) or None,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        limit_concurrency=MAX_CONNECTIONS,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
    )
    return uvicorn.Server(config)


def start_in_thread(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    forwarded_allow_ips: Sequence[str] = (),
    request_timeout: float = REQUEST_TIMEOUT_SECONDS,
    timeout: float = 10.0,
) -> tuple[uvicorn.Server, threading.Thread]:
    """Serve `app` from a daemon thread; returns once it listens. Stop with `server.should_exit = True`, then join."""
    server = build_server(app, host, port, forwarded_allow_ips=forwarded_allow_ips, request_timeout=request_timeout)
    thread = threading.Thread(target=server.run, name="newsbot-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the web server did not start on {host}:{port}; see the log above")
        time.sleep(0.01)
    return server, thread


def app_from_config(
    config: Config,
    parts: EmailParts,
    *,
    send_mail: SendMail | None,
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    """The app as `newsbot web` and `newsbot run` serve it: the configured state file, and the link signer, sender
    identity and DKIM key of `parts` (bot.email.parts, built once by the caller). `send_mail` is usually
    `parts.send`; None closes sign-up."""
    return build_app(
        config,
        store_factory=lambda: open_store(config.state),
        signer=parts.signer,
        send_mail=send_mail,
        clock=clock or utc_now,
        make_confirmation=confirmation_mail(parts.identity, parts.dkim),
    )


def email_confirmer(config: Config, parts: EmailParts, send_mail: SendMail) -> ConfirmEmail:
    """Records a sign-up and sends its mail exactly as the subscribe form does, per-mailbox limit included (/email).

    Raises MailboxLimited, or whatever `send_mail` (usually `parts.send`) raises.
    """
    make = confirmation_mail(parts.identity, parts.dkim)

    def confirm(store: SignUpStore, sign_up: SignUp, now: datetime) -> None:
        recorded = record_sign_up(store, sign_up, now, per_hour=config.web.subscribe_per_hour)
        send_mail(make(_confirmation_request(config, parts.signer, sign_up, recorded, now)))

    return confirm


def serve(config: Config, parts: EmailParts, *, clock: Callable[[], datetime] | None = None) -> None:
    """Serve the web pages on `[web] host`/`port` until interrupted (`newsbot web`), mailing through `parts`."""
    app = app_from_config(config, parts, send_mail=parts.send, clock=clock)
    log.info("%s", kv(event="web_listening", host=config.web.host, port=config.web.port))
    build_server(app, config.web.host, config.web.port, forwarded_allow_ips=config.web.forwarded_allow_ips).run()
