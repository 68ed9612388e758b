"""Command input is never trusted: lengths capped, control and bidi characters dropped, echoes escaped."""

from __future__ import annotations

import pytest

from bot import telegram_html
from bot.commands.context import (
    MAX_ARGUMENT_CHARS,
    InputError,
    argument,
    clean,
    echo,
    parse_article_ref,
    parse_count,
    parse_hashtags,
    parse_http_url,
)
from bot.hashtags import MAX_TAGS

RTL_OVERRIDE = "\u202e"


def test_arguments_over_the_cap_are_refused_as_too_long() -> None:
    with pytest.raises(InputError, match="too long"):
        argument("x" * (MAX_ARGUMENT_CHARS + 1))


def test_arguments_keep_their_line_breaks_but_lose_control_characters() -> None:
    assert argument("line one\n\x00line\x07 two\x1b[31m") == "line one\nline two[31m"


def test_bidi_overrides_lone_surrogates_and_zero_width_marks_are_dropped() -> None:
    assert clean(f"abc{RTL_OVERRIDE}gpj.exe\u2066x\u2069\ud800\u200b") == "abcgpj.exex"


def test_joiners_inside_emoji_and_words_are_kept() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert clean(family) == family


def test_echo_escapes_html_and_shortens_long_input_to_one_line() -> None:
    shown = echo('<b>bold</b> & "quoted"\n' + "y" * 200, limit=40)
    assert shown.startswith("&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot; y")
    assert shown.endswith("…")
    assert "\n" not in shown
    telegram_html.validate(shown)


def test_hashtags_may_come_with_or_without_hash_commas_and_unicode_letters() -> None:
    assert parse_hashtags("#Climate, world  #Überleben #気候 #climate") == ["Climate", "world", "Überleben", "気候"]


@pytest.mark.parametrize("bad", ["123", "#", "#a-b", "#<b>", "no#way", "#" + "a" * 65, "\x00\x01\ufffd\ufffd\x7f"])
def test_words_that_are_not_hashtags_are_refused_and_named(bad: str) -> None:
    with pytest.raises(InputError, match="Not a hashtag") as error:
        parse_hashtags(f"#Good {bad}")
    telegram_html.validate(error.value.html)
    assert "Good" not in error.value.html


def test_more_than_fifty_hashtags_at_once_are_refused() -> None:
    with pytest.raises(InputError, match=f"at most {MAX_TAGS}"):
        parse_hashtags(" ".join(f"#t{i}x" for i in range(MAX_TAGS + 1)))


def test_a_hashtag_of_64_characters_is_fine() -> None:
    assert parse_hashtags("#" + "a" * 64) == ["a" * 64]


def test_count_defaults_and_refuses_anything_out_of_range() -> None:
    assert parse_count("", default=5, low=1, high=20) == 5
    assert parse_count(" 7 ", default=5, low=1, high=20) == 7
    for bad in ("0", "21", "-1", "five", "٣", "1e3"):
        with pytest.raises(InputError, match="from 1 to 20"):
            parse_count(bad, default=5, low=1, high=20)


def test_urls_must_be_http_or_https_without_spaces_and_not_too_long() -> None:
    assert parse_http_url("https://example.com/feed.xml") == "https://example.com/feed.xml"
    for bad in ("file:///etc/passwd", "javascript:alert(1)", "example.com", "https://", "https://a b.com/x"):
        with pytest.raises(InputError, match="not an http"):
            parse_http_url(bad)
    with pytest.raises(InputError, match="limit is 2000"):
        parse_http_url("https://example.com/" + "a" * 2000)


def test_article_references_are_short_keys_only() -> None:
    assert parse_article_ref("3f9a1c") == "3f9a1c"
    assert parse_article_ref("bc-0011aabbccdd") == "bc-0011aabbccdd"
    for bad in ("3f9a%", "a_b", "<b>", "x" * 65):
        with pytest.raises(InputError, match="not an article key"):
            parse_article_ref(bad)
