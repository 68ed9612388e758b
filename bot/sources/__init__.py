"""Reading sources into `Entry` values: feeds (RSS, Atom, JSON Feed) and plain-text article pages.

A source's URL is a local file or directory, a file:// URL or an http(s):// URL. Whatever goes wrong comes
out as one `SourceError(source, url, reason)` whose reason says what to do about it. Over HTTP, `Reach` says
which addresses may be connected to: public ones only, unless the operator wrote the URL or allows more.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote, urlsplit

from bot.errors import SourceError
from bot.models import Entry
from bot.sources.feeds import parse_feed
from bot.sources.jsonfeed import JSON_FEED_VERSION_PREFIX, is_json_feed, load_json, parse_json_feed
from bot.sources.pages import is_http_url, parse_page
from bot.sources.reach import PUBLIC_ONLY, Reach

if TYPE_CHECKING:
    from bot.sources.connect import Connections
    from bot.sources.fetched import Fetched

__all__ = [
    "Reach",
    "SourceRead",
    "download_source",
    "html_page_text",
    "parse_document",
    "parse_fetched",
    "read_source",
]

_Kind = Literal["xml", "json", "html", "text"]
# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SNIFF_BYTES = 1024
_MAX_ODD_SHARE = 0.02  # control characters and undecodable bytes tolerated in a text page's first characters
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_URL_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]+://")


@dataclass(frozen=True, slots=True)
class SourceRead:
    entries: list[Entry]  # in document order (feeds: as the feed lists them)
    not_modified: bool  # True on HTTP 304: entries is empty
    etag: str  # validators to send next time ("" if none)
    last_modified: str


# --- one document ------------------------------------------------------------------------------------------


def _byte_order_codec(data: bytes) -> str:
    return next((codec for mark, codec in _BYTE_ORDER_MARKS if data.startswith(mark)), "")


def _sniff(data: bytes) -> _Kind:
    codec = _byte_order_codec(data)
    # Latin-1 maps every byte to a character, which is all it takes to look at the first few of them.
    head = data[:_SNIFF_BYTES].decode(codec or "latin-1", errors="ignore").lstrip().lower()
    if head.startswith(("<!doctype html", "<html")):
        return "html"
    if head.startswith("<"):
        return "xml"
    if head.startswith("{"):
        return "json"
    return "text"


def _charset(content_type: str) -> str:
    match = _CHARSET.search(content_type)
    if not match:
        return ""
    try:
        return codecs.lookup(match[1]).name
    except LookupError:
        return ""


def _decode_text(data: bytes, content_type: str) -> str:
    for codec in (_byte_order_codec(data), _charset(content_type), "utf-8"):
        if codec:
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                continue
    # Not UTF-8 and no usable charset: Windows-1252 is what such pages almost always are.
    return data.decode("cp1252", errors="replace")


def _is_binary(data: bytes) -> bool:
    return b"\x00" in data[:_SNIFF_BYTES] and not _byte_order_codec(data)


def _is_garbage(text: str) -> bool:
    """Decoded text with more than a few control characters or undecodable bytes is not an article."""
    head = text[:_SNIFF_BYTES]
    odd = sum(1 for char in head if char == "\ufffd" or (char < " " and char not in "\t\n\r\f"))
    return odd > _MAX_ODD_SHARE * len(head)


def _parse_json(data: bytes, *, name: str, url: str) -> list[Entry]:
    document = load_json(data, name=name, url=url)
    if not is_json_feed(document):
        reason = f'JSON but not a JSON Feed: its "version" must start with {JSON_FEED_VERSION_PREFIX}'
        raise SourceError(name, url, reason)
    return parse_json_feed(document, name=name, url=url)


def _parse(data: bytes, *, name: str, url: str, content_type: str, base_url: str) -> list[Entry]:
    if not data.strip():
        raise SourceError(name, url, "empty document: check the URL or the file")
    kind = _sniff(data)
    if kind == "xml":
        return parse_feed(data, name=name, url=url, content_type=content_type, base_url=base_url)
    if kind == "json":
        return _parse_json(data, name=name, url=url)
    if kind == "html":
        reason = "an HTML web page, not a feed: use the site's RSS or Atom feed, or save the article as text"
        raise SourceError(name, url, reason)
    text = _decode_text(data, content_type)
    if _is_binary(data) or _is_garbage(text):
        raise SourceError(name, url, "a binary file, not a feed or article page: check the URL or the file")
    return [parse_page(text, name=name, url=url)]


def html_page_text(data: bytes, content_type: str = "") -> str:
    """The HTML of `data`, decoded as its charset says, when it is an HTML web page (which a source refuses: see
    `_parse`); "" when it is not. For a caller that reads one article from a page (bot.probe)."""
    return _decode_text(data, content_type) if _sniff(data) == "html" else ""


def parse_document(data: bytes, *, name: str, url: str, content_type: str = "") -> list[Entry]:
    """The entries of one document: RSS/Atom (feedparser), JSON Feed 1/1.1, or else a plain-text article page.

    `content_type` is the HTTP Content-Type header, if there was one: its charset is used for decoding.
    """
    base_url = url if is_http_url(url) else ""
    return _parse(data, name=name, url=url, content_type=content_type, base_url=base_url)


# --- local files and directories ---------------------------------------------------------------------------


def _local_path(name: str, url: str) -> Path:
    if not url.strip():
        raise SourceError(name, url, "no URL or path given: set the source's url")
    if url.lower().startswith("file:"):
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise SourceError(name, url, f"file URL on another host ({parts.netloc}): use a local path")
        return Path(unquote(parts.path))
    if _URL_SCHEME.match(url):
        scheme = url.split(":", 1)[0]
        raise SourceError(name, url, f"unsupported URL scheme {scheme!r}: use http(s)://, file:// or a path")
    return Path(url).expanduser()


def _read_file(path: Path, *, name: str, url: str, max_bytes: int) -> list[Entry]:
    try:
        if path.stat().st_size > max_bytes:
            raise SourceError(name, url, f"file larger than {max_bytes} bytes: raise max_bytes or split it")
        data = path.read_bytes()
    except OSError as error:
        reason = f"cannot read the file ({error.strerror}): check its permissions"
        raise SourceError(name, url, reason) from error
    return parse_document(data, name=name, url=url)


def _directory_files(directory: Path, *, name: str, url: str) -> list[Path]:
    try:
        children = sorted(directory.iterdir(), key=lambda child: child.name)
    except OSError as error:
        reason = f"cannot list the directory ({error.strerror}): check its permissions"
        raise SourceError(name, url, reason) from error
    return [child for child in children if not child.name.startswith(".") and child.is_file()]


def _read_local(name: str, url: str, max_bytes: int) -> list[Entry]:
    path = _local_path(name, url)
    if path.is_dir():
        entries: list[Entry] = []
        for file in _directory_files(path, name=name, url=url):
            entries += _read_file(file, name=name, url=str(file), max_bytes=max_bytes)
        return entries
    if path.is_file():
        return _read_file(path, name=name, url=url, max_bytes=max_bytes)
    if not path.exists():
        raise SourceError(name, url, "no such file or directory: check the path")
    raise SourceError(name, url, "not a regular file or directory: point the source at a file or directory")


# --- any source --------------------------------------------------------------------------------------------


def _from_fetched(name: str, url: str, fetched: Fetched) -> SourceRead:
    entries = (
        []
        if fetched.not_modified
        else _parse(fetched.body, name=name, url=url, content_type=fetched.content_type, base_url=fetched.url)
    )
    return SourceRead(
        entries=entries,
        not_modified=fetched.not_modified,
        etag=fetched.etag,
        last_modified=fetched.last_modified,
    )


def read_source(
    name: str,
    url: str,
    *,
    etag: str = "",
    last_modified: str = "",
    timeout: float = 20.0,
    max_bytes: int = 10_000_000,
    reach: Reach = PUBLIC_ONLY,
    connections: Connections | None = None,
) -> SourceRead:
    """Read one source. `url` is a local file or directory, a file:// URL, or an http(s):// URL.

    Over HTTP the validators from the last read are sent back; an unchanged source gives `not_modified=True`.
    `reach` says which addresses it may be fetched from (`bot.sources.reach`): public ones only unless told.
    A directory gives the entries of its regular, non-hidden files in name order (none if it is empty).
    Raises SourceError(name, url, reason) for anything that goes wrong.
    """
    got = download_source(
        name,
        url,
        etag=etag,
        last_modified=last_modified,
        timeout=timeout,
        max_bytes=max_bytes,
        reach=reach,
        connections=connections,
    )
    if isinstance(got, SourceRead):
        return got
    parsed = parse_fetched(name, url, got)
    if isinstance(parsed, SourceError):
        raise parsed
    return parsed


def download_source(
    name: str,
    url: str,
    *,
    etag: str = "",
    last_modified: str = "",
    timeout: float = 20.0,
    max_bytes: int = 10_000_000,
    reach: Reach = PUBLIC_ONLY,
    connections: Connections | None = None,
) -> SourceRead | Fetched:
    """The I/O half of `read_source`: a web source's raw response (`parse_fetched` turns it into entries, in
    another process if need be); a local source is read whole. Raises SourceError like `read_source`."""
    if not is_http_url(url):
        entries = _read_local(name, url, max_bytes)
        return SourceRead(entries=entries, not_modified=False, etag="", last_modified="")
    from bot.sources.fetch import fetch  # lazily: httpx is only worth importing when a source is on the web

    return fetch(
        url,
        name=name,
        etag=etag,
        last_modified=last_modified,
        timeout=timeout,
        max_bytes=max_bytes,
        reach=reach,
        connections=connections,
    )


def parse_fetched(name: str, url: str, fetched: Fetched) -> SourceRead | SourceError:
    """The CPU half: entries from a downloaded response. Returns (not raises) its SourceError, so it can
    travel back from a worker process."""
    try:
        return _from_fetched(name, url, fetched)
    except SourceError as error:
        return error
