"""Behaviour of the extractive summarizer: whole sentences, within budget, lead first, deterministic."""

from __future__ import annotations

import functools
import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.summarize import (
    LEANING_OPENERS,
    LeadContentSummarizer,
    Summarizer,
    TextRankSummarizer,
    default_summarizer,
    split_sentences,
)

SAMPLE_ARTICLE = Path(__file__).resolve().parents[1] / "bot" / "samples" / "syria-coalition.txt"
ELLIPSIS = "…"


def sample_body() -> str:
    """The article's paragraphs: between "Related Articles" and the hashtag line, joined by blank lines."""
    lines = SAMPLE_ARTICLE.read_text(encoding="utf-8").splitlines()
    start = lines.index("Related Articles") + 1
    end = next(i for i, line in enumerate(lines) if line.startswith("#PoliticsNews"))
    paragraphs = [line.strip() for line in lines[start:end] if line.strip()]
    return "\n\n".join(paragraphs)


def sentence_indices(summary: str, article_sentences: list[str]) -> list[int]:
    """Where each sentence of `summary` sits in the article; fails if one is not an article sentence."""
    indices = []
    for sentence in split_sentences(summary):
        assert sentence in article_sentences, f"not a sentence of the article: {sentence!r}"
        indices.append(article_sentences.index(sentence))
    return indices


def is_ordered_join_of(summary: str, sentences: list[str]) -> bool:
    """True if `summary` is some of `sentences`, in their order, joined by single spaces."""

    @functools.cache
    def rest_matches(offset: int, first_candidate: int) -> bool:
        rest = summary[offset:]
        for index in range(first_candidate, len(sentences)):
            sentence = sentences[index]
            if rest == sentence:
                return True
            if rest.startswith(sentence + " ") and rest_matches(offset + len(sentence) + 1, index + 1):
                return True
        return False

    return summary == "" or rest_matches(0, 0)


def article_with_unrelated_lead() -> str:
    """A lead sharing no words with the rest, then paragraphs that repeat each other's words."""
    return "\n\n".join(
        [
            "Officials announced the plan on Tuesday.",
            "Drought drought farmers water.",
            "Farmers water drought again.",
        ]
    )


def article_with_central_late_sentence() -> str:
    """A lead, an unrelated sentence, then one that shares the lead's words."""
    return "\n\n".join(
        [
            "Drought grips the farms of the north.",
            "A museum reopened downtown yesterday evening.",
            "Farms in the north say the drought is the worst in memory.",
        ]
    )


# --- the sample article at every budget ---------------------------------------------------------------


@pytest.mark.parametrize("max_chars", range(150, 3001, 50))
def test_sample_summary_is_whole_article_sentences_within_budget(max_chars: int) -> None:
    body = sample_body()
    article_sentences = split_sentences(body)

    summary = LeadContentSummarizer().summarize(body, max_chars)

    assert summary
    assert len(summary) <= max_chars
    assert not summary.endswith(ELLIPSIS)
    assert "Related Articles" not in summary
    assert "Popular Articles" not in summary
    indices = sentence_indices(summary, article_sentences)
    assert indices == sorted(indices), "sentences must keep document order"
    assert is_ordered_join_of(summary, article_sentences)


@pytest.mark.parametrize("max_chars", range(150, 3001, 50))
def test_sample_summary_never_splits_at_us_abbreviation(max_chars: int) -> None:
    body = sample_body()
    article_endings = {s for s in split_sentences(body) if s.endswith(("U.", "U.S."))}

    summary = LeadContentSummarizer().summarize(body, max_chars)

    for sentence in split_sentences(summary):
        if sentence.endswith(("U.", "U.S.")):
            assert sentence in article_endings


def test_sample_sentences_keep_us_officials_and_quotes_intact() -> None:
    sentences = split_sentences(sample_body())

    assert sentences[0].startswith("In a significant diplomatic shift")
    assert any("with U.S. officials, followed the arrival" in s for s in sentences)
    assert any("a six-month suspension of U.S. sanctions against Syria." in s for s in sentences)
    assert any(
        s.startswith("Al-Mustafa emphasized that a “political cooperation declaration” signed") for s in sentences
    )
    assert not any(s.endswith(("U.", "U.S.")) for s in sentences)
    assert len(sentences) == 14


@pytest.mark.parametrize("max_chars", [300, 600])
def test_sample_summary_starts_with_the_article_lead(max_chars: int) -> None:
    body = sample_body()
    first_sentence = split_sentences(body)[0]

    summary = LeadContentSummarizer().summarize(body, max_chars)

    assert summary.startswith(first_sentence)


def test_small_budget_still_gets_a_later_whole_sentence_when_the_lead_does_not_fit() -> None:
    body = sample_body()
    sentences = split_sentences(body)
    shortest = min(sentences, key=len)
    assert len(sentences[0]) > len(shortest)

    summary = LeadContentSummarizer().summarize(body, len(shortest))

    assert summary == shortest


# --- no worse than the lead -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [sample_body(), article_with_central_late_sentence(), article_with_unrelated_lead()],
    ids=["sample", "central-late", "unrelated-lead"],
)
def test_summary_includes_the_first_sentence_whenever_it_fits(body: str) -> None:
    first_sentence = split_sentences(body)[0]
    summarizer = LeadContentSummarizer()

    for max_chars in range(len(first_sentence), len(body) + 10):
        assert summarizer.summarize(body, max_chars).startswith(first_sentence), max_chars


def test_sentence_sharing_the_articles_words_beats_an_earlier_unrelated_one() -> None:
    body = article_with_central_late_sentence()
    lead, unrelated, central = split_sentences(body)
    budget = len(lead) + 1 + len(central)
    assert len(unrelated) < len(central) < len(unrelated) + 1 + len(central)

    summary = LeadContentSummarizer().summarize(body, budget)

    assert summary == f"{lead} {central}"


# --- sentence splitting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "He met U.S. officials on Monday. They talked.",
            ["He met U.S. officials on Monday.", "They talked."],
        ),
        ("Dr. Smith arrived late. He apologised.", ["Dr. Smith arrived late.", "He apologised."]),
        ("Inflation rose 3.5 percent. Prices followed.", ["Inflation rose 3.5 percent.", "Prices followed."]),
        ("J. R. R. Tolkien wrote it. Readers loved it.", ["J. R. R. Tolkien wrote it.", "Readers loved it."]),
        (
            "They signed a “political cooperation declaration” in May. It is political.",
            ["They signed a “political cooperation declaration” in May.", "It is political."],
        ),
        (
            "He said “we are ready.” Then he left.",
            ["He said “we are ready.”", "Then he left."],
        ),
        ("He flew to the U.S. He stayed a week.", ["He flew to the U.S.", "He stayed a week."]),
    ],
    ids=["us-abbreviation", "title", "decimal", "initials", "quoted-phrase", "quote-ending", "us-at-end"],
)
def test_split_sentences_respects_abbreviations_numbers_initials_and_quotes(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


# sentencex's rules for some languages split after these; the repair re-joins them.
@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("fr", "La bactérie E. coli circule. Bien.", ["La bactérie E. coli circule.", "Bien."]),
        ("fr", "Venu des U.S.A. hier. Bien.", ["Venu des U.S.A. hier.", "Bien."]),
        ("es", "A las 5 a.m. del lunes. Bien.", ["A las 5 a.m. del lunes.", "Bien."]),
        ("es", "Smith et al. reportaron algo. Bien.", ["Smith et al. reportaron algo.", "Bien."]),
    ],
    ids=["initial-before-lowercase", "dotted-acronym", "a.m.", "et-al"],
)
def test_split_sentences_rejoins_false_splits_after_abbreviations(
    language: str, text: str, expected: list[str]
) -> None:
    assert split_sentences(text, language=language) == expected


@pytest.mark.parametrize("language", ["en", "fr", "es"])
def test_single_letter_word_ending_a_sentence_still_ends_it(language: str) -> None:
    text = "He detailed it in his post on X. This makes Syria the 90th member."

    assert split_sentences(text, language=language) == [
        "He detailed it in his post on X.",
        "This makes Syria the 90th member.",
    ]


def test_sentences_never_span_paragraphs() -> None:
    text = "A heading without a full stop\n\nThe body starts here. It goes on.\n  \n\nLast one"

    assert split_sentences(text) == [
        "A heading without a full stop",
        "The body starts here.",
        "It goes on.",
        "Last one",
    ]


def test_blank_line_holding_spaces_still_ends_a_sentence() -> None:
    text = "A heading without a full stop\n \nHeld in the U.S.\r\n\t\r\nofficials said little."

    assert split_sentences(text) == [
        "A heading without a full stop",
        "Held in the U.S.",
        "officials said little.",
    ]


def test_split_sentences_strips_whitespace_and_drops_empty_text() -> None:
    assert split_sentences("   \n\n\t ") == []
    assert split_sentences("  One.   Two.  ") == ["One.", "Two."]


# --- budgets that fit no sentence ------------------------------------------------------------------------


@pytest.mark.parametrize("max_chars", range(20, 134))
def test_budget_below_every_sentence_shortens_the_first_at_a_word_boundary(max_chars: int) -> None:
    body = sample_body()
    first_sentence = split_sentences(body)[0]

    summary = LeadContentSummarizer().summarize(body, max_chars)

    assert len(summary) <= max_chars
    assert summary.endswith(ELLIPSIS)
    kept = summary.removesuffix(ELLIPSIS)
    assert kept
    assert first_sentence.startswith(kept)
    assert first_sentence[len(kept)] in " ,", "must cut between words"


@pytest.mark.parametrize("max_chars", [-5, 0, 1, 10, 19])
def test_tiny_budget_returns_empty(max_chars: int) -> None:
    assert LeadContentSummarizer().summarize(sample_body(), max_chars) == ""


def test_returns_empty_when_not_even_one_word_fits() -> None:
    text = "Pneumonoultramicroscopicsilicovolcanoconiosis is a lung disease caused by fine dust."

    assert LeadContentSummarizer().summarize(text, 30) == ""


@pytest.mark.parametrize("text", ["", "   ", "\n\n\n"])
def test_empty_text_gives_empty_summary(text: str) -> None:
    assert LeadContentSummarizer().summarize(text, 500) == ""


def test_lone_surrogate_in_text_does_not_break_splitting() -> None:
    summary = LeadContentSummarizer().summarize("Bad byte \udcff here. Second sentence.", 100)

    assert summary == "Bad byte \ufffd here. Second sentence."


# --- determinism, the protocol, speed -------------------------------------------------------------------


def test_same_input_gives_same_output() -> None:
    body = sample_body()

    for max_chars in (150, 400, 700, 1200):
        outputs = {LeadContentSummarizer().summarize(body, max_chars) for _ in range(3)}
        assert len(outputs) == 1


def test_default_summarizer_ranks_with_textrank() -> None:
    summarizer: Summarizer = default_summarizer()

    assert isinstance(summarizer, TextRankSummarizer)
    assert summarizer.summarize(sample_body(), 300).startswith("Al-Sharaa, who assumed office")


@pytest.mark.parametrize("lead_weight", [-1.0, float("nan"), float("inf")])
def test_invalid_lead_weight_is_rejected(lead_weight: float) -> None:
    with pytest.raises(ValueError, match="lead_weight"):
        LeadContentSummarizer(lead_weight=lead_weight)


# --- properties -----------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(text=st.text(), max_chars=st.integers(min_value=0, max_value=2000))
def test_any_text_gives_a_summary_within_budget(text: str, max_chars: int) -> None:
    summary = LeadContentSummarizer().summarize(text, max_chars)

    assert len(summary) <= max_chars


sentence_like_text = st.lists(
    st.lists(
        st.from_regex(re.compile(r"[A-Z][a-z]{0,8}( [a-zA-Z.]{1,10}){0,12}[.?!]"), fullmatch=True),
        min_size=1,
        max_size=5,
    ).map(" ".join),
    min_size=1,
    max_size=6,
).map("\n\n".join)


@settings(max_examples=200, deadline=None)
@given(text=sentence_like_text, max_chars=st.integers(min_value=0, max_value=600))
def test_summary_is_whole_sentences_in_order_or_a_marked_shortening(text: str, max_chars: int) -> None:
    sentences = split_sentences(text)

    summary = LeadContentSummarizer().summarize(text, max_chars)

    assert len(summary) <= max_chars
    if summary.endswith(ELLIPSIS):
        assert all(len(sentence) > max_chars for sentence in sentences)
        assert sentences[0].startswith(summary.removesuffix(ELLIPSIS))
    else:
        assert is_ordered_join_of(summary, sentences)
        if len(sentences[0]) <= max_chars:
            assert summary.startswith(sentences[0])


def test_a_title_before_a_name_never_ends_a_sentence() -> None:
    text = "The recount left Ms. Okafor ahead. Then Dr. Reyes spoke for Gov. Hale. Sen. Brown agreed."
    assert split_sentences(text) == [
        "The recount left Ms. Okafor ahead.",
        "Then Dr. Reyes spoke for Gov. Hale.",
        "Sen. Brown agreed.",
    ]


# --- whole thoughts ---------------------------------------------------------------------------------------


def leans(sentence: str) -> bool:
    words = re.findall(r"\w+", sentence.lstrip("\"'\u201c\u2018(["))
    return bool(words) and words[0] in LEANING_OPENERS["en"]


@pytest.mark.parametrize("summarizer", [TextRankSummarizer(), LeadContentSummarizer()], ids=repr)
def test_syria_summary_never_says_he_specified_without_the_sentence_naming_him(summarizer: Summarizer) -> None:
    body = sample_body()
    naming, specified = next(
        (before, after)
        for before, after in itertools.pairwise(split_sentences(body))
        if after.startswith("He specified")
    )

    for max_chars in range(20, len(body) + 10, 5):
        summary = summarizer.summarize(body, max_chars)
        if specified in summary:
            assert f"{naming} {specified}" in summary, max_chars


def test_a_leaning_sentence_is_taken_with_the_one_before_or_not_at_all() -> None:
    naming = "The minister of health, Ana Ruiz, visited the flooded hospital in the river town on Monday."
    leaning = "She said the flooded hospital would reopen, and the river town would get a second hospital."
    body = "\n\n".join(["A storm hit the coast.", naming, leaning, "Roads stayed shut."])

    assert default_summarizer().summarize(body, len(leaning)) != leaning
    assert default_summarizer().summarize(body, len(naming) + 1 + len(leaning)) == f"{naming} {leaning}"


@pytest.mark.parametrize("opener", ["He", "This new technology", "But", "However,", "Also", "They", "\u201cThat"])
def test_summary_never_opens_with_a_sentence_that_leans_on_one_left_out(opener: str) -> None:
    sentences = [
        "Engineers in Lyon built a battery that charges in five minutes.",
        f"{opener} battery charges in five minutes, engineers said, and the battery lasts for years.",
        "The battery will be sold next year.",
    ]
    body = " ".join(sentences)

    for max_chars in range(20, len(body) + 5):
        for summarizer in (TextRankSummarizer(), LeadContentSummarizer()):
            summary = split_sentences(summarizer.summarize(body, max_chars))
            assert not summary or not leans(summary[0]) or summary[0] == sentences[0], (opener, max_chars)
            for before, after in itertools.pairwise(summary):
                if after == sentences[1]:
                    assert before == sentences[0]


def test_outside_english_no_sentence_is_taken_to_lean() -> None:
    body = "Der Minister kam am Montag. He war müde. Die Brücke bleibt gesperrt."

    summary = TextRankSummarizer("de").summarize(body, len("He war müde."))

    assert summary == "He war müde."


def test_sumy_and_nltk_are_not_imported_until_sentences_are_ranked() -> None:
    # What `newsbot once` and `newsbot run` import before any article comes: the app, its renderer, the model path.
    code = (
        "import sys, bot.app, bot.ai_summary, bot.render, bot.summarize;"
        " assert not {'sumy', 'nltk', 'numpy'} & set(sys.modules), 'imported at start-up'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_ranking_needs_no_nltk_data_and_no_network(tmp_path: Path) -> None:
    # In a child process with every connection refused, and an empty HOME and NLTK_DATA: no data for nltk to find.
    code = (
        "import socket, sys; from bot.summarize import TextRankSummarizer;"
        " socket.socket.connect = socket.socket.connect_ex = lambda *a: sys.exit('network used');"
        " assert TextRankSummarizer().summarize(sys.stdin.read(), 300)"
    )
    env = {**os.environ, "HOME": str(tmp_path), "NLTK_DATA": str(tmp_path / "nltk_data")}
    subprocess.run([sys.executable, "-c", code], input=sample_body(), text=True, env=env, check=True)
