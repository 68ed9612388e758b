"""A route's `language` steers the extractive summary: without a model, an article of a German route is split into
sentences and ranked by the German rules (sumy's stop words and stemmer, sentencex's abbreviations), seen in the
posts the real renderer builds from a config; English and languages sumy cannot rank stay as they were."""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.clicks import renderer_of
from bot.config import Config, parse_config
from bot.email.tokens import link_signing
from bot.models import Article
from bot.render import Renderer
from bot.summarize import LanguageSummarizers, TextRankSummarizer, split_sentences, summary_language

# "Am 3. Oktober" and "12 Mio. Euro" are one sentence each; English rules end a sentence after "3." and "Mio.".
GERMAN_TEXT = """Die Stadt Freiburg baut ihr Netz für Radwege aus. Am 3. Oktober beginnt der Bau der ersten neuen \
Strecke durch die Altstadt.

Dr. Anna Weber leitet das Projekt im Rathaus. Sie sagt, die Radwege sollen z. B. Schulen und Bahnhöfe verbinden. \
Das Programm kostet rund 12 Mio. Euro und wird vom Land gefördert.

Die Händler in der Innenstadt sind skeptisch. Sie fürchten, dass die Baustellen die Kunden abschrecken und die \
Umsätze sinken.

Der Gemeinderat hat das Programm für die Radwege trotzdem mit großer Mehrheit beschlossen. Bis 2028 sollen alle \
Strecken fertig sein."""
START_OF_WORKS = "Am 3. Oktober beginnt der Bau der ersten neuen Strecke durch die Altstadt."
COUNCIL_VOTE = "Der Gemeinderat hat das Programm für die Radwege trotzdem mit großer Mehrheit beschlossen."
# A German date or amount cut where English rules end a sentence, followed by the next sentence.
CUT_GERMAN = re.compile(r"(?:Am 3\.|12 Mio\.) (?!Oktober|Euro)")
SUMMARY_CHARS = 300
ENGLISH_TEXT = (
    "Heavy rain flooded the river valley on Monday. Emergency crews evacuated four villages overnight. "
    "The regional government opened three shelters and promised aid to farmers. "
    "Forecasters expect the water to recede by Thursday. Dr. Lee said the dams held."
)


def config_with(tmp_path: Path, *routes: dict[str, Any]) -> Config:
    return parse_config(
        {
            "state": {"path": str(tmp_path / "s.sqlite")},
            "telegram": {"summary_chars": SUMMARY_CHARS},
            "email": {"summary_chars": SUMMARY_CHARS},
            "routes": list(routes),
        }
    )


def route(language: str = "", hashtags: tuple[str, ...] = ("*",)) -> dict[str, Any]:
    made: dict[str, Any] = {"name": language or "plain", "hashtags": list(hashtags), "channels": ["telegram"]}
    return {**made, "language": language} if language else made


def renderer(config: Config) -> Renderer:
    """The renderer the app, the chat commands and the control room build (no model: no [summarize] table)."""
    return renderer_of(config, {}, link_signing(config.web, {}))


def article(**changes: Any) -> Article:
    made = Article(
        key="radwege1",
        source="Beispiel Zeitung",
        title="Freiburg baut neue Radwege",
        link="https://zeitung.example.de/radwege",
        text=GERMAN_TEXT,
        hashtags=("Verkehr",),
        published=datetime(2026, 9, 1, 9, 0, tzinfo=UTC),
        first_seen=datetime(2026, 9, 1, 9, 5, tzinfo=UTC),
    )
    return replace(made, **changes)


def test_a_german_routes_post_keeps_german_dates_and_amounts_whole_where_english_rules_cut_them(
    tmp_path: Path,
) -> None:
    german = renderer(config_with(tmp_path, route("de"))).render(article(), "telegram")
    english = renderer(config_with(tmp_path, route())).render(article(), "telegram")

    assert START_OF_WORKS in german.text
    assert COUNCIL_VOTE in german.text
    assert not CUT_GERMAN.search(german.text)
    assert german.language == "de"
    # The same article on a route without a language is split the English way: "Am 3." ends a "sentence".
    assert CUT_GERMAN.search(english.text)
    assert START_OF_WORKS not in english.text


def test_a_regional_tag_uses_its_languages_rules_and_the_digest_too(tmp_path: Path) -> None:
    austrian = {**route("de-AT"), "channels": ["telegram", "email"]}
    rendering = renderer(config_with(tmp_path, austrian))

    post = rendering.render(article(), "telegram")
    digest = rendering.render_digest([article()], title="Nachrichten", reader_hashtags=["Verkehr"])

    assert START_OF_WORKS in post.text
    assert post.language == "de-AT"
    assert START_OF_WORKS in digest.text
    assert not CUT_GERMAN.search(digest.text)


def test_one_renderer_summarises_each_routes_articles_in_that_routes_language(tmp_path: Path) -> None:
    config = config_with(tmp_path, route("de", hashtags=("Verkehr",)), route())
    rendering = renderer(config)

    german = rendering.render(article(), "telegram")
    # The same text and key on the English route: a summary remembered for the German route is not reused.
    english = rendering.render(article(hashtags=("Sport",)), "telegram")

    assert START_OF_WORKS in german.text
    assert CUT_GERMAN.search(english.text)


@pytest.mark.parametrize("language", ["", "en", "en-GB", "ru", "zh-Hant", "ko"])
def test_english_and_languages_sumy_cannot_rank_are_summarised_as_before(tmp_path: Path, language: str) -> None:
    before = TextRankSummarizer().summarize(ENGLISH_TEXT, SUMMARY_CHARS)

    post = renderer(config_with(tmp_path, route(language))).render(article(text=ENGLISH_TEXT), "telegram")

    assert before in post.text
    assert summary_language(language) == "en"


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("de", "de"), ("de-AT", "de"), ("DE_ch", "de"), ("es", "es"), ("pt-BR", "pt"), ("ar", "ar"), ("el", "el")],
)
def test_a_tag_is_summarised_in_its_primary_language(tag: str, expected: str) -> None:
    assert summary_language(tag) == expected


@pytest.mark.parametrize("tag", ["ar", "cs", "de", "el", "es", "fr", "he", "it", "pl", "pt", "sk", "sv", "uk"])
def test_every_supported_language_ranks_with_what_newsbot_installs(tag: str) -> None:
    # Greek and Polish: sumy's stemmers for them need packages newsbot does not install, so words go unstemmed.
    sentences = ["Erste Zeile hier.", "Zweite Zeile dort.", "Dritte Zeile am Ende."]
    summary = LanguageSummarizers().for_language(tag).summarize(" ".join(sentences), 40)
    assert 0 < len(summary) <= 40
    assert set(split_sentences(summary)) <= set(sentences)


def test_each_language_gets_one_summarizer_shared_by_every_thread() -> None:
    built: list[str] = []

    def build(language: str) -> TextRankSummarizer:
        built.append(language)
        return TextRankSummarizer(language)

    summarizers = LanguageSummarizers(build)
    found: list[object] = []
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        found.append(summarizers.for_language("de-AT"))
        found.append(summarizers.for_language("de"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert built == ["de"]
    assert len({id(summarizer) for summarizer in found}) == 1
