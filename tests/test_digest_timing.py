from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import EmailConfig
from bot.email.schedule import is_due, last_scheduled

BERLIN = ZoneInfo("Europe/Berlin")
EMAIL = EmailConfig(digest_day="monday", digest_time="08:00", timezone="Europe/Berlin")


def test_last_scheduled_is_the_latest_weekday_and_local_time_before_now() -> None:
    wednesday = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert last_scheduled(wednesday, EMAIL).astimezone(BERLIN) == datetime(2026, 11, 23, 8, 0, tzinfo=BERLIN)
    monday_early = datetime(2026, 11, 23, 6, 59, tzinfo=UTC)  # 07:59 in Berlin: last week's digest
    assert last_scheduled(monday_early, EMAIL).astimezone(BERLIN) == datetime(2026, 11, 16, 8, 0, tzinfo=BERLIN)


def test_digest_time_follows_daylight_saving() -> None:
    after_spring_forward = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
    assert last_scheduled(after_spring_forward, EMAIL) == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)  # 08:00 CEST
    winter = datetime(2026, 3, 24, 12, 0, tzinfo=UTC)
    assert last_scheduled(winter, EMAIL) == datetime(2026, 3, 23, 7, 0, tzinfo=UTC)  # 08:00 CET


def test_digest_is_due_once_after_the_scheduled_time_even_after_missed_weeks() -> None:
    sent = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)  # the digest of Monday 2 November
    back_after_three_weeks = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert is_due(back_after_three_weeks, sent, EMAIL)
    assert not is_due(back_after_three_weeks + timedelta(minutes=1), back_after_three_weeks, EMAIL)
    assert not is_due(datetime(2026, 11, 30, 6, 59, tzinfo=UTC), back_after_three_weeks, EMAIL)
    assert is_due(datetime(2026, 11, 30, 7, 0, tzinfo=UTC), back_after_three_weeks, EMAIL)
