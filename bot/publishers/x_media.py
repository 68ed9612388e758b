"""Images on X: the article's image uploaded through X's media endpoint, with its alt text, for the first post.

tweepy 4.17's v2 `Client` has no media upload, so the image goes through its v1.1 `API` (`simple_upload`, one
multipart `media` request: an image within `X_IMAGE_LIMITS` needs no chunked upload), then its alt text through
`create_media_metadata`; the id comes back for `create_tweet(media_ids=...)`. tweepy sends both to
upload.twitter.com, which `RebasedSession` moves onto `[x] api_base_url` like every other request.

An image that cannot be had or uploaded never blocks the post: `upload` returns None, logs why
(`event=x_image_skipped`), and the post goes without it.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Any, Final

import requests

from bot.images import ImageLimits, ImageLoader
from bot.logs import kv
from bot.models import Post

if TYPE_CHECKING:
    import tweepy

__all__ = ["X_IMAGE_LIMITS", "XImages"]

log = logging.getLogger("newsbot.x")

# X's own limits for a photo: 5 MB, JPEG / PNG / WEBP / GIF, alt text up to 1,000 characters. Sides over 4,096
# pixels X scales down itself; sending them smaller saves the upload.
X_IMAGE_LIMITS: Final = ImageLimits(max_bytes=5_000_000, max_side=4096, max_alt_chars=1000)


class XImages:
    """Uploads a post's image to X; `api` builds tweepy's v1.1 `API` (with the rebased session) when first needed."""

    def __init__(self, loader: ImageLoader, api: Any) -> None:
        self._loader = loader
        self._make_api = api
        self._api: tweepy.API | None = None

    def upload(self, post: Post) -> str | None:
        """The media id of the post's image, uploaded with its alt text; None if it has none or it failed."""
        image = self._loader.load(post, X_IMAGE_LIMITS)
        if image is None:
            return None
        import tweepy

        if self._api is None:
            self._api = self._make_api()
        try:
            media: Any = self._api.simple_upload(image.filename, file=io.BytesIO(image.data))
            media_id = str(media.media_id_string)
            self._api.create_media_metadata(media_id, image.alt)
        except (tweepy.TweepyException, requests.RequestException) as error:
            reason = _reason(error)
            log.warning("%s", kv(event="x_image_skipped", article=post.article_key, reason=reason))
            return None
        return media_id

    def close(self) -> None:
        self._loader.close()
        if self._api is not None:
            self._api.session.close()


def _reason(error: Exception) -> str:
    import tweepy

    if isinstance(error, tweepy.HTTPException):
        messages = "; ".join(str(m) for m in error.api_messages if m)
        return f"X refused the upload ({error.response.status_code}): {messages or 'no reason given'}"
    return f"the upload failed: {type(error).__name__}"
