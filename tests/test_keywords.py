"""Keyword filters: the one matching rule (bot/keywords.py) and route keys `keywords`, `exclude_keywords`, `pattern`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.config import parse_config
from bot.errors import ConfigError
from bot.keywords import (
    MAX_KEYWORD_CHARS,
    KeywordError,
    contains_any,
    fold,
    parse_keyword_list,
    parse_keywords,
    searchable,
)
from bot.models import Article
from bot.route import decide


def occurs(keyword: str, text: str) -> bool:
    return contains_any(searchable("", text), [fold(keyword)])


@pytest.mark.parametrize(
    ("keyword", "text"),
    [
        ("café", "Le Café de Flore rouvre"),  # accents, any case
        ("cafe\u0301", "un café noir"),  # decomposed accent: NFKC on both sides
        ("STRASSE", "Die Straße ist gesperrt"),  # ß casefolds to ss
        ("straße", "GESPERRT: STRASSE nach Berlin"),
        ("москва", "Новости: МОСКВА готовится"),  # Cyrillic
        ("αθήνα", "Σεισμός στην ΑΘΉΝΑ σήμερα"),  # Greek
        ("القاهرة", "انقطاع الكهرباء في القاهرة اليوم"),  # Arabic
        ("हिन्दी", "आज हिन्दी दिवस है"),  # Devanagari with a virama and vowel signs
        ("地震", "東京で地震が発生しました"),  # Chinese characters inside a Japanese sentence: no spaces
        ("東京", "東京で地震"),
        ("カメラ", "新しいカメラを買った"),  # Katakana
        ("น้ำท่วม", "เกิดน้ำท่วมในกรุงเทพ"),  # Thai: no spaces between words
        ("서울", "서울에서 지진 발생"),  # Korean: a particle attaches to the end of the word
        ("지진", "오늘 지진이 났다"),
        ("climate change", "On CLIMATE\nchange and floods"),  # a phrase, across a line break
        ("flood", "Flood warnings: flood!"),
    ],
)
def test_keywords_match_whole_words_in_any_script_and_case(keyword: str, text: str) -> None:
    assert occurs(keyword, text)


@pytest.mark.parametrize(
    ("keyword", "text"),
    [
        ("art", "A party at the museum"),  # inside a word
        ("art", "artful dodging"),
        ("москва", "москвариум"),
        ("हिन", "आज हिन्दी दिवस है"),  # followed by a combining virama: part of the word
        ("cafe", "un café noir"),  # é is not e
        ("climate change", "climate and change"),
        ("서울", "남서울 소식"),  # Korean: a word's start still needs a boundary
        ("flood", "floods"),
    ],
)
def test_keywords_do_not_match_inside_other_words(keyword: str, text: str) -> None:
    assert not occurs(keyword, text)


def test_a_keyword_is_found_after_a_near_miss_earlier_in_the_text() -> None:
    assert occurs("art", "the party, then art")


def test_keyword_lists_are_trimmed_deduplicated_and_limited() -> None:
    assert parse_keyword_list([" Flood ", "FLOOD", "climate   change"]) == ["Flood", "climate change"]
    with pytest.raises(KeywordError, match="empty"):
        parse_keyword_list(["flood", "  "])
    with pytest.raises(KeywordError, match=f"longer than {MAX_KEYWORD_CHARS}"):
        parse_keyword_list(["x" * (MAX_KEYWORD_CHARS + 1)])
    with pytest.raises(KeywordError, match="no letter or digit"):
        parse_keyword_list(["!!!"])


def test_typed_keywords_are_separated_by_commas_so_phrases_keep_their_spaces() -> None:
    assert parse_keywords("climate change, flood,, Flood ,") == ["climate change", "flood"]
    assert parse_keywords("  ") == []
    with pytest.raises(KeywordError) as error:
        parse_keywords(", ".join(f"w{i}" for i in range(4)), most=3)
    assert error.value.count == 4 and error.value.most == 3


# --- routes -----------------------------------------------------------------------------------------------


def article(title: str, text: str = "", tags: tuple[str, ...] = ()) -> Article:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    return Article("k1", "feed", title, "https://example.com/1", text, tags, now, now)


def routes(**route: Any) -> Any:
    return parse_config({"routes": [{"name": "watch", "channels": ["telegram"], **route}]}).routes


def test_a_route_with_keywords_takes_only_articles_containing_one() -> None:
    rules = routes(keywords=["flood", "climate change"])  # no hashtags: any article with the words

    assert decide(article("Flood warning for the coast"), rules).targets
    assert decide(article("Weather", "Experts on Climate Change."), rules).targets
    decision = decide(article("A party at the museum"), rules)
    assert not decision.targets
    assert "watch: * with any of “flood”, “climate change” (none of its keywords occurs)" in decision.reason


def test_keywords_and_hashtags_must_both_hold() -> None:
    rules = routes(hashtags=["World"], keywords=["flood"])

    assert decide(article("Flood in Spain", tags=("World",)), rules).targets
    assert not decide(article("Flood in Spain", tags=("Sports",)), rules).targets
    assert not decide(article("Drought in Spain", tags=("World",)), rules).targets


def test_an_excluded_keyword_beats_an_included_one() -> None:
    rules = routes(keywords=["flood"], exclude_keywords=["football", "Sponsored content"])

    assert decide(article("Flood closes roads"), rules).targets
    decision = decide(article("Flood of goals", "Football: a flood of goals"), rules)
    assert not decision.targets
    assert "excluded keyword “football”" in decision.reason
    assert not decide(article("Flood", "SPONSORED CONTENT: buy now"), rules).targets


def test_a_pattern_must_match_case_insensitively() -> None:
    rules = routes(hashtags=["*"], pattern=r"\bmagnitude [5-9]")

    assert decide(article("MAGNITUDE 6.1 quake"), rules).targets
    decision = decide(article("Magnitude 3 tremor"), rules)
    assert not decision.targets
    assert "matching the pattern “\\bmagnitude [5-9]” (its pattern does not match)" in decision.reason


def test_a_pattern_that_backtracks_exponentially_in_python_re_runs_in_linear_time() -> None:
    rules = routes(pattern="(a+)+$")

    # Python's re takes exponential time on this text; RE2 answers at once.
    assert not decide(article("x", "a" * 50_000 + "b"), rules).targets
    assert decide(article("x", "b" + "a" * 50_000), rules).targets


def test_a_pattern_re2_cannot_compile_names_the_route_the_key_and_the_reason() -> None:
    with pytest.raises(ConfigError) as error:
        routes(hashtags=["*"], pattern="(?<=flood)warning")
    message = str(error.value)
    assert "routes[0].pattern" in message and "route “watch”" in message
    assert "invalid perl operator: (?<" in message and "Fix it" in message

    with pytest.raises(ConfigError, match=r"routes\[0\].pattern: route “watch”: .*missing \)"):
        routes(pattern="(flood")


def test_bad_route_keywords_name_the_route_and_the_key() -> None:
    with pytest.raises(ConfigError, match=r"routes\[0\].exclude_keywords: route “watch”: A keyword is empty"):
        routes(hashtags=["*"], exclude_keywords=["ok", ""])
    with pytest.raises(ConfigError, match=r"routes\[0\].keywords: route “watch”: .*longer than 100"):
        routes(keywords=["x" * 101])
    with pytest.raises(ConfigError, match=r"routes\[0\].keywords: must be a list"):
        routes(keywords=[1])
    with pytest.raises(ConfigError, match="or leave it out and give keywords or a pattern"):
        routes()
