"""What a publishing error means: the one table that the outbox and the email digest both read.

    error (bot.errors)     outcome     what the caller does
    RateLimited            WAIT        wait `retry_after` seconds, then try again
    Unauthorized           STOP        credentials refused: stop the channel (or the digest run), keep its queue
    UnknownOutcome         UNKNOWN     sent, no answer: never blindly send it again
    Duplicate              DUPLICATE   the service already has it: skipped, nothing lost
    Rejected               REJECTED    refused for good: failed with the reason, not retried
    RecipientGone          GONE        the recipient is gone: deactivate them, do not retry
    anything else          RETRY       transient (or a bug in a sender): retry with backoff up to the attempt limit

Each caller records the outcome in its own ledger (the outbox per post, the digest per delivery); which outcome
an error has is decided here only.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from bot.errors import Duplicate, RateLimited, RecipientGone, Rejected, Unauthorized, UnknownOutcome


class Outcome(Enum):
    WAIT = "wait"
    STOP = "stop"
    UNKNOWN = "unknown"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    GONE = "gone"
    RETRY = "retry"


# Most specific first: a Duplicate is also a Rejected.
_TABLE: Final[tuple[tuple[type[Exception], Outcome], ...]] = (
    (RateLimited, Outcome.WAIT),
    (Unauthorized, Outcome.STOP),
    (UnknownOutcome, Outcome.UNKNOWN),
    (Duplicate, Outcome.DUPLICATE),
    (Rejected, Outcome.REJECTED),
    (RecipientGone, Outcome.GONE),
)


def outcome_of(error: Exception) -> Outcome:
    """The outcome of a failed send (see the table in the module docstring)."""
    for kind, outcome in _TABLE:
        if isinstance(error, kind):
            return outcome
    return Outcome.RETRY


def wait_seconds(error: Exception) -> float:
    """How long a WAIT outcome waits (0 for any other error)."""
    return max(error.retry_after, 0.0) if isinstance(error, RateLimited) else 0.0
