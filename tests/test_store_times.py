"""Times in the store: fixed-width UTC text that sorts as time, read back as the same aware moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.store.times import from_db_time, to_db_time


def test_a_time_comes_back_as_the_same_moment_in_utc() -> None:
    berlin = timezone(timedelta(hours=1))
    moment = datetime(2026, 3, 29, 2, 30, 0, 123456, tzinfo=berlin)
    text = to_db_time(moment)
    assert text == "2026-03-29T01:30:00.123456Z"
    back = from_db_time(text)
    assert back == moment and back is not None and back.utcoffset() == timedelta(0)
    assert from_db_time("2026-12-02T17:13:00.123Z") == datetime(2026, 12, 2, 17, 13, 0, 123000, tzinfo=UTC)
    assert from_db_time("") is None and from_db_time(None) is None


def test_text_order_is_time_order() -> None:
    start = datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    moments = [start + timedelta(microseconds=step * 7919) for step in range(200)]
    assert sorted(to_db_time(m) for m in moments) == [to_db_time(m) for m in moments]


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        to_db_time(datetime(2026, 1, 1))
