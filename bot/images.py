"""An article's image as a social network takes it: fetched, checked, resized to the network's limits, with alt text.

Every social channel (X, Mastodon, Bluesky) calls `ImageLoader.load` with its own `ImageLimits` just before it posts.
An image that cannot be fetched, is too large or cannot be decoded never blocks the post: `load` returns None and
logs why (`event=image_skipped`), and the post goes without it. (Telegram hands the image's URL to Telegram, which
fetches it itself.)

Fetching is the sources' own (`bot.sources.fetch`): the post's source's size cap and time-out, redirects checked hop
by hop, and its address rule (`bot.sources.reach`): an image on the origin of a source from the config file may be on
a private address as that source may; an image anywhere else (another origin, or a source added in chat) only on a
public one, checked before any connection is made. Decoding and resizing are `bot.image_fit`'s.

One article goes to several networks in one drain, each with its own loader: the last few downloads (or why they
failed) are kept for the process (`RECENT_DOWNLOADS`, at most `RECENT_BYTES` in all), so it is fetched once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from bot.alttext import clean_alt
from bot.logs import kv
from bot.sources.reach import Reach
from bot.urls import redact_url

if TYPE_CHECKING:
    from bot.config import Config, SourceConfig
    from bot.models import Post
    from bot.sources.connect import Connections

__all__ = ["IMAGE_ACCEPT", "ImageLimits", "ImageLoader", "PostImage"]

log = logging.getLogger("newsbot.images")

IMAGE_ACCEPT: Final = "image/jpeg, image/png, image/webp, image/gif;q=0.8"
RECENT_DOWNLOADS: Final = 4
RECENT_BYTES: Final = 24_000_000
DEFAULT_TIMEOUT: Final = 20.0  # a source's own defaults (bot.config.SourceConfig), for one added in chat
DEFAULT_MAX_BYTES: Final = 10_000_000
RECENT_SECONDS: Final = 600.0  # a download older than this is fetched again
# A failure is remembered only while one article goes to its networks: a post retried later tries the image again.
RECENT_FAILURE_SECONDS: Final = 60.0
FALLBACK_ALT: Final = "Image"  # only for a post without title or image text
_EXTENSIONS: Final = {"image/jpeg": "jpg", "image/png": "png"}


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """What one network accepts; every image is re-encoded within them (never sent as it came: see bot.image_fit)."""

    max_bytes: int  # the upload's size cap
    max_side: int  # the longest side, in pixels
    max_alt_chars: int  # alt text beyond this is shortened at a word boundary
    mime_types: tuple[str, ...] = ("image/jpeg", "image/png")  # PNG is used only if listed here (transparency)


@dataclass(frozen=True, slots=True)
class PostImage:
    """An image ready to upload."""

    data: bytes
    mime_type: str
    width: int
    height: int
    alt: str  # the feed's image text, else the article's title; never empty
    filename: str  # "image.jpg", for multipart uploads


@dataclass(frozen=True, slots=True)
class _Download:
    body: bytes = b""
    problem: str = ""  # why there is no body (for the log)


class _RecentDownloads:
    """The last few downloads by (URL, rule, limits), shared by the loaders of one process (see the docstring)."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._items: OrderedDict[tuple[object, ...], tuple[float, _Download]] = OrderedDict()
        self._lock = threading.Lock()
        self._now = now

    def get(self, key: tuple[object, ...]) -> _Download | None:
        with self._lock:
            at, found = self._items.get(key, (0.0, None))
            if found is None or self._now() - at > (RECENT_SECONDS if found.body else RECENT_FAILURE_SECONDS):
                return None
            self._items.move_to_end(key)
            return found

    def put(self, key: tuple[object, ...], download: _Download) -> None:
        with self._lock:
            self._items[key] = (self._now(), download)
            while (
                len(self._items) > RECENT_DOWNLOADS
                or sum(len(d.body) for _at, d in self._items.values()) > RECENT_BYTES
            ):
                self._items.popitem(last=False)


_RECENT = _RecentDownloads()  # the process's one piece of shared state: see the module docstring


class ImageLoader:
    """Fetches and prepares the image of a post, under the same size cap and time-out as sources."""

    def __init__(self, config: Config, recent: _RecentDownloads | None = None) -> None:
        self._config = config
        self._recent = _RECENT if recent is None else recent
        self._sources = {source.name: source for source in config.sources}
        self._connections: Connections | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Config) -> ImageLoader:
        return cls(config)

    def load(self, post: Post, limits: ImageLimits) -> PostImage | None:
        """The post's image within `limits`, or None (no image, or it could not be had: logged, never raised)."""
        if not post.image_url:
            return None
        from bot.image_fit import ImageProblem, fit

        download = self._download(post)
        problem = download.problem
        if not problem:
            try:
                fitted = fit(download.body, limits)
            except ImageProblem as error:
                problem = str(error)
        if problem:
            log.warning("%s", kv(event="image_skipped", url=redact_url(post.image_url), reason=problem))
            return None
        # Plain text already (the feed's, cleaned when read, or the title): only shortened, control characters dropped.
        alt = clean_alt(post.image_alt, limits.max_alt_chars, markup=False) or FALLBACK_ALT
        extension = _EXTENSIONS.get(fitted.mime_type, "img")
        return PostImage(fitted.data, fitted.mime_type, fitted.width, fitted.height, alt, f"image.{extension}")

    def _download(self, post: Post) -> _Download:
        source = self._sources.get(post.source)
        reach = self._reach(source)
        timeout = source.timeout if source else DEFAULT_TIMEOUT
        max_bytes = source.max_bytes if source else DEFAULT_MAX_BYTES
        key = (post.image_url, reach, timeout, max_bytes)
        download = self._recent.get(key)
        if download is None:
            download = self._fetch(post.image_url, reach, timeout, max_bytes)
            self._recent.put(key, download)
        return download

    def _reach(self, source: SourceConfig | None) -> Reach:
        """The source's rule for its own origin (a source from the config file may be private); public elsewhere."""
        allow_private = self._config.fetch.allow_private
        if source is None:
            return Reach(from_operator=False, allow_private=allow_private)
        return Reach(from_operator=True, allow_private=allow_private, home_url=source.url)

    def _fetch(self, url: str, reach: Reach, timeout: float, max_bytes: int) -> _Download:
        from bot.errors import SourceError
        from bot.sources.fetch import fetch

        if not url.lower().startswith(("http://", "https://")):
            return _Download(problem="not an http(s) URL")
        try:
            fetched = fetch(
                url,
                name="image",
                timeout=timeout,
                max_bytes=max_bytes,
                reach=reach,
                connections=self._pool(),
                accept=IMAGE_ACCEPT,
            )
        except SourceError as error:
            return _Download(problem=error.reason)
        return _Download(body=fetched.body)

    def _pool(self) -> Connections:
        from bot.sources.connect import Connections

        with self._lock:
            if self._connections is None:
                self._connections = Connections()
            return self._connections

    def close(self) -> None:
        """Release the connections it holds."""
        with self._lock:
            if self._connections is not None:
                self._connections.close()
                self._connections = None
