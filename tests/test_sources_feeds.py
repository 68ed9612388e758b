"""Feeds (RSS 2.0 / 1.0, Atom, JSON Feed) read from real fixture files, as the rest of newsbot sees them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import SourceError
from bot.models import Entry
from bot.sources import parse_document, read_source

FEEDS = Path(__file__).parent / "data" / "feeds"
SAMPLES = Path(__file__).parent.parent / "bot" / "samples"


def read(fixture: str) -> list[Entry]:
    return read_source("fixture", str(FEEDS / fixture)).entries


def by_title(entries: list[Entry], start: str) -> Entry:
    return next(entry for entry in entries if entry.title.startswith(start))


def rss(items: str) -> bytes:
    """A minimal RSS 2.0 document around `items`."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>Test</title>'
        f"<link>https://example.com/</link><description>Test</description>{items}</channel></rss>"
    ).encode()


def parse(data: bytes) -> list[Entry]:
    return parse_document(data, name="inline", url="inline.xml")


# --- RSS 2.0 with namespaces -------------------------------------------------------------------------------


def test_rss2_items_come_in_feed_order_and_an_empty_item_is_skipped() -> None:
    titles = [entry.title for entry in read("rss2-namespaces.xml")]
    assert titles == [
        "Port strike ends after 11 days as dockworkers accept 6.5% pay offer",
        "Coastal towns brace for the first winter storm of the season",
        "City council approves a car-free centre from next spring",
        "A short update without a headline.",
    ]


def test_rss2_link_guid_and_categories_are_kept_as_given() -> None:
    entry = by_title(read("rss2-namespaces.xml"), "Port strike")
    assert entry.link == "https://news.example.com/2026/11/port-strike-ends"
    assert entry.guid == "harbour-times-88213"
    assert entry.tags == ("Business", "Labour & Unions")


def test_content_encoded_is_preferred_over_a_shorter_description() -> None:
    entry = by_title(read("rss2-namespaces.xml"), "Port strike")
    assert entry.text.startswith("Dockworkers at the country’s largest port voted on Tuesday")
    assert "Dockworkers voted to accept a revised offer" not in entry.text


def test_script_style_and_iframe_content_never_reach_the_text() -> None:
    text = by_title(read("rss2-namespaces.xml"), "Port strike").text
    for leftover in ("tracker", "window.", "Watch the vote", "display: none", "<", "video.example.com"):
        assert leftover not in text


def test_html_paragraphs_breaks_and_list_items_become_lines() -> None:
    text = by_title(read("rss2-namespaces.xml"), "Port strike").text
    assert text.split("\n\n") == [
        "Dockworkers at the country’s largest port voted on Tuesday to accept a revised pay offer, "
        "ending an 11-day strike that left more than 40 container ships waiting offshore.",
        "The union said 78% of members backed the deal, which raises wages by 6.5% this year.\n"
        "Shipping lines expect the backlog to clear within two weeks.",
        "Ships waiting: 43\nContainers delayed: 120,000",
    ]


def test_escaped_html_description_is_plain_text() -> None:
    entry = by_title(read("rss2-namespaces.xml"), "Coastal towns")
    assert entry.text == (
        "Forecasters issued an amber warning for wind along the north coast.\n\n"
        "Gusts of up to 110 km/h are expected overnight."
    )


def test_pubdate_with_an_offset_is_converted_to_utc() -> None:
    entry = by_title(read("rss2-namespaces.xml"), "Port strike")
    assert entry.published == datetime(2026, 11, 10, 13, 5, tzinfo=UTC)


def test_dc_date_is_used_when_there_is_no_pubdate() -> None:
    entry = by_title(read("rss2-namespaces.xml"), "Coastal towns")
    assert entry.published == datetime(2026, 11, 11, 6, 30, tzinfo=UTC)


def test_media_content_image_is_the_entry_image() -> None:
    entry = by_title(read("rss2-namespaces.xml"), "Port strike")
    assert entry.image_url == "https://cdn.example.com/photos/port-strike-1200.jpg"


def test_media_thumbnail_is_used_without_media_content() -> None:
    entry = by_title(read("rss2-namespaces.xml"), "Coastal towns")
    assert entry.image_url == "https://cdn.example.com/photos/storm-thumb.jpg"


def test_image_enclosure_is_the_entry_image() -> None:
    entry = by_title(read("rss2-namespaces.xml"), "City council")
    assert entry.image_url == "https://cdn.example.com/photos/council-vote.jpg"


def test_first_img_in_the_description_is_the_image_when_nothing_else_is_given() -> None:
    (entry,) = parse(
        rss(
            "<item><title>Photo story</title><description><![CDATA["
            '<p><img src="https://example.com/pixel.gif" width="1" height="1">'
            '<img src="https://example.com/harbour.jpg"> The harbour at dawn.</p>'
            "]]></description></item>"
        )
    )
    assert entry.image_url == "https://example.com/harbour.jpg"


def test_audio_enclosure_and_relative_img_give_no_image() -> None:
    (entry,) = parse(
        rss(
            "<item><title>Podcast</title>"
            '<enclosure url="https://example.com/episode.mp3" length="1" type="audio/mpeg"/>'
            '<description>&lt;img src="/relative.jpg"&gt; Episode 12.</description></item>'
        )
    )
    assert entry.image_url == ""


MEDIA_RSS = 'xmlns:media="http://search.yahoo.com/mrss/"'


def media_rss(items: str) -> bytes:
    return rss(items).replace(b'<rss version="2.0">', f'<rss version="2.0" {MEDIA_RSS}>'.encode())


def test_media_description_is_the_image_text_not_the_story_text() -> None:
    (entry,) = parse(
        media_rss(
            "<item><title>Port strike</title>"
            "<description>Dockers walked out on Monday, and the port is closed.</description>"
            '<media:content url="https://cdn.example.com/strike.jpg" medium="image">'
            "<media:description>Dockers with banners at the gate of &lt;b&gt;Pier 4&lt;/b&gt;</media:description>"
            "<media:title>Pier 4</media:title></media:content></item>"
        )
    )
    assert entry.image_url == "https://cdn.example.com/strike.jpg"
    assert entry.image_alt == "Dockers with banners at the gate of Pier 4"
    assert entry.text == "Dockers walked out on Monday, and the port is closed."


def test_media_title_beside_a_thumbnail_in_its_group_is_the_image_text() -> None:
    (entry,) = parse(
        media_rss(
            "<item><title>Storm</title><description>Coastal towns prepare.</description><media:group>"
            '<media:thumbnail url="https://cdn.example.com/storm.jpg"/><media:title>Waves over the pier</media:title>'
            "</media:group></item>"
        )
    )
    assert (entry.image_url, entry.image_alt) == ("https://cdn.example.com/storm.jpg", "Waves over the pier")


def test_img_alt_in_the_content_is_the_image_text() -> None:
    (entry,) = parse(
        rss(
            "<item><title>Photo story</title><description><![CDATA["
            '<p><img src="https://example.com/harbour.jpg" alt="The harbour at dawn, &amp; two ferries"> Ships.</p>'
            "]]></description></item>"
        )
    )
    assert entry.image_alt == "The harbour at dawn, & two ferries"


def test_hostile_image_text_is_made_plain_one_line_and_short() -> None:
    hostile = "Look\u202e\u200b here\n\t<script>alert(1)</script>" + " word" * 400
    (entry,) = parse(
        rss(
            "<item><title>Trap</title><description><![CDATA["
            f'<img src="https://example.com/trap.jpg" alt="{hostile}">]]></description></item>'
        )
    )
    assert entry.image_alt.startswith("Look here word word")  # markup and what a script says are dropped
    assert len(entry.image_alt) <= 1000 and entry.image_alt.endswith("word…")
    assert not any(ch in entry.image_alt for ch in "\u202e\u200b\n\t")


def test_an_image_without_text_has_none_and_so_does_an_entry_without_image() -> None:
    first, second = parse(
        media_rss(
            '<item><title>Bare</title><media:content url="https://cdn.example.com/bare.jpg" medium="image"/></item>'
            '<item><title>No image</title><description>&lt;img src="/rel.jpg" alt="lost"&gt; Text.</description></item>'
        )
    )
    assert (first.image_url, first.image_alt) == ("https://cdn.example.com/bare.jpg", "")
    assert (second.image_url, second.image_alt) == ("", "")


def test_json_feed_image_has_no_text_but_an_img_alt_in_its_content_does() -> None:
    document = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": ['
        b'{"id": "1", "title": "Cover", "image": "https://example.com/cover.jpg", "content_text": "Text."},'
        b'{"id": "2", "title": "Inline", "content_html": "<img src=\\"https://example.com/in.jpg\\" alt=\\"A quay\\">"}'
        b"]}"
    )
    first, second = parse_document(document, name="inline", url="inline.json")
    assert (first.image_url, first.image_alt) == ("https://example.com/cover.jpg", "")
    assert (second.image_url, second.image_alt) == ("https://example.com/in.jpg", "A quay")


def test_hashtag_only_paragraph_moves_from_the_text_to_the_tags() -> None:
    entry = by_title(read("rss2-namespaces.xml"), "City council")
    assert entry.tags == ("Politics", "Climate", "CityLife")
    assert "#" not in entry.text
    assert entry.text.endswith("Delivery vans will still be allowed before 10 a.m.")


def test_item_without_title_guid_link_or_date_is_titled_by_its_first_sentence() -> None:
    entry = by_title(read("rss2-namespaces.xml"), "A short update")
    assert entry.title == "A short update without a headline."
    assert entry.text == "A short update without a headline. Rail services on the coast line resumed at noon."
    assert (entry.guid, entry.link, entry.published, entry.tags) == ("", "", None, ())


def test_first_sentence_title_skips_abbreviations() -> None:
    (entry,) = parse(rss("<item><description>U.S. and U.K. envoys met Dr. Osei. Talks go on.</description></item>"))
    assert entry.title == "U.S. and U.K. envoys met Dr. Osei."


def test_title_from_a_long_first_sentence_is_cut_to_120_characters() -> None:
    sentence = "The committee " + "heard evidence from residents and " * 8 + "then adjourned."
    (entry,) = parse(rss(f"<item><description>{sentence}</description></item>"))
    assert len(entry.title) <= 120
    assert entry.title.endswith("…")
    assert sentence.startswith(entry.title[:-1])


def test_valid_feed_without_items_has_no_entries() -> None:
    assert parse(rss("")) == []


# --- encodings ---------------------------------------------------------------------------------------------


def test_latin1_feed_text_is_decoded() -> None:
    (entry,) = read("latin1.xml")
    assert entry.title == "Élections régionales : la participation grimpe à 62 %"
    assert entry.text == (
        "À Genève et à Zürich, les électeurs se sont déplacés en nombre. "
        "Señora Núñez a salué « un résultat très encourageant »."
    )
    assert entry.tags == ("Politique",)


def test_bom_marked_utf16_feed_is_decoded() -> None:
    data = rss("<item><title>Ça marche — 東京</title></item>").replace(b"UTF-8", b"UTF-16")
    (entry,) = parse(data.decode().encode("utf-16"))
    assert entry.title == "Ça marche — 東京"


# --- Atom 1.0 ----------------------------------------------------------------------------------------------


def test_atom_entry_link_id_categories_and_utc_date() -> None:
    entry = by_title(read("atom.xml"), "Probe finds water ice")
    assert entry.link == "https://science.example.org/2026/11/lunar-ice"
    assert entry.guid == "tag:science.example.org,2026:lunar-ice"
    assert entry.tags == ("Space", "Science")
    assert entry.published == datetime(2026, 11, 12, 7, 15, tzinfo=UTC)


def test_atom_html_content_is_plain_text_and_preferred_over_summary() -> None:
    entry = by_title(read("atom.xml"), "Probe finds water ice")
    assert entry.text == (
        "Radar data from the orbiter point to water ice in a permanently shadowed crater.\n\n"
        "Mission scientists said the deposit could be several metres thick."
    )


def test_atom_image_enclosure_link_is_the_entry_image() -> None:
    entry = by_title(read("atom.xml"), "Probe finds water ice")
    assert entry.image_url == "https://science.example.org/img/lunar-ice.png"


def test_atom_html_title_and_xhtml_content_are_plain_text() -> None:
    entry = read("atom.xml")[1]
    assert entry.title == "Why the jet stream keeps stalling"
    assert entry.text == (
        "A warmer Arctic weakens the temperature contrast that drives the jet stream.\n\n"
        "Researchers say that makes long, stalled weather patterns more likely."
    )
    assert entry.published == datetime(2026, 11, 10, 17, 45, tzinfo=UTC)  # only <updated> is given


# --- RSS 1.0 (RDF) -----------------------------------------------------------------------------------------


def test_rss1_rdf_items_with_dc_date_and_subject() -> None:
    first, second = read("rss1.rdf")
    assert first.title == "Reading rooms open until 10 p.m. during exam season"
    assert first.link == "https://library.example.net/news/late-opening"
    assert first.text == "From 1 December the main reading rooms stay open late on weekdays."
    assert first.tags == ("Education",)
    assert first.published == datetime(2026, 11, 9, 11, 0, tzinfo=UTC)
    assert second.title == "Harbour archive of 1890–1950 now online"


# --- JSON Feed 1.1 -----------------------------------------------------------------------------------------


def test_json_feed_items_come_in_order_and_an_empty_item_is_skipped() -> None:
    titles = [entry.title for entry in read("jsonfeed-1.1.json")]
    assert titles == [
        "Offshore wind farm delivers first power to the grid",
        "Grey heron numbers recover along the estuary",
        "Ferry timetables change on Sunday.",
    ]


def test_json_feed_html_item_fields() -> None:
    entry = read("jsonfeed-1.1.json")[0]
    assert entry.link == entry.guid == "https://fieldnotes.example.com/2026/11/wind-farm"
    assert (
        entry.text == "The first of 62 turbines began exporting power on Monday.\n\nFull output is expected by March."
    )
    assert entry.tags == ("Energy", "Climate")
    assert entry.image_url == "https://fieldnotes.example.com/img/turbines.jpg"
    assert entry.published == datetime(2026, 11, 9, 12, 30, tzinfo=UTC)


def test_json_feed_numeric_id_text_content_and_image_attachment() -> None:
    entry = read("jsonfeed-1.1.json")[1]
    assert entry.guid == "40233"
    assert entry.text == "Volunteers counted 212 nesting pairs this spring.\n\nThat is the highest figure since 2009."
    assert entry.image_url == "https://fieldnotes.example.com/img/heron.jpg"
    assert entry.published == datetime(2026, 11, 8, 18, 0, tzinfo=UTC)  # date_modified stands in


def test_json_that_is_not_a_json_feed_is_a_source_error() -> None:
    with pytest.raises(SourceError, match=r"JSON but not a JSON Feed"):
        parse(b'{"version": "2.0", "items": []}')


def test_invalid_json_is_a_source_error() -> None:
    with pytest.raises(SourceError, match=r"not valid JSON"):
        parse(b'{"version": "https://jsonfeed.org/version/1.1", "items": [')


def test_json_feed_without_items_list_is_a_source_error() -> None:
    with pytest.raises(SourceError, match=r"'items' is missing or not a list"):
        parse(b'{"version": "https://jsonfeed.org/version/1", "items": {}}')


# --- broken input ------------------------------------------------------------------------------------------


def test_malformed_feed_error_names_source_url_and_problem() -> None:
    url = str(FEEDS / "malformed.xml")
    with pytest.raises(SourceError) as caught:
        read_source("harbour", url)
    message = str(caught.value)
    assert message.startswith(f"source 'harbour' ({url}): not a valid feed: ")
    assert "not well-formed" in message
    assert (caught.value.source, caught.value.url) == ("harbour", url)


def test_bozo_feed_that_still_has_entries_is_kept() -> None:
    (entry,) = read("bozo-entity.xml")
    assert entry.title == "Bridge reopens after repairs"
    assert entry.text == "Traffic flows again © Sloppy Gazette."


def test_html_web_page_is_refused_with_advice() -> None:
    with pytest.raises(SourceError, match=r"HTML web page, not a feed: use the site's RSS or Atom feed"):
        read("not-a-feed.html")


def test_xml_that_is_no_feed_is_a_source_error() -> None:
    with pytest.raises(SourceError, match=r"not an RSS or Atom feed"):
        parse(b"<?xml version='1.0'?><inventory><part id='1'/></inventory>")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_any_bytes_give_entries_or_a_source_error(data: bytes) -> None:
    try:
        entries = parse(data)
    except SourceError as error:
        assert error.reason
    else:
        assert all(entry.title for entry in entries)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=200))
def test_any_text_inside_rss_gives_entries_or_a_source_error(title: str) -> None:
    try:
        entries = parse(rss(f"<item><title>{title}</title></item>"))
    except SourceError as error:
        assert "not a valid feed" in error.reason
    else:
        assert all(entry.published is None for entry in entries)


# --- demo samples ------------------------------------------------------------------------------------------


def test_demo_world_rss_has_four_tagged_items() -> None:
    entries = read_source("world", str(SAMPLES / "world.rss")).entries
    assert len(entries) == 4
    tags = {tag for entry in entries for tag in entry.tags}
    assert {"Politics", "Middle East", "Technology", "Climate"} <= tags
    assert all(entry.link.startswith("https://news.example.com/2026/11/") for entry in entries)
    assert sum(bool(entry.image_url) for entry in entries) == 1
    assert all(entry.published and entry.published.tzinfo == UTC for entry in entries)


def test_demo_science_atom_has_three_entries() -> None:
    entries = read_source("science", str(SAMPLES / "science.atom")).entries
    assert [entry.tags[0] for entry in entries] == ["Science", "Space", "Climate"]
    assert all(entry.text and entry.link and entry.guid for entry in entries)


def test_deeply_nested_json_is_a_source_error_not_a_crash() -> None:
    with pytest.raises(SourceError, match=r"not valid JSON"):
        parse(b'{"a":' * 100_000 + b"1" + b"}" * 100_000)
