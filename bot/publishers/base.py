"""What every publisher offers. Publishers translate their library's errors into `bot.errors.PublishError`s."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from bot.models import Post, Receipt

if TYPE_CHECKING:
    from bot.render import Digest


class Publisher(Protocol):
    channel: str

    def publish(self, post: Post) -> Receipt:
        """Deliver one post to `post.recipient`; return only once the remote side confirmed it."""
        ...

    def close(self) -> None: ...


class DigestPublisher(Protocol):
    def send_digest(self, digest: Digest, recipient: str) -> Receipt:
        """Deliver one digest; return only once the remote side confirmed it."""
        ...
