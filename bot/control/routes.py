"""The Routes page: the configured routes, described as chat /routes describes them (bot.route.describe_route),
and "where would this article go" for a URL or a pasted page.

    GET  /admin/routes          the routes, and the form
    POST /admin/routes/where    the same page with the answer: the article's hashtags and, per channel in use,
                                the route that takes it, or why none does (bot.route.decide)

The answer only reads: the article is read through bot.probe (a URL as /post URL fetches it, with the same
address rules, refused before any connection; a pasted page parsed without fetching) and is neither stored nor
queued. It is a POST because a pasted page is long; the app checks its CSRF token like any other.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response

from bot import probe
from bot.control.page import ControlContext, Page
from bot.models import Article
from bot.route import decide, describe_route
from bot.urls import MAX_URL_CHARS, is_web_url


@dataclass(frozen=True, slots=True)
class Placement:
    channel: str
    route: str = ""  # the route that takes it there, or "" when none does
    approval: bool = False  # that route holds it for an admin's approval


@dataclass(frozen=True, slots=True)
class Answer:
    article: Article
    placements: tuple[Placement, ...]  # per channel in use
    reason: str  # decide's words: which routes take it, or why none does
    known_as: str  # the key of the same article in the state, or ""


def view(ctx: ControlContext) -> Response:
    return _page(ctx)


def where(ctx: ControlContext) -> Response:
    url, pasted = ctx.field("url").strip(), ctx.field("page")
    try:
        article = _read(ctx, url, pasted)
    except probe.ProbeError as error:
        return _page(ctx, url=url, pasted=pasted, error=str(error), status=400)
    decision = decide(article, ctx.config.routes)
    taken = dict(decision.targets)
    placements = tuple(
        Placement(channel, taken[channel].name, taken[channel].approval) if channel in taken else Placement(channel)
        for channel in ctx.config.channels_in_use()
    )
    reason = decision.reason[:1].upper() + decision.reason[1:]
    known = ctx.store.find_article_key(article.aliases) or ""
    return _page(ctx, url=url, pasted=pasted, answer=Answer(article, placements, reason, known))


def _read(ctx: ControlContext, url: str, pasted: str) -> Article:
    if url and pasted.strip():
        raise probe.ProbeError("Give either a URL or a pasted page, not both: clear one of them.")
    if url:
        if not is_web_url(url):
            raise probe.ProbeError(
                f"That is not an http:// or https:// URL of at most {MAX_URL_CHARS} characters: check it."
            )
        return probe.article_at_url(ctx.config, url, ctx.now)
    return probe.article_from_paste(pasted, ctx.now)


def _page(
    ctx: ControlContext,
    *,
    url: str = "",
    pasted: str = "",
    error: str = "",
    answer: Answer | None = None,
    status: int = 200,
) -> Response:
    return ctx.render(
        "routes",
        title="Routes",
        status=status,
        routes=[describe_route(ctx.config, route) for route in ctx.config.routes],
        url=url,
        pasted=pasted,
        error=error,
        answer=answer,
        url_max=MAX_URL_CHARS,
        paste_max=probe.PASTE_MAX_CHARS,
    )


PAGE = Page(path="/routes", title="Routes", view=view, actions={"where": where})
