"""The control room's CSV exports (bot/control/exports.py): safe cells, chunks, a subscribers file that imports back."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

from bot.control.exports import csv_chunks, delivery_rows, subscriber_rows
from bot.store import MUTE, SENT, WATCH, open_store
from bot.store.reports import DeliveryCursor, DeliveryRecord, SubscriberFilter, SubscriberRecord
from bot.subscribers_csv import import_subscribers

WHEN = datetime(2024, 3, 5, 8, 0, tzinfo=UTC)


def record(title: str, error: str = "") -> DeliveryRecord:
    cursor = DeliveryCursor("2024-03-05T08:00:00.000000Z", 1, 7)
    return DeliveryRecord("aa11", title, "telegram", "-100123", SENT, WHEN, error, "", cursor)


def read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_every_cell_a_spreadsheet_would_run_is_written_as_text_and_chat_ids_stay_numbers() -> None:
    rows = read("".join(csv_chunks(delivery_rows([record('=HYPERLINK("http://evil","x")', "@SUM(1)")]))))

    assert rows[0] == ["when", "channel", "recipient", "outcome", "article", "title", "digest", "error"]
    assert rows[1] == [
        "2024-03-05T08:00:00.000000Z", "telegram", "-100123", "sent", "aa11", "'=HYPERLINK(\"http://evil\",\"x\")",
        "", "'@SUM(1)",
    ]  # fmt: skip


def test_rows_go_out_in_chunks_and_a_line_break_in_a_title_stays_inside_its_cell() -> None:
    chunks = list(csv_chunks(delivery_rows([record(f"Story {n}\r\nsecond line") for n in range(5)]), rows_per_chunk=2))

    assert len(chunks) == 3  # header + 5 rows, two a chunk
    rows = read("".join(chunks))
    assert [r[5] for r in rows[1:]] == [f"Story {n}\r\nsecond line" for n in range(5)]


def test_a_channels_subscribers_file_imports_back_unchanged(tmp_path: Path) -> None:
    source = open_store(tmp_path / "a.sqlite")
    source.subscribe("telegram", "-100123", WHEN)
    source.set_subscriber_tags("telegram", "-100123", ["Politics", "Climate"], WHEN)
    source.add_subscriber_words("telegram", "-100123", WATCH, ["=mc2", "heat wave", "気候"])
    source.add_subscriber_words("telegram", "-100123", MUTE, ["football"])
    source.subscribe("telegram", "42", WHEN)
    source.deactivate_subscriber("telegram", "42", "blocked the bot", WHEN)
    found = source.iter_found_subscribers(SubscriberFilter(channel="telegram"))
    text = "".join(csv_chunks(subscriber_rows(found, "telegram")))

    target = open_store(tmp_path / "b.sqlite")
    report = import_subscribers(target, "telegram", io.StringIO(text, newline=""), WHEN)
    assert report.problems == [] and report.added == 2
    header = ["chat_id", "hashtags", "name", "active", "status", "channel", "subscribed", "watch", "mute"]
    assert read(text)[0] == header
    assert read(text)[2][-2:] == ["'=mc2, heat wave, 気候", "football"]  # the newest first
    moved = {
        s.address: (s.hashtags, s.active, s.watching, s.muting)
        for s in target.iter_found_subscribers(SubscriberFilter())
    }
    assert moved == {
        "-100123": (("Climate", "Politics"), True, ("=mc2", "heat wave", "気候"), ("football",)),
        "42": ((), False, (), ()),
    }


def test_subscribers_of_every_channel_name_their_column_address() -> None:
    record = SubscriberRecord(1, "email", "ann@example.org", "+Ann", ("Sport",), True, "", WHEN)
    rows = read("".join(csv_chunks(subscriber_rows([record]))))

    assert rows == [
        ["address", "hashtags", "name", "active", "status", "channel", "subscribed", "watch", "mute"],
        ["ann@example.org", "#Sport", "'+Ann", "1", "", "email", "2024-03-05T08:00:00.000000Z", "", ""],
    ]
