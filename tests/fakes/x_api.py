"""A fake X API v2 server for tests: real HTTP on 127.0.0.1, so tweepy and requests are never mocked.

    fake = FakeX()
    fake.start()
    client = tweepy.Client(consumer_key="ck-test", consumer_secret="s", access_token="at-test", access_token_secret="s")
    client.session = RebasingSession(fake.base_url)   # rewrites https://api.twitter.com to fake.base_url
    client.create_tweet(text="hello")
    fake.stop()

or use the `fake_x` fixture. The server answers like https://api.twitter.com/2 for the endpoints newsbot uses
(POST /2/tweets, GET /2/users/me, GET /2/users/:id/tweets): the same JSON shapes ("problem" bodies for errors),
the same HTTP statuses, the same rate-limit headers and the free tier's cap of 17 posts per user per 24 hours
(see `FakeX`); and for images like X API v2's one-shot upload, POST /2/media/upload (a JSON body with the image
base64-encoded in `media`, or a multipart form with the raw bytes in a `media` file part; `media_category` required
in both), then POST /2/media/metadata for the alt text, with v2's "problem" error bodies. v1.1's media endpoints
(upload.twitter.com/1.1/media/upload.json), which X is retiring, are not served: a request there gets 404.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import html
import json
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final, Literal
from urllib.parse import unquote

import pytest
import twitter_text
from aiohttp import web

from tests.fakes.aiohttp_thread import ThreadedAiohttpServer
from tests.fakes.telegram_api import InjectedFault, RandomFaults, RandomFaultsReport

__all__ = ["DAILY_CREATE_LIMIT", "MAX_WEIGHTED_LENGTH", "FakeX", "Media", "Request", "Tweet", "fake_x"]

JSON = dict[str, Any]
AuthKind = Literal["oauth1", "bearer", "none"]

DAILY_CREATE_LIMIT: Final = 17  # free tier: posts per user per 24 hours
MAX_WEIGHTED_LENGTH: Final = 280
_DAY: Final = 86_400.0
_TCO_PREFIX: Final = "https://t.co/"  # + 10 characters: every link counts 23, as X wraps it
_TWITTER_EPOCH_MS: Final = 1_288_834_974_657
_MIN_ID: Final = 10**18  # ids are 19 digits, like X's snowflakes
_MAX_ID: Final = 10**19 - 1

_OAUTH_PARAM: Final = re.compile(r'([A-Za-z_]+)="([^"]*)"')
_TIMELINE: Final = re.compile(r"/2/users/([^/]+)/tweets/?")
MAX_IMAGE_BYTES: Final = 5 * 1024 * 1024  # X's limit for a photo
MAX_ALT_CHARS: Final = 1000
ONE_SHOT_CATEGORIES: Final = ("tweet_image", "dm_image", "subtitles")  # what POST /2/media/upload accepts
_MEDIA_ROUTES: Final = ("/2/media/upload", "/2/media/metadata")
_IMAGE_MAGIC: Final = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png", b"GIF8": "image/gif"}

X_FAULT_KINDS: Final = ("429", "5xx", "timeout", "drop", "slow")
_INVALID_REQUEST: Final = "https://api.twitter.com/2/problems/invalid-request"
_NOT_FOUND: Final = "https://api.twitter.com/2/problems/resource-not-found"
_DUPLICATE: Final = "You are not allowed to create a Tweet with duplicate content."
_NOT_PERMITTED: Final = "You are not permitted to perform this action."
_CLIENT_NOT_ENROLLED: Final = (
    "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a Twitter "
    "developer App that is attached to a Project. You can create a project via the developer portal."
)


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request the server received.

    `auth` is the kind of Authorization header presented ("oauth1", "bearer" or "none"), whether or not its
    credentials were right (a refused one has status 401). `status` is the HTTP status answered, 0 if the
    connection was dropped. `at` is the fake's clock when the request arrived.
    """

    method: str
    path: str
    query: dict[str, str]
    json: dict[str, Any] | None
    auth: AuthKind
    status: int
    at: float


@dataclass(frozen=True, slots=True)
class Tweet:
    """A post the server created. `text` is as sent (NFC-normalised); `auth` is how the create was authorised."""

    id: str
    text: str
    in_reply_to: str | None
    at: float
    auth: AuthKind = "oauth1"
    media_ids: tuple[str, ...] = ()


@dataclass(slots=True)
class Media:
    """An image uploaded to POST /2/media/upload, as it came on the wire: its bytes (decoded), the type the bytes
    are, `encoding` ("json" or "multipart"), the body's field names, `media_category` and `media_type` as sent ("" if
    absent), the `auth` of the upload, and the alt text set on it through POST /2/media/metadata (if any)."""

    id: str
    data: bytes
    mime_type: str
    encoding: Literal["json", "multipart"]
    fields: tuple[str, ...]
    category: str
    declared_type: str = ""
    auth: AuthKind = "oauth1"
    alt: str = ""


class _Problem(Exception):
    """An error answer: an RFC 7807 "problem" body like X API v2's, optionally with extra headers."""

    def __init__(self, status: int, body: JSON, headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("detail") or body.get("title") or str(status))
        self.status = status
        self.body = body
        self.headers = headers or {}


def _problem(status: int, detail: str | None = None, *, title: str | None = None) -> _Problem:
    phrase = _phrase(status)
    return _Problem(
        status,
        {"title": title or phrase, "detail": detail or phrase, "type": "about:blank", "status": status},
    )


def _unauthorized() -> _Problem:
    return _Problem(401, {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"})


def _invalid_request(parameter: str, value: str, message: str) -> _Problem:
    return _Problem(
        400,
        {
            "errors": [{"message": message, "parameters": {parameter: [value]}}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": _INVALID_REQUEST,
        },
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


@dataclass(slots=True)
class _Injected:
    """A fault for the next `remaining` creates."""

    kind: Literal["rate_limit", "fail", "forbid"]
    remaining: int
    status: int = 0
    reset_in: int = 0
    daily: bool = False


class FakeX(RandomFaultsReport, ThreadedAiohttpServer):
    """An X API v2 server on 127.0.0.1 for tweepy's `Client` to talk to over real HTTP.

    Point tweepy at it with a `requests.Session` that rewrites "https://api.twitter.com" (tweepy's hard-coded
    host) to `base_url`, and read back what it received: `requests` (every request) and `tweets` (every post
    created, including ones whose answer the client never saw).

    Authentication: every endpoint needs an Authorization header, either OAuth 1.0a user context with
    `consumer_key` and `access_token` (the signature must be present; it is not verified) or
    "Bearer <bearer_token>" (an OAuth 2.0 user token). Anything else gets 401.

    POST /2/tweets, in this order of checks: credentials (401, also `reject_credentials`), injected faults
    (`fail` 5xx, `rate_limit` 429, `forbid` 403), the 24-hour cap (429 once `daily_limit` posts were created in
    the last 24 hours of `clock`), the body (400 invalid request: no text, text over 280 weighted characters
    after NFC normalisation, a reply to an unknown id), duplicate content (403), then the post is created and
    answered 201 — or, with `create_then_drop` / `create_then_delay`, created and never answered / answered late.
    Every answer to a create carries x-rate-limit-limit/-remaining/-reset and x-user-limit-24hour-limit/
    -remaining/-reset (epoch seconds on `clock`), like the free tier, where both describe the 24-hour window;
    an injected `rate_limit` answers remaining 0 with its own reset in x-rate-limit-*, and in
    x-user-limit-24hour-* too only when `daily=True` (otherwise those carry the true 24-hour counts).

    With `rendered_text` (default), texts in answers are rendered as X renders them: every link replaced by a
    23-character https://t.co/ link, and &, <, > escaped as &amp; &lt; &gt;. `Tweet.text` keeps the text as sent.
    """

    server_name = "FakeX"

    daily_limit: int = DAILY_CREATE_LIMIT

    def __init__(
        self,
        *,
        username: str = "newsbot_test",
        user_id: str = "4242",
        consumer_key: str = "ck-test",
        access_token: str = "at-test",
        bearer_token: str = "bearer-test",
        clock: Callable[[], float] = time.time,
        rendered_text: bool = True,
    ) -> None:
        super().__init__()
        self.username = username
        self.user_id = user_id
        self.consumer_key = consumer_key
        self.access_token = access_token
        self.bearer_token = bearer_token
        self.rendered_text = rendered_text
        self._clock = clock

        self._lock = threading.RLock()
        self._requests: list[Request] = []
        self._tweets: list[Tweet] = []
        self._by_id: dict[str, Tweet] = {}
        self._texts: set[str] = set()
        self._media: dict[str, Media] = {}
        self._upload_failures: list[int] = []
        self._last_id = 0
        # faults
        self._injected: list[_Injected] = []
        self._reject_times = 0
        self._drop_times = 0
        self._delay_times = 0
        self._delay_seconds = 0.0
        self._timeline_unavailable = False
        self._random: RandomFaults | None = None
        self._random_reset_in = 900
        self._random_delays = (0.0, 0.0)  # (timeout, slow)

    # --- what the server received -----------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        """Every request, in order of arrival (a snapshot)."""
        with self._lock:
            return list(self._requests)

    @property
    def media(self) -> list[Media]:
        """Every image uploaded, oldest first (a snapshot)."""
        with self._lock:
            return list(self._media.values())

    def fail_uploads(self, status: int = 503, times: int = 1) -> None:
        """The next `times` uploads to POST /2/media/upload get `status` (a problem body) and store nothing."""
        with self._lock:
            self._upload_failures.extend([status] * times)

    @property
    def tweets(self) -> list[Tweet]:
        """Every post created, oldest first (a snapshot), including ones whose answer was dropped or delayed."""
        with self._lock:
            return list(self._tweets)

    # --- fault injection --------------------------------------------------------------------------

    def rate_limit(self, *, reset_in: int = 900, times: int = 1, daily: bool = False) -> None:
        """The next `times` creates get 429 with x-rate-limit-remaining 0 and reset clock() + `reset_in`.

        With `daily`, the x-user-limit-24hour-* headers say remaining 0 with the same reset too, as when the
        free tier's 24-hour cap is reached.
        """
        with self._lock:
            self._injected.append(_Injected("rate_limit", times, status=429, reset_in=reset_in, daily=daily))

    def fail(self, status: int = 503, times: int = 1) -> None:
        """The next `times` creates get `status` (e.g. 503 Service Unavailable) and create nothing."""
        with self._lock:
            self._injected.append(_Injected("fail", times, status=status))

    def reject_credentials(self, times: int = 10**9) -> None:
        """The next `times` requests (any endpoint) get 401 Unauthorized, as with revoked or wrong keys."""
        with self._lock:
            self._reject_times = times

    def forbid(self, times: int = 1) -> None:
        """The next `times` creates get 403 "You are not permitted to perform this action." (e.g. a read-only
        app, a locked or suspended account)."""
        with self._lock:
            self._injected.append(_Injected("forbid", times, status=403))

    def create_then_drop(self, times: int = 1) -> None:
        """The next `times` successful creates make the post, then close the connection without answering."""
        with self._lock:
            self._drop_times = times

    def create_then_delay(self, seconds: float, times: int = 1) -> None:
        """The next `times` successful creates make the post, then answer only after `seconds`."""
        with self._lock:
            self._delay_seconds, self._delay_times = seconds, times

    def random_faults(
        self,
        rate: float,
        kinds: Iterable[str] = X_FAULT_KINDS,
        *,
        seed: int = 0,
        reset_in: int = 900,
        timeout_delay: float = 1.0,
        slow_delay: float = 0.2,
    ) -> None:
        """From now on each create (POST /2/tweets) gets, with probability `rate`, one of `kinds`:

        * "429": like `rate_limit(reset_in=reset_in)`, nothing created;
        * "5xx": 503 Service Unavailable, nothing created;
        * "timeout": created, answered after `timeout_delay` s (set it above the client's time-out);
        * "drop": created, then the connection is closed without an answer;
        * "slow": created, answered after `slow_delay` s (below the client's time-out).

        A "timeout" or "drop" whose create was refused anyway (a duplicate, the daily cap) is not counted.
        `fault_log` has them all; the timeline endpoints are never faulted, so a client can look a post up.
        """
        with self._lock:
            self._random = RandomFaults(rate, kinds, seed, X_FAULT_KINDS)
            self._random_reset_in = reset_in
            self._random_delays = (timeout_delay, slow_delay)

    def timeline_unavailable(self) -> None:
        """GET /2/users/:id/tweets answers 403 (client-not-enrolled, as for an app without read access)."""
        with self._lock:
            self._timeline_unavailable = True

    # --- HTTP -------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived = self._clock()
        auth, authorized = self._authorization(request.headers.get("Authorization", ""))
        query = dict(request.query)
        body: JSON | None = None
        status = 0
        headers: dict[str, str] = {}
        after: Literal["answer", "drop", "delay"] = "answer"
        delay = 0.0
        try:
            if request.method == "POST" and request.path.rstrip("/") == "/2/tweets":
                body, malformed = _json_object(await request.read())
                with self._lock:
                    self._check_credentials(authorized)
                    if malformed is not None:
                        raise malformed
                    fault = self._random_fault_before_create(arrived)
                    answer, headers = self._create(body, auth, arrived)
                    after, delay = self._after_create()
                    if fault is not None:
                        after, delay = self._random_fault_after_create(fault, arrived)
                status = 201
            elif request.method == "POST" and request.path.rstrip("/") in _MEDIA_ROUTES:
                body, answer = await self._media_endpoint(request, auth, authorized)
                status = 200
            elif request.method == "GET" and request.path.rstrip("/") == "/2/users/me":
                with self._lock:
                    self._check_credentials(authorized)
                answer = {"data": {"id": self.user_id, "name": "newsbot test", "username": self.username}}
                status = 200
            elif request.method == "GET" and (match := _TIMELINE.fullmatch(request.path)):
                with self._lock:
                    self._check_credentials(authorized)
                    answer = self._timeline(match.group(1), query)
                status = 200
            else:
                raise _Problem(
                    404, {"title": "Not Found Error", "type": _NOT_FOUND, "status": 404, "detail": "Not Found"}
                )
        except _Problem as problem:
            answer, status = problem.body, problem.status
            headers = {**headers, **problem.headers}

        record = Request(request.method, request.path, query, body, auth, 0 if after == "drop" else status, arrived)
        with self._lock:
            self._requests.append(record)
        if after == "drop":
            transport = request.transport
            if transport is not None:
                transport.abort()
            raise asyncio.CancelledError  # nothing more to answer on a closed connection
        if after == "delay":
            await asyncio.sleep(delay)
        if answer is None:
            return web.Response(status=status)
        return web.json_response(
            answer, status=status, headers=headers, dumps=lambda o: json.dumps(o, ensure_ascii=False)
        )

    # --- v2 media -------------------------------------------------------------------------------

    async def _media_endpoint(self, request: web.Request, auth: AuthKind, authorized: bool) -> tuple[JSON | None, JSON]:
        """POST /2/media/upload or /2/media/metadata: (the JSON body as received, if JSON; the answer).

        Raises _Problem (v2's error bodies), as every other endpoint does."""
        multipart = request.content_type == "multipart/form-data"
        form: Any = await request.post() if multipart else None
        body, malformed = (None, None) if multipart else _json_object(await request.read())
        with self._lock:
            self._check_credentials(authorized)
            if malformed is not None:
                raise malformed
            if request.path.rstrip("/") == "/2/media/metadata":
                return body, self._set_alt(body or {})
            if self._upload_failures:
                raise _problem(self._upload_failures.pop(0))
            media = _received_media(form, body, auth)
            media.id = self._next_id(self._clock())
            self._media[media.id] = media
        answer = {"id": media.id, "media_key": f"3_{media.id}", "size": len(media.data), "expires_after_secs": 86400}
        return body, {"data": answer}

    def _set_alt(self, body: JSON) -> JSON:
        """{"id": ..., "metadata": {"alt_text": {"text": ...}}} → the alt text set on that media (lock held)."""
        media_id = str(body.get("id", ""))
        metadata = body.get("metadata")
        alt = metadata.get("alt_text") if isinstance(metadata, dict) else None
        text = alt.get("text") if isinstance(alt, dict) else None
        if media_id not in self._media:
            raise _invalid_request("id", media_id, f"The media id [{media_id}] was not found")
        if not isinstance(text, str) or len(text) > MAX_ALT_CHARS:
            raise _invalid_request(
                "metadata.alt_text.text", str(text), f"alt_text.text must be a string of at most {MAX_ALT_CHARS}"
            )
        self._media[media_id].alt = text
        return {"data": {"id": media_id, "associated_metadata": {"alt_text": {"text": text}}}}

    def _authorization(self, header: str) -> tuple[AuthKind, bool]:
        """(kind of Authorization header, whether its credentials are this account's)."""
        scheme, _, rest = header.strip().partition(" ")
        if scheme.lower() == "oauth":
            params = {name: unquote(value) for name, value in _OAUTH_PARAM.findall(rest)}
            ok = (
                params.get("oauth_consumer_key") == self.consumer_key
                and params.get("oauth_token") == self.access_token
                and bool(params.get("oauth_signature"))
            )
            return "oauth1", ok
        if scheme.lower() == "bearer":
            return "bearer", rest.strip() == self.bearer_token
        return "none", False

    def _check_credentials(self, authorized: bool) -> None:
        if self._reject_times > 0:
            self._reject_times -= 1
            raise _unauthorized()
        if not authorized:
            raise _unauthorized()

    # --- endpoints (lock held) --------------------------------------------------------------------

    def _create(self, body: JSON | None, auth: AuthKind, now: float) -> tuple[JSON, dict[str, str]]:
        """Create a post from a POST /2/tweets body; (answer, rate-limit headers). Raises _Problem."""
        injected = self._take_injected()
        if injected is not None and injected.kind == "fail":
            raise _problem(injected.status)
        if injected is not None and injected.kind == "rate_limit":
            reset = str(int(now + injected.reset_in))
            headers = self._limit_headers(now)
            headers.update({"x-rate-limit-remaining": "0", "x-rate-limit-reset": reset})
            if injected.daily:
                headers.update({"x-user-limit-24hour-remaining": "0", "x-user-limit-24hour-reset": reset})
            raise _Problem(429, _problem(429).body, headers)
        if injected is not None:
            raise _problem(403, _NOT_PERMITTED)
        headers = self._limit_headers(now)
        if headers["x-user-limit-24hour-remaining"] == "0":
            raise _Problem(429, _problem(429).body, headers)

        if body is None:
            raise _invalid_request("body", "", "Request body must be a JSON object")
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _invalid_request("text", "" if text is None else str(text), "Post text is required")
        text = unicodedata.normalize("NFC", text)
        if twitter_text.parse_tweet(text).weightedLength > MAX_WEIGHTED_LENGTH:
            raise _invalid_request("text", text, "The text is too long")
        reply = body.get("reply")
        in_reply_to: str | None = None
        if reply is not None:
            target = reply.get("in_reply_to_tweet_id") if isinstance(reply, dict) else None
            in_reply_to = str(target) if target is not None else ""
            if in_reply_to not in self._by_id:
                raise _invalid_request(
                    "reply.in_reply_to_tweet_id",
                    in_reply_to,
                    "The `reply.in_reply_to_tweet_id` field does not match a Tweet the user can reply to",
                )
        media_ids = self._media_ids(body)
        if text in self._texts:
            raise _problem(403, _DUPLICATE)

        tweet = Tweet(self._next_id(now), text, in_reply_to, now, auth, media_ids)
        self._tweets.append(tweet)
        self._by_id[tweet.id] = tweet
        self._texts.add(text)
        return {"data": self._tweet_json(tweet)}, self._limit_headers(now)

    def _media_ids(self, body: JSON) -> tuple[str, ...]:
        media = body.get("media")
        if media is None:
            return ()
        ids = media.get("media_ids") if isinstance(media, dict) else None
        if not isinstance(ids, list) or not 1 <= len(ids) <= 4:
            raise _invalid_request("media.media_ids", str(ids), "Your media IDs are invalid.")
        for media_id in ids:
            if str(media_id) not in self._media:
                raise _invalid_request("media.media_ids", str(media_id), "Your media IDs are invalid.")
        return tuple(str(media_id) for media_id in ids)

    def _take_injected(self) -> _Injected | None:
        if not self._injected:
            return None
        injected = self._injected[0]
        injected.remaining -= 1
        if injected.remaining <= 0:
            self._injected.pop(0)
        return injected

    def _random_fault_before_create(self, now: float) -> str | None:
        """Pick this create's random fault; a "429" or "5xx" is queued to answer it. Others are for afterwards."""
        fault = self._random.pick() if self._random else None
        if fault is None or self._random is None:
            return None
        if fault in ("429", "5xx"):
            injected = (
                _Injected("rate_limit", 1, status=429, reset_in=self._random_reset_in)
                if fault == "429"
                else _Injected("fail", 1, status=503)
            )
            self._injected.insert(0, injected)
            retry = float(self._random_reset_in) if fault == "429" else 0.0
            self._random.record(InjectedFault(fault, "", now, retry_after=retry))
            return None
        return fault

    def _random_fault_after_create(self, fault: str, now: float) -> tuple[Literal["answer", "drop", "delay"], float]:
        assert self._random is not None
        self._random.record(InjectedFault(fault, "", now, delivered=fault in ("timeout", "drop")))
        timeout_delay, slow_delay = self._random_delays
        if fault == "drop":
            return "drop", 0.0
        return "delay", timeout_delay if fault == "timeout" else slow_delay

    def _after_create(self) -> tuple[Literal["answer", "drop", "delay"], float]:
        if self._drop_times > 0:
            self._drop_times -= 1
            return "drop", 0.0
        if self._delay_times > 0:
            self._delay_times -= 1
            return "delay", self._delay_seconds
        return "answer", 0.0

    def _limit_headers(self, now: float) -> dict[str, str]:
        """The free tier's headers: both families describe the account's posts in the 24 hours up to `now`."""
        recent = [tweet.at for tweet in self._tweets if now - _DAY < tweet.at <= now]
        remaining = str(max(0, self.daily_limit - len(recent)))
        reset = str(int((min(recent) if recent else now) + _DAY))
        limit = str(self.daily_limit)
        return {
            "x-rate-limit-limit": limit,
            "x-rate-limit-remaining": remaining,
            "x-rate-limit-reset": reset,
            "x-user-limit-24hour-limit": limit,
            "x-user-limit-24hour-remaining": remaining,
            "x-user-limit-24hour-reset": reset,
        }

    def _next_id(self, now: float) -> str:
        """A 19-digit id above every earlier one, derived from the clock like X's snowflakes when it can be."""
        snowflake = (int(now * 1000) - _TWITTER_EPOCH_MS) << 22
        candidate = snowflake if _MIN_ID <= snowflake <= _MAX_ID else _MIN_ID
        self._last_id = max(self._last_id + 1, candidate)
        return str(self._last_id)

    def _timeline(self, user_id: str, query: dict[str, str]) -> JSON:
        if self._timeline_unavailable:
            raise _Problem(
                403,
                {
                    "client_id": "10000000",
                    "detail": _CLIENT_NOT_ENROLLED,
                    "registration_url": "https://developer.x.com/en/docs/projects/overview",
                    "title": "Client Forbidden",
                    "required_enrollment": "Appropriate Level of API Access",
                    "reason": "client-not-enrolled",
                    "type": "https://api.twitter.com/2/problems/client-forbidden",
                },
            )
        raw = query.get("max_results", "10")
        try:
            max_results = int(raw)
        except ValueError:
            max_results = 0
        if not 5 <= max_results <= 100:
            raise _invalid_request(
                "max_results", raw, f"The `max_results` query parameter value [{raw}] is not between 5 and 100"
            )
        if user_id != self.user_id:
            return {
                "errors": [
                    {
                        "value": user_id,
                        "detail": f"Could not find user with id: [{user_id}].",
                        "title": "Not Found Error",
                        "resource_type": "user",
                        "parameter": "id",
                        "resource_id": user_id,
                        "type": _NOT_FOUND,
                    }
                ]
            }
        newest = self._tweets[::-1][:max_results]
        if not newest:
            return {"meta": {"result_count": 0}}
        return {
            "data": [self._tweet_json(tweet) for tweet in newest],
            "meta": {"result_count": len(newest), "newest_id": newest[0].id, "oldest_id": newest[-1].id},
        }

    def _tweet_json(self, tweet: Tweet) -> JSON:
        return {"id": tweet.id, "text": self._render(tweet), "edit_history_tweet_ids": [tweet.id]}

    def _render(self, tweet: Tweet) -> str:
        """The text as X answers it: links wrapped in t.co, &, <, > escaped (when `rendered_text`)."""
        if not self.rendered_text:
            return tweet.text
        parts: list[str] = []
        position = 0
        for number, url in enumerate(twitter_text.extract_urls_with_indices(tweet.text)):
            start, end = url["indices"]
            parts.append(html.escape(tweet.text[position:start], quote=False))
            code = hashlib.blake2b(f"{tweet.id}/{number}".encode(), digest_size=5).hexdigest()
            parts.append(f"{_TCO_PREFIX}{code}")
            position = end
        parts.append(html.escape(tweet.text[position:], quote=False))
        return "".join(parts)


def _json_object(raw: bytes) -> tuple[JSON | None, _Problem | None]:
    """(the request body as a JSON object or None if empty, the 400 answer if it is not a JSON object)."""
    if not raw.strip():
        return None, None
    try:
        decoded = json.loads(raw)
    except ValueError:
        return None, _invalid_request("body", raw[:100].decode("utf-8", "replace"), "Request body is not valid JSON")
    if not isinstance(decoded, dict):
        return None, _invalid_request("body", "", "Request body must be a JSON object")
    return decoded, None


def _received_media(form: Any, body: JSON | None, auth: AuthKind) -> Media:
    """The image of a one-shot upload, its fields checked (400 invalid request, in the fake's own words, otherwise);
    its id is set by the caller."""
    source: Any = form if form is not None else (body or {})
    category = str(source.get("media_category") or "")
    if category not in ONE_SHOT_CATEGORIES:
        raise _invalid_request("media_category", category, f"media_category must be one of {ONE_SHOT_CATEGORIES}")
    media = source.get("media")
    if form is not None and hasattr(media, "file"):
        data = media.file.read()
    elif isinstance(media, str) and media:
        try:
            data = base64.b64decode(media, validate=True)
        except binascii.Error:
            raise _invalid_request("media", media[:40], "media is not valid base64") from None
    else:
        raise _invalid_request("media", "", "media is required")
    mime = next((kind for magic, kind in _IMAGE_MAGIC.items() if data.startswith(magic)), "")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        mime = "image/webp"
    if not mime:
        raise _invalid_request("media", "", "media type unrecognized")
    if len(data) > MAX_IMAGE_BYTES:
        raise _invalid_request("media", "", f"File size exceeds {MAX_IMAGE_BYTES} bytes")
    encoding: Literal["json", "multipart"] = "multipart" if form is not None else "json"
    fields = tuple(source.keys())
    return Media("", data, mime, encoding, fields, category, str(source.get("media_type") or ""), auth)


# --- fixture --------------------------------------------------------------------------------------


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    """A started FakeX on the wall clock with the default account and credentials; stopped after the test."""
    fake = FakeX()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
