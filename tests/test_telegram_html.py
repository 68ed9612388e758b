"""Telegram's HTML parse mode: escaping, validation, visible length and splitting."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.telegram_html import ALLOWED_TAGS, escape, split, validate, visible_length, visible_text


def test_escape_replaces_only_the_four_special_characters() -> None:
    assert escape("""<b> & "x" 'y'""") == "&lt;b&gt; &amp; &quot;x&quot; 'y'"


@pytest.mark.parametrize(
    "html",
    [
        "plain text",
        "<b>bold</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> <ins>i</ins> <s>s</s> <strike>s</strike>",
        '<del>d</del> <code>c</code> <pre><code class="language-python">x = 1</code></pre>',
        '<a href="https://example.com/?a=1&amp;b=2">link</a>',
        "<blockquote>q</blockquote> <blockquote expandable>long quote</blockquote>",
        '<span class="tg-spoiler">s</span> <tg-spoiler>s</tg-spoiler>',
        "&lt; &gt; &amp; &quot; &#39; &#x1F600;",
        "<b>bold <i>bold italic</i></b> 1 > 0",
    ],
)
def test_valid_messages_pass(html: str) -> None:
    validate(html)


@pytest.mark.parametrize(
    ("html", "message"),
    [
        ("<div>x</div>", "tag <div> is not supported by Telegram at offset 0"),
        ('<b class="x">x</b>', "attribute 'class' is not allowed on <b> at offset 0"),
        ('ok <a href="u" title="t">x</a>', "attribute 'title' is not allowed on <a> at offset 3"),
        ('<span class="red">x</span>', '<span> must have class="tg-spoiler" at offset 0'),
        ("<b>x", "tag <b> is never closed at offset 0"),
        ("<b><i>x</b></i>", "</b> closes while <i> (opened at offset 3) is open at offset 7"),
        ("x</b>", "closing tag </b> has no matching opening tag at offset 1"),
        ("a & b", "'&' must start &lt; &gt; &amp; &quot; or a numeric entity (&#39;) at offset 2"),
        ("&nbsp;", "'&' must start"),
        ("&#99999999;", "is not a Unicode character at offset 0"),
        ("1 < 2", "bare '<' (write &lt;) at offset 2"),
        ("line\nnext <b>", "tag <b> is never closed at offset 10"),
        ("<!-- c -->", "comments are not supported"),
        ("<br/>", "self-closing tag <br/>"),
    ],
)
def test_invalid_messages_are_refused_with_the_problem_and_its_offset(html: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        validate(html)


def test_visible_text_drops_tags_and_decodes_entities() -> None:
    assert visible_text('<b>A &amp; B</b> <a href="u">&lt;3</a> &#39;') == "A & B <3 '"


def test_visible_length_counts_utf16_code_units() -> None:
    assert visible_length("<b>é</b>😀") == 3  # é is 1 unit; the emoji, outside the BMP, is 2
    assert visible_length("&#x1F600;") == 2


def test_a_message_within_the_limit_is_not_split() -> None:
    assert split("<b>short</b>", 100) == ["<b>short</b>"]


def test_split_prefers_a_blank_line_to_a_later_sentence_end() -> None:
    html = "First paragraph.\n\nSecond one. Still second. And more words here"
    assert split(html, 40) == ["First paragraph.", "Second one. Still second.", "And more words here"]


def test_split_falls_back_to_words_then_characters() -> None:
    assert split("alpha beta gamma delta", 11) == ["alpha beta", "gamma delta"]
    assert split("abcdefghij", 4) == ["abcd", "efgh", "ij"]


def test_split_closes_and_reopens_tags_open_at_the_split() -> None:
    html = '<b>One. <a href="https://e.com/?a=1&amp;b=2">Two. Three.</a></b>'
    assert split(html, 8) == [
        "<b>One.</b>",
        '<b><a href="https://e.com/?a=1&amp;b=2">Two.</a></b>',
        '<b><a href="https://e.com/?a=1&amp;b=2">Three.</a></b>',
    ]


def test_split_never_breaks_an_entity_or_an_emoji_with_its_modifier() -> None:
    assert split("&amp;&amp;&amp;", 2) == ["&amp;&amp;", "&amp;"]
    assert split("👍🏽👍🏽", 4) == ["👍🏽", "👍🏽"]


def test_split_refuses_invalid_html() -> None:
    with pytest.raises(ValueError, match="never closed"):
        split("<b>" + "x" * 50, 10)


# --- property: any valid message splits into valid parts within the limit, losing no visible text -----------

_words = st.text(alphabet=st.sampled_from("abcxyz<>&\"'é😀中 "), min_size=1, max_size=12).map(escape)
_separators = st.sampled_from([" ", ". ", "! ", "\n", "\n\n", ""])
_inline_tags = st.sampled_from(["b", "i", "u", "s", "code", "tg-spoiler", 'a href="https://e.com/?a=1&amp;b=2"'])


@st.composite
def _messages(draw: st.DrawFn) -> str:
    pieces = []
    for word in draw(st.lists(_words, min_size=1, max_size=40)):
        if draw(st.booleans()):
            tag = draw(_inline_tags)
            word = f"<{tag}>{word}</{tag.split()[0]}>"
        pieces.append(word + draw(_separators))
    nesting = draw(st.lists(_inline_tags, max_size=2))
    return (
        "".join(f"<{tag}>" for tag in nesting)
        + "".join(pieces)
        + "".join(f"</{tag.split()[0]}>" for tag in reversed(nesting))
    )


def _non_blank(text: str) -> str:
    return re.sub(r"\s+", "", text)


@settings(max_examples=300)
@given(html=_messages(), limit=st.integers(min_value=2, max_value=120))
def test_split_parts_are_valid_within_the_limit_and_lose_no_text(html: str, limit: int) -> None:
    validate(html)
    parts = split(html, limit)
    for part in parts:
        validate(part)
        assert visible_length(part) <= limit
    assert _non_blank("".join(visible_text(part) for part in parts)) == _non_blank(visible_text(html))


def test_allowed_tags_are_the_documented_ones() -> None:
    assert set(ALLOWED_TAGS) == {
        *("b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "blockquote"),
        *("span", "tg-spoiler"),
    }
