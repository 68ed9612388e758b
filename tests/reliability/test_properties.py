"""Properties (hypothesis) of the pieces every article passes through, whatever the input text.

Already covered as properties elsewhere, so not repeated here: the summary is within its budget for any text
(tests/test_summarize.py), whole sentences for sentence-like text (ibid.), the Telegram post with a fixed link and
ASCII hashtags (tests/test_render.py), the X post with a fixed link (ibid.), and `split` on messages built from a
small alphabet (tests/test_telegram_html.py). These tests widen the inputs: any Unicode text, any http(s) link,
Unicode hashtags, the real summarizer, and the exact text lost at each cut.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from functools import cache

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.channels import ThreadSettings
from bot.hashtags import find_hashtags, normalize
from bot.models import Article
from bot.render import Renderer
from bot.share import with_utm
from bot.summarize import ELLIPSIS, LeadContentSummarizer, default_summarizer, split_sentences
from bot.telegram_html import CAPTION_LIMIT, MESSAGE_LIMIT, escape, split, validate, visible_length, visible_text
from bot.xtext import X_LIMIT, links_and_mentions, weighted_length

EXAMPLES = {"x": 60, "telegram": 60, "split": 150, "hashtags": 300, "summary": 150}
UTM = {"telegram": {"utm_source": "telegram"}, "x": {"utm_source": "x", "utm_medium": "social"}}
_FAST = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


@cache
def renderer() -> Renderer:
    return Renderer(summarizer=default_summarizer(), utm=UTM)


@cache
def thread_renderer() -> Renderer:
    return Renderer(summarizer=default_summarizer(), utm=UTM, threads={"x": ThreadSettings()})


# --- strategies ----------------------------------------------------------------------------------------------

# Any Unicode (lone surrogates excluded: they cannot come out of a decoded feed), plus the characters that matter.
_SPECIAL = st.sampled_from([*"<>&\"'#.!? \n\t\u00a0\u200b\u200d\u202e\u0301", "👍🏽", "😀", "中文", "&amp;", "\r\n"])
_piece = st.one_of(st.characters(codec="utf-8"), _SPECIAL)
any_text = st.lists(_piece, max_size=3000).map("".join)
short_text = st.lists(_piece, max_size=300).map("".join)
_host = st.from_regex(
    r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]{1,20}){0,3}\.(com|org|news|co\.uk|de|io)", fullmatch=True
)
_path = st.text(alphabet=st.sampled_from("abcXYZ019-._~%/:@!$'()*+,;=éü中"), max_size=200)
_query = st.text(alphabet=st.sampled_from("abc019-_.~%=&+;é"), max_size=120)
_tag_word_ascii = st.from_regex(r"[A-Za-z0-9_]{1,20}(/[a-z][a-z0-9_-]{0,5})?", fullmatch=True)
links = st.builds(
    lambda scheme, host, path, query: f"{scheme}://{host}/{path}" + (f"?{query}" if query else ""),
    st.sampled_from(["http", "https"]),
    _host,
    _path,
    _query,
)
unicode_tags = st.lists(
    st.text(
        alphabet=st.characters(categories=["L", "Nd", "Mn", "Mc"], include_characters="_"), min_size=1, max_size=20
    ).filter(lambda tag: tag[0].isalpha()),
    max_size=8,
)


def article(title: str, text: str, link: str, tags: list[str], image_url: str = "") -> Article:
    return Article(
        key="prop1234abcd",
        source='Property <News> & "Co"',
        title=title,
        link=link,
        text=text,
        hashtags=tuple(tags),
        published=datetime(2026, 11, 20, tzinfo=UTC),
        first_seen=datetime(2026, 11, 20, tzinfo=UTC),
        image_url=image_url,
    )


# --- the X length fitter -------------------------------------------------------------------------------------


@settings(_FAST, max_examples=EXAMPLES["x"])
@given(title=short_text, text=any_text, link=links, tags=unicode_tags)
def test_an_x_post_fits_280_weighted_and_keeps_any_link_whole(
    title: str, text: str, link: str, tags: list[str]
) -> None:
    post = renderer().render(article(title, text, link, tags), "x")

    assert post.length == weighted_length(post.text) <= X_LIMIT
    assert with_utm(link, UTM["x"]) in post.text.split()


_mention = st.builds(
    "".join,
    st.tuples(st.sampled_from(["", "RT ", "rt:", "cc ", "(", "."]), st.sampled_from("@\uff20"), _tag_word_ascii),
)
_bare_link = st.one_of(_host, links, st.builds(lambda host: f"www.{host}/a?b=1", _host))
x_prose = st.lists(st.one_of(_piece, _mention, _bare_link), max_size=400).map(" ".join)


@settings(_FAST, max_examples=EXAMPLES["x"])
@given(title=x_prose, text=x_prose, link=links, tags=unicode_tags, thread=st.booleans())
def test_an_x_post_has_no_mention_and_its_only_link_is_the_articles(
    title: str, text: str, link: str, tags: list[str], thread: bool
) -> None:
    link_on_x = with_utm(link, UTM["x"])
    # About the feed's text: a link that X itself would cut short ("…/x(@jack" ends at "(") is another matter.
    assume([(e.kind, e.text) for e in links_and_mentions(link_on_x)] == [("url", link_on_x)])
    post = (thread_renderer() if thread else renderer()).render(article(title, text, link, tags), "x")

    parts = post.parts or (post.text,)
    found = [(entity.kind, entity.text) for part in parts for entity in links_and_mentions(part)]
    assert found == [("url", link_on_x)]
    assert all(weighted_length(part) <= X_LIMIT for part in parts)


# --- the Telegram renderer and splitter ----------------------------------------------------------------------


@settings(_FAST, max_examples=EXAMPLES["telegram"])
@given(title=short_text, text=any_text, link=links | st.just(""), tags=unicode_tags, photo=st.booleans())
def test_a_telegram_post_is_valid_and_within_the_message_or_caption_limit(
    title: str, text: str, link: str, tags: list[str], photo: bool
) -> None:
    image = "https://img.example.com/a.jpg" if photo else ""
    post = renderer().render(article(title, text, link, tags, image), "telegram")

    validate(post.text)
    assert post.length == visible_length(post.text) <= (CAPTION_LIMIT if photo else MESSAGE_LIMIT)
    if link:
        assert f'<a href="{escape(with_utm(link, UTM["telegram"]))}">' in post.text


_TAGS = [
    "b",
    "i",
    "u",
    "s",
    "code",
    "tg-spoiler",
    "blockquote",
    "pre",
    'span class="tg-spoiler"',
    "blockquote expandable",
]


@st.composite
def telegram_messages(draw: st.DrawFn) -> str:
    """Valid Telegram HTML: escaped arbitrary text, some of it inside (nested) tags and links."""
    pieces = []
    for text in draw(st.lists(short_text, min_size=1, max_size=12)):
        kind = draw(st.sampled_from(["plain", "tag", "link", "nested"]))
        body = escape(text)
        if kind == "tag":
            tag = draw(st.sampled_from(_TAGS))
            body = f"<{tag}>{body}</{tag.split()[0]}>"
        elif kind == "link":
            body = f'<a href="{escape(draw(links))}">{body}</a>'
        elif kind == "nested":
            body = f"<b><i>{body}</i> <u>{escape(draw(short_text))}</u></b>"
        pieces.append(body)
    return draw(st.sampled_from(["", " ", "\n", "\n\n"])).join(pieces)


def assert_parts_are_the_original_cut_at_whitespace(original: str, parts: list[str]) -> None:
    """original == ws + part0 + ws + part1 + ... + ws, where each ws is only whitespace (possibly none)."""
    position = 0
    for part in parts:
        while position < len(original) and original[position].isspace():
            position += 1
        part = part.strip()  # a message that needs no split comes back as it was, blanks and all
        assert original.startswith(part, position), (original[position : position + 40], part[:40])
        position += len(part)
    assert not original[position:].strip()


@settings(_FAST, max_examples=EXAMPLES["split"])
@given(html=telegram_messages(), limit=st.integers(min_value=64, max_value=1500))
def test_split_parts_are_valid_within_the_limit_and_are_the_text_cut_at_whitespace(html: str, limit: int) -> None:
    assume(visible_text(html).strip())
    validate(html)
    parts = split(html, limit)

    for part in parts:
        validate(part)
        assert visible_length(part) <= limit
        assert visible_text(part).strip()
    assert_parts_are_the_original_cut_at_whitespace(visible_text(html), [visible_text(part) for part in parts])


@settings(_FAST, max_examples=20)
@given(text=short_text.map(lambda text: (text + " ") * (1 + 9000 // (len(text) + 1))).filter(str.strip))
def test_split_at_the_real_limit_keeps_every_non_blank_character(text: str) -> None:
    html = escape(text)
    parts = split(html)

    assert all(visible_length(part) <= MESSAGE_LIMIT for part in parts)
    assert_parts_are_the_original_cut_at_whitespace(text, [visible_text(part) for part in parts])


# --- the hashtag extractor -----------------------------------------------------------------------------------

_tag_word = st.from_regex(r"[A-Za-zÀ-ÖØ-öø-ÿА-я_][A-Za-z0-9À-ÖØ-öø-ÿА-я_]{0,15}", fullmatch=True).filter(
    lambda word: any(ch.isalpha() for ch in word)
)
_url_fragment = st.from_regex(r"urlonly[a-z]{1,8}", fullmatch=True)


@st.composite
def text_with_tags_and_urls(draw: st.DrawFn) -> tuple[str, list[str], list[str]]:
    """Text, the tags written in it outside URLs, and words that appear as #fragments only inside URLs."""
    pieces: list[str] = []
    written: list[str] = []
    in_urls: list[str] = []
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        kind = draw(st.sampled_from(["tag", "digits", "url", "bare-url", "word", "entity", "noise"]))
        if kind == "tag":
            tag = draw(_tag_word)
            written.append(tag)
            pieces.append("#" + tag)
        elif kind == "digits":
            pieces.append("#" + str(draw(st.integers(min_value=0, max_value=10**9))))
        elif kind in ("url", "bare-url"):
            fragment = draw(_url_fragment)
            in_urls.append(fragment)
            host = draw(_host)
            prefix = draw(st.sampled_from(["https://", "http://", "HTTPS://", "www."])) if kind == "url" else ""
            pieces.append(f"{prefix}{host}/{draw(st.sampled_from(['', 'a/', 'p?q=1']))}#{fragment}")
        elif kind == "entity":
            pieces.append("&#39;" + draw(_tag_word))
        elif kind == "word":
            pieces.append(draw(_tag_word))
        else:
            pieces.append(draw(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="#"), max_size=12)))
    separators = st.sampled_from([" ", "\n", ", ", " (", ") ", ". "])
    text = "".join(piece + draw(separators) for piece in pieces)
    return text, written, in_urls


@settings(max_examples=EXAMPLES["hashtags"], deadline=None)
@given(case=text_with_tags_and_urls())
def test_hashtags_are_found_outside_urls_never_all_digits_and_deduplicated_ignoring_case(
    case: tuple[str, list[str], list[str]],
) -> None:
    text, written, in_urls = case
    found = find_hashtags(text)

    assert all("#" not in tag and tag and any(ch.isalpha() for ch in tag) for tag in found)
    assert len({normalize(tag) for tag in found}) == len(found)
    assert not {normalize(word) for word in in_urls} & {normalize(tag) for tag in found}
    # Every tag written outside a URL is found, spelled as first written.
    first_spelling = {}
    for tag in written:
        first_spelling.setdefault(normalize(tag), tag)
    assert {normalize(tag): tag for tag in found} == first_spelling


@settings(max_examples=EXAMPLES["hashtags"], deadline=None)
@given(text=any_text)
def test_hashtags_of_any_text_are_tag_words_in_their_order_of_appearance(text: str) -> None:
    found = find_hashtags(text)

    assert all(tag and "#" not in tag and not tag.isdigit() and not any(ch.isspace() for ch in tag) for tag in found)
    assert len({normalize(tag) for tag in found}) == len(found)
    position = 0
    for tag in found:  # each one was written as #tag, in this order
        position = text.index("#" + tag, position) + 1


@given(word=st.text(alphabet=st.characters(categories=["L", "Mn", "Mc"]), min_size=1, max_size=12))
@settings(max_examples=EXAMPLES["hashtags"], deadline=None)
def test_a_tag_is_never_cut_at_a_combining_mark(word: str) -> None:
    assume(word[0].isalpha() and unicodedata.category(word[0]).startswith("L"))

    assert find_hashtags(f"News #{word} today") == [word]


# --- the summarizer ------------------------------------------------------------------------------------------


@settings(_FAST, max_examples=EXAMPLES["summary"])
@given(text=any_text, budget=st.integers(min_value=0, max_value=1200))
def test_a_summary_of_any_text_is_whole_sentences_in_order_or_the_first_one_shortened(text: str, budget: int) -> None:
    sentences = split_sentences(text)
    summary = LeadContentSummarizer().summarize(text, budget)

    assert len(summary) <= budget
    if not summary:
        return
    if summary.endswith(ELLIPSIS) and not any(s.endswith(ELLIPSIS) and s in summary for s in sentences):
        shortened = summary.removesuffix(ELLIPSIS)
        assert sentences[0].startswith(shortened) and len(sentences[0]) > budget
        return
    rest = summary
    for sentence in sentences:  # the summary is some of the sentences, in document order, joined by a space
        if rest.startswith(sentence):
            rest = rest[len(sentence) :].removeprefix(" ")
    assert rest == "", (summary[:80], rest[:80])


def test_property_figures() -> None:
    tried = {**EXAMPLES, "split at 4096": 20, "combining marks": EXAMPLES["hashtags"]}
    print("\nreliability: inputs tried per property (max): " + ", ".join(f"{k} {v}" for k, v in tried.items()))
