"""The clock: what time it is, in UTC, for every part that is not handed a clock of its own.

Parts take a `Clock` argument and default to `utc_now`, so tests pass in a clock they move by hand and never sleep.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "utc_now"]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)
