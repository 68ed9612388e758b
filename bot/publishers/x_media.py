"""Images on X: the article's image uploaded through X API v2, with its alt text, for the first post.

tweepy 4.17 has no v2 media upload, and its v1.1 `simple_upload` (upload.twitter.com) is being retired by X and
refuses an OAuth 2.0 user token. So the two v2 calls below go through the tweepy `Client`'s own `request`: the same
session (`RebasedSession`, so `[x] api_base_url` applies), the same credentials (OAuth 1.0a signed by tweepy's
`OAuth1UserHandler`, or `Authorization: Bearer` with the OAuth 2.0 token, which needs the `media.write` scope), and
the same errors (a `tweepy.HTTPException` per status), as `create_tweet` has.

1. POST /2/media/upload, one request, as an image within `X_IMAGE_LIMITS` needs no chunked upload: a JSON body
   {"media": <the bytes, base64>, "media_category": "tweet_image", "media_type": "image/jpeg"}, answered
   {"data": {"id": "...", "media_key": "3_...", "size": ..., "expires_after_secs": ...}}.
2. POST /2/media/metadata {"id": <media id>, "metadata": {"alt_text": {"text": <alt>}}} sets the alt text.

The id then goes to `create_tweet(media_ids=[...])`. An image that cannot be had or uploaded never blocks the post:
`upload` returns None, logs why (`event=x_image_skipped`), and the post goes without it.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import requests

from bot.images import ImageLimits, ImageLoader, PostImage
from bot.logs import kv
from bot.models import Post

if TYPE_CHECKING:
    import tweepy

__all__ = ["X_IMAGE_LIMITS", "XImages"]

log = logging.getLogger("newsbot.x")

# X's own limits for a photo: 5 MB, JPEG / PNG / WEBP / GIF, alt text up to 1,000 characters. Sides over 4,096
# pixels X scales down itself; sending them smaller saves the upload.
X_IMAGE_LIMITS: Final = ImageLimits(max_bytes=5_000_000, max_side=4096, max_alt_chars=1000)

UPLOAD_ROUTE: Final = "/2/media/upload"
METADATA_ROUTE: Final = "/2/media/metadata"
# X's API reference for POST /2/media/upload (docs.x.com/x-api/media/upload-media) documents the one-shot upload
# as this JSON body, `media` base64-encoded, and X's own SDK (xdevplatform/xdk) sends it so. It also lets the
# upload go through tweepy's `Client.request` (JSON only) rather than a hand-made multipart request.
IMAGE_CATEGORY: Final = "tweet_image"


class UnexpectedAnswer(Exception):
    """X answered 2xx, but without the media id it should carry."""


class XImages:
    """Uploads a post's image to X; `client` gives the publisher's tweepy `Client` (with the rebased session),
    `user_auth` says whether it signs with OAuth 1.0a (else its bearer token goes in the header)."""

    def __init__(self, loader: ImageLoader, client: Callable[[], tweepy.Client], user_auth: bool) -> None:
        self._loader = loader
        self._client = client
        self._user_auth = user_auth

    def upload(self, post: Post) -> str | None:
        """The media id of the post's image, uploaded with its alt text; None if it has none or it failed."""
        image = self._loader.load(post, X_IMAGE_LIMITS)
        if image is None:
            return None
        import tweepy

        client = self._client()
        try:
            media_id = _media_id(self._post(client, UPLOAD_ROUTE, _upload_body(image)).json())
            # Only the status matters here: a 2xx is the alt text set, whatever body comes with it.
            self._post(client, METADATA_ROUTE, {"id": media_id, "metadata": {"alt_text": {"text": image.alt}}})
        except (tweepy.TweepyException, requests.RequestException, UnexpectedAnswer) as error:
            log.warning("%s", kv(event="x_image_skipped", article=post.article_key, reason=_reason(error)))
            return None
        return media_id

    def close(self) -> None:
        """The image loader's connections; the client's session is the publisher's to close."""
        self._loader.close()

    def _post(self, client: tweepy.Client, route: str, body: dict[str, Any]) -> requests.Response:
        response: requests.Response = client.request("POST", route, json=body, user_auth=self._user_auth)
        return response


def _upload_body(image: PostImage) -> dict[str, str]:
    return {
        "media": base64.b64encode(image.data).decode("ascii"),
        "media_category": IMAGE_CATEGORY,
        "media_type": image.mime_type,  # always JPEG or PNG (X_IMAGE_LIMITS.mime_types), both in X's list
    }


def _media_id(answer: Any) -> str:
    """The id in X's answer, checked: it goes into the next request's body and into the post."""
    data = answer.get("data") if isinstance(answer, dict) else None
    media_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(media_id, str) or not media_id.isdecimal() or len(media_id) > 20:
        raise UnexpectedAnswer("X's answer to the upload has no media id")
    return media_id


def _reason(error: Exception) -> str:
    import tweepy

    if isinstance(error, tweepy.HTTPException):
        messages = "; ".join(str(m) for m in error.api_messages if m) or _problem_detail(error.response)
        return f"X refused the upload ({error.response.status_code}): {messages or 'no reason given'}"
    if isinstance(error, UnexpectedAnswer):
        return str(error)
    return f"the upload failed: {type(error).__name__}"


def _problem_detail(response: requests.Response) -> str:
    """The `detail` of an X API v2 problem body (tweepy reads only `errors`), kept short: it goes into a log line."""
    try:
        body = response.json()
    except ValueError:
        return ""
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail[:200] if isinstance(detail, str) else ""
