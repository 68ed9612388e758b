"""Mastodon publisher: posts and threads through Mastodon.py's `status_post`, on the instance of
`[mastodon] api_base_url`, with the route's content warning and language, and the article's image when there is one.

Errors become newsbot's (bot/errors.py): 429, or a window with nothing remaining (X-RateLimit-Remaining 0) →
RateLimited until X-RateLimit-Reset, kept in the state by the outbox, the one judge of when to ask again
(Mastodon.py's own sleeping is off: `ratelimit_method="throw"`, and its memory of the reset is dropped once handed
over); 401, 403 and 404 (not the instance's API) → Unauthorized (Mastodon publishing stops, the queue is kept); 422,
and 404 for a thread's reply (the post it continues was deleted) → Rejected; 5xx and connection failures before the
request went out → PublishError (retried with backoff).

Every status create carries an Idempotency-Key made of the article, the recipient and the part's place in the
thread, so a retry after a crash within the instance's hour of memory gets the same status, not a second one. When
a create went out but its answer was lost (a read time-out, a dropped connection), the post is looked for on the
account's recent statuses first, as on X: found → sent; not found → retried (with the same key); the statuses cannot
be read → UnknownOutcome, for an admin to decide.

The image is uploaded once per post: when the first create fails after the upload (a 5xx, a 429, no answer),
the media id is kept (for the article and recipient, in a small bounded memory of the process) and the retry
attaches it instead of leaving an unused upload on the instance. A kept id the instance refuses (it removes
unattached media after a while) is forgotten and the post retried: the next attempt uploads the image again.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from bot.channels.mastodon import post_limit
from bot.config import Config
from bot.errors import PublishError, RateLimited, Rejected, Unauthorized, UnknownOutcome
from bot.htmltext import html_to_text
from bot.images import ImageLimits, ImageLoader, PostImage
from bot.logs import kv
from bot.models import Post, Receipt
from bot.publishers.lost_answer import request_went_out

if TYPE_CHECKING:
    from mastodon import Mastodon

log = logging.getLogger("newsbot.mastodon")

# Mastodon's media limits: 16 MB, 8.3 megapixels (4096 x 2048 at most on one side, so 4096), 1500 characters of alt.
IMAGE_LIMITS: Final = ImageLimits(max_bytes=16 * 1024 * 1024, max_side=4096, max_alt_chars=1500)
TIMELINE_LOOKBACK: Final = 20  # recent statuses searched for one whose outcome is unknown
DEFAULT_WAIT: Final = 5 * 60.0  # Mastodon's rate-limit windows are 5 minutes; used when no reset is announced
_URL: Final = re.compile(r"https?://\S+")
MEDIA_KEPT_POSTS: Final = 64  # posts whose uploaded image waits for a retry of their first create
# Mastodon removes media left unattached after a day (media_remove); a kept id older than this is uploaded again.
MEDIA_KEPT_SECONDS: Final = 3600.0


def idempotency_key(post: Post, part: int) -> str:
    """The same for every attempt at one part of one article's post to one recipient, and for nothing else."""
    name = "\x00".join((post.channel, post.article_key, post.recipient, str(part)))
    return hashlib.sha256(name.encode()).hexdigest()[:40]


@dataclass
class MastodonPublisher:
    config: Config
    token: str = field(repr=False)
    images: ImageLoader | None = None  # None: ImageLoader.from_config, built at the first post
    channel: str = "mastodon"
    _client: Mastodon | None = field(init=False, default=None)
    _account_id: str = field(init=False, default="")
    # (article key, recipient) → (when uploaded, monotonic seconds; media ids) of a first post not yet created.
    _kept_media: OrderedDict[tuple[str, str], tuple[float, list[str]]] = field(init=False, default_factory=OrderedDict)

    def publish(self, post: Post) -> Receipt:
        """Post the text, or each part of a thread as a reply to the one before, continuing after `post.posted`."""
        parts = post.parts or (post.text,)
        posted = list(post.posted)
        for index in range(len(posted), len(parts)):
            try:
                posted.append(self._create_part(post, index, parts[index], posted[-1] if posted else None))
            except PublishError as error:
                error.progress = tuple(posted)
                raise
        return Receipt(remote_id=",".join(posted))

    def _create_part(self, post: Post, index: int, text: str, reply_to: str | None) -> str:
        """One part; the first with the article's image, uploaded once however often its create is tried."""
        if index > 0:
            return self._create(post, index, text, reply_to, [])
        key = (post.article_key, post.recipient)
        kept = self._kept_media.pop(key, None)
        if kept is not None and time.monotonic() - kept[0] <= MEDIA_KEPT_SECONDS:
            (uploaded_at, media), reused = kept, True
        else:
            uploaded_at, media, reused = time.monotonic(), self._upload_image(post), False
        try:
            return self._create(post, index, text, reply_to, media)
        except Rejected as refused:
            if reused:  # the kept media may be gone from the instance: not the post's fault
                raise PublishError(f"{refused}; the image is uploaded again at the next attempt") from None
            raise
        except PublishError:
            if media:
                self._kept_media[key] = (uploaded_at, media)
                while len(self._kept_media) > MEDIA_KEPT_POSTS:
                    self._kept_media.popitem(last=False)
            raise

    def announced_limit(self) -> int | None:
        """The instance's longest post (`bot.channels.mastodon.post_limit`); its API is asked only when
        `[mastodon] max_characters` is not set, and a failed answer means Mastodon's 500."""
        if self.config.mastodon.max_characters is not None:
            return post_limit(self.config, None)
        from mastodon import MastodonError

        try:
            instance: Any = self._api().instance()
            announced = instance["configuration"]["statuses"]["max_characters"]
        except (MastodonError, KeyError, TypeError) as error:
            log.warning(
                "%s",
                kv(event="mastodon_limit_unknown", reason=type(error).__name__, limit=post_limit(self.config, None)),
            )
            return post_limit(self.config, None)
        valid = isinstance(announced, int) and not isinstance(announced, bool)
        return post_limit(self.config, announced if valid else None)

    def close(self) -> None:
        if self._client is not None:
            self._client.session.close()
        if self.images is not None:
            self.images.close()

    # -- the API ------------------------------------------------------------------------------------

    def _api(self) -> Mastodon:
        if self._client is None:
            import requests
            from mastodon import Mastodon

            settings = self.config.mastodon
            self._client = Mastodon(
                access_token=self.token,
                api_base_url=settings.api_base_url,
                ratelimit_method="throw",
                request_timeout=settings.request_timeout,
                session=requests.Session(),
                version_check_mode="none",
            )
        return self._client

    def _create(self, post: Post, index: int, text: str, reply_to: str | None, media: list[str]) -> str:
        from mastodon import MastodonAPIError, MastodonNetworkError, MastodonRatelimitError

        api = self._api()
        self._check_window(api)
        try:
            status: Any = api.status_post(
                text,
                in_reply_to_id=reply_to,
                media_ids=media or None,
                spoiler_text=post.content_warning or None,
                visibility=self.config.mastodon.visibility,
                language=post.language or None,
                idempotency_key=idempotency_key(post, index),
            )
        except MastodonRatelimitError:
            raise self._rate_limited(api, "Mastodon rate limit reached") from None
        except MastodonNetworkError as error:
            cause = error.__context__ or error
            if not request_went_out(cause):
                raise PublishError(f"could not reach the Mastodon instance: {type(cause).__name__}") from None
            return self._look_for(text, reply_to, cause)
        except MastodonAPIError as error:
            if reply_to is not None and _status_code(error) == 404:  # the post it continues was deleted
                gone = f"the Mastodon post this thread continues ({reply_to}) is gone: {_reason(error)}"
                raise Rejected(gone) from None
            raise _translated(error) from None
        return str(status["id"])

    def _check_window(self, api: Mastodon) -> None:
        """The last answer said nothing remains in this window: wait for its reset instead of asking for a 429."""
        remaining, reset = api.ratelimit_remaining, api.ratelimit_reset
        if remaining is not None and remaining <= 0 and reset is not None and reset > time.time():
            raise self._rate_limited(api, "Mastodon rate limit reached (no requests remaining)")

    def _rate_limited(self, api: Mastodon, why: str) -> RateLimited:
        """RateLimited until the announced reset. The wait is handed over: the outbox keeps it in the state and
        calls again only once it is over, by its own clock, so the client's copy (in wall-clock time) is dropped:
        it would otherwise refuse the create that the state allows. The next answer tells the client anew."""
        limited = RateLimited(self._seconds_until_reset(api), why)
        api.ratelimit_remaining = api.ratelimit_limit  # as at the start of a window
        return limited

    @staticmethod
    def _seconds_until_reset(api: Mastodon) -> float:
        reset = api.ratelimit_reset
        if reset is None:
            return DEFAULT_WAIT
        return max(float(reset) - time.time(), 1.0)

    def _upload_image(self, post: Post) -> list[str]:
        """The article's image, uploaded with its alt text; [] when there is none or it could not be uploaded."""
        if not post.image_url:
            return []
        if self.images is None:
            self.images = ImageLoader.from_config(self.config)
        image = self.images.load(post, IMAGE_LIMITS)
        return [] if image is None else self._upload(post, image)

    def _upload(self, post: Post, image: PostImage) -> list[str]:
        from mastodon import MastodonError

        try:
            media: Any = self._api().media_post(
                image.data, image.mime_type, description=image.alt, file_name=image.filename
            )
        except (MastodonError, OSError) as error:
            log.warning(
                "%s",
                kv(
                    event="mastodon_image_not_uploaded",
                    article=post.article_key,
                    reason=_reason(error),
                    fix="posted without it",
                ),
            )
            return []
        return [str(media["id"])]

    # -- a lost answer ------------------------------------------------------------------------------

    def _look_for(self, text: str, reply_to: str | None, error: BaseException) -> str:
        """The create went out but its answer was lost: was it posted? Never guess; never post twice."""
        try:
            recent = self._recent_statuses()
        except Exception as lookup_error:
            raise UnknownOutcome(
                f"no answer from the Mastodon instance ({type(error).__name__}) and the account's statuses could not"
                f" be read ({type(lookup_error).__name__})"
            ) from None
        wanted = _comparable(text)
        for status_id, content, replied_to in recent:
            if _comparable(html_to_text(content)) == wanted and replied_to == (reply_to or ""):
                log.warning("%s", kv(event="mastodon_found_after_lost_answer", status_id=status_id))
                return status_id
        raise PublishError(
            f"no answer from the Mastodon instance ({type(error).__name__}) and the post is not among the account's"
            " statuses"
        )

    def _recent_statuses(self) -> list[tuple[str, str, str]]:
        """(id, content HTML, the id it replies to or "") of the account's latest statuses."""
        api = self._api()
        if not self._account_id:
            me: Any = api.account_verify_credentials()
            self._account_id = str(me["id"])
        statuses: Any = api.account_statuses(self._account_id, limit=TIMELINE_LOOKBACK)
        return [
            (str(status["id"]), str(status["content"] or ""), str(status["in_reply_to_id"] or ""))
            for status in statuses
        ]


def _translated(error: Exception) -> PublishError:
    """A refusal of Mastodon's in newsbot's terms (see the module docstring)."""
    status = _status_code(error)
    reason = _reason(error)
    if status in (401, 403):
        return Unauthorized(f"the Mastodon instance refused the token ({status}): {reason}; check [mastodon] token_env")
    if status == 404:
        return Unauthorized(f"no Mastodon API there (404): {reason}; check [mastodon] api_base_url")
    if status == 422:
        return Rejected(f"the Mastodon instance refused the post (422): {reason}")
    return PublishError(f"Mastodon instance error {status or ''}: {reason}".replace("  ", " "))


def _status_code(error: Exception) -> int:
    # Mastodon.py raises MastodonAPIError('Mastodon API returned error', status, reason, message).
    args = error.args
    return args[1] if len(args) > 1 and isinstance(args[1], int) else 0


def _reason(error: Exception) -> str:
    args = error.args
    if len(args) > 3 and args[3]:
        return str(args[3])[:300]
    if len(args) > 2 and args[2]:
        return str(args[2])[:300]
    return type(error).__name__


def _comparable(text: str) -> str:
    """Text as Mastodon gives it back is HTML with links cut for show: compare with links blanked, spaces as one."""
    return " ".join(_URL.sub("<link>", text).split())
