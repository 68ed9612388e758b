"""Posts and digests from articles: one Jinja environment, and each channel's escaping and length rules.

Article text is always passed to templates as data, never compiled, so it cannot inject template syntax.
Escaping is the channel's job, not the templates': each channel's `PostFormat` (bot/channels/) escapes every
string before the template sees it (for Telegram with `telegram_html.escape`, marked safe), cleans feed text
(on X the title, summary and text carry no mention or link of the feed's making, `bot.xtext.neutralize`: the
only link is the article's own) and measures the result (on Bluesky with every link written short, the whole
URLs handed on in `Post.short_links`); the digest HTML relies on Jinja's autoescape.
Nothing here branches on a channel's name: its limits and habits come from its descriptor.

Context of an article template (telegram.html.j2, x.txt.j2, email_item.txt.j2):
    title, summary, text (the whole article text, on X its first 280 characters; a template that prints it must
    keep it short, as the renderer can only shorten the summary), link (with the channel's UTM parameters; with a
    `LinkTracker`, [analytics] on, the click link that leads there: share links keep the article's own),
    hashtags (strings "#Tag"), share_links (ShareLink), source, published (datetime or None), image_url.
Context of the digest templates (digest.html.j2, digest.txt.j2):
    title, period, preheader, article_count, unsubscribe_url, preferences_url, and groups: each with
    `heading` and `items`, an item being the article context above plus `text` (its email_item.txt.j2).
A template of the same name in the user's template directory replaces the packaged one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Protocol

import bot
from bot.bidi import marked_for_direction
from bot.channels import NAMES, REGISTRY, Channel, PostFormat, ThreadSettings
from bot.config import Config
from bot.errors import ConfigError, RenderError
from bot.hashtags import normalize, unique, without_trailing_tags
from bot.models import Article, Post, ShareLink
from bot.share import share_links, with_utm
from bot.summarize import (
    DEFAULT_LANGUAGE,
    LanguageSummarizers,
    Summarizer,
    default_summarizer,
    split_sentences,
    summary_language,
)

if TYPE_CHECKING:
    import jinja2

__all__ = [
    "DEFAULT_SUMMARY_CHARS",
    "TEMPLATES",
    "Digest",
    "DigestGroup",
    "LinkTracker",
    "Overflow",
    "Renderer",
    "SummaryWriter",
    "build_environment",
    "check_templates",
    "measured",
    "packaged_templates_dir",
    "shorten_at_word",
    "with_warning",
]

DEFAULT_SUMMARY_CHARS: Final[Mapping[str, int]] = MappingProxyType(
    {name: described.default_summary_chars for name, described in REGISTRY.items()}
)
TEMPLATES: Final[Mapping[str, str]] = MappingProxyType(
    {name: described.template for name, described in REGISTRY.items()}
)
DIGEST_HTML_TEMPLATE: Final = "digest.html.j2"
DIGEST_TEXT_TEMPLATE: Final = "digest.txt.j2"
UNTAGGED_HEADING: Final = "More news"
ELLIPSIS: Final = "…"
_PREHEADER_TITLES: Final = 3
SUMMARY_CACHE_SIZE: Final = 4096
_LAST_PARTIAL_WORD: Final = re.compile(r"\s\S*$")
_TRAILING_JUNK: Final = " \t\n,;:-\u2013\u2014"


@dataclass(frozen=True, slots=True)
class Digest:
    subject: str
    html: str
    text: str
    article_count: int
    css_inlined: bool = False  # the HTML's CSS is already in style attributes (bot.email.contents)


def packaged_templates_dir() -> Path:
    """The templates shipped with newsbot: inside the package in a wheel, at the repo top in a checkout."""
    package = Path(bot.__file__).parent
    inside = package / "templates"
    return inside if inside.is_dir() else package.parent / "templates"


def build_environment(template_dir: Path | None = None) -> jinja2.Environment:
    """The one Jinja environment: the user's templates first, the packaged ones second."""
    import jinja2  # imported here: ~15 ms to import; a command that renders nothing does not pay for it

    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(template_dir)] if template_dir else []
    loaders.append(jinja2.FileSystemLoader(packaged_templates_dir()))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
    )


class LinkTracker(Protocol):
    """Writes an article's link as readers get it (bot.clicks.ClickLinks: the /r/ link that counts the click)."""

    def link(self, article_key: str, channel: str, target: str) -> str: ...


class SummaryWriter(Protocol):
    """Summaries written by a language model (bot.ai_summary.ModelSummaries): at most `max_chars` characters in
    `language` ("" for the article's own), or None where the extractive summary must do."""

    def summary(self, text: str, max_chars: int, language: str = "") -> str | None: ...
    def close(self) -> None: ...


# The language of an article's posts on a channel ("" not known): its route's (bot.route.languages). A model
# writes their summary in it, else it is the article's (see `Renderer._summary_language`); channels with a
# language field tag the post with it.
LanguageOf = Callable[[Article, str], str]
# The extractive summarizer for articles in a language (bot.summarize.LanguageSummarizers.for_language).
SummarizerFor = Callable[[str], Summarizer]
# The content warning an article's posts on a channel go out with ("" none): its route's (bot.route.warnings).
WarningOf = Callable[[Article, str], str]
# Room kept free when a model is asked for the space a post leaves: the blank line before the summary.
_SUMMARY_SEPARATION: Final = 2


@dataclass(frozen=True, slots=True)
class _Draft:
    """The parts of a post that fitting may shorten."""

    title: str
    summary: str
    hashtags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Overflow:
    """How far a summary goes over a channel's hard limit (`Renderer.overflow`; 0: it fits), and that limit.
    `sentence`: on a channel that threads a long summary, the sentence too long for a post of its own ("" when
    `over` is the whole post's)."""

    over: int
    limit: int
    sentence: str = ""


@dataclass(frozen=True, slots=True)
class _Attempt:
    text: str
    length: int
    short_links: tuple[str, ...] = ()  # the whole URLs the text writes short (PostFormat.short_links)


# Makes the draft for a budget of characters, and says how many characters of the budget it used.
_Drafter = Callable[[int], tuple[_Draft, int]]


@dataclass(frozen=True, slots=True)
class DigestGroup:
    """Articles shown under one heading in the digest: a hashtag ("#World") or "More news"."""

    heading: str
    items: list[dict[str, object]]


@dataclass(frozen=True, slots=True)
class _Job:
    """One article being rendered for one channel."""

    article: Article
    channel: str
    rules: Channel
    template: str
    title: str  # the article's title and text as the channel may show them
    text: str
    link: str
    share_links: tuple[ShareLink, ...]
    limit: int  # what the text may measure: the channel's limit less its content warning
    warning: str  # the content warning it goes out with ("" none)
    language: str  # the language its route gives ("" none)


class Renderer:
    def __init__(
        self,
        *,
        summarizer: Summarizer,
        template_dir: Path | None = None,
        utm: Mapping[str, Mapping[str, str]] | None = None,
        summary_chars: Mapping[str, int] | None = None,
        threads: Mapping[str, ThreadSettings] | None = None,
        links: LinkTracker | None = None,
        writer: SummaryWriter | None = None,
        language_of: LanguageOf | None = None,
        before_first_use: Callable[[Renderer], None] | None = None,
        limits: Mapping[str, int] | None = None,
        warning_of: WarningOf | None = None,
        summarizer_for: SummarizerFor | None = None,
    ) -> None:
        """`utm` and `summary_chars` are per channel, e.g. {"x": {"utm_source": "x"}} and {"x": 200}.

        With `threads` (per channel), a summary longer than one post goes out as a thread there. With `links`, the
        article links of posts and digests are the tracker's (click counts), share links the article's own. With
        `writer`, summaries come from a model (in the language `language_of` gives), the summarizer's where it has
        none; a post asks it once, for the room the post leaves, and shortens its summary with the summarizer.
        Each post carries the language `language_of` gives, model or not (Post.language). Without a `writer`, that
        language is the article's: with `summarizer_for`, the article is summarised by its summarizer for that
        language (`summarizer` shortens a model's summaries, and summarises every article without one of the two).
        `before_first_use` runs once, when the first template is loaded (`build_renderer` checks every template
        the config uses then, so a broken one stops the first render, not each post in turn).
        `limits` replaces a channel's hard limit (its `max_length` as the config sets it; `use_limit` as its service
        announces it). With `warning_of`, a channel with content warnings shows the route's, counted in its limit.
        """
        for setting, channels in (("utm", utm or {}), ("summary_chars", summary_chars or {})):
            for channel in channels:
                _check_channel(channel, f"{setting} names ")
        self._summarizer = summarizer
        self._utm = {channel: dict(params) for channel, params in (utm or {}).items()}
        self._summary_chars = {**DEFAULT_SUMMARY_CHARS, **(summary_chars or {})}
        self._template_dir = template_dir
        self._jinja: jinja2.Environment | None = None  # built at the first template used (see `_env`)
        self._before_first_use = before_first_use
        self._threads = dict(threads or {})
        self._links = links
        self._summaries: dict[tuple[str, int, int, str], str] = {}
        self._written: dict[tuple[str, int, int, str], str | None] = {}
        self._writer = writer
        self._language_of = language_of
        self._limits = dict(limits or {})
        self._warning_of = warning_of
        self._summarizer_for = summarizer_for

    def close(self) -> None:
        """Close what the summary writer holds open (a model's HTTP client and state connections), if any."""
        if self._writer is not None:
            self._writer.close()

    def use_limit(self, channel: str, limit: int) -> None:
        """Posts on `channel` measure at most `limit` from now on (as its service announces it)."""
        _check_channel(channel)
        self._limits[channel] = limit

    @property
    def _env(self) -> jinja2.Environment:
        """The Jinja environment, built when first needed: `newsbot once` with nothing due renders nothing."""
        if self._jinja is None:
            self._jinja = build_environment(self._template_dir)
        if self._before_first_use is not None:
            check, self._before_first_use = self._before_first_use, None  # it loads templates through `_env` too
            try:
                check(self)
            except BaseException:
                self._before_first_use = check  # still to pass: the next render tries again
                raise
        return self._jinja

    def template_problem(self, name: str) -> str:
        """What is wrong with template `name` (not found, bad syntax), or "" if it loads."""
        import jinja2  # imported here: see build_environment

        try:
            self._env.get_template(name)
        except jinja2.TemplateNotFound:
            return _not_found(name)
        except jinja2.TemplateSyntaxError as error:
            return f"template {name!r} line {error.lineno}: {error.message}"
        return ""

    def template_missing(self, name: str) -> str:
        """`template_problem` without Jinja: only whether the file is in the templates folder or packaged."""
        folders = [folder for folder in (self._template_dir, packaged_templates_dir()) if folder is not None]
        return "" if any((folder / name).is_file() for folder in folders) else _not_found(name)

    # --- one article, one channel ----------------------------------------------------------------

    def render(self, article: Article, channel: str, *, template: str | None = None, caption: bool = False) -> Post:
        """The post for `article` on `channel`, within the channel's limit (a caption's, if `caption`)."""
        job = self._job(article, channel, template, caption)
        rules = job.rules
        thread_settings = self._threads.get(channel)
        if thread_settings is not None:
            thread = self._thread(job, thread_settings)
            if len(thread) > 1:
                return Post(
                    article_key=article.key,
                    channel=channel,
                    text=thread[0].text,
                    length=max(part.length for part in thread),
                    limit=job.limit,
                    share_links=job.share_links,
                    image_url=article.image_url,
                    image_alt=article.image_alt or article.title,
                    link=job.link,
                    title=article.title,
                    source=article.source,
                    parts=tuple(part.text for part in thread),
                    short_links=tuple(url for part in thread for url in part.short_links),
                    language=job.language,
                    content_warning=job.warning,
                )
        attempt = self._render_unlimited(job) if rules.limit is None else self._fit(job)
        return Post(
            article_key=article.key,
            channel=channel,
            text=attempt.text,
            length=attempt.length,
            limit=job.limit,
            share_links=job.share_links,
            image_url=article.image_url,
            image_alt=article.image_alt or article.title,
            link=job.link,
            title=article.title,
            source=article.source,
            short_links=attempt.short_links,
            language=job.language,
            content_warning=job.warning,
        )

    def overflow(self, article: Article, channel: str, *, template: str | None = None) -> Overflow:
        """How far the post with the article's own `summary`, whole, goes over the channel's hard limit (0: it
        fits; the link and hashtags included), and that limit (a caption's when it goes out with its image).
        Where the channel threads a long summary, it goes out whole as long as each sentence fits a post of its own
        (`_thread` shortens only a sentence that does not): then the overflow is the longest sentence's, and
        `Overflow.sentence` names it. Overflow(0, 0) for a channel without a hard limit."""
        job = self._job(article, channel, template, caption=False)
        if job.rules.limit is None:
            return Overflow(0, 0)
        attempt = self._attempt(job, _Draft(job.title, article.summary, _hashtags(article)))
        over = max(0, attempt.length - job.limit)
        if not over or channel not in self._threads:
            return Overflow(over, job.limit)
        post_format = job.rules.post_format
        language = self._summary_language(article, channel)
        sentences = split_sentences(self._summarize(article, len(article.summary), channel), language=language)
        measured = [(post_format.finish(post_format.clean(s))[1] - job.limit, s) for s in sentences]
        over, sentence = max(measured, default=(0, ""), key=lambda pair: pair[0])
        return Overflow(over, job.limit, sentence) if over > 0 else Overflow(0, job.limit)

    def _job(self, article: Article, channel: str, template: str | None, caption: bool) -> _Job:
        _check_channel(channel)
        rules = REGISTRY[channel]
        # A channel that sends an article with an image as a photo gives its caption the smaller limit.
        caption = caption or (rules.caption_limit is not None and bool(article.image_url))
        own, shown = self._links_of(article, channel)
        title, text = _source_title_and_text(article, rules)
        warning = self._warning_of(article, channel) if self._warning_of and rules.content_warnings else ""
        return _Job(
            article=article,
            channel=channel,
            rules=rules,
            template=template or rules.template,
            title=title,
            text=text,
            link=shown,
            share_links=share_links(own, article.title),
            limit=self._limit(rules, caption) - (rules.post_format.finish(warning)[1] if warning else 0),
            warning=warning,
            language=self._language_of(article, channel) if self._language_of else "",
        )

    def _links_of(self, article: Article, channel: str) -> tuple[str, str]:
        """The article's own link as `channel` writes it (UTM parameters), and the link its readers get."""
        own = with_utm(article.link, self._utm.get(channel, {}))
        shown = own if self._links is None or not own else self._links.link(article.key, channel, own)
        return own, shown

    def _limit(self, rules: Channel, caption: bool) -> int:
        if caption and rules.caption_limit is not None:
            return rules.caption_limit
        return self._summary_chars[rules.name] if rules.limit is None else self._limits.get(rules.name, rules.limit)

    def _render_unlimited(self, job: _Job) -> _Attempt:
        # No hard limit (email): the budget bounds the summary, and the summarizer already keeps to it.
        summary = self._summarize(job.article, max(job.limit, len(job.article.summary)), job.channel)
        draft = _Draft(job.title, summary, _hashtags(job.article))
        text = self._render_template(job, draft, job.rules.post_format.escape)
        return _Attempt(text.strip(), len(summary))

    def _fit(self, job: _Job) -> _Attempt:
        """Shorten the summary, then the title, then (on X) drop hashtags until it fits; the link stays."""
        full = _Draft(job.title, "", _hashtags(job.article))
        start = max(self._summary_chars[job.channel], len(job.article.summary))
        attempt = self._shrink(job, self._summary_drafter(job, full, start), start=start, floor=0)
        return attempt if attempt is not None else self._fit_without_summary(job)

    def _fit_without_summary(self, job: _Job) -> _Attempt:
        """The title (shortened if it must be), the link and hashtags (on X dropped until it fits)."""
        full = _Draft(job.title, "", _hashtags(job.article))
        plans = _title_plans(job.rules.min_title_chars, full.hashtags)
        tries = (
            self._shrink(job, _title_drafter(full, tags), start=len(full.title), floor=floor) for tags, floor in plans
        )
        attempt = next((found for found in tries if found is not None), None)
        if attempt is None:
            hashtags = "all hashtags" if job.rules.min_title_chars is None else "no hashtags"
            raise RenderError(
                f"article {job.article.key!r} does not fit channel {job.channel!r} (limit {job.limit}) "
                f"even with no summary, the title shortened to nothing and {hashtags}; "
                f"the template {job.template!r} or the hashtags are too long"
            )
        return attempt

    def _thread(self, job: _Job, settings: ThreadSettings) -> list[_Attempt]:
        """The summary of `settings.summary_chars` as a chain of posts; the link and hashtags ride on one of them.

        One post when it all fits in one. Sentences are never split between posts; a sentence too long for a
        post of its own is shortened at a word boundary.
        """
        budget = max(settings.summary_chars, len(job.article.summary))
        language = self._summary_language(job.article, job.channel)
        sentences = split_sentences(self._summarize(job.article, budget, job.channel), language=language)
        full = _Draft(job.title, " ".join(sentences), _hashtags(job.article))
        whole = self._attempt(job, full)
        if not sentences or whole.length <= job.limit:
            return [self._fit(job)]
        order = sentences if settings.link_first else list(reversed(sentences))
        carried: list[str] = []  # the sentences that go with the link, in document order
        for sentence in order:
            candidate = [*carried, sentence] if settings.link_first else [sentence, *carried]
            if self._attempt(job, replace(full, summary=" ".join(candidate))).length > job.limit:
                break
            carried = candidate
        rest = sentences[len(carried) :] if settings.link_first else sentences[: len(sentences) - len(carried)]
        # No sentence fits beside the link: the other posts carry them all, so the link's post has none (a summary
        # shortened there would show its first sentence twice, cut and then whole).
        link_post = (
            self._attempt(job, replace(full, summary=" ".join(carried))) if carried else self._fit_without_summary(job)
        )
        post_format = job.rules.post_format
        plain = [_Attempt(text, post_format.finish(text)[1]) for text in _pack(rest, job.limit, post_format)]
        return [link_post, *plain] if settings.link_first else [*plain, link_post]

    def _summary_drafter(self, job: _Job, full: _Draft, start: int) -> _Drafter:
        written = self._written_for_room(job, full, start)

        def draft(budget: int) -> tuple[_Draft, int]:
            if written is None:
                summary = self._summarize(job.article, budget, job.channel)
            else:  # shorter budgets while fitting: the model's own sentences, not another request
                summary = written if len(written) <= budget else self._summarizer.summarize(written, budget)
            return replace(full, summary=summary), len(summary)

        return draft

    def _written_for_room(self, job: _Job, full: _Draft, start: int) -> str | None:
        """The model's summary for the room the post leaves (at most `start` characters); None without one."""
        if self._writer is None or job.article.summary:
            return None
        room = job.limit - self._attempt(job, full).length - _SUMMARY_SEPARATION
        return self._written_summary(job.article, min(start, room), job.channel)

    def _written_summary(self, article: Article, budget: int, channel: str) -> str | None:
        if self._writer is None or article.summary or budget <= 0:
            return None
        language = self._language_of(article, channel) if self._language_of else ""
        key = (article.key, budget, hash(article.text), language)
        if key not in self._written:
            if len(self._written) >= SUMMARY_CACHE_SIZE:
                self._written.clear()
            self._written[key] = self._writer.summary(article.text, budget, language)
        return self._written[key]

    def _shrink(self, job: _Job, drafter: _Drafter, *, start: int, floor: int) -> _Attempt | None:
        """Lower the budget by the overflow until the draft fits; None once it cannot go below `floor`."""
        budget = start
        while True:
            draft, size = drafter(budget)
            attempt = self._attempt(job, draft)
            if attempt.length <= job.limit:
                return attempt
            if size <= floor:
                return None
            # min(): even a summarizer that ignores its budget cannot keep this loop going forever.
            budget = max(floor, min(budget - 1, size - max(1, attempt.length - job.limit)))

    def _attempt(self, job: _Job, draft: _Draft) -> _Attempt:
        post_format = job.rules.post_format
        # Only what feed text says is cleaned: the link and the hashtags go out as the channel writes them.
        draft = replace(draft, title=post_format.clean(draft.title), summary=post_format.clean(draft.summary))
        try:
            rendered = self._render_template(job, draft, post_format.escape)
            text, length = post_format.finish(rendered)
        except ValueError as error:
            raise RenderError(
                f"template {job.template!r} made invalid {post_format.markup_name} for article"
                f" {job.article.key!r}: {error}"
            ) from error
        return _Attempt(text, length, post_format.short_links(rendered))

    def _render_template(self, job: _Job, draft: _Draft, safe: Callable[[str], str]) -> str:
        context = _article_context(job.article, draft, job.text, job.link, job.share_links, safe)
        return self._render(job.template, context)

    def _summarize(self, article: Article, budget: int, channel: str) -> str:
        """The summary `channel` shows, without the hashtags it ends in that the hashtag line shows."""
        return without_trailing_tags(self._summary_of(article, budget, channel), _hashtags(article))

    def _summary_of(self, article: Article, budget: int, channel: str) -> str:
        if budget <= 0:
            return ""
        if article.summary:  # an admin's own words (an approval's Edit): used as written, cut only if they must be
            return shorten_at_word(article.summary, budget)
        written = self._written_summary(article, budget, channel)
        if written is not None:
            return written
        # A digest run summarises the same few articles for every subscriber: remember the recent results.
        language = self._summary_language(article, channel)
        key = (article.key, budget, hash(article.text), language)
        summary = self._summaries.get(key)
        if summary is None:
            if len(self._summaries) >= SUMMARY_CACHE_SIZE:
                self._summaries.clear()
            summarizer = self._summarizer if self._summarizer_for is None else self._summarizer_for(language)
            summary = self._summaries[key] = summarizer.summarize(article.text, budget)
        return summary

    def _summary_language(self, article: Article, channel: str) -> str:
        """The language the extractive summary reads `article` in: its route's (bot.summarize.summary_language)
        when no model writes the summaries; with one, the route's language is what the model writes, not what the
        article is in, so English as without a route language."""
        if self._writer is not None or self._language_of is None or self._summarizer_for is None:
            return DEFAULT_LANGUAGE
        return summary_language(self._language_of(article, channel))

    def _render(self, template: str, context: Mapping[str, object]) -> str:
        import jinja2  # imported here: see build_environment (already imported by `_env` by now)

        try:
            return self._env.get_template(template).render(context)
        except jinja2.TemplateError as error:
            raise RenderError(f"template {template!r}: {error}") from error

    # --- the email digest ------------------------------------------------------------------------

    def render_digest(
        self,
        articles: Sequence[Article],
        *,
        title: str,
        period: str | None = None,
        unsubscribe_url: str = "",
        preferences_url: str = "",
        reader_hashtags: Sequence[str] = (),
    ) -> Digest:
        """The digest email for `articles`, in both HTML and text, in sections by hashtag (see `_sections`).

        The header and the subject give `period`, by default the dates of the stories themselves (`story_period`).
        """
        items = [(article, self._digest_item(article)) for article in articles]
        period = story_period(articles) if period is None else period
        context = {
            "title": title,
            "period": period,
            "preheader": " · ".join(article.title for article in articles[:_PREHEADER_TITLES]),
            "article_count": len(articles),
            "groups": _sections(items, reader_hashtags),
            "unsubscribe_url": unsubscribe_url,
            "preferences_url": preferences_url,
        }
        return Digest(
            subject=f"{title} — {period}" if period else title,
            html=self._render(DIGEST_HTML_TEMPLATE, context),
            text=self._render(DIGEST_TEXT_TEMPLATE, context).strip() + "\n",
            article_count=len(articles),
        )

    def _digest_item(self, article: Article) -> dict[str, object]:
        own, shown = self._links_of(article, "email")
        shares = share_links(own, article.title)
        summary = self._summarize(article, max(self._summary_chars["email"], len(article.summary)), "email")
        draft = _Draft(article.title, summary, _hashtags(article))
        context = _article_context(article, draft, article.text, shown, shares, _plain)
        context["text"] = self._render(TEMPLATES["email"], context).strip()
        return context


def with_warning(post: Post, text: str) -> str:
    """`text` of `post` as a preview shows it: after its content warning ("CW: …"), which readers see first."""
    return f"CW: {post.content_warning}\n\n{text}" if post.content_warning else text


def measured(post: Post) -> tuple[int, int]:
    """The post's length and limit as its service counts them: the content warning counted in both (a rendered
    post's `length` and `limit` are its text's alone)."""
    if not post.content_warning:
        return post.length, post.limit
    warning = REGISTRY[post.channel].post_format.finish(post.content_warning)[1]
    return post.length + warning, post.limit + warning


def _source_title_and_text(article: Article, rules: Channel) -> tuple[str, str]:
    """The title and text a channel's template gets: on X, no more of each than a post can show, the text cleaned.

    No more than X_LIMIT characters of either can show in an X post (each weighs at least 1, but for the parts of
    an emoji sequence), and twitter-text's link finder slows down badly on long runs of dots, so neither is
    measured whole. The title is cleaned with the summary in each attempt (see `Renderer._attempt`).
    """
    if rules.source_chars is None:
        return article.title, article.text
    return shorten_at_word(article.title, rules.source_chars), rules.post_format.clean(
        shorten_at_word(article.text, rules.source_chars)
    )


def _pack(sentences: Sequence[str], limit: int, post_format: PostFormat) -> list[str]:
    """Sentences into as few posts of at most `limit` (as the channel counts) as possible, in order, cleaned as the
    channel cleans feed text (on X: without mentions and links, see `bot.xtext.neutralize`)."""

    def length(text: str) -> int:
        return post_format.finish(text)[1]

    posts: list[str] = []
    for sentence in sentences:
        sentence = post_format.clean(sentence)
        if length(sentence) > limit:
            sentence = _shorten_measured(sentence, limit, post_format)
        joined = f"{posts[-1]} {sentence}" if posts else sentence
        if posts and length(joined) <= limit:
            posts[-1] = joined
        else:
            posts.append(sentence)
    return [post for post in posts if post]


def _shorten_measured(text: str, limit: int, post_format: PostFormat) -> str:
    budget = len(text)
    while budget > 0:
        shortened = post_format.clean(shorten_at_word(text, budget))  # a cut can leave a new mention: "@ab@cd" → "@a…"
        length = post_format.finish(shortened)[1]
        if length <= limit:
            return shortened
        budget -= max(1, length - limit)
    return ""


def _check_channel(channel: str, where: str = "") -> None:
    if channel not in REGISTRY:
        raise ValueError(f"{where}unknown channel {channel!r}: expected one of {', '.join(REGISTRY)}")


def _plain(text: str) -> str:
    return text


def _article_context(
    article: Article, draft: _Draft, text: str, link: str, shares: Sequence[ShareLink], safe: Callable[[str], str]
) -> dict[str, object]:
    return {
        "title": safe(marked_for_direction(draft.title)),
        "summary": safe(marked_for_direction(draft.summary)),
        "text": safe(text),
        "link": safe(link),
        "hashtags": [safe(tag) for tag in draft.hashtags],
        "share_links": [ShareLink(s.network, safe(s.label), safe(s.url)) for s in shares],
        "source": safe(article.source),
        "published": article.published,
        "image_url": safe(article.image_url),
    }


def _hashtags(article: Article) -> tuple[str, ...]:
    return tuple(f"#{tag.lstrip('#')}" for tag in article.hashtags if tag.lstrip("#"))


def _title_plans(min_title_chars: int | None, hashtags: tuple[str, ...]) -> list[tuple[tuple[str, ...], int]]:
    """(hashtags to keep, shortest title allowed) to try in turn once the summary is gone: with
    `min_title_chars`, hashtags go one by one before the title is shortened below it."""
    if min_title_chars is None:
        return [(hashtags, 0)]
    fewer_and_fewer = [(hashtags[:count], min_title_chars) for count in range(len(hashtags), -1, -1)]
    return [*fewer_and_fewer, ((), 0)]


def _title_drafter(full: _Draft, hashtags: tuple[str, ...]) -> _Drafter:
    def draft(budget: int) -> tuple[_Draft, int]:
        title = shorten_at_word(full.title, budget)
        return replace(full, title=title, hashtags=hashtags), len(title)

    return draft


def shorten_at_word(title: str, max_chars: int) -> str:
    """`title` cut at a word boundary to at most `max_chars` characters, ending in "…" if cut."""
    if len(title) <= max_chars:
        return title
    room = max_chars - len(ELLIPSIS)
    if room <= 0:
        return ""
    head = title[:room]
    partial_word = _LAST_PARTIAL_WORD.search(head)
    if not title[room].isspace() and partial_word:
        head = head[: partial_word.start()]
    # Without a space in reach (Chinese, Japanese, one very long word) the title is cut between characters.
    head = head.rstrip(_TRAILING_JUNK)
    return head + ELLIPSIS if head else ""


def story_period(articles: Sequence[Article]) -> str:
    """The dates of `articles`, oldest to newest, as each story shows its date: "10 – 12 Nov 2026", "" for none.

    The stories' own dates, not the weeks since the last digest: a digest sent on 2 December with stories of
    10–12 November says "10 – 12 Nov 2026", not "25 Nov – 2 Dec".
    """
    days = sorted((article.published or article.first_seen).date() for article in articles)
    if not days:
        return ""
    first, last = days[0], days[-1]
    end = f"{last.day} {last:%b %Y}"
    if first == last:
        return end
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day} – {end}"
    if first.year == last.year:
        return f"{first.day} {first:%b} – {end}"
    return f"{first.day} {first:%b %Y} – {end}"


def _sections(items: Sequence[tuple[Article, dict[str, object]]], reader_hashtags: Sequence[str]) -> list[DigestGroup]:
    """The digest's sections: one per hashtag the reader chose (in the order they are given), "More news" last.

    A story goes under the first of its own hashtags that the reader chose, so a reader of #Politics #Science
    never gets a section for a story's other tag (#Space). A reader without hashtags (everything) gets a section
    per story's first hashtag, in order of first appearance. A story with none of them goes under "More news".
    """
    chosen = _spellings(reader_hashtags)
    groups: dict[str, DigestGroup] = {}
    more = DigestGroup(UNTAGGED_HEADING, [])
    for article, item in items:
        written = _spellings(article.hashtags)
        key = next((key for key in written if key in chosen or not chosen), None)
        if key is None:
            more.items.append(item)
            continue
        heading = _heading(chosen.get(key, written[key]), written[key])
        groups.setdefault(key, DigestGroup(heading, [])).items.append(item)
    ordered = [groups[key] for key in chosen if key in groups] if chosen else list(groups.values())
    return [*ordered, *([more] if more.items else [])]


def _spellings(tags: Sequence[str]) -> dict[str, str]:
    """Each tag's comparison form → its first spelling (without '#'), in order."""
    return {normalize(tag): tag for tag in unique(tags)}


def _heading(chosen: str, written: str) -> str:
    """A section's "#Tag" as the reader wrote it, or as the story does if the reader typed it all in lower case
    (#technews → #TechNews): never upper-cased, so CamelCase stays readable."""
    return "#" + (written if chosen.islower() else chosen)


def _not_found(name: str) -> str:
    return f"template {name!r} not found in the templates folder or the packaged templates"


def check_templates(config: Config, renderer: Renderer, *, files_only: bool = False) -> None:
    """Every template the config will use loads, so a typo shows at start-up, not at the first post. With
    `files_only`, only that each file is there: no Jinja import, nothing compiled (`newsbot once` with nothing to
    render; `build_renderer` compiles them all before its first render)."""
    wanted = [
        (f"routes[{i}].template.{channel}", name)
        for i, route in enumerate(config.routes)
        for channel, name in route.template.items()
    ]
    wanted += [("templates.dir", name) for name in (*TEMPLATES.values(), DIGEST_HTML_TEMPLATE, DIGEST_TEXT_TEMPLATE)]
    for key, name in wanted:
        problem = renderer.template_missing(name) if files_only else renderer.template_problem(name)
        if problem:
            folder = config.templates.dir or "[templates] dir"
            raise ConfigError(f"{config.path or 'config'}: {key}: {problem}; put the file in {folder} or fix the name")


def build_renderer(
    config: Config,
    links: LinkTracker | None = None,
    *,
    writer: SummaryWriter | None = None,
    language_of: LanguageOf | None = None,
    warning_of: WarningOf | None = None,
) -> Renderer:
    """The one renderer for `config`: its templates, share-link UTM tags, summary lengths and X threads; `links`:
    the click links when [analytics] is on (bot.clicks.click_links_from_config); `writer` and `language_of`: the
    model's summaries when [summarize] has one (bot.ai_summary), else the language each article is summarised in
    (bot.summarize.summary_language); `warning_of`: the routes' content warnings (bot.route.warnings)."""
    return Renderer(
        summarizer=default_summarizer(),
        template_dir=config.templates.dir,
        utm={channel: config.utm(channel) for channel in NAMES},
        summary_chars=config.summary_chars(),
        threads={name: settings for name in NAMES if (settings := REGISTRY[name].thread(config)) is not None},
        links=links,
        writer=writer,
        language_of=language_of,
        before_first_use=lambda renderer: check_templates(config, renderer),
        limits={name: limit for name in NAMES if (limit := REGISTRY[name].max_length(config)) is not None},
        warning_of=warning_of,
        summarizer_for=LanguageSummarizers().for_language,
    )
