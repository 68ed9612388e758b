"""Hashtags typed by a person follow one rule (`bot.hashtags.parse_hashtags`) in the web form, the chat commands and
CSV import; each caller only says what is wrong in its own words."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import subscribers_csv, telegram_html
from bot.commands import context
from bot.email import web
from bot.hashtags import MAX_FOLLOWED_TAGS, MAX_TAG_CHARS, MAX_TAGS, HashtagError, parse_hashtags
from bot.store import open_store

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# '##' in front, a comma, and 60 words that are only two hashtags: chat used to refuse all three.
TYPED = "##Climate, #climate " + "#News #news " * 30 + "#Wahl_2026"


def test_the_web_form_chat_and_csv_import_read_the_same_text_as_the_same_hashtags() -> None:
    expected = ["Climate", "News", "Wahl_2026"]
    assert parse_hashtags(TYPED) == expected
    assert web.parse_hashtags(TYPED) == expected
    assert context.parse_hashtags(TYPED) == expected
    assert subscribers_csv.parse_tags(TYPED) == expected


def test_a_hashtag_over_the_length_limit_is_refused_everywhere_each_in_its_own_words() -> None:
    too_long = "#" + "a" * (MAX_TAG_CHARS + 1)
    assert parse_hashtags("#" + "a" * MAX_TAG_CHARS) == ["a" * MAX_TAG_CHARS]
    with pytest.raises(HashtagError) as rule:
        parse_hashtags(f"#Fine {too_long}")
    assert rule.value.bad == (too_long,)
    with pytest.raises(web.FormError, match=f"is longer than {MAX_TAG_CHARS} characters"):
        web.parse_hashtags(too_long)
    with pytest.raises(context.InputError) as chat:
        context.parse_hashtags(too_long)
    assert f"up to {MAX_TAG_CHARS} characters" in chat.value.html and "Nothing was changed" in chat.value.html
    telegram_html.validate(chat.value.html)
    with pytest.raises(ValueError, match=f"is not a hashtag .*up to {MAX_TAG_CHARS} characters"):
        subscribers_csv.parse_tags(too_long)


def test_the_form_and_a_chat_message_take_at_most_max_tags_different_hashtags() -> None:
    most = " ".join(f"#t{n}x" for n in range(MAX_TAGS))
    assert len(web.parse_hashtags(most)) == len(context.parse_hashtags(most)) == MAX_TAGS
    with pytest.raises(web.FormError, match=f"at most {MAX_TAGS} hashtags"):
        web.parse_hashtags(most + " #OneMore")
    with pytest.raises(context.InputError, match=f"That is {MAX_TAGS + 1} hashtags; send at most {MAX_TAGS}"):
        context.parse_hashtags(most + " #OneMore")


def test_a_chat_subscriber_following_the_most_hashtags_is_exported_and_imported_back_whole(tmp_path: Path) -> None:
    tags = [f"Topic{n}" for n in range(MAX_FOLLOWED_TAGS)]
    store = open_store(tmp_path / "old.db")
    store.subscribe("telegram", "1001", NOW)
    store.set_subscriber_tags("telegram", "1001", tags, NOW)
    exported = io.StringIO()
    subscribers_csv.write_csv(subscribers_csv.export_rows(store, "telegram"), exported)
    store.close()

    again = open_store(tmp_path / "new.db")
    report = subscribers_csv.import_subscribers(again, "telegram", io.StringIO(exported.getvalue()), NOW)
    assert report.summary() == "1 added, 0 updated, 0 skipped"
    subscriber = again.subscriber("telegram", "1001")
    assert subscriber is not None and sorted(subscriber.hashtags) == sorted(tags)
    again.close()
    with pytest.raises(ValueError, match=f"{MAX_FOLLOWED_TAGS + 1} hashtags; at most {MAX_FOLLOWED_TAGS}"):
        subscribers_csv.parse_tags(" ".join(f"#{tag}" for tag in [*tags, "OneMore"]))


def test_a_hash_sign_on_its_own_is_passed_over_by_the_form_and_named_by_chat_and_csv_import() -> None:
    assert web.parse_hashtags("#Climate #") == ["Climate"]
    with pytest.raises(context.InputError, match="Not a hashtag"):
        context.parse_hashtags("#Climate #")
    with pytest.raises(ValueError, match="'#' is not a hashtag"):
        subscribers_csv.parse_tags("#Climate #")


def test_trailing_hashtags_already_shown_are_dropped_and_others_kept() -> None:
    from bot.hashtags import without_trailing_tags

    assert without_trailing_tags("Rain fell. #ClimateCrisis ", ["#climatecrisis"]) == "Rain fell."
    assert without_trailing_tags("Rain fell. #Italy #ClimateCrisis", ["ClimateCrisis"]) == "Rain fell. #Italy"
    assert without_trailing_tags("Rain fell in #Italy today.", ["Italy"]) == "Rain fell in #Italy today."
    assert without_trailing_tags("#ClimateCrisis", ["ClimateCrisis"]) == ""
