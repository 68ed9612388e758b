"""Sources (/admin/sources): every source (config file and added) with its poll state, error and what to do;
add one (Preview first: what the URL yields now), pause, resume, remove (added ones, after a confirmation).

What each action decides is bot.source_admin's, which chat's /addsource, /removesource, /pausesource and
/resumesource call too: the same checks, the same SSRF-guarded fetch, the same messages.

    POST /admin/sources/preview  url, hashtags     the page again, with the first entries of the URL
    POST /admin/sources/add      url, hashtags     add it (checked again), back to the page
    POST /admin/sources/pause    name              /resume likewise
    GET  /admin/sources/remove?name=               "Remove NAME?" with the button that does
    POST /admin/sources/remove   name
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Final

from starlette.responses import Response

from bot import alerts, source_admin
from bot.control import filters
from bot.control.page import ControlContext, Page
from bot.hashtags import HashtagError, parse_hashtags
from bot.logs import kv
from bot.models import Entry
from bot.store import SourceState
from bot.urls import http_url_problem, redact_url, redact_urls_in

log = logging.getLogger("newsbot.control")

ENTRIES_SHOWN: Final = 5
ERROR_CHARS: Final = 300


@dataclass(frozen=True, slots=True)
class SourceRow:
    name: str
    url: str  # redacted
    hashtags: tuple[str, ...]
    added: str  # "" for a config file's source, else "by 4242 on 2026-01-02"
    state: SourceState  # last_error redacted and shortened
    check: str  # the command that checks its URL
    otherwise: str  # the other way out


@dataclass(frozen=True, slots=True)
class AddForm:
    """The add form as the admin left it, with what is wrong and (after Preview) what the URL yields."""

    url: str = ""
    hashtags: str = ""
    url_problem: str = ""
    hashtags_problem: str = ""
    entries: list[Entry] | None = None  # None: not previewed
    total: int = 0
    parsed_tags: list[str] = field(default_factory=list)


def view(ctx: ControlContext) -> Response:
    return _page(ctx, AddForm())


def _page(ctx: ControlContext, form: AddForm, status: int = 200) -> Response:
    return ctx.render("sources", title="Sources", status=status, sources=_rows(ctx), form=form)


def _rows(ctx: ControlContext) -> list[SourceRow]:
    added = {s.name: s for s in ctx.store.added_sources()}
    listed = [(s.name, s.url, s.hashtags, "") for s in ctx.config.sources] + [
        (s.name, s.url, s.hashtags, f"by {s.added_by} on {s.added_at:%Y-%m-%d}") for s in added.values()
    ]
    rows = []
    for name, url, hashtags, how in listed:
        state = ctx.store.source_state(name)
        error = redact_urls_in(state.last_error)[:ERROR_CHARS]
        check, otherwise = alerts.source_fix(ctx.config, name, url)
        rows.append(SourceRow(name, redact_url(url), hashtags, how, replace(state, last_error=error), check, otherwise))
    return rows


# --- adding ----------------------------------------------------------------------------------------------


def preview(ctx: ControlContext) -> Response:
    form, url, tags = _read_form(ctx)
    if form.url_problem or form.hashtags_problem:
        return _page(ctx, form, status=400)
    try:
        entries = source_admin.preview(ctx.config, ctx.store, url)
    except source_admin.SourceRefused as refused:
        return _page(ctx, _refused(form, refused), status=400)
    shown = AddForm(form.url, form.hashtags, entries=entries[:ENTRIES_SHOWN], total=len(entries), parsed_tags=tags)
    return _page(ctx, shown)


def add(ctx: ControlContext) -> Response:
    form, url, tags = _read_form(ctx)
    if form.url_problem or form.hashtags_problem:
        return _page(ctx, form, status=400)
    try:
        added = source_admin.add(ctx.config, ctx.store, url, tags, added_by=str(ctx.admin_id), now=ctx.now)
    except source_admin.SourceRefused as refused:
        return _page(ctx, _refused(form, refused), status=400)
    log.info("%s", kv(event="source_added", source=added.name, admin=ctx.admin_id, via="control"))
    return ctx.redirect(
        "/sources",
        notice=f"Added source {added.name} ({len(added.entries)} entries found now). Its existing entries are only"
        " marked seen; new ones are posted.",
    )


def _read_form(ctx: ControlContext) -> tuple[AddForm, str, list[str]]:
    """The add form's fields, checked by the rules chat uses (bot.urls, bot.hashtags)."""
    url, raw_tags = ctx.field("url").strip(), ctx.field("hashtags").strip()
    url_problem = "Give the feed's or page's URL." if not url else http_url_problem(url)
    try:
        tags, tags_problem = parse_hashtags(raw_tags), ""
    except HashtagError as error:
        tags, tags_problem = [], f"{error} Nothing was added."
    return AddForm(url, raw_tags, url_problem=url_problem, hashtags_problem=tags_problem), url, tags


def _refused(form: AddForm, refused: source_admin.SourceRefused) -> AddForm:
    return AddForm(form.url, form.hashtags, url_problem=str(refused))


# --- pausing and removing --------------------------------------------------------------------------------


def pause(ctx: ControlContext) -> Response:
    return _set_paused(ctx, True)


def resume(ctx: ControlContext) -> Response:
    return _set_paused(ctx, False)


def _set_paused(ctx: ControlContext, paused: bool) -> Response:
    try:
        name = _source_name(ctx.field("name"))
        source_admin.set_paused(ctx.config, ctx.store, name, paused)
    except source_admin.SourceRefused as refused:
        return ctx.redirect("/sources", notice=str(refused))
    log.info("%s", kv(event="source_paused" if paused else "source_resumed", source=name, admin=ctx.admin_id))
    done = "paused: it is not polled until you resume it" if paused else "resumed: it is polled when next due"
    return ctx.redirect("/sources", notice=f"{name} is {done}.")


def confirm_remove(ctx: ControlContext) -> Response:
    """The confirmation step: what would be removed, and the one button that removes it."""
    try:
        name = _source_name(ctx.request.query_params.get("name", ""))
        source_admin.check_removable(ctx.config, ctx.store, name)
    except source_admin.SourceRefused as refused:
        return ctx.redirect("/sources", notice=str(refused))
    source = next(s for s in ctx.store.added_sources() if s.name == name)
    return ctx.render("source_remove", title=f"Remove {name}?", source=source, url=redact_url(source.url))


def remove(ctx: ControlContext) -> Response:
    try:
        name = _source_name(ctx.field("name"))
        source_admin.remove(ctx.config, ctx.store, name, ctx.now)
    except source_admin.SourceRefused as refused:
        return ctx.redirect("/sources", notice=str(refused))
    log.info("%s", kv(event="source_removed", source=name, admin=ctx.admin_id, via="control"))
    return ctx.redirect("/sources", notice=f"Removed source {name}.")


def _source_name(given: str) -> str:
    """`given`, if it could name a source; SourceRefused for control characters or an overlong text, which no
    source name has (and a notice quoting them back could not be kept in a PostgreSQL state)."""
    try:
        return filters.text({"name": given}, "name", "The source name")
    except filters.BadFilter as bad:
        raise source_admin.SourceRefused(f"Nothing was changed: {bad}") from None


PAGE = Page(
    path="/sources",
    title="Sources",
    view=view,
    actions={"preview": preview, "add": add, "pause": pause, "resume": resume, "remove": remove},
    views={"remove": confirm_remove},
)
