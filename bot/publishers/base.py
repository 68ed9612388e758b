"""What every publisher offers. Publishers translate their library's errors into `bot.errors.PublishError`s."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bot.errors import PublishError
from bot.models import Post, Receipt

if TYPE_CHECKING:
    from bot.metrics import Metrics


class Publisher(Protocol):
    channel: str

    def publish(self, post: Post) -> Receipt:
        """Deliver one post to `post.recipient`; return only once the remote side confirmed it."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class BatchPublisher(Protocol):
    """A publisher that sends many posts at once (concurrently, within its service's rate limits)."""

    def publish_batch(
        self,
        posts: Sequence[Post],
        on_result: Callable[[Post, Receipt | PublishError], None],
        should_stop: Callable[[], bool],
    ) -> None:
        """Call `on_result` for every post whose send was attempted, as soon as its outcome is known.

        A post never attempted (the service refused the credentials, or `should_stop()`) gets no call.
        """
        ...


@runtime_checkable
class MeteredPublisher(Protocol):
    """A publisher that counts what only it sees (a 429 it waits out itself) in the process's /metrics."""

    metrics: Metrics


@runtime_checkable
class AnnouncesLimit(Protocol):
    """A publisher whose service announces its longest post (a Mastodon instance): the outbox renders to it."""

    def announced_limit(self) -> int | None:
        """The longest post the service takes (asked once, then remembered); None: the renderer's own."""
        ...
