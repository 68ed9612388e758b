"""Watch and mute words in the Telegram subscriber fan-out: the store decides who gets an article (one query per
article), and `Ingest.route` looks for the stored words in the article's title and text."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import Config, parse_config
from bot.ingest import Ingest
from bot.models import Article
from bot.store import MUTE, WATCH, SqliteStore, open_store

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return parse_config(
        {
            "state": {"path": str(tmp_path / "state.sqlite")},
            "routes": [{"name": "all", "hashtags": ["*"], "channels": ["telegram"]}],
            "telegram": {"channel": "@news"},
        }
    )


@pytest.fixture
def store(config: Config, state_env: str) -> Iterator[SqliteStore]:
    opened = open_store(config.state)
    yield opened
    opened.close()


def subscriber(
    store: SqliteStore, chat: str, *tags: str, watch: tuple[str, ...] = (), mute: tuple[str, ...] = ()
) -> None:
    store.subscribe("telegram", chat, NOW)
    store.set_subscriber_tags("telegram", chat, tags, NOW)
    store.add_subscriber_words("telegram", chat, WATCH, watch)
    store.add_subscriber_words("telegram", chat, MUTE, mute)


def route(store: SqliteStore, config: Config, title: str, text: str = "", tags: tuple[str, ...] = ()) -> set[str]:
    """Who gets the article (besides the channel itself)."""
    key = hashlib.sha256(title.encode()).hexdigest()[:12]
    article = Article(key, "feed", title, "https://example.com/a", text, tags, NOW, NOW)
    store.add_articles([article])
    Ingest(store, config).route(article, NOW)
    return {row.recipient for row in store.rows_for_article(article.key)} - {"channel"}


def test_a_watcher_without_the_hashtag_gets_an_article_with_their_word(store: SqliteStore, config: Config) -> None:
    subscriber(store, "1", "Sports", watch=("flood",))
    subscriber(store, "2", "Sports")

    assert route(store, config, "Flood warning for the coast", tags=("Weather",)) == {"1"}
    assert route(store, config, "Cup final tonight", tags=("Sports",)) == {"1", "2"}
    assert route(store, config, "Floods and more", tags=("Weather",)) == set()  # whole words only


def test_a_muter_with_the_hashtag_does_not_get_an_article_with_their_word(store: SqliteStore, config: Config) -> None:
    subscriber(store, "1", "Climate", mute=("sponsored content",))
    subscriber(store, "2", "Climate")
    subscriber(store, "3", watch=("climate",), mute=("Sponsored Content",))  # mute beats watch
    subscriber(store, "4")  # everything, but for their mute words
    store.add_subscriber_words("telegram", "4", MUTE, ["deal"])

    assert route(store, config, "Climate deal", "SPONSORED CONTENT: buy now", ("Climate",)) == {"2"}
    assert route(store, config, "Climate talks", "Delegates met.", ("Climate",)) == {"1", "2", "3", "4"}


def test_follows_nothing_and_watches_words_means_only_those_words(store: SqliteStore, config: Config) -> None:
    subscriber(store, "1", watch=("москва",))
    subscriber(store, "2")

    assert route(store, config, "Новости: МОСКВА готовится") == {"1", "2"}
    assert route(store, config, "Weather in Paris") == {"2"}


def test_words_in_any_script_are_found_in_the_article(store: SqliteStore, config: Config) -> None:
    subscriber(store, "1", "Nothing", watch=("地震",))
    subscriber(store, "2", "Nothing", watch=("हिन्दी",))
    subscriber(store, "3", "Nothing", watch=("straße",))

    assert route(store, config, "東京で地震が発生しました") == {"1"}
    assert route(store, config, "समाचार", "आज हिन्दी दिवस है") == {"2"}
    assert route(store, config, "STRASSE gesperrt") == {"3"}


def test_words_are_stored_once_per_folded_form_in_the_first_spelling(store: SqliteStore) -> None:
    subscriber(store, "1", watch=("Straße", "STRASSE", "Flood"))
    store.add_subscriber_words("telegram", "1", WATCH, ["flood"])

    assert store.subscriber_words("telegram", "1", WATCH) == ("Flood", "Straße")
    assert store.words_in_use("telegram") == ["flood", "strasse"]
    store.remove_subscriber_words("telegram", "1", WATCH, ["FLOOD"])
    assert store.subscriber_words("telegram", "1", WATCH) == ("Straße",)


def test_a_chat_that_moves_keeps_its_words(store: SqliteStore) -> None:
    subscriber(store, "-100", watch=("flood",), mute=("football",))

    store.migrate_address("telegram", "-100", "-100200", NOW)

    assert store.subscriber_words("telegram", "-100200", WATCH) == ("flood",)
    assert store.subscriber_words("telegram", "-100200", MUTE) == ("football",)
