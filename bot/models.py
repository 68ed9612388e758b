"""Small immutable values passed between the parts of the pipeline. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Entry:
    """One item exactly as a source sees it, before identity and hashtags are worked out."""

    title: str
    link: str = ""
    text: str = ""  # plain text; paragraphs separated by a blank line
    guid: str = ""
    tags: tuple[str, ...] = ()  # categories / tags / hashtag-line words as the source gives them
    published: datetime | None = None  # timezone-aware, UTC
    image_url: str = ""
    image_alt: str = ""  # the feed's text for the image (bot.alttext.clean_alt); "" if it gives none


@dataclass(frozen=True, slots=True)
class Article:
    """A story newsbot knows about: identity settled, hashtags collected."""

    key: str  # short stable id, shown to admins and used in commands
    source: str
    title: str
    link: str
    text: str
    hashtags: tuple[str, ...]  # as written, de-duplicated case-insensitively
    published: datetime | None
    first_seen: datetime
    image_url: str = ""
    image_alt: str = ""  # the feed's text for the image, cleaned; "" if it gives none (posts then use the title)
    aliases: tuple[str, ...] = ()  # every identity under which this story may be seen again
    summary: str = ""  # an admin's summary (an approval's Edit): posts use it instead of summarizing `text`


@dataclass(frozen=True, slots=True)
class ShareLink:
    network: str  # "x", "telegram", "facebook", "linkedin", "whatsapp", "email"
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class Post:
    """What one channel will publish for one article: rendered, within the channel's limits."""

    article_key: str
    channel: str
    text: str
    length: int  # as the channel counts it (visible characters, weighted characters, ...)
    limit: int
    share_links: tuple[ShareLink, ...] = ()
    image_url: str = ""
    image_alt: str = ""  # the image's text for people who cannot see it: the feed's, else the article's title
    source: str = ""  # the article's source's name: its image is fetched under that source's address rule
    recipient: str = ""
    parts: tuple[str, ...] = ()  # a thread: the posts in order (text is then the first); empty for one post
    posted: tuple[str, ...] = ()  # remote ids of the parts already posted by an earlier, interrupted attempt
    language: str = ""  # the language of its text when its route says ("de", "pt-BR"); "": not known
    content_warning: str = ""  # shown before the text where the channel has content warnings; "": none
    link: str = ""  # the article's link as the text carries it (UTM parameters, click link); "": none
    title: str = ""  # the article's title, whole (a link card's: the text may shorten it or start elsewhere)
    # The whole URLs the text (and parts) write short, in order (PostFormat.short_links: Bluesky's), the article's
    # link among them where the template shows it: the publisher links each short text to its URL.
    short_links: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Receipt:
    """The remote side's confirmation that a post was delivered."""

    remote_id: str
    detail: str = ""
    extra: dict[str, str] = field(default_factory=dict)
