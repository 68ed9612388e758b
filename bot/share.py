"""Share links for an article, and UTM parameters on its link."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from bot.models import ShareLink

__all__ = ["share_links", "with_utm"]


def share_links(url: str, title: str) -> tuple[ShareLink, ...]:
    """Links that open each network's share dialog for `url`; none when there is no URL to share."""
    if not url:
        return ()
    return (
        ShareLink("x", "X", "https://x.com/intent/post?" + _query({"text": title, "url": url})),
        ShareLink("telegram", "Telegram", "https://t.me/share/url?" + _query({"url": url, "text": title})),
        ShareLink("facebook", "Facebook", "https://www.facebook.com/sharer/sharer.php?" + _query({"u": url})),
        ShareLink("linkedin", "LinkedIn", "https://www.linkedin.com/sharing/share-offsite/?" + _query({"url": url})),
        ShareLink("whatsapp", "WhatsApp", "https://wa.me/?" + _query({"text": f"{title} {url}" if title else url})),
        ShareLink("email", "Email", "mailto:?" + _query({"subject": title, "body": url})),
    )


def _query(params: Mapping[str, str]) -> str:
    # quote, not quote_plus: mail clients show a '+' in a mailto: link literally instead of as a space.
    return urlencode(params, quote_via=quote)


def with_utm(url: str, params: Mapping[str, str]) -> str:
    """`url` with `params` added to its query, replacing parameters of the same name.

    The other parameters keep their exact spelling, and the fragment stays. A URL without a scheme (or "")
    is returned untouched: there is no safe way to tell its query apart.
    """
    parts = urlsplit(url)
    if not params or not parts.scheme or not parts.netloc:
        return url
    kept = [pair for pair in parts.query.split("&") if pair and _param_name(pair) not in params]
    query = "&".join([*kept, _query(params)])
    return urlunsplit(parts._replace(query=query))


def _param_name(pair: str) -> str:
    parsed = parse_qsl(pair, keep_blank_values=True)
    return parsed[0][0] if parsed else pair
