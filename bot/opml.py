"""OPML 2.0, the file every feed reader exports its subscriptions as: read (`newsbot sources import`) and written
(`newsbot sources export`). Pure functions, no I/O; the store side is bot.source_admin's.

    feeds = read_opml(data)          # OpmlRefused, or each feed outline with its line and hashtags (or problem)
    data = write_opml([("wire", "https://example.com/rss", ("World",))], now)

A feed is an `<outline>` with an `xmlUrl` (folders nest them). Its hashtags come from its `category` attribute
(comma-separated; each "/"-path gives one hashtag per part: "/Tech/AI" → #Tech #AI) and from the text of every
folder it sits in, each made a hashtag word by `bot.hashtags.tag_from_category` ("Middle East" → MiddleEast) and
held to the rule typed hashtags follow (`is_accepted_tag`). A category or folder that cannot be a hashtag refuses
that feed, with the reason: nothing is added under fewer hashtags than the file gives it.

The file is parsed by defusedxml's expat reader: an entity declaration (the "billion laughs") or an external
entity or DTD reference is refused before anything is expanded or fetched; a file over MAX_OPML_BYTES or with more
than MAX_OUTLINES outlines is refused without reading further.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import xml.sax
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Final

import defusedxml.sax
from defusedxml import DefusedXmlException

from bot.hashtags import MAX_TAGS, TAG_RULE, is_accepted_tag, tag_from_category, unique

__all__ = ["MAX_OPML_BYTES", "MAX_OUTLINES", "FeedOutline", "OpmlRefused", "read_opml", "write_opml"]

MAX_OPML_BYTES: Final = 10_000_000  # a 100,000-feed export is about 20 MB; 50,000 feeds fit
MAX_OUTLINES: Final = 100_000
_XML_INVALID: Final = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class OpmlRefused(Exception):
    """The file as a whole cannot be read as OPML; the message says why and what to do (plain text)."""


@dataclass(frozen=True, slots=True)
class FeedOutline:
    line: int  # where its <outline> starts in the file
    url: str  # its xmlUrl, trimmed
    title: str
    hashtags: tuple[str, ...] = ()
    problem: str = ""  # why this feed cannot be added as it is; "" when it can


class _Outlines(xml.sax.handler.ContentHandler):
    """Collects the feed outlines while expat reads the file; folders are the outlines without an xmlUrl."""

    def __init__(self) -> None:
        super().__init__()
        self.feeds: list[FeedOutline] = []
        self.folders: list[str | None] = []  # per open <outline>: its folder text, None for a feed
        self.root = ""
        self.count = 0
        self.seen_body = False
        self._locator: xml.sax.xmlreader.Locator | None = None

    def setDocumentLocator(self, locator: xml.sax.xmlreader.Locator) -> None:
        self._locator = locator

    def startElement(self, name: str, attrs: xml.sax.xmlreader.AttributesImpl) -> None:
        if not self.root:
            self.root = name
        self.seen_body = self.seen_body or name == "body"
        if name != "outline":
            return
        self.count += 1
        if self.count > MAX_OUTLINES:
            raise OpmlRefused(f"it has more than {MAX_OUTLINES:,} outlines; split it into smaller files")
        lowered = {key.lower(): value for key, value in attrs.items()}
        url = lowered.get("xmlurl", "").strip()
        title = (lowered.get("title") or lowered.get("text") or "").strip()
        if not url:
            self.folders.append(title)
            return
        self.folders.append(None)
        line = (self._locator.getLineNumber() if self._locator else None) or 0
        self.feeds.append(_feed(line, url, title, lowered.get("category", ""), self._enclosing()))

    def endElement(self, name: str) -> None:
        if name == "outline" and self.folders:
            self.folders.pop()

    def _enclosing(self) -> list[str]:
        return [folder for folder in self.folders[:-1] if folder]


def _feed(line: int, url: str, title: str, category: str, folders: list[str]) -> FeedOutline:
    words = [(part, "category") for item in category.split(",") for part in item.split("/") if part.strip()]
    words += [(folder, "folder") for folder in folders]
    tags: list[str] = []
    for word, kind in words:
        tag = tag_from_category(word)
        if not is_accepted_tag(tag):
            problem = f"its {kind} “{_clipped(word.strip())}” cannot be a hashtag ({TAG_RULE}): rename it"
            return FeedOutline(line, url, title, problem=problem)
        tags.append(tag)
    tags = unique(tags)
    if len(tags) > MAX_TAGS:
        return FeedOutline(line, url, title, problem=f"it has {len(tags)} hashtags; at most {MAX_TAGS} may be given")
    return FeedOutline(line, url, title, tuple(tags))


def read_opml(data: bytes) -> list[FeedOutline]:
    """Every feed outline of an OPML file, in file order; OpmlRefused when the file is not OPML, holds no feed,
    is too big, or declares entities or refers to outside files."""
    if len(data) > MAX_OPML_BYTES:
        raise OpmlRefused(f"it is {len(data):,} bytes; the limit is {MAX_OPML_BYTES:,}: split it into smaller files")
    outlines = _Outlines()
    try:
        defusedxml.sax.parseString(data, outlines, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise OpmlRefused(
            "it declares XML entities or refers to outside files, which OPML never needs and newsbot refuses"
            " (they can make a small file expand to gigabytes or read other files); export it again from your"
            " feed reader"
        ) from None
    except xml.sax.SAXParseException as error:
        raise OpmlRefused(
            f"it is not well-formed XML (line {error.getLineNumber()}: {error.getMessage()}); is it an OPML export?"
        ) from None
    if outlines.root != "opml" or not outlines.seen_body:
        raise OpmlRefused("it is XML but not OPML (an <opml> file with a <body>); export OPML from your feed reader")
    if not outlines.feeds:
        raise OpmlRefused("it holds no feed (no <outline> with an xmlUrl)")
    return outlines.feeds


def write_opml(sources: Iterable[tuple[str, str, Iterable[str]]], now: datetime) -> bytes:
    """OPML 2.0 of (name, URL, hashtags) sources, hashtags in `category`, in UTF-8; `read_opml` reads it back to
    the same URLs and hashtags."""
    opml = ET.Element("opml", version="2.0")
    head = ET.SubElement(opml, "head")
    ET.SubElement(head, "title").text = "newsbot sources"
    ET.SubElement(head, "dateCreated").text = format_datetime(now)
    body = ET.SubElement(opml, "body")
    for name, url, hashtags in sources:
        ET.SubElement(body, "outline", _attributes(name, url, hashtags))
    ET.indent(opml, space="  ")
    written: bytes = ET.tostring(opml, encoding="utf-8", xml_declaration=True)
    return written + b"\n"


def _attributes(name: str, url: str, hashtags: Iterable[str]) -> dict[str, str]:
    attributes = {"type": "rss", "text": name, "title": name, "xmlUrl": url}
    category = ",".join(hashtags)
    if category:
        attributes["category"] = category
    return {key: _XML_INVALID.sub("", value) for key, value in attributes.items()}  # XML 1.0 cannot hold them


def _clipped(word: str, limit: int = 40) -> str:
    return word if len(word) <= limit else word[:limit] + "…"
