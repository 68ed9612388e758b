"""Who an article is: a stable key and the aliases under which the same story may turn up again.

Precedence: the feed's guid → the canonical link (tracking parameters removed) → a hash of the normalised
title and the start of the body. Every one of these that exists is stored as an alias, so the story is
recognised again whether it comes back from the same feed, another feed, or as a page.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

from bot import hashtags as tags
from bot.models import Article, Entry

_TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "_hsenc",
        "_hsmi",
        "ref_src",
    }
)
_WORD = re.compile(r"\w+")
BODY_START_CHARS = 300
KEY_LENGTH = 12


def canonical_link(url: str) -> str:
    """The link with tracking parameters and the fragment removed, scheme and host lower-cased.

    Not a URL (no scheme or host): returned stripped, unchanged.
    """
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return url
    # Raw query fields are kept as written: re-encoding them could change what the server sees.
    query = "&".join(field for field in parts.query.split("&") if field and not _is_tracking(field))
    netloc = parts.netloc.lower()
    for default_port in (":80", ":443"):
        if netloc.endswith(default_port):
            netloc = netloc[: -len(default_port)]
    path = parts.path or "/"
    return urlunsplit((parts.scheme.lower(), netloc, path, query, ""))


def _is_tracking(query_field: str) -> bool:
    name = query_field.split("=", 1)[0].lower()
    return name.startswith("utm_") or name in _TRACKING_PARAMS


def _fingerprint(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_WORD.findall(folded))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def aliases_for(entry: Entry, source: str) -> tuple[str, ...]:
    """Every identity of the entry, most specific first."""
    found: list[str] = []
    guid = entry.guid.strip()
    if guid:
        # A guid that is a URL is global; any other guid only means something within its own feed.
        is_url = urlsplit(guid).scheme in ("http", "https")
        found.append("guid:" + (canonical_link(guid) if is_url else f"{source}:{guid}"))
    link = canonical_link(entry.link)
    if link:
        found.append("link:" + link)
    content = _fingerprint(entry.title) + "|" + _fingerprint(entry.text)[:BODY_START_CHARS]
    if content.strip("|"):
        found.append("content:" + _digest(content))
    return tuple(dict.fromkeys(found))


def article_key(aliases: tuple[str, ...]) -> str:
    """A short stable key: the hash of the most specific alias."""
    return _digest(aliases[0])[:KEY_LENGTH] if aliases else ""


def collect_hashtags(entry: Entry, source_hashtags: tuple[str, ...]) -> tuple[str, ...]:
    """The source's own tags, the entry's categories, then #tags written in the title and text."""
    from_categories = (tags.tag_from_category(t) for t in entry.tags)
    from_text = tags.find_hashtags(entry.title + "\n" + entry.text)
    return tuple(tags.unique([*source_hashtags, *from_categories, *from_text]))


def build_article(entry: Entry, *, source: str, source_hashtags: tuple[str, ...], first_seen: datetime) -> Article:
    aliases = aliases_for(entry, source)
    return Article(
        key=article_key(aliases),
        source=source,
        title=entry.title.strip(),
        link=canonical_link(entry.link),
        text=entry.text.strip(),
        hashtags=collect_hashtags(entry, source_hashtags),
        published=entry.published,
        first_seen=first_seen,
        image_url=entry.image_url,
        image_alt=entry.image_alt,
        aliases=aliases,
    )
