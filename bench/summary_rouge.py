"""ROUGE-1/2/L F1 of newsbot's summarizer against reference summaries, beside baselines and other rankings.

Run from the repository root: `.venv/bin/python bench/summary_rouge.py [BBC_DEV_DIR]` (needs the `bench` extra,
rouge-score). Prints Markdown tables and writes them to bench/RESULTS-summary.md. Offline and deterministic.

Two sets: this repository's corpus (bench/data/summaries, budgets 200-600), and the bbc-dev development set
(../shared/data/bbc-dev by default, 60 BBC articles; each summary gets its reference's length in characters, as
the set's README measures). On bbc-dev, other rankings run too, each with whole sentences chosen best-ranked
first while they fit and shown in article order: our previous LeadContentSummarizer, sumy's LexRank, LexRank
plus position (scores scaled to a maximum of 1, plus 1 / (1 + sentence index)) and sumy's TextRank without the
whole-thought rule, all with our sentence splitter and word tokens.

Methods, all fed the same article body (title excluded):
- newsbot:  `default_summarizer().summarize(text, budget)`;
- lead-fit: the article's first sentences, in order, while they fit the budget (stops at the first that does not);
- Lead-3:   the first three sentences whatever their length (independent of the budget, shown for context).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

from rouge_score import rouge_scorer

from bot.sources import read_source
from bot.summarize import default_summarizer, split_sentences

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / "data" / "summaries"
SAMPLES_DIR = BENCH_DIR.parent / "bot" / "samples"
# Bundled article pages, parsed the way newsbot reads them; their references live in DATA_DIR.
SAMPLE_PAGES = ("syria-coalition", "ev-batteries")
RESULTS_PATH = BENCH_DIR / "RESULTS-summary.md"
REFERENCE_SUFFIX = ".ref.txt"

BUDGETS = (200, 300, 400, 600)
METRICS = ("rouge1", "rouge2", "rougeL")
METRIC_LABELS = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L"}
SEPARATOR = " "
LEAD_SENTENCES = 3

Summarize = Callable[[str, int], str]


@dataclass(frozen=True)
class Article:
    name: str
    text: str
    reference: str


@dataclass(frozen=True)
class Result:
    method: str
    budget: int | None  # None: the method ignores the budget
    f1: dict[str, float]  # mean F1 per metric
    recall: dict[str, float]  # mean recall per metric: how much of the reference the summary covers
    mean_chars: float
    empty: int  # articles for which the method produced no summary


def load_articles() -> list[Article]:
    """The corpus files (title line, blank line, body) and the bundled sample pages, each with its reference."""
    articles = [
        Article(path.name.removesuffix(".txt"), _body_of_text_file(path), _reference(path.name.removesuffix(".txt")))
        for path in sorted(DATA_DIR.glob("*.txt"))
        if not path.name.endswith(REFERENCE_SUFFIX)
    ]
    for name in SAMPLE_PAGES:
        entry = read_source("bench", str(SAMPLES_DIR / f"{name}.txt")).entries[0]
        articles.append(Article(name, entry.text, _reference(name)))
    return articles


def _body_of_text_file(path: Path) -> str:
    _title, _blank, body = path.read_text(encoding="utf-8").partition("\n\n")
    return body.strip()


def _reference(name: str) -> str:
    return (DATA_DIR / f"{name}{REFERENCE_SUFFIX}").read_text(encoding="utf-8").strip()


def lead_fit(text: str, max_chars: int) -> str:
    """The first sentences of `text` that fit `max_chars`, joined by a space; stops at the first that does not."""
    chosen: list[str] = []
    used = 0
    for sentence in split_sentences(text):
        cost = len(sentence) + (len(SEPARATOR) if chosen else 0)
        if used + cost > max_chars:
            break
        chosen.append(sentence)
        used += cost
    return SEPARATOR.join(chosen)


def lead_three(text: str, max_chars: int) -> str:
    """The first three sentences of `text`; `max_chars` is ignored."""
    return SEPARATOR.join(split_sentences(text)[:LEAD_SENTENCES])


def evaluate(
    articles: Sequence[Article], method: str, summarize: Summarize, budget: int | None, scorer: rouge_scorer.RougeScorer
) -> Result:
    summaries = [summarize(article.text, budget or 0) for article in articles]
    return scored(articles, method, budget, summaries, scorer)


def scored(
    articles: Sequence[Article],
    method: str,
    budget: int | None,
    summaries: Sequence[str],
    scorer: rouge_scorer.RougeScorer,
) -> Result:
    scores = [scorer.score(article.reference, summary) for article, summary in zip(articles, summaries, strict=True)]
    f1 = {metric: mean(score[metric].fmeasure for score in scores) for metric in METRICS}
    recall = {metric: mean(score[metric].recall for score in scores) for metric in METRICS}
    chars = mean(len(summary) for summary in summaries)
    return Result(method, budget, f1, recall, chars, sum(not s for s in summaries))


def run(articles: Sequence[Article]) -> list[Result]:
    scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)
    from bot.summarize import LeadContentSummarizer

    newsbot = default_summarizer()
    lexrank = ranked_fit(lambda s: _sumy_scores("lexrank", s))
    results: list[Result] = []
    for budget in BUDGETS:
        results.append(evaluate(articles, "newsbot", newsbot.summarize, budget, scorer))
        results.append(evaluate(articles, "lead-fit", lead_fit, budget, scorer))
        results.append(evaluate(articles, "sumy LexRank", lexrank, budget, scorer))
        results.append(evaluate(articles, "newsbot before", LeadContentSummarizer().summarize, budget, scorer))
    results.append(evaluate(articles, "Lead-3", lead_three, None, scorer))
    return results


def render(results: Sequence[Result], article_count: int) -> str:
    metric_headers = " | ".join(f"{METRIC_LABELS[m]} F1" for m in METRICS)
    lines = [
        f"# Summary ROUGE benchmark ({article_count} articles)",
        "",
        "Generated by `.venv/bin/python bench/summary_rouge.py`. Mean F1 (rouge-score, Porter stemmer).",
        "",
        f"| Budget | Method | {metric_headers} | Mean chars | Empty |",
        "|---:|---|" + "---:|" * (len(METRICS) + 2),
    ]
    for result in results:
        budget_cell = str(result.budget) if result.budget is not None else "none"
        cells = " | ".join(f"{result.f1[m]:.4f}" for m in METRICS)
        lines.append(f"| {budget_cell} | {result.method} | {cells} | {result.mean_chars:.0f} | {result.empty} |")
    lines += [
        "",
        f"Ratio newsbot / lead-fit (mean F1 and mean recall; > 1 means newsbot is better), {article_count} articles:",
        "",
    ]
    labels = [f"{METRIC_LABELS[m]} F1" for m in METRICS] + [f"{METRIC_LABELS[m]} recall" for m in METRICS]
    lines += [f"| Budget | {' | '.join(labels)} |", "|---:|" + "---:|" * len(labels)]
    by_key = {(result.method, result.budget): result for result in results}
    for budget in BUDGETS:
        ours, lead = by_key["newsbot", budget], by_key["lead-fit", budget]
        f1 = [_ratio(ours.f1[m], lead.f1[m]) for m in METRICS]
        recall = [_ratio(ours.recall[m], lead.recall[m]) for m in METRICS]
        lines.append(f"| {budget} | " + " | ".join(f1 + recall) + " |")
    return "\n".join(lines) + "\n"


def _ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.3f}" if denominator > 0 else "n/a"


def load_bbc_dev(folder: Path) -> list[Article]:
    """bbc-dev's articles (title line, then the body) with their references (one sentence a line)."""
    articles = []
    for path in sorted((folder / "article").glob("*.txt")):
        _title, _newline, body = path.read_text(encoding="utf-8").partition("\n")
        lines = (folder / "summary" / path.name).read_text(encoding="utf-8").splitlines()
        reference = SEPARATOR.join(line.strip() for line in lines if line.strip())
        articles.append(Article(path.stem, body.strip(), reference))
    return articles


def ranked_fit(rank: Callable[[list[str]], list[float]]) -> Summarize:
    """Whole sentences, best-ranked first while they fit (skipping any that do not), in article order."""

    def summarize(text: str, max_chars: int) -> str:
        sentences = split_sentences(text)
        scores = rank(sentences) if sentences else []
        chosen: list[int] = []
        used = 0
        for index in sorted(range(len(sentences)), key=lambda i: (-scores[i], i)):
            cost = len(sentences[index]) + (len(SEPARATOR) if chosen else 0)
            if used + cost <= max_chars:
                chosen.append(index)
                used += cost
        return SEPARATOR.join(sentences[index] for index in sorted(chosen))

    return summarize


def _sumy_scores(kind: str, sentences: list[str]) -> list[float]:
    import re

    from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
    from sumy.nlp.stemmers import Stemmer
    from sumy.summarizers.lex_rank import LexRankSummarizer
    from sumy.summarizers.text_rank import TextRankSummarizer
    from sumy.utils import get_stop_words

    class Words:
        language = "english"

        def to_words(self, sentence: str) -> list[str]:
            return re.findall(r"\w+", sentence)

    document = ObjectDocumentModel([Paragraph([Sentence(text, Words()) for text in sentences])])
    if kind == "textrank":
        textrank = TextRankSummarizer(Stemmer("english"))
        textrank.stop_words = get_stop_words("english")
        return [float(x) for x in textrank.power_method(textrank._create_matrix(document), textrank.epsilon)]
    lexrank = LexRankSummarizer(Stemmer("english"))
    lexrank.stop_words = get_stop_words("english")
    words = [lexrank._to_words_set(sentence) for sentence in document.sentences]
    tf, idf = lexrank._compute_tf(words), lexrank._compute_idf(words)
    matrix = lexrank._create_matrix(words, lexrank.threshold, tf, idf)
    return [float(x) for x in lexrank.power_method(matrix, lexrank.epsilon)]


def _with_position(scores: list[float]) -> list[float]:
    top = max(scores) or 1.0
    return [score / top + 1 / (1 + index) for index, score in enumerate(scores)]


def run_bbc_dev(articles: Sequence[Article]) -> list[Result]:
    """Every method at each article's reference length (Result.budget is None: it varies per article)."""
    from bot.summarize import LeadContentSummarizer

    scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)
    methods: list[tuple[str, Summarize]] = [
        ("newsbot (TextRank, whole thoughts)", default_summarizer().summarize),
        ("sumy TextRank alone", ranked_fit(lambda s: _sumy_scores("textrank", s))),
        ("sumy LexRank", ranked_fit(lambda s: _sumy_scores("lexrank", s))),
        ("LexRank + position", ranked_fit(lambda s: _with_position(_sumy_scores("lexrank", s)))),
        ("newsbot before (lead + content)", LeadContentSummarizer().summarize),
        ("lead sentences that fit", lead_fit),
    ]
    return [_evaluate_at_reference_length(articles, name, summarize, scorer) for name, summarize in methods]


def _evaluate_at_reference_length(
    articles: Sequence[Article], method: str, summarize: Summarize, scorer: rouge_scorer.RougeScorer
) -> Result:
    summaries = [summarize(article.text, len(article.reference)) for article in articles]
    return scored(articles, method, None, summaries, scorer)


def render_bbc_dev(results: Sequence[Result], article_count: int) -> str:
    metric_headers = " | ".join(METRIC_LABELS[m] for m in METRICS)
    lines = [
        f"## bbc-dev development set ({article_count} articles, F1 at each reference's length in characters)",
        "",
        "Development figures: the set the ranking was chosen on.",
        "",
        f"| Method | {metric_headers} | Mean chars |",
        "|---|" + "---:|" * (len(METRICS) + 1),
    ]
    for result in results:
        cells = " | ".join(f"{result.f1[m]:.3f}" for m in METRICS)
        lines.append(f"| {result.method} | {cells} | {result.mean_chars:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] = ()) -> int:
    articles = load_articles()
    report = render(run(articles), len(articles))
    bbc_dev = Path(argv[0]) if argv else BENCH_DIR.parent.parent / "shared" / "data" / "bbc-dev"
    if (bbc_dev / "article").is_dir():
        dev_articles = load_bbc_dev(bbc_dev)
        report += "\n" + render_bbc_dev(run_bbc_dev(dev_articles), len(dev_articles))
    print(report, end="")
    RESULTS_PATH.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
