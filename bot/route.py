"""Routing: which channels an article goes to, for whom, and when. Pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.channels import REGISTRY
from bot.config import RouteConfig
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


def matches(route: RouteConfig, article_tags: set[str]) -> bool:
    if any(normalize(t) in article_tags for t in route.exclude):
        return False
    wanted = {normalize(t) for t in route.hashtags}
    return "*" in wanted or bool(wanted & article_tags)


def decide(article: Article, routes: Sequence[RouteConfig]) -> Decision:
    """Each channel is taken by the first route (in config order) that matches the article."""
    article_tags = {normalize(t) for t in article.hashtags}
    targets: dict[str, RouteConfig] = {}
    for route in routes:
        if matches(route, article_tags):
            for channel in route.channels:
                targets.setdefault(channel, route)
    if targets:
        names = ", ".join(f"{c} via {r.name}" for c, r in targets.items())
        return Decision(tuple(targets.items()), f"routed to {names}")
    shown = " ".join("#" + t for t in article.hashtags) or "no hashtags"
    if not routes:
        return Decision((), "no [[routes]] are configured")
    return Decision((), f"no route matches ({shown}); routes want: " + "; ".join(_describe(r) for r in routes))


def _describe(route: RouteConfig) -> str:
    wanted = " ".join(t if t == "*" else "#" + t for t in route.hashtags)
    excluded = f" except {' '.join('#' + t for t in route.exclude)}" if route.exclude else ""
    return f"{route.name}: {wanted}{excluded}"


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
