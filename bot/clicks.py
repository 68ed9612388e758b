"""Click counts, private by design: an article's /r/ link on a channel, and whether a hit on it counts.

With `[analytics] enabled = true` the renderer writes every article link of a post or digest as
`[web] public_url + /r/TOKEN`. The token is signed (bot.email.tokens, purpose "click", valid for ever like an
unsubscribe link) and names the article's key and the channel, nothing else: every token is issued at the same
fixed time, so every reader of an article on a channel gets the very same link and a hit cannot tell readers
apart. The server keeps no cookie and no IP address (its access log is off); a counted hit adds one to the count
of (article, channel, UTC day) in the store (bot.store.clicks).

The redirect goes to the article's own link as the channel writes it (`bot.share.with_utm` with that channel's
UTM parameters), read from the stored article: the token names the article, never the target, so /r/ is no open
redirect, and a target that is not an http(s) URL, or carries a user:password part, is not followed at all.

A hit does not count (`why_not_counted`) when:
- it is a HEAD request: link checkers ask for the headers only;
- its User-Agent is a link-preview bot, a search engine's crawler or another robot (`is_robot`), or it carries a
  prefetch header (`PREFETCH_HEADERS`: the browser fetches ahead of a click that may never come);
- its channel's messages are scanned on arrival (`Channel.scanned_on_delivery`: mail) and it comes within
  `MAIL_SCAN_SECONDS` of the last digest mail going out (see there).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol
from urllib.parse import urlsplit

from bot.channels import REGISTRY
from bot.config import Config
from bot.email.tokens import BadToken, LinkSigning, TokenSigner
from bot.errors import ConfigError
from bot.models import Article
from bot.render import Renderer, build_renderer
from bot.share import with_utm

__all__ = [
    "CLICK_PATH",
    "MAIL_SCAN_SECONDS",
    "PREFETCH_HEADERS",
    "BadToken",
    "ClickLinks",
    "ClickStore",
    "Clicks",
    "Followed",
    "click_links_from_config",
    "clicks_from_config",
    "is_robot",
    "renderer_of",
    "why_not_counted",
]

CLICK_PATH: Final = "/r/{token}"
PURPOSE: Final = "click"
# Mail security gateways (Microsoft Defender Safe Links, Mimecast, Proofpoint, Barracuda) open every link of a
# message while they accept it, seconds after it left; a person seldom opens, reads and clicks within 15 seconds.
# The token names no reader, so the window follows the last digest mail of all: while a batch goes out, mail
# clicks are not counted (the digest is weekly, a batch of 10,000 at 10 per second takes some 17 minutes).
MAIL_SCAN_SECONDS: Final = 15
# Headers a browser sends when it fetches a page ahead of a click (Chromium, Firefox, Safari), and the words in
# their values that say so.
PREFETCH_HEADERS: Final = ("sec-purpose", "purpose", "x-moz", "x-purpose")
_PREFETCH_WORDS: Final = re.compile(r"prefetch|prerender|preview", re.IGNORECASE)
# The same issue time for every click token (see the module docstring): 2026-01-01T00:00:00Z.
_ISSUED: Final = datetime(2026, 1, 1, tzinfo=UTC)
# Link previews of chat apps and social networks, search engines, feed readers, and HTTP libraries; then any
# agent that calls itself a bot, crawler or spider. In-app browsers (Facebook's FBAN, Instagram, LinkedInApp,
# Snapchat) are people and do not match. A short list rather than the `crawlerdetect` package, which
# the shared environment does not have (see the README's analytics section).
_ROBOT_AGENT: Final = re.compile(
    r"TelegramBot|Twitterbot|facebookexternalhit|facebookcatalog|Slackbot|Slack-ImgProxy|LinkedInBot|WhatsApp"
    r"|Discordbot|Googlebot|Google-InspectionTool|Google-PageRenderer|AdsBot-Google|Mediapartners-Google|bingbot"
    r"|BingPreview|Applebot|DuckDuckBot|YandexBot|Baiduspider|Yahoo! Slurp|redditbot|Pinterestbot|SkypeUriPreview"
    r"|vkShare|Iframely|Embedly|Mastodon/|Bluesky Cardyb|HeadlessChrome|python-requests|python-httpx"
    r"|aiohttp|curl/|Wget|Go-http-client|libwww-perl|okhttp|Java/|node-fetch|axios"
    r"|[a-z0-9_.-]*(?<!cu)(?:bot|crawler|spider)\b",  # not the Cubot phones' browsers
    re.IGNORECASE,
)


def is_robot(user_agent: str) -> bool:
    """Whether `user_agent` is a link preview, a crawler or a script rather than a person's browser (none: a robot)."""
    return not user_agent.strip() or _ROBOT_AGENT.search(user_agent) is not None


def why_not_counted(
    method: str,
    headers: Mapping[str, str],
    *,
    scanned_on_delivery: bool,
    last_mail_at: datetime | None,
    now: datetime,
) -> str:
    """Why a hit on a click link is not counted, in words for the log; "" when it counts.

    `headers` with lower-case names (Starlette's are); `last_mail_at`: when the last digest mail went out."""
    if method.upper() != "GET":
        return "not a GET"
    if is_robot(headers.get("user-agent", "")):
        return "a robot's user agent"
    if any(_PREFETCH_WORDS.search(headers.get(name, "")) for name in PREFETCH_HEADERS):
        return "a prefetch"
    if scanned_on_delivery and last_mail_at is not None and now - last_mail_at < timedelta(seconds=MAIL_SCAN_SECONDS):
        return f"within {MAIL_SCAN_SECONDS} seconds of a mail going out"
    return ""


def _followable(url: str) -> bool:
    """An http(s) URL with a host and no user:password part. Feeds are hostile: `https://bank.example@evil.example/`
    goes to evil.example, and a password in a link must not go out in a Location header."""
    parts = urlsplit(url)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.netloc)
        and "@" not in parts.netloc
        and "\\" not in parts.netloc  # browsers read a backslash as a slash: the host would end before it
    )


class ClickLinks:
    """Makes and reads click links on `public_url` (the renderer's link tracker, `bot.render.LinkTracker`)."""

    def __init__(self, public_url: str, signer: TokenSigner) -> None:
        self._base = public_url.rstrip("/")
        self._signer = signer

    def link(self, article_key: str, channel: str, target: str) -> str:
        """The /r/ link of `article_key` on `channel`; `target` itself when it is no http(s) URL to send readers to."""
        if not _followable(target):
            return target
        token = self._signer.make(PURPOSE, article_key, _ISSUED, ttl=None, ref=channel)
        return f"{self._base}{CLICK_PATH.format(token=token)}"

    def read(self, token: str) -> tuple[str, str]:
        """(article key, channel) of a click token; BadToken if forged, tampered with, of another kind, or for a
        channel this newsbot does not have."""
        article_key, channel = self._signer.read_with_ref(token, PURPOSE, _ISSUED)
        if channel not in REGISTRY:
            raise BadToken("names no channel of this newsbot")
        return article_key, channel


def click_links_from_config(config: Config, signing: LinkSigning) -> ClickLinks | None:
    """The click links of `config`, signed by the process's one signer; None with analytics off. A ConfigError
    naming what to set when the secret is unusable."""
    if not config.analytics.enabled:
        return None
    try:
        signer = signing.signer()
    except ConfigError as error:
        raise ConfigError(f"[analytics] enabled = true signs its /r/ links too: {error}") from None
    return ClickLinks(config.web.public_url, signer)


def renderer_of(config: Config, environ: Mapping[str, str], signing: LinkSigning) -> Renderer:
    """The renderer of `config` as posts go out: `bot.render.build_renderer` with the click links when [analytics]
    is on. App, the chat commands and the control room each build theirs with it (once), so an approval preview
    shows the same link and length as the chat preview and the post; a ConfigError naming what to set when the
    secret is unusable. With [summarize] provider = "openai", summaries come from the model (bot.ai_summary), in
    the route's `language`, which tags the posts on Mastodon and Bluesky with or without a model (without one,
    the extractive summary reads each article by its route language's rules)."""
    from bot.ai_summary import model_summaries_from_config
    from bot.route import languages, warnings

    return build_renderer(
        config,
        click_links_from_config(config, signing),
        writer=model_summaries_from_config(config, environ),
        language_of=languages(config),
        warning_of=warnings(config),
    )


class ClickStore(Protocol):
    """What following a click link reads and writes (`bot.store.Store` is one)."""

    def get_article(self, key: str) -> Article | None: ...
    def count_click(self, article_key: str, channel: str, now: datetime) -> None: ...
    def last_digest_mail_at(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class Followed:
    """Where a valid click link sends the reader ("" : the article is unknown), and why it was not counted."""

    target: str
    not_counted: str = ""


class Clicks:
    """What /r/TOKEN does (bot.server answers over HTTP): read the token, find the target, count or not."""

    def __init__(self, links: ClickLinks, config: Config, clock: Callable[[], datetime]) -> None:
        self.links = links
        self._config = config
        self._clock = clock

    def follow(
        self, store: ClickStore, article_key: str, channel: str, method: str, headers: Mapping[str, str]
    ) -> Followed:
        """The target of a click link already read (`links.read`); counts the hit unless `why_not_counted` says not."""
        article = store.get_article(article_key)
        target = with_utm(article.link, self._config.utm(channel)) if article is not None else ""
        if not _followable(target):
            return Followed("")
        now = self._clock()
        scanned = REGISTRY[channel].scanned_on_delivery
        reason = why_not_counted(
            method, headers, scanned_on_delivery=scanned, last_mail_at=store.last_digest_mail_at() if scanned else None,
            now=now,
        )  # fmt: skip
        if not reason:
            store.count_click(article_key, channel, now)
        return Followed(target, reason)


def clicks_from_config(config: Config, signing: LinkSigning, clock: Callable[[], datetime]) -> Clicks | None:
    """What the server's /r/ route needs; None with analytics off."""
    links = click_links_from_config(config, signing)
    return None if links is None else Clicks(links, config, clock)
