"""The one table of what a send error means, read by the outbox and the email digest alike."""

from __future__ import annotations

import pytest

from bot.errors import (
    Duplicate,
    PublishError,
    RateLimited,
    RecipientGone,
    Rejected,
    Unauthorized,
    UnknownOutcome,
)
from bot.outcomes import Outcome, outcome_of, wait_seconds


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (RateLimited(30), Outcome.WAIT),
        (Unauthorized("535 authentication failed"), Outcome.STOP),
        (UnknownOutcome("no answer after the message was sent"), Outcome.UNKNOWN),
        (Duplicate("already posted"), Outcome.DUPLICATE),
        (Rejected("550 5.7.1 policy"), Outcome.REJECTED),
        (RecipientGone("550 5.1.1 no such user"), Outcome.GONE),
        (PublishError("421 try again later"), Outcome.RETRY),
        (ValueError("a bug in a sender"), Outcome.RETRY),
    ],
)
def test_each_error_kind_has_one_outcome(error: Exception, outcome: Outcome) -> None:
    assert outcome_of(error) is outcome


def test_only_a_rate_limit_says_how_long_to_wait() -> None:
    assert wait_seconds(RateLimited(12.5)) == 12.5
    assert wait_seconds(RateLimited(-3)) == 0.0
    assert wait_seconds(PublishError("421")) == 0.0
