"""Bluesky publisher: posts and threads through the atproto SDK's `Client` (XRPC to the account's PDS).

One session per publisher: `com.atproto.server.createSession` once, with the handle and an app password; the
SDK refreshes the access token (`refreshSession`) before it expires, and a PDS that answers ExpiredToken anyway
gets one refresh and the request once more. A new login happens only when the refresh itself is refused.

The record (app.bsky.feed.post) carries the text, its links and hashtags as facets with UTF-8 byte offsets
(`bot.bsky_text.rich_text`: each link shown short, as Bluesky's app writes it, its facet holding the whole URL
of `Post.short_links`, the article's as `Post.link` has it), `langs` with the route's language when it names one
(`Post.language`; nothing when it is not known), `reply` refs to the thread's root and parent, and
on the post with the article's link a link card (app.bsky.embed.external) to it whose thumb is the article's
image, uploaded with `uploadBlob`. A card, not an app.bsky.embed.images embed: a post has one embed, and the
card keeps the link preview news publishers want (title, description, picture, all one tap to the article).
An image that cannot be had or uploaded never blocks the post: the card goes without a thumb.

No post twice: each record is created with a record key derived from the article, the recipient and the part
(`bot.bsky_text.record_key`, a TID), not one the PDS picks. createRecord with an rkey was chosen over
putRecord because putRecord would silently overwrite; with createRecord a second attempt of the same part (after
a crash, a lost answer, a retry) is refused as already existing, and the record is then looked up with getRecord
for its cid and counted as sent (also after a 5xx: some PDS versions answer a taken key with an internal error).
So a lost answer is never UnknownOutcome: the retry is safe by construction. The same outbox row sent again
(an admin's /post) finds the post that is there instead of making a second one.

Errors become newsbot's (bot/errors.py): 429 → RateLimited until RateLimit-Reset (a unix time); 401/403 →
Unauthorized (the channel stops, its queue is kept); 400 → Rejected; 5xx and connection failures → PublishError
(retried with backoff). The remote id of a post is "uri|cid" of each part, comma-separated.
"""

from __future__ import annotations

import logging
import time
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeVar

import httpx

from bot.bsky_text import Facet, cut_graphemes, record_key, rich_text
from bot.clock import utc_now
from bot.errors import ConfigError, PublishError, RateLimited, Rejected, Unauthorized
from bot.images import ImageLimits, ImageLoader
from bot.logs import kv
from bot.models import Post, Receipt

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from atproto import Client
    from atproto_client.exceptions import RequestErrorBase

    from bot.config import BlueskyConfig

log = logging.getLogger("newsbot.bluesky")

POST_COLLECTION: Final = "app.bsky.feed.post"
# A card's thumb: Bluesky takes blobs up to 1,000,000 bytes; alt text (unused on a card) up to 2,000 characters.
IMAGE_LIMITS: Final = ImageLimits(max_bytes=1_000_000, max_side=2000, max_alt_chars=2000)
# A card's title and description, in graphemes: longer ones Bluesky's apps cut anyway.
CARD_TITLE_GRAPHEMES: Final = 300
CARD_DESCRIPTION_GRAPHEMES: Final = 300
DEFAULT_RATE_LIMIT_WAIT: Final = 300.0  # a 429 without a usable RateLimit-Reset: wait five minutes
T = TypeVar("T")


def app_password(config: BlueskyConfig, environ: Mapping[str, str], config_label: str) -> str:
    """The app password from the environment; a ConfigError naming what to set (never the value) without it."""
    if not config.handle:
        raise ConfigError(f'{config_label}: bluesky.handle: set the account\'s handle, such as "newsbot.bsky.social"')
    password = environ.get(config.app_password_env, "").strip()
    if not password:
        raise ConfigError(
            f"{config_label}: bluesky: set {config.app_password_env} to an app password of {config.handle}"
            " (Bluesky: Settings → Privacy and security → App passwords) before posting to Bluesky"
        )
    return password


@dataclass(frozen=True, slots=True)
class PostRef:
    """A created record: its at:// URI and the CID of its content (a reply names both)."""

    uri: str
    cid: str

    @classmethod
    def parse(cls, remote_id: str) -> PostRef:
        uri, _, cid = remote_id.partition("|")
        return cls(uri, cid)

    def __str__(self) -> str:
        return f"{self.uri}|{self.cid}"

    def as_record(self) -> dict[str, str]:
        return {"uri": self.uri, "cid": self.cid}


@dataclass
class BlueskyPublisher:
    config: BlueskyConfig
    password: str = field(repr=False)
    images: ImageLoader | None = None
    channel: str = "bluesky"
    _client: Client | None = field(init=False, default=None)
    _did: str = field(init=False, default="")

    def publish(self, post: Post) -> Receipt:
        """Post the text, or each part of a thread as a reply to the one before, continuing after `post.posted`."""
        parts = post.parts or (post.text,)
        posted = [PostRef.parse(remote_id) for remote_id in post.posted]
        for index in range(len(posted), len(parts)):
            try:
                posted.append(self._post_part(post, index, parts[index], posted))
            except PublishError as error:
                error.progress = tuple(str(ref) for ref in posted)
                raise
        return Receipt(remote_id=",".join(str(ref) for ref in posted))

    def close(self) -> None:
        if self._client is not None:
            self._client.request.close()
        if self.images is not None:
            self.images.close()

    # -- one record ---------------------------------------------------------------------------------

    def _post_part(self, post: Post, index: int, text: str, posted: list[PostRef]) -> PostRef:
        rkey = record_key(post.article_key, post.recipient, str(index))
        text, found = rich_text(text, links=_links(post))
        record: dict[str, Any] = {"$type": POST_COLLECTION, "text": text, "createdAt": _now()}
        if found:
            record["facets"] = [facet.as_record() for facet in found]
        if post.language:  # the route's; none is guessed, so readers' language filters see only what is known
            record["langs"] = [post.language]
        if posted:
            record["reply"] = {"root": posted[0].as_record(), "parent": posted[-1].as_record()}
        # The card is the article's; a post that names no article link (`Post.link` "") gets its first link's.
        links = (facet for facet in found if facet.kind == "link")
        link = next((facet for facet in links if facet.value == post.link or not post.link), None)
        if link is not None:
            record["embed"] = self._card(post, text, link)
        return self._create(rkey, record)

    def _card(self, post: Post, text: str, link: Facet) -> dict[str, Any]:
        """The link card: the article's title (else the post's first line, the title in bluesky.txt.j2), the
        post's other words as description, the article's image as thumb if it uploads."""
        first_line, _, rest = text.partition("\n")
        title = " ".join(post.title.split()) or first_line.strip()
        shown = text.encode("utf-8")[link.byte_start : link.byte_end].decode("utf-8")
        external: dict[str, Any] = {
            "uri": link.value,
            "title": cut_graphemes(title, CARD_TITLE_GRAPHEMES),
            "description": _description(rest, shown),
        }
        thumb = self._thumb(post)
        if thumb is not None:
            external["thumb"] = thumb
        return {"$type": "app.bsky.embed.external", "external": external}

    def _thumb(self, post: Post) -> dict[str, Any] | None:
        if self.images is None:
            return None
        image = self.images.load(post, IMAGE_LIMITS)
        if image is None:
            return None
        try:
            from atproto import models

            blob = self._call(
                lambda client: client.com.atproto.repo.upload_blob(
                    image.data, headers={"Content-Type": image.mime_type}
                )
            ).blob
        except PublishError as error:
            log.warning("%s", kv(event="bluesky_image_not_uploaded", article=post.article_key, reason=str(error)))
            return None
        dumped: dict[str, Any] = models.get_model_as_dict(blob)
        return dumped

    def _create(self, rkey: str, record: dict[str, Any]) -> PostRef:
        from atproto import models
        from atproto_client.exceptions import NetworkError, RequestErrorBase

        data = models.ComAtprotoRepoCreateRecord.Data(
            repo=self._login(), collection=POST_COLLECTION, rkey=rkey, record=record
        )
        try:
            created = self._call(lambda client: client.com.atproto.repo.create_record(data), translate=False)
        except (NetworkError, httpx.TransportError) as error:
            if isinstance(error, NetworkError) and error.response is not None and error.response.status_code != 409:
                raise _translated(error) from None
            # A conflict, or no answer at all (it may have been created): look. Not there: a retry is safe.
            return self._existing_or(rkey, PublishError(f"no answer from Bluesky ({type(error).__name__})"))
        except RequestErrorBase as error:
            status = error.response.status_code if error.response is not None else 0
            if _already_exists(error) or status >= 500:  # some PDS versions answer a taken rkey with a 500
                return self._existing_or(rkey, _translated(error))
            raise _translated(error) from None
        return PostRef(created.uri, created.cid)

    def _existing_or(self, rkey: str, otherwise: PublishError) -> PostRef:
        """The record at `rkey` if it is there; else `otherwise` (never Rejected: the lookup may have failed)."""
        try:
            return self._existing(rkey)
        except PublishError:
            error = otherwise if not isinstance(otherwise, Rejected) else PublishError(str(otherwise))
            raise error from None

    def _existing(self, rkey: str) -> PostRef:
        """The record at `rkey`, created by an earlier attempt whose answer was lost."""
        from atproto import models

        params = models.ComAtprotoRepoGetRecord.Params(repo=self._login(), collection=POST_COLLECTION, rkey=rkey)
        found = self._call(lambda client: client.com.atproto.repo.get_record(params))
        if not found.cid:
            raise PublishError(f"Bluesky has record {rkey} without a cid; retried later")
        log.warning("%s", kv(event="bluesky_found_existing_record", uri=found.uri))
        return PostRef(found.uri, found.cid)

    # -- the session --------------------------------------------------------------------------------

    def _api(self) -> Client:
        if self._client is None:
            from atproto import Client
            from atproto_client.request import Request

            self._client = Client(
                base_url=self.config.service_url, request=Request(timeout=self.config.request_timeout)
            )
        return self._client

    def _login(self) -> str:
        """The account's DID, logging in (createSession) the first time only."""
        if not self._did:
            client = self._api()
            self._call_raw(lambda: client.login(self.config.handle, self.password, fetch_bsky_profile=False))
            session = client._session  # the SDK's own session (access and refresh tokens), never logged
            if session is None:
                raise Unauthorized("Bluesky gave no session for the handle and app password")
            self._did = session.did
            log.info("%s", kv(event="bluesky_logged_in", handle=self.config.handle))
        return self._did

    def _call(self, request: Callable[[Client], T], *, translate: bool = True) -> T:
        """`request` with the session; an ExpiredToken answer renews it and tries once more."""
        from atproto_client.exceptions import RequestErrorBase

        self._login()
        client = self._api()
        try:
            return self._call_raw(lambda: request(client), translate=translate)
        except RequestErrorBase as error:
            if not _expired_token(error):
                raise
        self._renew_session()
        try:
            return self._call_raw(lambda: request(client), translate=translate)
        except RequestErrorBase as error:
            if not _expired_token(error):
                raise
            raise Unauthorized(
                "Bluesky refused a session it had just renewed (ExpiredToken); check the PDS's clock and"
                " [bluesky] service_url"
            ) from None

    def _renew_session(self) -> None:
        """refreshSession (through the SDK); when the refresh token is refused too, one new login."""
        from atproto_client.exceptions import RequestErrorBase

        client = self._api()
        try:
            self._call_raw(client._refresh_and_set_session)
            log.info("%s", kv(event="bluesky_session_refreshed"))
        except (Unauthorized, Rejected, RequestErrorBase):
            self._did = ""
            self._login()

    def _call_raw(self, request: Callable[[], T], *, translate: bool = True) -> T:
        """`request`, with the SDK's errors in newsbot's terms (an expired token is left to `_call`)."""
        from atproto_client.exceptions import LoginRequiredError, RequestErrorBase

        try:
            return request()
        except LoginRequiredError:
            raise Unauthorized("Bluesky session lost; check [bluesky] handle and the app password") from None
        except httpx.TransportError as error:  # the SDK passes on what it does not wrap (a dropped connection)
            if not translate:
                raise
            raise PublishError(f"Bluesky could not be reached ({type(error).__name__})") from None
        except RequestErrorBase as error:
            if _expired_token(error) or not translate:
                raise
            raise _translated(error) from None


def _translated(error: RequestErrorBase) -> PublishError:
    from atproto_client.exceptions import (
        BadRequestError,
        InvokeTimeoutError,
        RateLimitExceededError,
        UnauthorizedError,
    )

    response = error.response
    if _expired_token(error):
        return Unauthorized("Bluesky's session expired and could not be renewed; check the app password")
    if isinstance(error, RateLimitExceededError):
        return RateLimited(seconds_until_reset(response.headers if response else {}), "Bluesky rate limit reached")
    if isinstance(error, UnauthorizedError):
        status = response.status_code if response else 401
        return Unauthorized(
            f"Bluesky refused the credentials ({status}): {_message(error)}; check [bluesky] handle"
            " and the app password"
        )
    if isinstance(error, BadRequestError):
        return Rejected(f"Bluesky refused the post (400): {_message(error)}")
    if response is not None and response.status_code == 413:
        return Rejected(f"Bluesky refused the request as too large (413): {_message(error)}")
    if response is None:
        kind = "timed out" if isinstance(error, InvokeTimeoutError) else "could not be reached"
        return PublishError(f"Bluesky {kind} ({type(error).__name__})")
    return PublishError(f"Bluesky server error {response.status_code}: {_message(error)}")


def seconds_until_reset(headers: Mapping[str, Any], now: float | None = None) -> float:
    """Seconds until RateLimit-Reset (a unix time), at least 1; five minutes when the header is missing or bad."""
    now = time.time() if now is None else now
    try:
        reset = float(headers.get("ratelimit-reset") or headers.get("RateLimit-Reset") or "")
    except ValueError:
        return DEFAULT_RATE_LIMIT_WAIT
    return max(reset - now, 1.0)


def _message(error: RequestErrorBase) -> str:
    from atproto_client.models.common import XrpcError

    content = error.response.content if error.response is not None else None
    if isinstance(content, XrpcError):
        return f"{content.error}: {content.message}" if content.message else content.error
    return str(error)


def _error_name(error: RequestErrorBase) -> str:
    from atproto_client.models.common import XrpcError

    content = error.response.content if error.response is not None else None
    return content.error if isinstance(content, XrpcError) else ""


def _expired_token(error: RequestErrorBase) -> bool:
    return (
        error.response is not None and error.response.status_code in (400, 401) and _error_name(error) == "ExpiredToken"
    )


def _already_exists(error: RequestErrorBase) -> bool:
    return "already exists" in _message(error).lower()


def _links(post: Post) -> tuple[str, ...]:
    """The whole URLs the post's text shows short, in order: the article's link in the form `Post.link` has it
    (the text is in NFC, the feed's link may not be), and at the end where the renderer named none."""
    if not post.link:
        return post.short_links
    article = unicodedata.normalize("NFC", post.link)
    links = tuple(post.link if unicodedata.normalize("NFC", url) == article else url for url in post.short_links)
    return links if post.link in links else (*links, post.link)


def _description(text: str, link_shown: str) -> str:
    """The words of `text` without its link-and-hashtags line, for the card."""
    words = " ".join(line.strip() for line in text.splitlines() if line.strip() and link_shown not in line)
    return cut_graphemes(words, CARD_DESCRIPTION_GRAPHEMES)


def _now() -> str:
    return utc_now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
