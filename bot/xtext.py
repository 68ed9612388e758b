"""X's text rules, as X itself applies them: a post's weighted length, and what in it X turns into a mention or a link.

Feed text is not ours to publish as mentions and links: "@elonmusk @POTUS cc @jack" in an article would notify
those accounts from the bot's account, and a bare "evil.example.com/login" would go out as a live link.
`neutralize` rewrites exactly what X would pick up (found with twitter-text's own rules) into plain text that
reads the same: "@jack" → "jack", "https://evil.example.com/login?x=1" → "evil[.]example[.]com". The at sign is
dropped rather than swapped for a look-alike: X also takes the fullwidth "＠" for a mention, and a look-alike
may be folded back to "@" by a normaliser on the way.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["X_LIMIT", "XEntity", "links_and_mentions", "neutralize", "weighted_length"]

X_LIMIT: Final = 280
# twitter-text's extractMentionsOrListsWithIndices (validMentionOrList): what precedes the at sign, the at sign
# (either width), a user name of up to 20 characters, and an optional list slug.
_AT_SIGNS: Final = "@\uff20"
_MENTION: Final = (
    rf"(?:^|[^a-zA-Z0-9_!#$%&*{_AT_SIGNS}]|(?:^|[^a-zA-Z0-9_+~.-])(?:rt|RT|rT|Rt):?)"
    rf"(?P<mention>[{_AT_SIGNS}][a-zA-Z0-9_]{{1,20}}(?:/[a-zA-Z][a-zA-Z0-9_-]{{0,24}})?)"
)
# Rewrites of a text that keep finding something new (not seen, but cheap to rule out) end in plain removal.
_MAX_REWRITES: Final = 3
_URL_HOST: Final = re.compile(r"(?:https?://)?([^:/?]+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class XEntity:
    """A mention or a link that X would make of `text[start:end]` (indices in code points, as Python counts)."""

    kind: Literal["mention", "url"]
    start: int
    end: int
    text: str


@contextmanager
def quiet_import() -> Iterator[None]:
    """twitter_text imports pkg_resources, and setuptools 81+ warns about that on stderr of every command that
    measures an X post: the warning is the library's, for the library's maintainers, not for newsbot's users."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        yield


def weighted_length(text: str) -> int:
    """Weighted length of `text` on X: URLs count 23, CJK characters and emoji 2, most others 1."""
    # Imported here: twitter_text takes ~140 ms to import, and the CLI must start fast.
    with quiet_import():
        from twitter_text import parse_tweet

    return int(parse_tweet(unicodedata.normalize("NFC", text)).weightedLength)


def links_and_mentions(text: str) -> list[XEntity]:
    """The links and mentions X would make of `text` (NFC-normalised, as X reads it), in order.

    Of entities that overlap, the first one wins, as in twitter-text's extractEntitiesWithIndices
    ("https://mastodon.social/@user" is one link, not a link and a mention).
    """
    with quiet_import():
        from twitter_text import extract_urls_with_indices

    text = unicodedata.normalize("NFC", text)
    found = [XEntity("url", *_span(url["indices"]), url["url"]) for url in extract_urls_with_indices(text)]
    found.extend(_mentions(text))
    kept: list[XEntity] = []
    for entity in sorted(found, key=lambda e: (e.start, e.end)):
        if not kept or entity.start >= kept[-1].end:
            kept.append(entity)
    return kept


def neutralize(text: str) -> str:
    """`text` (NFC-normalised) with every mention and link X would make of it written as plain text.

    A mention loses its at sign; a link becomes its host name with each dot written "[.]", its path and
    query dropped. Text without either comes back unchanged.
    """
    text = unicodedata.normalize("NFC", text)
    for _ in range(_MAX_REWRITES):
        found = links_and_mentions(text)
        if not found:
            return text
        text = _rewrite(text, found, _plain_form)
    while found := links_and_mentions(text):
        text = _rewrite(text, found, lambda entity: "")
    return text


def _mentions(text: str) -> list[XEntity]:
    if "@" not in text and "\uff20" not in text:  # most text: skip the scan
        return []
    with quiet_import():
        from twitter_text.regexp.latin_accent_chars import latin_accent_chars

    # twitter-text's endMentionMatch: a name followed by another at sign, a Latin accented letter or "://"
    # is not a mention ("@user@host", "@José" is not "@Jos", "@http://…").
    not_after = re.compile(rf"[{_AT_SIGNS}{latin_accent_chars.pattern}]|://")
    found = []
    for match in re.finditer(_MENTION, text):
        if not not_after.match(text, match.end()):
            found.append(XEntity("mention", match.start("mention"), match.end("mention"), match["mention"]))
    return found


def _span(indices: list[int]) -> tuple[int, int]:
    return indices[0], indices[1]


def _plain_form(entity: XEntity) -> str:
    if entity.kind == "mention":
        return entity.text[1:]
    host = _URL_HOST.match(entity.text)
    return (host.group(1) if host else "").replace(".", "[.]")


def _rewrite(text: str, entities: list[XEntity], form: Callable[[XEntity], str]) -> str:
    pieces: list[str] = []
    position = 0
    for entity in entities:
        pieces += [text[position : entity.start], form(entity)]
        position = entity.end
    pieces.append(text[position:])
    return "".join(pieces)
