"""Local sources: a file, a file:// URL or a directory of documents."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.errors import SourceError
from bot.sources import read_source

FEEDS = Path(__file__).parent / "data" / "feeds"
SAMPLES = Path(__file__).parent.parent / "bot" / "samples"


def copy(fixture: Path, directory: Path, name: str) -> Path:
    target = directory / name
    shutil.copyfile(fixture, target)
    return target


def test_directory_gives_the_entries_of_its_files_in_name_order(tmp_path: Path) -> None:
    copy(FEEDS / "atom.xml", tmp_path, "b-science.atom")
    copy(SAMPLES / "syria-coalition.txt", tmp_path, "a-syria.txt")
    copy(FEEDS / "jsonfeed-1.1.json", tmp_path, "c-notes.json")
    read = read_source("folder", str(tmp_path))
    assert [entry.title for entry in read.entries] == [
        "Syria joins coalition led by the US to combat ISIL.",
        "Probe finds water ice in a crater near the lunar south pole",
        "Why the jet stream keeps stalling",
        "Offshore wind farm delivers first power to the grid",
        "Grey heron numbers recover along the estuary",
        "Ferry timetables change on Sunday.",
    ]
    assert (read.not_modified, read.etag, read.last_modified) == (False, "", "")


def test_directory_skips_hidden_files_and_subdirectories(tmp_path: Path) -> None:
    copy(SAMPLES / "ev-batteries.txt", tmp_path, "story.txt")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1\x00")
    (tmp_path / "drafts").mkdir()
    copy(SAMPLES / "syria-coalition.txt", tmp_path / "drafts", "draft.txt")
    titles = [entry.title for entry in read_source("folder", str(tmp_path)).entries]
    assert titles == ["New battery plant promises cheaper electric cars by 2028"]


def test_empty_directory_has_no_entries(tmp_path: Path) -> None:
    assert read_source("folder", str(tmp_path)).entries == []


def test_bad_file_in_a_directory_is_named_in_the_error(tmp_path: Path) -> None:
    copy(SAMPLES / "ev-batteries.txt", tmp_path, "a.txt")
    broken = copy(FEEDS / "malformed.xml", tmp_path, "b.xml")
    with pytest.raises(SourceError) as caught:
        read_source("folder", str(tmp_path))
    assert caught.value.url == str(broken)
    assert "not a valid feed" in str(caught.value)


def test_missing_path_is_a_source_error_naming_source_and_path(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere.rss")
    with pytest.raises(SourceError) as caught:
        read_source("gone", missing)
    assert str(caught.value) == f"source 'gone' ({missing}): no such file or directory: check the path"


def test_file_url_is_read_like_a_path() -> None:
    url = (FEEDS / "rss1.rdf").resolve().as_uri()
    titles = [entry.title for entry in read_source("rdf", url).entries]
    assert titles[0] == "Reading rooms open until 10 p.m. during exam season"


def test_file_url_with_escaped_characters_is_read(tmp_path: Path) -> None:
    target = copy(SAMPLES / "ev-batteries.txt", tmp_path, "ev batteries.txt")
    assert "%20" in target.as_uri()
    assert len(read_source("ev", target.as_uri()).entries) == 1


def test_file_url_on_another_host_is_refused() -> None:
    with pytest.raises(SourceError, match="file URL on another host"):
        read_source("remote", "file://fileserver/share/feed.xml")


def test_unsupported_url_scheme_is_refused_with_the_choices() -> None:
    with pytest.raises(SourceError, match=r"unsupported URL scheme 'ftp': use http\(s\)://, file:// or a path"):
        read_source("ftp", "ftp://example.com/feed.xml")


def test_empty_url_is_refused() -> None:
    with pytest.raises(SourceError, match="no URL or path given"):
        read_source("blank", " ")


def test_file_larger_than_max_bytes_is_refused(tmp_path: Path) -> None:
    target = copy(FEEDS / "atom.xml", tmp_path, "atom.xml")
    with pytest.raises(SourceError, match="file larger than 100 bytes: raise max_bytes"):
        read_source("big", str(target), max_bytes=100)
