"""Routing: which channels an article goes to, for whom, and when. Pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot import keywords
from bot.channels import REGISTRY
from bot.config import Config, RouteConfig
from bot.hashtags import normalize
from bot.models import Article
from bot.store import OutboxItem


def is_own_target(channel: str, recipient: str) -> bool:
    """A channel's own post ("channel", or "channel:<entry>" for a further Telegram chat or topic), not a subscriber."""
    return REGISTRY[channel].is_own_target(recipient)


@dataclass(frozen=True, slots=True)
class Decision:
    """Where an article goes and, when it goes nowhere, why (for `newsbot once -v`)."""

    targets: tuple[tuple[str, RouteConfig], ...]  # (channel, the route that sends it there)
    reason: str


def matches(route: RouteConfig, article: Article) -> bool:
    """All of the route's rules hold: its hashtags, its keywords and its pattern."""
    return not _mismatch(route, {normalize(t) for t in article.hashtags}, _Text(article))


def _mismatch(route: RouteConfig, article_tags: set[str], text: _Text) -> str:
    """Why the route does not take the article ("" when it does)."""
    if any(normalize(t) in article_tags for t in route.exclude):
        return "an excluded hashtag"
    wanted = {normalize(t) for t in route.hashtags}
    if "*" not in wanted and not wanted & article_tags:
        return "no hashtag matches"
    if not route.filters_text:
        return ""
    if route.keywords and not keywords.contains_any(text.folded, [keywords.fold(k) for k in route.keywords]):
        return "none of its keywords occurs"
    excluded = [k for k in route.exclude_keywords if keywords.contains_any(text.folded, [keywords.fold(k)])]
    if excluded:
        return f"it contains the excluded keyword “{excluded[0]}”"
    if route.pattern and not keywords.pattern_matches(route.pattern, text.article.title, text.article.text):
        return "its pattern does not match"
    return ""


class _Text:
    """An article's text folded for keyword search, once per article and only if a route asks for it."""

    def __init__(self, article: Article) -> None:
        self.article = article
        self._folded: str | None = None

    @property
    def folded(self) -> str:
        if self._folded is None:
            self._folded = keywords.searchable(self.article.title, self.article.text, self.article.summary)
        return self._folded


def warnings(config: Config) -> Callable[[Article, str], str]:
    """The content warning of an article's posts on a channel: the `spoiler_text` of the route that takes it
    there (`decide`), "" for none."""
    return _of_taking_route(config, lambda route: route.spoiler_text)


def languages(config: Config) -> Callable[[Article, str], str]:
    """The language of an article's posts on a channel: the `language` of the route that takes it there
    (`decide`), "" when that route names none. A [summarize] model writes their summaries in it, and without one
    the extractive summary reads the article in it; channels with a language field tag the posts with it."""
    return _of_taking_route(config, lambda route: route.language)


def _of_taking_route(config: Config, value: Callable[[RouteConfig], str]) -> Callable[[Article, str], str]:
    """`value` of the route that takes an article to a channel, "" when none does (or no route gives one)."""
    if not any(value(route) for route in config.routes):
        return lambda article, channel: ""

    def value_of(article: Article, channel: str) -> str:
        route = dict(decide(article, config.routes).targets).get(channel)
        return value(route) if route is not None else ""

    return value_of


def decide(article: Article, routes: Sequence[RouteConfig]) -> Decision:
    """Each channel is taken by the first route (in config order) that matches the article."""
    article_tags = {normalize(t) for t in article.hashtags}
    text = _Text(article)
    targets: dict[str, RouteConfig] = {}
    misses: list[str] = []
    for route in routes:
        miss = _mismatch(route, article_tags, text)
        if miss:
            misses.append(f"{_describe(route)} ({miss})")
            continue
        for channel in route.channels:
            targets.setdefault(channel, route)
    if targets:
        names = ", ".join(f"{c} via {r.name}" for c, r in targets.items())
        return Decision(tuple(targets.items()), f"routed to {names}")
    shown = " ".join("#" + t for t in article.hashtags) or "no hashtags"
    if not routes:
        return Decision((), "no [[routes]] are configured")
    return Decision((), f"no route matches ({shown}); routes want: " + "; ".join(misses))


def _describe(route: RouteConfig) -> str:
    wanted = " ".join(t if t == "*" else "#" + t for t in route.hashtags)
    excluded = f" except {' '.join('#' + t for t in route.exclude)}" if route.exclude else ""
    return f"{route.name}: {wanted}{excluded}{describe_word_rules(route)}"


def describe_word_rules(route: RouteConfig) -> str:
    """The route's keyword and pattern rules in words, each after a space ("" when it has none)."""
    words = f" with any of {_quoted(route.keywords)}" if route.keywords else ""
    unwanted = f" without {_quoted(route.exclude_keywords)}" if route.exclude_keywords else ""
    pattern = f" matching the pattern “{route.pattern}”" if route.pattern else ""
    return f"{words}{unwanted}{pattern}"


@dataclass(frozen=True, slots=True)
class RouteDescription:
    """A configured route in words (plain text: each medium escapes it): chat /routes and the control room's
    Routes page both show these."""

    name: str
    wanted: str  # "*" (every article) or "#Breaking #World"
    excluded: str  # "#Sports", or ""
    word_rules: str  # describe_word_rules without its leading space, or ""
    channels: tuple[str, ...]  # each as its registry entry describes it for this route: "telegram (@news)"
    slots: str  # "at 09:00 Europe/Berlin, 1 per slot", or "" (posted as soon as found)
    templates: tuple[tuple[str, str], ...]  # (channel, template file)
    approval: str  # "held for an admin's approval; skipped after 6 h", or "" (no approval)


def describe_route(config: Config, route: RouteConfig) -> RouteDescription:
    return RouteDescription(
        name=route.name,
        wanted="*" if "*" in route.hashtags else _hashtags(route.hashtags),
        excluded=_hashtags(route.exclude),
        word_rules=describe_word_rules(route).strip(),
        channels=tuple(REGISTRY[channel].described(config, route) for channel in route.channels),
        slots=f"at {', '.join(route.at)} {route.timezone}, {route.per_slot} per slot" if route.at else "",
        templates=tuple(route.template.items()),
        approval=_approval(route),
    )


def _hashtags(tags: Sequence[str]) -> str:
    return " ".join(f"#{tag.lstrip('#')}" for tag in tags)


def _approval(route: RouteConfig) -> str:
    if not route.approval:
        return ""
    if route.approval_timeout is None:
        return "held for an admin's approval, however long it takes"
    outcome = "skipped" if route.on_timeout == "skip" else "approved"
    return f"held for an admin's approval; {outcome} after {_duration(route.approval_timeout)} without one"


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds()) // 60
    for unit, size in (("d", 1440), ("h", 60)):
        if minutes % size == 0:
            return f"{minutes // size} {unit}"
    return f"{minutes} min"


def _quoted(words: Sequence[str]) -> str:
    return ", ".join(f"“{word}”" for word in words)


def next_slot(route: RouteConfig, now: datetime) -> datetime:
    """The first posting slot of the route at or after `now` (now itself when the route has no slots)."""
    if not route.at:
        return now
    zone = ZoneInfo(route.timezone)
    local_now = now.astimezone(zone)
    for day in range(0, 3):
        date = local_now.date() + timedelta(days=day)
        for slot in route.at:
            hour, minute = (int(p) for p in slot.split(":"))
            # fold=0 and a round trip through UTC settle slots that fall in a DST gap or overlap.
            candidate = datetime.combine(date, time(hour, minute), tzinfo=zone)
            if candidate >= local_now:
                return candidate.astimezone(now.tzinfo)
    raise AssertionError("a daily slot always exists within two days")


def outbox_items(article: Article, decision: Decision, now: datetime) -> list[OutboxItem]:
    """One (article, channel, recipient) row per decision target, in its order, to the channel's own recipient; the
    channel's further own recipients (`Channel.recipients`) and its subscribers are added by the caller."""
    return [
        OutboxItem(
            article_key=article.key,
            channel=channel,
            recipient=REGISTRY[channel].own_recipient,
            route=route.name,
            template=route.template.get(channel, ""),
            not_before=next_slot(route, now),
        )
        for channel, route in decision.targets
    ]
