"""Extractive summaries: whole sentences of the article, within a character budget, in document order.

`TextRankSummarizer` (the default) ranks sentences with sumy's TextRank: sentences are nodes, two sentences
are linked by the words they share (the language's stop words left out, the rest stemmed), and a sentence
ranks high when it shares much with other highly ranked ones. sumy gets our sentences (`sentencex`) and our
word tokens, so nothing is downloaded at run time. On the bbc-dev development set it beat sumy's LexRank,
LexRank combined with position and our own lead-biased ranking by far; on bench/'s corpus it is ahead at 400 and
600 characters and level at 200-300 (see bench/README.md). Where sumy has no stop-word list for the language
(it has 18: English, French, German, Spanish, Arabic, Chinese, ...), TextRank without stop words does no better
than the lead, so the ranking of `LeadContentSummarizer` is used instead: each sentence's position (news puts the
point first) plus how central its words are to the whole article.

Language: a summarizer splits sentences (sentencex's abbreviations: German "Am 3. Oktober" is one sentence) and
ranks them (sumy's stop words and stemmer) by the rules of its `language`. Without a model, the renderer gives an
article the summarizer of its route's `language` (`LanguageSummarizers.for_language`, one per language, built on
first use): `summary_language` keeps the tag's primary subtag ("de-AT" is "de") where sumy can rank it
(`SUMY_LANGUAGES`: ar cs de el en es fr he it pl pt sk sv uk), and English for every other language and for ""
(Chinese, Japanese and Thai are left out, as our word tokens need spaces between words; Korean too, as its stop
words are particles written joined to the word). `default_summarizer`
is English: a route without `language`, a model's route (the language the model writes, not the article's) and
`newsbot summarize`. Text in another language summarised as English is ranked by all its words.

Both pick the best-ranked sentences that still fit and return them in document order, keeping whole thoughts:
a sentence that leans on the one before it (it opens with a pronoun or demonstrative subject, "He said…",
"This new technology…", or with a connective, "But…", "However,…") is taken only together with that sentence,
so a summary never opens with it and it always follows the sentence it leans on. The words that lean are
listed per language in `LEANING_OPENERS`, for English only so far: in other languages no sentence is taken to
lean, and sentences are chosen by rank alone.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Protocol

__all__ = [
    "DEFAULT_LANGUAGE",
    "LEANING_OPENERS",
    "SUMY_LANGUAGES",
    "LanguageSummarizers",
    "LeadContentSummarizer",
    "Summarizer",
    "TextRankSummarizer",
    "default_summarizer",
    "split_sentences",
    "summary_language",
]

DEFAULT_LANGUAGE: Final = "en"
# The lowest weight at which the article's first sentence still always outranks every other sentence
# (see `_position_prior`), so the summary keeps the lead where it fits and otherwise lets content choose.
# Of the weights tried on bench/summary_rouge.py (2 to 10), 2 scored best at every budget.
DEFAULT_LEAD_WEIGHT = 2.0
PARAGRAPH_START_BONUS = 0.5
MIN_TOKEN_CHARS = 3
# Below this a truncated sentence says nothing useful, so the fallback returns "".
MIN_FALLBACK_CHARS = 20
ELLIPSIS = "…"
SENTENCE_SEPARATOR = " "
# TextRank compares every pair of sentences; past this many the rest of a very long text ranks last.
MAX_RANKED_SENTENCES = 200

# sumy's name for each language whose articles are summarised in it, by the base of its code ("de-AT" uses "de"):
# those sumy has stop words for that write spaces between words (our word tokens are runs of letters, so Chinese,
# Japanese and Thai, which sumy tokenises with packages newsbot does not install, are left out; Korean too, whose
# stop words are particles written joined to the word). An article in any other language is summarised as English.
SUMY_LANGUAGES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "ar": "arabic",
        "cs": "czech",
        "de": "german",
        "el": "greek",
        "en": "english",
        "es": "spanish",
        "fr": "french",
        "he": "hebrew",
        "it": "italian",
        "pl": "polish",
        "pt": "portuguese",
        "sk": "slovak",
        "sv": "swedish",
        "uk": "ukrainian",
    }
)
# sumy stems these with packages newsbot does not install (greek-stemmer-pos, pystempel): their words are compared
# unstemmed, so a summary does not change with what else happens to be installed.
UNSTEMMED_LANGUAGES: Final = frozenset({"greek", "polish"})

# Opening words (as written, capitalised) of a sentence that leans on the one before it: pronoun and
# demonstrative subjects, and connectives that continue or answer the previous sentence. Per language, by the
# base of its code ("en-GB" uses "en"). "It" and "That" sometimes lean on nothing ("It is raining"); taking the
# sentence before as well costs a little room and never a wrong reading.
LEANING_OPENERS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "en": frozenset(
            {
                "He",
                "She",
                "It",
                "They",
                "His",
                "Her",
                "Its",
                "Their",
                "Him",
                "Them",
                "This",
                "That",
                "These",
                "Those",
                "Such",
                "But",
                "However",
                "Also",
                "And",
                "Yet",
                "Still",
                "So",
                "Or",
                "Nor",
                "Then",
                "Thus",
                "Hence",
                "Therefore",
                "Consequently",
                "Nevertheless",
                "Nonetheless",
                "Moreover",
                "Furthermore",
                "Besides",
                "Additionally",
                "Meanwhile",
                "Instead",
                "Otherwise",
                "Likewise",
                "Similarly",
                "Indeed",
            }
        ),
    }
)
# Quotes and brackets that may come before a sentence's first word.
OPENING_MARKS = "\"'\u201c\u2018(["

PARAGRAPH_BREAK_PATTERN = r"\n[^\S\n]*\n\s*"
WORD_TOKEN_PATTERN = r"\w+"
# A lone initial ("U.") as the last word of a piece, possibly after an opening bracket or quote.
TRAILING_INITIAL_PATTERN = r"(?:^|[\s(\[\"'\u201c\u2018])[^\W\d_]\.$"
# English titles that precede a name and so never end a sentence; sentencex sometimes splits after them.
TRAILING_TITLE_PATTERN = r"(?:^|\s)(?:Mr|Ms|Mrs|Mx|Dr|Prof|Gen|Sen|Rep|Gov|Lt|Col|Sgt|Capt|Cpl|Adm|Rev|Hon|St|Mt)\.$"
# Punctuation that would dangle before the ellipsis of a truncated sentence.
DANGLING_PUNCTUATION = " \t\n,;:\u2013\u2014-"


class Summarizer(Protocol):
    def summarize(self, text: str, max_chars: int) -> str:
        """At most `max_chars` characters of whole sentences from `text` ("" if max_chars is too small)."""
        ...


def split_sentences(text: str, *, language: str = DEFAULT_LANGUAGE) -> list[str]:
    """Sentences of `text` in order, surrounding whitespace stripped; a blank line always ends a sentence."""
    return [sentence for paragraph in _paragraphs(text) for sentence in _paragraph_sentences(paragraph, language)]


@dataclass(frozen=True)
class _Sentence:
    text: str
    index: int
    index_in_paragraph: int


def _article_sentences(text: str, language: str) -> list[_Sentence]:
    sentences: list[_Sentence] = []
    for paragraph in _paragraphs(text):
        for index_in_paragraph, sentence in enumerate(_paragraph_sentences(paragraph, language)):
            sentences.append(_Sentence(sentence, len(sentences), index_in_paragraph))
    return sentences


def _summary(sentences: list[_Sentence], scores: list[float], max_chars: int, language: str) -> str:
    """The best-scored sentences that fit, whole thoughts kept, in document order; else the first one shortened."""
    chosen = _choose_within_budget(sentences, scores, _leaning_flags(sentences, language), max_chars)
    if not chosen:
        return _shorten_at_word_boundary(sentences[0].text, max_chars)
    return SENTENCE_SEPARATOR.join(sentence.text for sentence in chosen)


class TextRankSummarizer:
    """Deterministic extractive summarizer: sumy's TextRank ranking, greedy fit to the budget (the default)."""

    def __init__(self, language: str = DEFAULT_LANGUAGE) -> None:
        self.language = language

    def __repr__(self) -> str:
        return f"TextRankSummarizer(language={self.language!r})"

    def summarize(self, text: str, max_chars: int) -> str:
        sentences = _article_sentences(text, self.language)
        if not sentences or max_chars <= 0:
            return ""
        scores = _textrank_scores([sentence.text for sentence in sentences], self.language)
        if scores is None:
            scores = LeadContentSummarizer(self.language).scores(sentences)
        return _summary(sentences, scores, max_chars, self.language)


class LeadContentSummarizer:
    """Deterministic extractive summarizer: position prior + word centrality, greedy fit to the budget."""

    def __init__(self, language: str = DEFAULT_LANGUAGE, lead_weight: float = DEFAULT_LEAD_WEIGHT) -> None:
        if not math.isfinite(lead_weight) or lead_weight < 0:
            raise ValueError(f"lead_weight must be a finite number >= 0, got {lead_weight!r}")
        self.language = language
        self.lead_weight = lead_weight

    def __repr__(self) -> str:
        return f"LeadContentSummarizer(language={self.language!r}, lead_weight={self.lead_weight!r})"

    def summarize(self, text: str, max_chars: int) -> str:
        sentences = _article_sentences(text, self.language)
        if not sentences or max_chars <= 0:
            return ""
        return _summary(sentences, self.scores(sentences), max_chars, self.language)

    def scores(self, sentences: list[_Sentence]) -> list[float]:
        content = _centrality_scores([_content_tokens(sentence.text) for sentence in sentences])
        return [
            self._position_prior(sentence) + content_score
            for sentence, content_score in zip(sentences, content, strict=True)
        ]

    def _position_prior(self, sentence: _Sentence) -> float:
        # With content scores in [0, 1], the first sentence scores at least lead_weight + bonus and any
        # other at most lead_weight / 2 + bonus + 1, so it ranks first whenever lead_weight >= 2
        # (a tie goes to the earlier sentence).
        document_prior = self.lead_weight / (1 + sentence.index)
        paragraph_prior = PARAGRAPH_START_BONUS / (1 + sentence.index_in_paragraph)
        return document_prior + paragraph_prior


def default_summarizer() -> Summarizer:
    return TextRankSummarizer()


def summary_language(tag: str) -> str:
    """The language an article tagged `tag` ("de-AT", "pt-BR", "" unknown) is summarised in: the base of its
    code where sumy can rank its sentences (`SUMY_LANGUAGES`), else English."""
    base = _base_language(tag)
    return base if base in SUMY_LANGUAGES else DEFAULT_LANGUAGE


class LanguageSummarizers:
    """One summarizer per summary language (`summary_language`), built when first asked for and then reused;
    safe to share between threads."""

    def __init__(self, build: Callable[[str], Summarizer] = TextRankSummarizer) -> None:
        self._build = build
        self._built: dict[str, Summarizer] = {}
        self._lock = threading.Lock()

    def for_language(self, tag: str) -> Summarizer:
        """The summarizer for articles in language `tag` (English for "" and languages sumy cannot rank)."""
        language = summary_language(tag)
        with self._lock:
            summarizer = self._built.get(language)
            if summarizer is None:
                summarizer = self._built[language] = self._build(language)
        return summarizer


def _base_language(tag: str) -> str:
    """The primary subtag of a language tag, lower case: "pt-BR" and "pt_BR" give "pt"."""
    return tag.split("-")[0].split("_")[0].strip().casefold()


class _WordTokenizer:
    """What sumy asks of a tokenizer for sentences it is handed whole: their words (our WORD_TOKEN_PATTERN)."""

    def __init__(self, language: str) -> None:
        self.language = language

    def to_sentences(self, paragraph: str) -> list[str]:
        return [paragraph]

    def to_words(self, sentence: str) -> list[str]:
        return re.findall(WORD_TOKEN_PATTERN, sentence)


def _textrank_scores(sentences: list[str], language: str) -> list[float] | None:
    """sumy's TextRank score of each sentence, or None when sumy has no stop words for `language`."""
    # Lazily: sumy brings numpy and nltk's stemmers, start-up time a CLI command that never summarises saves.
    from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
    from sumy.summarizers.text_rank import TextRankSummarizer as SumyTextRank
    from sumy.utils import get_stop_words

    # A code sumy's table lacks ("ru", "nl") goes to sumy as written: pycountry names it, and sumy looks that up.
    sumy_language = SUMY_LANGUAGES.get(_base_language(language), language)
    try:
        stop_words = get_stop_words(sumy_language)
    except LookupError:
        return None
    ranker = SumyTextRank(_stemmer(sumy_language))
    ranker.stop_words = stop_words
    tokenizer = _WordTokenizer(language)
    ranked = sentences[:MAX_RANKED_SENTENCES]
    document = ObjectDocumentModel([Paragraph([Sentence(text, tokenizer) for text in ranked])])
    # Not sumy's rate_sentences(): it keys scores by sentence text, so a repeated sentence would share one score.
    ranks = ranker.power_method(ranker._create_matrix(document), ranker.epsilon)
    return [float(rank) for rank in ranks] + [0.0] * (len(sentences) - len(ranked))


def _stemmer(sumy_language: str) -> Callable[[str], str]:
    """A new stemmer for each ranking (nltk's Arabic one keeps state between the words it stems, so it is not
    shared between threads); words unstemmed where sumy has no stemmer for the language."""
    from sumy.nlp.stemmers import Stemmer, null_stemmer

    unstemmed: Callable[[str], str] = null_stemmer
    if sumy_language in UNSTEMMED_LANGUAGES:
        return unstemmed
    try:
        stemmer: Callable[[str], str] = Stemmer(sumy_language)
    except LookupError:
        return unstemmed
    return stemmer


def _paragraphs(text: str) -> list[str]:
    paragraphs = re.split(PARAGRAPH_BREAK_PATTERN, _without_lone_surrogates(text))
    return [paragraph for paragraph in paragraphs if paragraph.strip()]


def _without_lone_surrogates(text: str) -> str:
    # sentencex hands text to Rust as UTF-8, which rejects lone surrogates (e.g. from surrogateescape).
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _paragraph_sentences(paragraph: str, language: str) -> list[str]:
    from sentencex import segment  # lazily: importing it costs start-up time the CLI does not need

    # The base code: sentencex knows "de" but splits "de-AT" by its default (English-like) rules.
    pieces = _rejoin_false_splits([str(piece) for piece in segment(_base_language(language) or language, paragraph)])
    return [piece.strip() for piece in pieces if piece.strip()]


def _rejoin_false_splits(pieces: list[str]) -> list[str]:
    """Undo splits after an abbreviation: sentencex misses some (more so outside English)."""
    joined: list[str] = []
    for piece in pieces:
        if joined and _is_false_split(joined[-1], piece):
            joined[-1] += piece
        else:
            joined.append(piece)
    return joined


def _is_false_split(before: str, after: str) -> bool:
    trimmed_before = before.rstrip()
    trimmed_after = after.lstrip()
    if not trimmed_before.endswith(".") or not trimmed_after:
        return False
    # A sentence does not start in lower case ("5 a.m. on Monday", "E. coli").
    if trimmed_after[0].islower():
        return True
    # A title always goes with the name after it ("left Ms. Okafor ahead").
    if re.search(TRAILING_TITLE_PATTERN, trimmed_before):
        return True
    # "U.S.A." cut into "U." + "S.A.": nothing separates them. A lone initial followed by a space and a
    # capital is left as split: "met J. Smith" and "posted on X. The" cannot be told apart.
    touching = before == trimmed_before and after == trimmed_after
    return touching and re.search(TRAILING_INITIAL_PATTERN, trimmed_before) is not None


def _content_tokens(sentence: str) -> list[str]:
    return [token for token in re.findall(WORD_TOKEN_PATTERN, sentence.casefold()) if len(token) >= MIN_TOKEN_CHARS]


def _centrality_scores(token_lists: list[list[str]]) -> list[float]:
    """Per sentence, the mean article-wide count of its words, scaled so the most central sentence is 1."""
    counts = Counter(token for tokens in token_lists for token in tokens)
    if not counts:
        return [0.0] * len(token_lists)
    top_count = max(counts.values())
    raw = [
        sum(counts[token] for token in tokens) / (top_count * len(tokens)) if tokens else 0.0 for tokens in token_lists
    ]
    top_raw = max(raw)
    return [score / top_raw if top_raw > 0 else 0.0 for score in raw]


def _leaning_flags(sentences: list[_Sentence], language: str) -> list[bool]:
    """Per sentence, whether it leans on the one before it (see LEANING_OPENERS); the first never does."""
    openers = LEANING_OPENERS.get(_base_language(language), frozenset())
    return [sentence.index > 0 and _first_word(sentence.text) in openers for sentence in sentences]


def _first_word(sentence: str) -> str:
    words = re.findall(WORD_TOKEN_PATTERN, sentence.lstrip(OPENING_MARKS)[:40])
    return words[0] if words else ""


def _choose_within_budget(
    sentences: list[_Sentence], scores: list[float], leaning: list[bool], max_chars: int
) -> list[_Sentence]:
    """Best-scored first, each with the sentences it leans on, skipping any that no longer fit; in document order."""
    ranked = sorted(sentences, key=lambda sentence: (-scores[sentence.index], sentence.index))
    chosen: set[int] = set()
    used = 0
    for sentence in ranked:
        start = sentence.index
        while leaning[start]:
            start -= 1
        added = [index for index in range(start, sentence.index + 1) if index not in chosen]
        cost = sum(len(sentences[index].text) for index in added)
        cost += len(SENTENCE_SEPARATOR) * (len(added) - (0 if chosen else 1))
        if added and used + cost <= max_chars:
            chosen.update(added)
            used += cost
    return [sentences[index] for index in sorted(chosen)]


def _shorten_at_word_boundary(sentence: str, max_chars: int) -> str:
    """The longest whole-word prefix of `sentence` that fits with an ellipsis, or "" if none is useful."""
    if max_chars < MIN_FALLBACK_CHARS:
        return ""
    if len(sentence) <= max_chars:
        return sentence
    room = max_chars - len(ELLIPSIS)
    prefix = sentence[:room]
    if not sentence[room : room + 1].isspace():
        prefix = re.sub(r"\S*$", "", prefix)
    prefix = prefix.rstrip(DANGLING_PUNCTUATION)
    return prefix + ELLIPSIS if prefix else ""
