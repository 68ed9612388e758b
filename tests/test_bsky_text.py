"""Bluesky's text rules: facets at the right UTF-8 bytes whatever comes before them, graphemes counted as Bluesky
counts them, feed URLs written as plain text, record keys that are valid and stable TIDs."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from bot.bsky_text import facets, grapheme_length, record_key, without_links

# Text as feeds give it: any letters (CJK, Arabic, combining marks), emoji with skin tones and joiners, spaces.
_PROSE = st.lists(
    st.one_of(
        st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="#/:"),
        st.sampled_from(["👍🏽", "👩‍👩‍👧", "🇯🇵", "東京", "é", "e\u0301", "\u200d", "\ufe0f", " "]),
    ),
    max_size=40,
).map("".join)
_TAG = st.from_regex(r"[A-Za-z_\u00c0-\u024f\u4e00-\u9fff][A-Za-z0-9_\u00c0-\u024f\u4e00-\u9fff]{0,20}", fullmatch=True)
_LINK = st.from_regex(r"https://[a-z0-9]{1,12}\.example/[A-Za-z0-9_\-/%?=&]{0,30}[A-Za-z0-9]", fullmatch=True)


@given(prose=_PROSE, link=_LINK, tags=st.lists(_TAG, max_size=4), tail=_PROSE)
def test_each_facet_is_exactly_its_link_or_tag_in_the_utf8_bytes(
    prose: str, link: str, tags: list[str], tail: str
) -> None:
    text = f"{prose}\n\n{link} {' '.join('#' + tag for tag in tags)}"
    data = text.encode("utf-8")
    found = facets(text)
    assert [(f.kind, f.value) for f in found][:1] == [("link", link)]
    for facet in found:
        piece = data[facet.byte_start : facet.byte_end].decode("utf-8")
        assert piece == (facet.value if facet.kind == "link" else "#" + facet.value)
    assert [f.value for f in found if f.kind == "tag"][-len(tags) :] == (tags[-len(tags) :] if tags else [])


@given(prose=_PROSE)
def test_feed_text_keeps_no_link(prose: str) -> None:
    text = without_links(f"{prose} see https://evil.example.com/login?next=1 now")
    assert "evil[.]example[.]com" in text
    assert not [f for f in facets(text) if f.kind == "link"]


def test_graphemes_are_user_perceived_characters() -> None:
    assert grapheme_length("👍🏽👩‍👩‍👧🇯🇵") == 3
    assert grapheme_length("e\u0301東京") == 3
    assert grapheme_length("https://a.example/x") == len("https://a.example/x")


def test_trailing_punctuation_and_digit_only_tags_are_not_facets() -> None:
    text = "Read https://a.example/x. Or (https://b.example/y) #2026 #Vote!"
    assert [(f.kind, f.value) for f in facets(text)] == [
        ("link", "https://a.example/x"),
        ("link", "https://b.example/y"),
        ("tag", "Vote"),
    ]


def test_a_links_own_closing_parenthesis_stays_in_the_link() -> None:
    text = "Mercury\n\nhttps://en.wikipedia.org/wiki/Mercury_(planet) (see https://a.example/(x)y).)"
    assert [f.value for f in facets(text)] == [
        "https://en.wikipedia.org/wiki/Mercury_(planet)",
        "https://a.example/(x)y",
    ]


def test_record_keys_are_tids_that_depend_only_on_article_recipient_and_part() -> None:
    keys = {record_key("article", "timeline", str(part)) for part in range(50)}
    assert len(keys) == 50
    assert record_key("article", "timeline", "0") == record_key("article", "timeline", "0")
    assert all(re.fullmatch(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}", key) for key in keys)
