"""A digest rendered once per distinct content, then given each reader's own links.

Readers who follow the same hashtags get the same articles in the same sections: their digests differ only in
their unsubscribe and preferences links. Rendering a digest and inlining its CSS cost about 3 ms of CPU, under
the GIL, which capped a batch over ten SMTP connections near one mail per 8 ms; a list of 100,000 readers holds
a few hundred distinct hashtag sets. So `DigestContents` renders each (articles, hashtags) once, with stand-in
links, inlines its CSS, and puts each reader's links in by replacing the stand-ins: in the HTML escaped exactly
as the template escapes them (markupsafe, which Jinja's autoescape uses), in the text as they are. The result is
the same text as rendering for that reader (tests/test_email_contents.py compares them).

The stand-ins carry 128 random bits drawn for each rendering, so no article can contain one; a digest in which
one would survive the replacing is never returned. A reader with no link of a kind is rendered on their own.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from bot.models import Article
from bot.render import Digest, Renderer

__all__ = ["DigestContents"]

# Distinct (articles, hashtags) kept: a batch meets readers in no particular order, so the cache should hold every
# distinct content of a batch (bench/digest.py's 10 topics make 821). About 40 KB each for a 12-article digest.
CACHE_SIZE: Final = 1024


@dataclass(frozen=True, slots=True)
class _Rendered:
    digest: Digest  # HTML with its CSS inlined, links as stand-ins
    unsubscribe: str  # the stand-ins
    preferences: str


class DigestContents:
    """Each reader's digest (HTML with its CSS inlined), rendered once per (articles, reader's hashtags)."""

    def __init__(self, renderer: Renderer, title: str, cache_size: int = CACHE_SIZE) -> None:
        self._renderer = renderer
        self._title = title
        self._cache_size = cache_size
        self._cache: OrderedDict[tuple[tuple[Article, ...], tuple[str, ...]], _Rendered] = OrderedDict()

    def clear(self) -> None:
        """Forget every rendering (the job does at the end of a batch: the next has other articles)."""
        self._cache.clear()

    def digest(
        self, articles: Sequence[Article], hashtags: Sequence[str], *, unsubscribe_url: str, preferences_url: str
    ) -> Digest:
        if not (unsubscribe_url and preferences_url):  # the template leaves a missing link out: render as it is
            return self._inlined(self._render(articles, hashtags, unsubscribe_url, preferences_url))
        rendered = self._rendered(tuple(articles), tuple(hashtags))
        return _with_links(rendered, unsubscribe_url, preferences_url)

    def _rendered(self, articles: tuple[Article, ...], hashtags: tuple[str, ...]) -> _Rendered:
        key = (articles, hashtags)
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
            return found
        nonce = os.urandom(16).hex()  # as secrets.token_hex, whose import costs every start a few ms
        unsubscribe, preferences = f"newsbotunsubscribe{nonce}", f"newsbotpreferences{nonce}"
        digest = self._inlined(self._render(articles, hashtags, unsubscribe, preferences))
        rendered = _Rendered(digest, unsubscribe, preferences)
        self._cache[key] = rendered
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return rendered

    def _render(
        self, articles: Sequence[Article], hashtags: Sequence[str], unsubscribe: str, preferences: str
    ) -> Digest:
        return self._renderer.render_digest(
            articles, title=self._title, unsubscribe_url=unsubscribe, preferences_url=preferences,
            reader_hashtags=hashtags,
        )  # fmt: skip

    @staticmethod
    def _inlined(digest: Digest) -> Digest:
        from bot.email.message import inline_css  # imports css-inline: only a digest being built needs it

        return replace(digest, html=inline_css(digest.html), css_inlined=True)


def _with_links(rendered: _Rendered, unsubscribe_url: str, preferences_url: str) -> Digest:
    from markupsafe import escape  # Jinja's own escaping, so the links read as a direct render writes them

    digest = rendered.digest
    html = digest.html.replace(rendered.unsubscribe, str(escape(unsubscribe_url)))
    html = html.replace(rendered.preferences, str(escape(preferences_url)))
    text = digest.text.replace(rendered.unsubscribe, unsubscribe_url).replace(rendered.preferences, preferences_url)
    nonce = rendered.unsubscribe.removeprefix("newsbotunsubscribe")
    if nonce in html or nonce in text or nonce in digest.subject:  # a link held a stand-in: never send one
        raise ValueError("a link stand-in survived in the digest; the reader's links are not valid")
    return replace(digest, html=html, text=text)
