"""Plain-text article pages: the sample pages and the rules they rely on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import SourceError
from bot.models import Entry
from bot.sources import parse_document, read_source
from bot.sources.pages import BOILERPLATE_LINES, parse_date

SAMPLES = Path(__file__).parent.parent / "bot" / "samples"
FEEDS = Path(__file__).parent / "data" / "feeds"


def page(text: str, url: str = "page.txt") -> Entry:
    (entry,) = parse_document(text.encode(), name="page", url=url)
    return entry


@pytest.fixture(scope="module")
def syria() -> Entry:
    (entry,) = read_source("samples", str(SAMPLES / "syria-coalition.txt")).entries
    return entry


# --- the sample page ---------------------------------------------------------------------------------------


def test_sample_page_title_is_the_first_line_after_the_metadata(syria: Entry) -> None:
    assert syria.title == "Syria joins coalition led by the US to combat ISIL."


def test_sample_page_hashtag_line_gives_tags_and_leaves_the_text(syria: Entry) -> None:
    assert syria.tags == ("PoliticsNews", "MiddleEastNews")
    assert "#" not in syria.text


def test_sample_page_site_boilerplate_is_dropped(syria: Entry) -> None:
    assert "Related Articles" not in syria.text
    assert "Popular Articles" not in syria.text
    assert "Share" not in syria.text


def test_sample_page_text_is_the_body_without_the_title(syria: Entry) -> None:
    assert syria.text.startswith("In a significant diplomatic shift")
    assert syria.text.endswith("toward greater stability in the region.")
    assert syria.title not in syria.text


def test_sample_page_has_its_seven_body_paragraphs(syria: Entry) -> None:
    paragraphs = syria.text.split("\n\n")
    assert len(paragraphs) == 7
    assert [p.split()[0] for p in paragraphs] == ["In", "Syria", "Al-Mustafa", "This", "According", "During", "As"]


def test_sample_page_keeps_curly_quotes_and_abbreviations(syria: Entry) -> None:
    assert "a “political cooperation declaration” signed by Damascus" in syria.text
    assert "Syria’s commitment" in syria.text
    assert "with U.S. officials" in syria.text


def test_sample_page_with_an_empty_date_has_no_date_link_or_guid(syria: Entry) -> None:
    assert (syria.published, syria.link, syria.guid, syria.image_url) == (None, "", "", "")


def test_ev_batteries_sample_page() -> None:
    (entry,) = read_source("samples", str(SAMPLES / "ev-batteries.txt")).entries
    assert entry.title == "New battery plant promises cheaper electric cars by 2028"
    assert entry.tags == ("TechNews", "Climate")
    paragraphs = entry.text.split("\n\n")
    assert len(paragraphs) == 6
    assert paragraphs[0].startswith("A start-up backed by two carmakers")
    assert "said Dr. Priya Raman, the company’s chief technology officer." in entry.text
    assert "The U.K. government" in entry.text
    assert "fell 3.5% last year" in entry.text
    assert "Articles" not in entry.text
    assert entry.published is None


# --- metadata, labels and layout ---------------------------------------------------------------------------


def test_metadata_lines_give_date_and_link() -> None:
    (entry,) = read_source("fixture", str(FEEDS / "page-with-metadata.txt")).entries
    assert entry.title == "Schools shorten the day as the late heatwave lingers"
    assert entry.published == datetime(2025, 11, 12, tzinfo=UTC)
    assert entry.link == "https://news.example.com/2025/11/heatwave-schools"
    assert entry.tags == ("Weather", "Education")


def test_labels_and_boilerplate_anywhere_are_dropped_and_wrapped_lines_joined() -> None:
    (entry,) = read_source("fixture", str(FEEDS / "page-with-metadata.txt")).entries
    assert entry.text.split("\n\n") == [
        "Dozens of primary schools will close at 1 p.m. for the rest of the week, the education department "
        "said on Wednesday, as temperatures stayed above 35C for a fifth day.",
        "“We would rather lose an afternoon than have children fainting in class,” said Dr. Lena Fischer, "
        "who chairs the regional heads’ association.",
        "Forecasters expect the heat to break on Saturday.",
    ]


def test_short_sentences_are_body_text_not_labels() -> None:
    entry = page("Council vote\n\nIt passed.\n\n“Finally!”\n\nWhat now?\n\nTop Stories\n")
    assert entry.text.split("\n\n") == ["It passed.", "“Finally!”", "What now?"]


def test_boilerplate_before_the_title_is_skipped() -> None:
    entry = page("Advertisement\n\nSKIP TO CONTENT\n\nRail strike called off\n\nUnions accepted the offer.\n")
    assert entry.title == "Rail strike called off"


def test_every_listed_boilerplate_line_is_dropped_whatever_its_case() -> None:
    lines = "\n\n".join(line.upper() for line in BOILERPLATE_LINES)
    entry = page(f"Title of the story\n\n{lines}\n\nThe only real paragraph, with enough words to count.\n")
    assert entry.text == "The only real paragraph, with enough words to count."


def test_page_without_blank_lines_reads_one_paragraph_per_line() -> None:
    entry = page("Floods close the ring road\nWater rose overnight.\nMost Read\nRoads reopen on Friday.\n")
    assert entry.title == "Floods close the ring road"
    assert entry.text == "Water rose overnight.\n\nRoads reopen on Friday."


def test_windows_line_endings_and_a_byte_order_mark_are_handled() -> None:
    (entry,) = parse_document(
        "\ufeffDate: 2026-01-05\r\n\r\nTitle here\r\n\r\nBody text.\r\n".encode("utf-8"), name="p", url="p.txt"
    )
    assert (entry.title, entry.text) == ("Title here", "Body text.")
    assert entry.published == datetime(2026, 1, 5, tzinfo=UTC)


def test_page_link_is_empty_for_a_local_file_and_the_address_over_http() -> None:
    assert page("Title\n\nBody.", url="/tmp/page.txt").link == ""
    assert page("Title\n\nBody.", url="https://example.com/a.txt").link == "https://example.com/a.txt"


def test_page_with_only_metadata_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="not a feed or article page: no title found"):
        page("Date:\n\nShare:\n\n#OnlyTags\n")


def test_empty_document_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="empty document"):
        page(" \n\n ")


def test_binary_file_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="binary file"):
        parse_document(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", name="p", url="photo.png")


def test_non_utf8_page_is_read_as_windows_1252() -> None:
    (entry,) = parse_document("Café opens\n\n“Good coffee,” she said.".encode("cp1252"), name="p", url="p.txt")
    assert entry.title == "Café opens"
    assert entry.text == "“Good coffee,” she said."


# --- dates -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("November 12, 2025", datetime(2025, 11, 12, tzinfo=UTC)),
        ("Nov. 12, 2025", datetime(2025, 11, 12, tzinfo=UTC)),
        ("12 November 2025", datetime(2025, 11, 12, tzinfo=UTC)),
        ("2025-11-12", datetime(2025, 11, 12, tzinfo=UTC)),
        ("2025-11-12T10:30:00+02:00", datetime(2025, 11, 12, 8, 30, tzinfo=UTC)),
        ("2025-11-12T10:30:00Z", datetime(2025, 11, 12, 10, 30, tzinfo=UTC)),
        ("Wed, 12 Nov 2025 10:30:00 +0100", datetime(2025, 11, 12, 9, 30, tzinfo=UTC)),
        ("Wed, 12 Nov 2025 10:30:00 GMT", datetime(2025, 11, 12, 10, 30, tzinfo=UTC)),
    ],
)
def test_date_line_formats_become_utc(written: str, expected: datetime) -> None:
    entry = page(f"Date: {written}\n\nTitle\n\nBody.")
    assert entry.published == expected
    assert entry.published is not None and entry.published.tzinfo == UTC


@pytest.mark.parametrize("written", ["", "yesterday", "February 30, 2025", "12/11/2025", "Novel 3, 2025"])
def test_unreadable_date_gives_no_date(written: str) -> None:
    assert parse_date(written) is None
    assert page(f"Date: {written}\n\nTitle\n\nBody.").published is None


@given(st.text(max_size=300))
def test_any_text_gives_one_entry_or_a_source_error(text: str) -> None:
    try:
        entries = parse_document(text.encode(), name="page", url="page.txt")
    except SourceError as error:
        assert error.source == "page"
    else:
        assert all(entry.title and (entry.published is None or entry.published.tzinfo) for entry in entries)


def test_hard_wrapped_single_paragraph_is_joined_and_keeps_its_short_last_line() -> None:
    entry = page("Budget agreed\n\nThe council agreed on Monday to raise\nthe parks budget by\nten percent\n")
    assert entry.text == "The council agreed on Monday to raise the parks budget by ten percent"


def test_url_line_that_is_not_an_address_gives_no_link() -> None:
    assert page("URL: see below\n\nTitle\n\nBody.").link == ""
