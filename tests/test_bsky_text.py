"""Bluesky's text rules: facets at the right UTF-8 bytes whatever comes before them, graphemes counted as Bluesky
counts them, links shown short with the whole URL in their facet, feed URLs written as plain text, cards cut
between words, record keys that are valid and stable TIDs."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from bot.bsky_text import (
    LINK_TEXT_CUT,
    LINK_TEXT_GRAPHEMES,
    cut_graphemes,
    facets,
    grapheme_length,
    link_text,
    record_key,
    rich_text,
    short_links,
    without_links,
)

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
# Article links as feeds give them: long paths, UTM queries, fragments, ports, user info, non-ASCII paths, emoji.
_ANY_LINK = st.builds(
    lambda scheme, user, host, path: f"{scheme}://{user}{host}{path}",
    st.sampled_from(["https", "http", "HTTPS"]),
    st.sampled_from(["", "reader:secret@"]),
    st.from_regex(r"[a-z0-9-]{1,40}(\.[a-z0-9-]{1,20}){1,3}(:[0-9]{2,5})?", fullmatch=True),
    st.lists(
        st.one_of(
            st.from_regex(r"[A-Za-z0-9_\-/%?=&#.~]{1,20}", fullmatch=True),
            st.sampled_from(["東京", "👍🏽", "e\u0301", "/"]),
        ),
        max_size=8,
    ).map(lambda parts: ("/" + "".join(parts)).rstrip(".,;:!?")),
)


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


@given(prose=_PROSE, link=_ANY_LINK, tags=st.lists(_TAG, max_size=3))
def test_a_link_is_sent_as_its_short_text_with_the_whole_url_in_its_facet(
    prose: str, link: str, tags: list[str]
) -> None:
    text = f"{without_links(prose)}\n\n{link} {' '.join('#' + tag for tag in tags)}".strip()
    sent, found = rich_text(text)
    shown = link_text(link)
    [facet] = [f for f in found if f.kind == "link"]
    assert sent.encode("utf-8")[facet.byte_start : facet.byte_end].decode("utf-8") == shown
    assert facet.value == link and "://" not in sent and "secret@" not in shown
    assert grapheme_length(shown) <= LINK_TEXT_GRAPHEMES + len(LINK_TEXT_CUT)
    assert [f.value for f in found if f.kind == "tag"] == tags
    # The publisher gets the text as sent (the link already short) and the whole link beside it: the same facets.
    assert rich_text(sent, links=(link,)) == (sent, found)


def test_a_short_link_is_shown_whole_without_its_scheme_and_a_long_one_cut_with_dots() -> None:
    assert link_text("https://a.example/") == "a.example"
    assert link_text("https://a.example/news/1?x=2#top") == "a.example/news/1?x=2#top"
    assert link_text("http://user:pw@a.example:8080/x") == "a.example:8080/x"
    long_link = "https://science.example.com/2026/11/antarctic-ice-shelf-collapse?utm_source=bluesky&utm_medium=social"
    assert link_text(long_link) == "science.example.com/2026/11/an..."
    assert link_text("https://a.example/" + "👍🏽" * 40).endswith("👍🏽" * 20 + LINK_TEXT_CUT)
    decomposed = "https://a.example/cafe\u0301"  # sent in NFC, "café"; the facet keeps the link as written
    sent, [facet] = rich_text(unicodedata.normalize("NFC", "Title\n\na.example/cafe\u0301"), links=(decomposed,))
    assert sent.encode("utf-8")[facet.byte_start :].decode("utf-8") == "a.example/café" and facet.value == decomposed


# What scripts put around a link: Arabic (right to left), emoji with skin tones and joiners, CJK, accents.
_AROUND = st.lists(
    st.sampled_from(["اقرأ المزيد", "👍🏽", "👩🏾‍💻", "東京の議会", "café", "e\u0301", "עברית", "«", "“", " "]),
    max_size=6,
).map("".join)
_BEFORE = st.sampled_from([" ", "\n", " (", " «", " “", "：", " 👍🏽"])  # what may stand right before a link
_AFTER = st.sampled_from(["", ".", ",", ")", ").", "!", "”", "»"])


@given(
    around=st.lists(_AROUND, min_size=3, max_size=3),
    links=st.lists(_ANY_LINK, min_size=2, max_size=3),
    before=st.lists(_BEFORE, min_size=3, max_size=3),
    after=st.lists(_AFTER, min_size=3, max_size=3),
)
def test_every_link_of_the_text_is_shown_short_under_a_facet_to_its_whole_url_in_any_script(
    around: list[str], links: list[str], before: list[str], after: list[str]
) -> None:
    parts = zip(around, before, links, after, strict=False)
    text = "".join(f"{words}{start}{link}{end} " for words, start, link, end in parts)
    text = unicodedata.normalize("NFC", text + "#Tag")
    urls = short_links(text)
    sent, found = rich_text(text)
    data = sent.encode("utf-8")
    link_facets = [facet for facet in found if facet.kind == "link"]
    assert [facet.value for facet in link_facets] == list(urls) == [unicodedata.normalize("NFC", u) for u in links]
    assert [data[f.byte_start : f.byte_end].decode("utf-8") for f in link_facets] == [link_text(u) for u in urls]
    assert "://" not in sent and found[-1].value == "Tag"
    assert rich_text(sent, links=urls) == (sent, found)  # as the publisher finds them again in the text as sent


def test_a_link_before_punctuation_keeps_only_its_own_balanced_parenthesis() -> None:
    text = "وصل 👍🏽 (see https://a.example/(x)y). 東京 https://b.example/z, and https://en.wikipedia.org/wiki/Mercury_(planet)."
    sent, found = rich_text(text)
    assert sent == "وصل 👍🏽 (see a.example/(x)y). 東京 b.example/z, and en.wikipedia.org/wiki/Mercury_..." + "."
    data = sent.encode("utf-8")
    assert [(data[f.byte_start : f.byte_end].decode("utf-8"), f.value) for f in found] == [
        ("a.example/(x)y", "https://a.example/(x)y"),
        ("b.example/z", "https://b.example/z"),
        ("en.wikipedia.org/wiki/Mercury_...", "https://en.wikipedia.org/wiki/Mercury_(planet)"),
    ]
    assert rich_text(sent, links=short_links(text)) == (sent, found)


def test_two_links_of_the_same_short_text_each_keep_their_own_url() -> None:
    first, second = (f"https://a.example/2026/11/a-very-long-slug-of-story-{n}" for n in (1, 2))
    text = f"One {first}\nTwo {second}\nOne again {first}"
    sent, found = rich_text(text)
    assert link_text(first) == link_text(second) and sent.count(link_text(first)) == 3
    assert [f.value for f in found] == [first, second, first]
    assert rich_text(sent, links=short_links(text)) == (sent, found)


def test_a_link_glued_to_a_word_stays_whole_and_linked_and_mentions_stay_text() -> None:
    text = "詳細はhttps://a.example/x を見て @alice.bsky.social"
    sent, found = rich_text(text)
    assert sent == text and short_links(text) == ()
    assert [(f.kind, f.value) for f in found] == [("link", "https://a.example/x")]


def test_a_long_host_is_never_cut_into_another_host() -> None:
    # A host of 30 graphemes or more: its end, the domain that owns it, after "...", which no host starts with.
    phishing = "https://bank.example.com.account-verification-center.evil.example/login?session=1"
    assert link_text(phishing) == "...cation-center.evil.example/..."
    assert link_text("https://" + "sub." * 10 + "evil.example") == "...b.sub.sub.sub.sub.evil.example"
    assert link_text("https://" + "東京" * 20 + ".example/x") == "..." + "東京" * 9 + ".example/..."
    # A shorter host is kept whole and its path cut after at least its "/", never "host..." that reads on.
    assert link_text("https://abcdefghij.klmnopqrstu.exampl/a-long-path") == "abcdefghij.klmnopqrstu.exampl/..."
    assert link_text("https://abcdefghij.klmnopqrstu.exampl/") == "abcdefghij.klmnopqrstu.exampl"
    sent, [facet] = rich_text(f"مقال 👍🏽 {phishing}")
    assert sent == "مقال 👍🏽 ...cation-center.evil.example/..." and facet.value == phishing
    assert rich_text(sent, links=(phishing,)) == (sent, [facet])


def test_card_text_is_cut_between_words_never_inside_an_emoji() -> None:
    assert cut_graphemes("short", 300) == "short"
    assert cut_graphemes("one two three", 9) == "one two"
    assert cut_graphemes("ab👍🏽👍🏽", 3) == "ab👍🏽"
    assert cut_graphemes("東京都は新しい計画", 4) == "東京都は"
    assert cut_graphemes("👩‍👩‍👧" * 400, 300) == "👩‍👩‍👧" * 300


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
