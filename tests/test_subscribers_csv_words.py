"""Telegram subscribers' /watch and /mute words in `newsbot subscribers export|import` (bot/subscribers_csv.py): they
travel in `watch` and `mute` columns, comma separated, by the rule of the chat commands, and an old file without
those columns still imports."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import subscribers_csv
from bot.commands import context
from bot.config import StateConfig
from bot.errors import ConfigError
from bot.store import MUTE, WATCH, Store, open_store

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
WATCHED = {  # several scripts, a phrase with a space, words a spreadsheet would run as a formula
    "1001": ["climate change", "Straße", "気候変動", "изменение климата", "हिन्दी", "تغير المناخ", "=mc2"],
    "-1002003004005": ["=SUM(A1)", "flood"],  # '=' is the first word of the cell
    "1003": [],
    "1004": ["'@home", "+49 phone"],  # a word that starts with ' and then @ keeps its own '
}
MUTED = {"1001": ["football", "-sale"], "-1002003004005": [], "1003": ["@celebrity gossip"], "1004": []}


@pytest.fixture
def target(state: StateConfig) -> Iterator[Store]:
    """A fresh state on the test's backend to import into."""
    opened = open_store(state)
    yield opened
    opened.close()


def subscribed(store: Store, chat: str, tags: list[str], watch: list[str], mute: list[str]) -> None:
    store.subscribe("telegram", chat, NOW)
    store.set_subscriber_tags("telegram", chat, tags, NOW)
    store.add_subscriber_words("telegram", chat, WATCH, watch)
    store.add_subscriber_words("telegram", chat, MUTE, mute)


def interests(store: Store) -> dict[str, tuple[list[str], list[str], list[str], bool]]:
    """Each Telegram subscriber's hashtags, watch and mute words (sorted) and whether they are active."""
    return {
        s.address: (
            sorted(s.hashtags),
            sorted(store.subscriber_words("telegram", s.address, WATCH)),
            sorted(store.subscriber_words("telegram", s.address, MUTE)),
            s.active,
        )
        for s in store.iter_subscribers("telegram")
    }


def exported(store: Store) -> str:
    out = io.StringIO(newline="")
    subscribers_csv.write_csv(subscribers_csv.export_rows(store, "telegram"), out)
    return out.getvalue()


def imported(store: Store, text: str) -> subscribers_csv.ImportReport:
    return subscribers_csv.import_subscribers(store, "telegram", io.StringIO(text, newline=""), NOW)


def test_every_subscribers_hashtags_watch_and_mute_words_survive_an_export_and_import(
    tmp_path: Path, target: Store
) -> None:
    source = open_store(tmp_path / "old.sqlite")
    for n, chat in enumerate(WATCHED):
        subscribed(source, chat, ["Climate", "Politik"][: n % 3], WATCHED[chat], MUTED[chat])
    source.deactivate_subscriber("telegram", "1003", "blocked the bot", NOW)
    text = exported(source)

    report = imported(target, text)

    assert report.summary() == "4 added, 0 updated, 0 skipped"
    assert interests(target) == interests(source)
    assert interests(target)["1001"][1] == sorted(WATCHED["1001"])
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["chat_id", "hashtags", "watch", "mute", "active", "status"]
    cells = {row[0]: row[2:4] for row in rows[1:]}
    assert cells["-1002003004005"] == ["'=SUM(A1), flood", ""]  # a spreadsheet shows it as text
    assert cells["1004"] == ["''@home, +49 phone", ""]
    assert cells["1003"] == ["", "'@celebrity gossip"]
    source.close()


def test_a_file_from_before_watch_and_mute_imports_and_leaves_stored_words_alone(target: Store) -> None:
    subscribed(target, "1001", ["Sport"], ["flood"], ["football"])

    report = imported(target, "chat_id,hashtags,active,status\r\n1001,#Climate,1,\r\n1002,#Science,1,\r\n")

    assert report.summary() == "1 added, 1 updated, 0 skipped"
    assert interests(target) == {
        "1001": (["Climate"], ["flood"], ["football"], True),
        "1002": (["Science"], [], [], True),
    }


def test_import_replaces_watch_and_mute_words_as_it_replaces_hashtags(target: Store) -> None:
    subscribed(target, "1001", ["Sport"], ["flood", "storm"], ["football"])
    subscribed(target, "1002", [], ["drought"], ["tennis"])

    report = imported(target, 'chat_id,hashtags,watch,mute\n1001,#Climate,"heat wave, Flood",\n1002,,drought\n')

    assert report.summary() == "0 added, 2 updated, 0 skipped"
    assert interests(target) == {
        "1001": (["Climate"], ["Flood", "heat wave"], [], True),  # an empty cell: no mute words any more
        "1002": ([], ["drought"], [], True),  # a line short of its last cell: that cell is empty
    }


def test_a_line_with_21_watch_words_is_reported_and_skipped_and_the_others_imported(target: Store) -> None:
    subscribed(target, "1002", ["Sport"], ["flood"], [])
    too_many = ", ".join(f"word{n}" for n in range(21))
    bidi = "safe, evil\u202eliam"
    text = (
        "chat_id,hashtags,watch,mute\n"
        f'1001,#Climate,"{too_many}",\n'
        f'1002,#Politics,"{", ".join(f"word{n}" for n in range(20))}",!!!\n'
        f'1003,,"{bidi}",\n'
        '1004,#Science,"Wahl 2026, Klima",Fußball\n'
    )

    report = imported(target, text)

    assert report.summary() == (
        "1 added, 0 updated, 3 skipped"
        "\n  line 2: watch: 21 words; at most 20, separated by commas"
        "\n  line 3: mute: '!!!' is not a keyword (a word or phrase with at least one letter or digit, up to 100"
        " characters); separate keywords with commas"
        "\n  line 4: watch: a control or invisible character (U+202E); remove it"
    )
    assert interests(target) == {
        "1002": (["Sport"], ["flood"], [], True),  # nothing of a skipped line is applied
        "1004": (["Science"], ["Klima", "Wahl 2026"], ["Fußball"], True),
    }


def test_csv_import_reads_words_as_the_watch_command_does() -> None:
    typed = "climate change,  Climate Change ; flood\nनदी, 気候"
    assert subscribers_csv.parse_words(WATCH, typed) == context.parse_words(typed)
    assert subscribers_csv.parse_words(WATCH, "می\u200cخواهم") == ["می\u200cخواهم"]  # a joiner Persian needs


def test_a_wrong_header_says_which_columns_are_needed_and_which_may_be_added(target: Store) -> None:
    with pytest.raises(ConfigError) as raised:
        imported(target, "id,tags,watch\n1,#a,flood\n")
    assert str(raised.value) == (
        "the CSV header needs the columns 'chat_id,hashtags' and may add watch, mute, active, in any order, as"
        " `newsbot subscribers export` writes them (found: 'id,tags,watch')"
    )


def test_an_export_read_in_batches_gives_each_subscriber_their_own_hashtags_and_words(target: Store) -> None:
    for n, chat in enumerate(WATCHED):
        subscribed(target, chat, ["Climate", "Politik", "Wetter"][: n % 4], WATCHED[chat], MUTED[chat])
    target.deactivate_subscriber("telegram", "1003", "blocked the bot", NOW)

    out = io.StringIO(newline="")
    subscribers_csv.write_csv(subscribers_csv.export_rows(target, "telegram", batch=3), out)  # 4 chats: 2 batches

    rows = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert rows == [  # words in the order of their folded forms, as `subscriber_words` reads them
        ["chat_id", "hashtags", "watch", "mute", "active", "status"],
        [
            "1001",
            "",
            "'=mc2, climate change, Straße, изменение климата, تغير المناخ, हिन्दी, 気候変動",
            "'-sale, football",
            "1",
            "",
        ],
        ["-1002003004005", "#Climate", "'=SUM(A1), flood", "", "1", ""],
        ["1003", "#Climate #Politik", "", "'@celebrity gossip", "0", "blocked the bot"],
        ["1004", "#Climate #Politik #Wetter", "''@home, +49 phone", "", "1", ""],
    ]
