"""Share links and UTM parameters."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.share import share_links, with_utm

URL = "https://example.com/news/a?id=7&lang=en#top"
TITLE = "Talks “resume” in the U.S. & <b>elsewhere</b> + more"


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def test_every_network_gets_a_link_in_a_fixed_order() -> None:
    assert [link.network for link in share_links(URL, TITLE)] == [
        *("x", "telegram", "facebook", "linkedin", "whatsapp", "email"),
    ]


def test_share_links_decode_back_to_the_url_and_title() -> None:
    links = {link.network: link.url for link in share_links(URL, TITLE)}
    assert links["x"].startswith("https://x.com/intent/post?")
    assert _query(links["x"]) == {"text": [TITLE], "url": [URL]}
    assert links["telegram"].startswith("https://t.me/share/url?")
    assert _query(links["telegram"]) == {"url": [URL], "text": [TITLE]}
    assert links["facebook"].startswith("https://www.facebook.com/sharer/sharer.php?")
    assert _query(links["facebook"]) == {"u": [URL]}
    assert links["linkedin"].startswith("https://www.linkedin.com/sharing/share-offsite/?")
    assert _query(links["linkedin"]) == {"url": [URL]}
    assert links["whatsapp"].startswith("https://wa.me/?")
    assert _query(links["whatsapp"]) == {"text": [f"{TITLE} {URL}"]}
    assert links["email"].startswith("mailto:?")
    assert _query(links["email"]) == {"subject": [TITLE], "body": [URL]}


def test_spaces_are_percent_encoded_never_plus() -> None:
    for link in share_links(URL, "two words"):
        assert "+" not in link.url
    assert "subject=two%20words" in share_links(URL, "two words")[-1].url


def test_no_link_means_nothing_to_share() -> None:
    assert share_links("", "A title") == ()


@given(url=st.text(min_size=1).map(lambda path: "https://example.com/" + path), title=st.text())
def test_any_url_and_title_round_trip_through_the_x_intent(url: str, title: str) -> None:
    x_link = share_links(url, title)[0].url
    query = _query(x_link)
    assert query["url"] == [url]
    assert query.get("text", [""]) == [title]


def test_utm_parameters_are_added_keeping_other_parameters_and_the_fragment() -> None:
    result = with_utm(URL, {"utm_source": "x", "utm_medium": "social"})
    assert result == "https://example.com/news/a?id=7&lang=en&utm_source=x&utm_medium=social#top"


def test_utm_parameters_replace_ones_of_the_same_name_and_leave_odd_spellings_alone() -> None:
    url = "https://example.com/?q=a+b&utm_source=old&x=%7E"
    assert with_utm(url, {"utm_source": "new"}) == "https://example.com/?q=a+b&x=%7E&utm_source=new"


def test_utm_values_are_encoded() -> None:
    assert with_utm("https://e.com/", {"utm_campaign": "daily digest"}) == (
        "https://e.com/?utm_campaign=daily%20digest"
    )


@pytest.mark.parametrize("url", ["", "example.com/a", "/relative/path", "mailto:someone@example.com"])
def test_urls_without_scheme_and_host_are_left_untouched(url: str) -> None:
    assert with_utm(url, {"utm_source": "x"}) == url


def test_no_utm_parameters_leave_the_url_as_it_is() -> None:
    assert with_utm(URL, {}) == URL
