"""JSON Feed 1 and 1.1 (https://jsonfeed.org/version/1.1), read with the json module: feedparser 6 cannot."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, TypeGuard

from bot.errors import SourceError
from bot.htmltext import first_image_alt, first_image_src, html_to_text, plain_text_paragraphs
from bot.models import Entry
from bot.sources.feeds import as_text, build_entry, first_http_image
from bot.sources.pages import parse_date

__all__ = ["JSON_FEED_VERSION_PREFIX", "is_json_feed", "load_json", "parse_json_feed"]

JSON_FEED_VERSION_PREFIX = "https://jsonfeed.org/version/1"


def _id(value: object) -> str:
    # The spec says a string, but feeds in the wild also use numbers.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return as_text(value)


def is_json_feed(document: object) -> TypeGuard[Mapping[str, Any]]:
    if not isinstance(document, Mapping):
        return False
    return as_text(document.get("version")).startswith(JSON_FEED_VERSION_PREFIX)


def _text(item: Mapping[str, Any]) -> str:
    texts = [
        html_to_text(as_text(item.get("content_html"))),
        plain_text_paragraphs(as_text(item.get("content_text"))),
        plain_text_paragraphs(as_text(item.get("summary"))),
    ]
    return max(texts, key=len)


def _published(item: Mapping[str, Any]) -> datetime | None:
    return parse_date(as_text(item.get("date_published")) or as_text(item.get("date_modified")))


def _image_candidates(item: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(URL, text): JSON Feed gives no text for `image`, `banner_image` or attachments (posts use the title)."""
    yield as_text(item.get("image")), ""
    yield as_text(item.get("banner_image")), ""
    attachments = item.get("attachments")
    for attachment in attachments if isinstance(attachments, list) else []:
        if isinstance(attachment, Mapping) and as_text(attachment.get("mime_type")).startswith("image/"):
            yield as_text(attachment.get("url")), ""
    content = as_text(item.get("content_html"))
    yield first_image_src(content), first_image_alt(content)


def _tags(item: Mapping[str, Any]) -> list[str]:
    tags = item.get("tags")
    return [as_text(tag) for tag in tags] if isinstance(tags, list) else []


def _entry(item: Mapping[str, Any]) -> Entry | None:
    image_url, image_alt = first_http_image(_image_candidates(item))
    return build_entry(
        title=as_text(item.get("title")),
        text=_text(item),
        link=as_text(item.get("url")) or as_text(item.get("external_url")),
        guid=_id(item.get("id")),
        tags=_tags(item),
        published=_published(item),
        image_url=image_url,
        image_alt=image_alt,
    )


def parse_json_feed(document: Mapping[str, Any], *, name: str, url: str) -> list[Entry]:
    """The items of an already decoded JSON Feed document, in feed order."""
    items = document.get("items")
    if not isinstance(items, list):
        raise SourceError(name, url, "not a valid JSON Feed: 'items' is missing or not a list")
    return [entry for item in items if isinstance(item, Mapping) and (entry := _entry(item)) is not None]


def load_json(data: bytes, *, name: str, url: str) -> object:
    """`data` decoded as JSON (UTF-8, UTF-16 or UTF-32, as RFC 8259 allows); SourceError if it is not JSON."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise SourceError(name, url, f"not valid JSON ({error}): check the feed's address") from error
