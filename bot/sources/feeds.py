"""RSS 0.9x / 1.0 / 2.0 and Atom feeds, read with feedparser, as `Entry` values in feed order."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from bot.alttext import clean_alt
from bot.errors import SourceError
from bot.htmltext import first_image_alt, first_image_src, html_to_text, plain_text_paragraphs
from bot.models import Entry
from bot.sources.media_text import media_image_texts
from bot.sources.pages import is_http_url, split_hashtag_lines, title_from_text

__all__ = ["as_text", "build_entry", "first_http_image", "parse_feed"]

_SAX_LOCATION = re.compile(r"^<unknown>:(\d+):(\d+): ")


def as_text(value: object) -> str:
    """A string field of a parsed document, stripped; "" when it is missing or not a string."""
    return value.strip() if isinstance(value, str) else ""


def first_http_image(candidates: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """The first (image URL, its text) whose URL is absolute http(s); the text cleaned (bot.alttext)."""
    # Publishers can only attach absolute http(s) images; relative or data: URLs are no use to them.
    url, text = next(((url, text) for url, text in candidates if is_http_url(url)), ("", ""))
    return url, clean_alt(text)


def _dicts(value: object) -> list[Mapping[str, Any]]:
    """feedparser's lists of detail dicts (content, tags, media_content ...), tolerating anything else."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def build_entry(
    *,
    title: str,
    text: str,
    link: str = "",
    guid: str = "",
    tags: Iterable[str] = (),
    published: datetime | None = None,
    image_url: str = "",
    image_alt: str = "",
) -> Entry | None:
    """An Entry from a feed item's parts; hashtag-only lines move from the text to the tags.

    Without a title the first sentence of the text stands in; with neither there is nothing to show: None.
    A link that is not absolute http(s) (javascript:, data:, a relative path no base resolved) is dropped: it
    would become the href of the "Read more" link in Telegram and in the digest.
    """
    text, line_tags = split_hashtag_lines(text)
    title = " ".join(title.split()) or title_from_text(text)
    if not title:
        return None
    return Entry(
        title=title,
        link=link if is_http_url(link) else "",
        text=text,
        guid=guid,
        tags=tuple(dict.fromkeys(tag for tag in (*tags, *line_tags) if tag)),
        published=published,
        image_url=image_url,
        image_alt=image_alt if image_url else "",
    )


# --- one feedparser entry ----------------------------------------------------------------------------------


def _detail_text(detail: Mapping[str, Any]) -> str:
    value = as_text(detail.get("value"))
    if "html" in as_text(detail.get("type")):  # text/html and application/xhtml+xml
        return html_to_text(value)
    return plain_text_paragraphs(value)


def _details(entry: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The entry's full content blocks first, then its summary."""
    summary = entry.get("summary_detail")
    return _dicts(entry.get("content")) + ([summary] if isinstance(summary, Mapping) else [])


def _body_text(entry: Mapping[str, Any]) -> str:
    texts = [_detail_text(detail) for detail in _details(entry)]
    # max() keeps the first of equally long texts, so full content wins a tie with the summary.
    return max(texts, key=len, default="")


def _title(entry: Mapping[str, Any]) -> str:
    detail = entry.get("title_detail")
    if isinstance(detail, Mapping):
        return " ".join(_detail_text(detail).split())
    return as_text(entry.get("title"))


def _published(entry: Mapping[str, Any]) -> datetime | None:
    # feedparser gives these already converted to UTC. Its lookup of a missing updated_parsed falls back to
    # published_parsed with a deprecation warning; its `in` checks the stored key only, so ask that first.
    parsed = entry.get("published_parsed") or ("updated_parsed" in entry and entry.get("updated_parsed"))
    if not isinstance(parsed, time.struct_time):
        return None
    try:
        return datetime(*parsed[:6], tzinfo=UTC)
    except ValueError:
        return None


def _is_image(media: Mapping[str, Any]) -> bool:
    medium, mime = as_text(media.get("medium")), as_text(media.get("type"))
    if medium or mime:
        return medium == "image" or mime.startswith("image/")
    return True  # media:content without medium or type is, in news feeds, the story's picture


def _image_candidates(entry: Mapping[str, Any], media_texts: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """(URL, text) of each image the entry names, in order of preference; the text as the feed gives it."""
    for media in _dicts(entry.get("media_content")):
        if _is_image(media):
            url = as_text(media.get("url"))
            yield url, media_texts.get(url, "")
    for thumbnail in _dicts(entry.get("media_thumbnail")):
        url = as_text(thumbnail.get("url"))
        yield url, media_texts.get(url, "")
    for enclosure in _dicts(entry.get("enclosures")):
        if as_text(enclosure.get("type")).startswith("image/"):
            yield as_text(enclosure.get("href")), ""
    for detail in _details(entry):
        if "html" in as_text(detail.get("type")):
            value = as_text(detail.get("value"))
            src = first_image_src(value)
            # Relative links inside descriptions are left as written (resolving every one of them costs a
            # third of the parse); the one image newsbot uses is resolved against the content's base here.
            yield (urljoin(as_text(detail.get("base")), src), first_image_alt(value)) if src else ("", "")


def _tags(entry: Mapping[str, Any]) -> list[str]:
    return [as_text(tag.get("term")) for tag in _dicts(entry.get("tags"))]


def _entry(entry: Mapping[str, Any], media_texts: Mapping[str, str]) -> Entry | None:
    image_url, image_alt = first_http_image(_image_candidates(entry, media_texts))
    return build_entry(
        title=_title(entry),
        text=_body_text(entry),
        link=as_text(entry.get("link")),
        guid=as_text(entry.get("id")),
        tags=_tags(entry),
        published=_published(entry),
        image_url=image_url,
        image_alt=image_alt,
    )


# --- the whole feed ----------------------------------------------------------------------------------------


def _describe(exception: object) -> str:
    """feedparser's bozo exception as a short phrase: "line 9, column 2: mismatched tag"."""
    message = str(exception).strip() or type(exception).__name__
    return _SAX_LOCATION.sub(r"line \1, column \2: ", message)


def _response_headers(content_type: str, base_url: str) -> dict[str, str]:
    headers = {"content-type": content_type} if content_type else {}
    if base_url:
        headers["content-location"] = base_url  # lets feedparser resolve relative links and images
    return headers


def parse_feed(data: bytes, *, name: str, url: str, content_type: str = "", base_url: str = "") -> list[Entry]:
    """The entries of an RSS or Atom document. A broken feed that still yields entries is kept.

    `content_type` is the HTTP Content-Type header (its charset decides the encoding when the document does
    not); `base_url` is where the document came from, for relative links.
    """
    import feedparser  # lazily: importing it costs more than the whole CLI start-up

    # feedparser's sanitizer removes an <iframe> tag but keeps its fallback text; html_to_text drops both,
    # and the HTML itself is never passed on, so there is nothing for the sanitizer to protect.
    parsed = feedparser.parse(
        io.BytesIO(data),
        response_headers=_response_headers(content_type, base_url),
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    raw_entries = _dicts(parsed.get("entries"))
    media_texts = media_image_texts(data) if raw_entries else {}
    entries = [entry for raw in raw_entries if (entry := _entry(raw, media_texts)) is not None]
    if not entries and parsed.get("bozo"):
        problem = _describe(parsed.get("bozo_exception"))
        raise SourceError(name, url, f"not a valid feed: {problem}; check the feed's address")
    if not raw_entries and not parsed.get("version"):
        raise SourceError(name, url, "not an RSS or Atom feed: no channel or feed element found")
    return entries
