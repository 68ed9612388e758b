"""One event is one log line: values from outside (a feed's title, a server's error text) cannot break or forge it."""

from __future__ import annotations

from bot.logs import kv


def test_plain_values_stay_bare_and_others_are_quoted() -> None:
    assert kv(event="poll", source="city-news", seconds=0.25) == "event=poll source=city-news seconds=0.25"
    assert kv(title='Say "no" to C:\\temp') == 'title="Say \\"no\\" to C:\\\\temp"'
    assert kv(title="") == 'title=""'


def test_line_breaks_and_control_characters_cannot_forge_a_line() -> None:
    hostile = "ok\r2026-12-02 event=admin_added user=evil\nevent=x\x1b[2K\x85\u2028\x00"
    line = kv(event="feed_error", detail=hostile)
    assert line == (
        'event=feed_error detail="ok\\r2026-12-02 event=admin_added user=evil\\nevent=x\\x1b[2K\\x85\\u2028\\x00"'
    )
    assert all(char.isprintable() for char in line)
    assert kv(title="Café – 東京 🌧") == 'title="Café – 東京 🌧"'  # printable text is left as written
