"""X publisher: posts and threads through tweepy's v2 `Client.create_tweet`, within the weighted 280 characters.

Errors become newsbot's (bot/errors.py): 429 → RateLimited until the reset X announces (the 15-minute window
or the 24-hour user cap, whichever is later), kept in the state file by the outbox; 403 duplicate content →
Duplicate (skipped); 401 and other 403s → Unauthorized (X publishing stops, the queue is kept); 400 →
Rejected; 5xx and connection failures before the request went out → PublishError (retried with backoff).

X has no idempotency key. When a create request went out but no answer came back (a read time-out, a dropped
connection), the post is looked for on the account's recent timeline; found → sent; not found → retried later;
the timeline cannot be read → UnknownOutcome, for an admin to decide. tweepy's `wait_on_rate_limit` is not used:
it sleeps on the 15-minute header only and loops on the 24-hour cap.
"""

from __future__ import annotations

import html
import logging
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import requests

from bot.config import XConfig
from bot.errors import (
    ConfigError,
    Duplicate,
    PublishError,
    RateLimited,
    Rejected,
    Unauthorized,
    UnknownOutcome,
)
from bot.logs import kv
from bot.models import Post, Receipt
from bot.publishers.lost_answer import request_went_out
from bot.xtext import X_LIMIT

if TYPE_CHECKING:
    import tweepy

    from bot.images import ImageLoader
    from bot.publishers.x_media import XImages

log = logging.getLogger("newsbot.x")

# where tweepy sends every request (the v2 media uploads of bot.publishers.x_media too); rebased onto [x] api_base_url
TWEEPY_HOST = "https://api.twitter.com"
TIMELINE_LOOKBACK = 20  # recent posts searched for one whose outcome is unknown
_URL = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class XCredentials:
    """OAuth 1.0a user context, or an OAuth 2.0 user access token. Never logged, never shown."""

    consumer_key: str = field(default="", repr=False)
    consumer_secret: str = field(default="", repr=False)
    access_token: str = field(default="", repr=False)
    access_token_secret: str = field(default="", repr=False)
    bearer_token: str = field(default="", repr=False)

    @property
    def oauth1(self) -> bool:
        return not self.bearer_token

    @classmethod
    def from_environment(cls, config: XConfig, environ: dict[str, str], config_label: str) -> XCredentials:
        def value(name: str) -> str:
            return environ.get(name, "").strip()

        if value(config.bearer_token_env):
            return cls(bearer_token=value(config.bearer_token_env))
        missing = [name for name in config.oauth1_env_names() if not value(name)]
        if missing:
            raise ConfigError(
                f"{config_label}: x: set {', '.join(missing)} (OAuth 1.0a user context), or"
                f" {config.bearer_token_env} (an OAuth 2.0 user access token), before posting to X"
            )
        return cls(*(value(name) for name in config.oauth1_env_names()))


class RebasedSession(requests.Session):
    """tweepy builds every URL on a fixed host (api.twitter.com); this sends them to `base_url` instead, with a
    time-out, so that a proxy or a test server sees every request (posts, timeline reads and v2 media uploads).

    The URL is rewritten before the request is prepared, so an OAuth 1.0a signature covers the real address.
    """

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if url.startswith(TWEEPY_HOST):
            url = self.base_url + url[len(TWEEPY_HOST) :]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


@dataclass
class XPublisher:
    config: XConfig
    credentials: XCredentials
    channel: str = "x"
    weighted_limit: int = X_LIMIT
    images: ImageLoader | None = None  # the post's image goes with its first part (bot.publishers.x_media)
    _client: tweepy.Client | None = field(init=False, default=None)
    _media: XImages | None = field(init=False, default=None)
    _user_id: str = field(init=False, default="")

    def publish(self, post: Post) -> Receipt:
        """Post the text, or each part of a thread as a reply to the one before, continuing after `post.posted`.
        The first part carries the post's image, if it can be had (a failed upload never stops the post)."""
        parts = post.parts or (post.text,)
        posted = list(post.posted)
        media_id = self._image_id(post) if not posted else None
        for text in parts[len(posted) :]:
            try:
                posted.append(self._create(text, reply_to=posted[-1] if posted else None, media_id=media_id))
                media_id = None
            except PublishError as error:
                error.progress = tuple(posted)
                raise
        return Receipt(remote_id=",".join(posted))

    def close(self) -> None:
        if self._client is not None:
            self._client.session.close()
        if self._media is not None:
            self._media.close()
        elif self.images is not None:
            self.images.close()

    def _image_id(self, post: Post) -> str | None:
        if self.images is None or not post.image_url:
            return None
        if self._media is None:
            from bot.publishers.x_media import XImages

            self._media = XImages(self.images, self._api, user_auth=self.credentials.oauth1)
        return self._media.upload(post)

    # -- the API ------------------------------------------------------------------------------------

    def _api(self) -> tweepy.Client:
        if self._client is None:
            import tweepy

            c = self.credentials
            client = tweepy.Client(
                bearer_token=c.bearer_token or None,
                consumer_key=c.consumer_key or None,
                consumer_secret=c.consumer_secret or None,
                access_token=c.access_token or None,
                access_token_secret=c.access_token_secret or None,
            )
            client.session = RebasedSession(self.config.api_base_url, self.config.request_timeout)
            self._client = client
        return self._client

    def _create(self, text: str, reply_to: str | None, media_id: str | None = None) -> str:
        import tweepy

        try:
            response = self._api().create_tweet(
                text=text,
                in_reply_to_tweet_id=reply_to,
                media_ids=[media_id] if media_id else None,
                user_auth=self.credentials.oauth1,
            )
        except tweepy.TooManyRequests as error:
            raise RateLimited(seconds_until_reset(error.response.headers), "X rate limit reached") from None
        except tweepy.Forbidden as error:
            reason = _api_message(error)
            if "duplicate" in reason.lower():
                raise Duplicate(f"X refused it as duplicate content: {reason}") from None
            raise Unauthorized(f"X refused the post (403): {reason}; check the app's permissions") from None
        except tweepy.Unauthorized as error:
            raise Unauthorized(f"X refused the credentials (401): {_api_message(error)}") from None
        except tweepy.BadRequest as error:
            raise Rejected(f"X refused the post (400): {_api_message(error)}") from None
        except tweepy.TwitterServerError as error:
            raise PublishError(f"X server error {error.response.status_code}") from None
        except requests.RequestException as error:
            if not request_went_out(error):
                raise PublishError(f"could not reach X: {type(error).__name__}") from None
            return self._look_for(text, error)
        data: dict[str, Any] = response.data
        return str(data["id"])

    def _look_for(self, text: str, error: Exception) -> str:
        """The create went out but its answer was lost: was it posted? Never guess; never post twice."""
        try:
            recent = self._recent_posts()
        except Exception as lookup_error:
            raise UnknownOutcome(
                f"no answer from X ({type(error).__name__}) and the timeline could not be read"
                f" ({type(lookup_error).__name__})"
            ) from None
        wanted = _comparable(text)
        for post_id, posted_text in recent:
            if _comparable(posted_text) == wanted:
                log.warning("%s", kv(event="x_found_after_lost_answer", post_id=post_id))
                return post_id
        raise PublishError(f"no answer from X ({type(error).__name__}) and the post is not on the timeline")

    def _recent_posts(self) -> list[tuple[str, str]]:
        client = self._api()
        oauth1 = self.credentials.oauth1
        if not self._user_id:
            me: Any = client.get_me(user_auth=oauth1)
            self._user_id = str(me.data["id"])
        timeline: Any = client.get_users_tweets(self._user_id, max_results=TIMELINE_LOOKBACK, user_auth=oauth1)
        return [(str(post["id"]), str(post["text"])) for post in (timeline.data or [])]


def seconds_until_reset(headers: Any, now: float | None = None) -> float:
    """Seconds until X lifts the limit that was hit: the later of the exhausted window's and the 24-hour cap's."""
    now = time.time() if now is None else now
    resets = []
    for prefix in ("x-rate-limit", "x-user-limit-24hour"):
        remaining, reset = headers.get(f"{prefix}-remaining"), headers.get(f"{prefix}-reset")
        if reset is not None and (remaining is None or str(remaining).strip() == "0"):
            try:
                resets.append(float(reset))
            except ValueError:
                continue
    if not resets:
        return 15 * 60.0  # no usable header: wait out one standard window
    return max(max(resets) - now, 1.0)


def _api_message(error: tweepy.HTTPException) -> str:
    messages = [str(m) for m in getattr(error, "api_messages", []) if m]
    return "; ".join(messages) or str(error)


def _comparable(text: str) -> str:
    """Text as X gives it back has t.co links and &amp;-escapes: compare with links blanked, entities decoded."""
    return " ".join(_URL.sub("<link>", html.unescape(text)).split())
