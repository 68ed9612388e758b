"""The one exception tree of newsbot.

NewsbotError
├── ConfigError            the configuration file or environment is wrong; the message names file, key and fix
├── SourceError            a feed or article page could not be fetched or parsed; names source, URL and reason
├── RenderError            a post cannot be made to fit its channel (e.g. the link alone is over the limit)
├── LockedError            another newsbot process holds the state file
├── BadToken               a signed link was forged, tampered with, or has expired (bot/email/tokens.py)
└── PublishError           a publisher could not deliver a post; the outbox decides what happens next
    ├── RateLimited        retry this recipient after `retry_after` seconds, not before
    ├── Unauthorized       credentials are wrong or revoked: stop this channel, keep its queue
    ├── Rejected           the service refused this post for good (reason given): do not retry it
    │   └── Duplicate      ... because it already has the same post: marked skipped, not failed
    └── RecipientGone      the recipient blocked the bot or no longer exists: deactivate, do not retry

A PublishError that is none of the subclasses is transient: retried later with backoff.
Publishers translate their library's exceptions into these; nothing else leaves a publisher.
"""

from __future__ import annotations

from bot.urls import redact_url, redact_urls_in


class NewsbotError(Exception):
    """Base of every error newsbot raises on purpose."""


class ConfigError(NewsbotError):
    """Bad configuration: the message says which file, which key, and how to fix it."""


class SourceError(NewsbotError):
    """A source could not be read. `source` and `url` say which one; the message says why.

    The message and `reason` show URLs without credentials or query (`bot.urls.redact_url`): both are logged
    and shown in chat. `url` is kept whole for the code that reads it.
    """

    def __init__(self, source: str, url: str, reason: str) -> None:
        self.source = source
        self.url = url
        self.reason = redact_urls_in(reason)
        super().__init__(f"source {source!r} ({redact_url(url)}): {self.reason}")

    def __reduce__(self) -> tuple[type[SourceError], tuple[str, str, str]]:
        # Sources may be read in worker processes; the error must come back whole.
        return (self.__class__, (self.source, self.url, self.reason))


class RenderError(NewsbotError):
    """A post could not be rendered within its channel's rules."""


class LockedError(NewsbotError):
    """Another process is already running on the same state file."""


class PublishError(NewsbotError):
    """Delivery failed for a reason that may pass: retry later with backoff.

    `progress` holds the remote ids of the parts already posted (a thread stopped half-way), so the retry
    continues after them instead of starting over.
    """

    progress: tuple[str, ...] = ()


class RateLimited(PublishError):
    def __init__(self, retry_after: float, message: str = "") -> None:
        super().__init__(message or f"rate limited: retry after {retry_after:g} s")
        self.retry_after = retry_after


class Unauthorized(PublishError):
    """The channel's credentials were refused."""


class Rejected(PublishError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RecipientGone(PublishError):
    """The recipient blocked the bot, left, or was deleted."""


class UnknownOutcome(PublishError):
    """The request was sent, no answer came back, and the service could not tell whether it was posted."""


class Duplicate(Rejected):
    """The service refused the post as identical to one it already has: nothing to retry, nothing lost."""
