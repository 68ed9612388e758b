"""HTML fragments as the plain text a reader (and the summarizer) gets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.htmltext import first_image_src, html_to_text, plain_text_paragraphs


def test_paragraphs_are_separated_by_one_blank_line() -> None:
    assert html_to_text("<p>First.</p>\n\n\n<p>Second.</p><div><p>Third.</p></div>") == ("First.\n\nSecond.\n\nThird.")


def test_br_and_list_items_start_new_lines() -> None:
    assert html_to_text("One<br>two<br/>three<ul><li>a</li><li>b</li></ul>") == "One\ntwo\nthree\n\na\nb"


def test_headings_are_their_own_paragraph() -> None:
    assert html_to_text("<h2>Key facts</h2>The port reopened.") == "Key facts\n\nThe port reopened."


def test_named_and_numeric_entities_are_decoded() -> None:
    assert html_to_text("<p>Ben &amp; Jerry&rsquo;s &#8220;deal&#8221; &euro;5&nbsp;bn</p>") == (
        "Ben & Jerry’s “deal” €5 bn"
    )


def test_script_style_and_iframe_content_is_dropped() -> None:
    html = (
        "<p>Before.</p><script>var secret = '<p>x</p>';</script><style>p { color: red }</style>"
        "<iframe src='https://video.example.com'>Your browser cannot show this</iframe><p>After.</p>"
    )
    assert html_to_text(html) == "Before.\n\nAfter."


def test_self_closing_iframe_does_not_swallow_the_rest() -> None:
    assert html_to_text("<p>Before.</p><iframe src='x'/><p>After.</p>") == "Before.\n\nAfter."


def test_whitespace_inside_a_line_is_collapsed() -> None:
    assert html_to_text("  The   vote\n\t passed <b> 31 </b>to 18.  ") == "The vote passed 31 to 18."


def test_comments_and_unknown_tags_leave_only_text() -> None:
    assert html_to_text("<!-- ad slot --><custom-widget>Live</custom-widget> <span>updates</span>") == ("Live updates")


def test_first_image_src_skips_tracking_pixels_and_dropped_content() -> None:
    html = (
        "<noscript><img src='https://example.com/noscript.jpg'></noscript>"
        "<img src='https://example.com/pixel.gif' width='1' height='1'>"
        "<p><img alt='no source'><img src='https://example.com/photo.jpg'></p>"
    )
    assert first_image_src(html) == "https://example.com/photo.jpg"
    assert first_image_src("<p>No pictures.</p>") == ""


def test_plain_text_keeps_paragraphs_and_unwraps_lines() -> None:
    assert plain_text_paragraphs("  One\nline.\n\n\n\nTwo <b> stays.\n") == "One line.\n\nTwo <b> stays."


@given(st.text(alphabet=st.characters(exclude_characters="<>&"), max_size=200))
def test_text_without_markup_comes_back_with_whitespace_collapsed(text: str) -> None:
    assert html_to_text(f"<p>{text}</p><script>SECRET</script>") == " ".join(text.split())


@given(st.text(max_size=300))
def test_any_input_gives_trimmed_text_without_triple_newlines(html: str) -> None:
    text = html_to_text(html)
    assert text == text.strip()
    assert "\n\n\n" not in text
