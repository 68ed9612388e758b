"""Subscribers (/admin/subscribers): search by chat id or address, active subscribers per hashtag, unsubscribe,
and the CSV export of a search.

    GET  /admin/subscribers?q=&match=prefix|exact&channel=&status=active|inactive&after=ID   search (newest first)
    GET  /admin/subscribers/export.csv?<the same>     every subscriber the search finds, streamed
    GET  /admin/subscribers/unsubscribe?channel=&address=   "Unsubscribe …?" with one button (changes nothing)
    POST /admin/subscribers/unsubscribe               channel, address: unsubscribe

Unsubscribing is the store call /stop and the digest's unsubscribe link make (`deactivate_subscriber`): what
waits in the outbox for them (queued, or held for approval) is skipped in the same transaction. A search field
that cannot be used (bot.control.filters) gets the page back with what is wrong, status 400, and no query.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from starlette.responses import Response

from bot.channels import REGISTRY
from bot.control import filters
from bot.control.exports import csv_download, subscriber_rows
from bot.control.page import ControlContext, Page
from bot.logs import kv
from bot.store.reports import PAGE_SIZE, HashtagCounts, SubscriberFilter

log = logging.getLogger("newsbot.control")

ADMIN_REASON: Final = "unsubscribed by an admin"
CHANNELS: Final = tuple(name for name, described in REGISTRY.items() if described.csv_columns)  # with subscribers
STATUSES: Final = ("active", "inactive")
MATCHES: Final = ("prefix", "exact")
TAGS_SHOWN: Final = 30  # per channel; the rest is counted in one line
_BAD_PAGE: Final = "This page link is damaged or out of date. Start again from the first page of the search."


@dataclass(frozen=True, slots=True)
class Search:
    where: SubscriberFilter
    before: int | None  # the next page: ids below this
    fields: Mapping[str, str]  # the search as the form and its links carry it (no page)


def read_search(params: Mapping[str, str]) -> Search:
    """The search a query string asks for; filters.BadFilter says what is wrong with it."""
    query = filters.text(params, "q", "The chat id or address")
    match = filters.choice(params, "match", "Match", MATCHES) or "prefix"
    channel = filters.choice(params, "channel", "Channel", CHANNELS)
    status = filters.choice(params, "status", "Status", STATUSES)
    after = params.get("after", "").strip()
    if after and not (after.isascii() and after.isdigit() and len(after) <= 18):
        raise filters.BadFilter(_BAD_PAGE)
    active = None if not status else status == "active"
    where = SubscriberFilter(query=query, prefix=match == "prefix", channel=channel, active=active)
    fields = {"q": query, "match": match if query else "", "channel": channel, "status": status}
    return Search(where, int(after) if after else None, fields)


def view(ctx: ControlContext) -> Response:
    params = ctx.request.query_params
    try:
        search = read_search(params)
    except filters.BadFilter as bad:
        return _page(ctx, dict(params), error=str(bad), status=400)
    found = ctx.store.find_subscribers(search.where, search.before, PAGE_SIZE + 1)
    rows = found[:PAGE_SIZE]
    next_page = ""
    if len(found) > PAGE_SIZE:
        next_page = filters.link_query({**search.fields, "after": str(rows[-1].id)})
    return _page(ctx, search.fields, rows=rows, searched=True, paged=search.before is not None, next_page=next_page)


def _page(ctx: ControlContext, fields: Mapping[str, str], *, status: int = 200, **values: object) -> Response:
    kept = {name: fields.get(name, "") for name in ("q", "match", "channel", "status")}
    return ctx.render(
        "subscribers",
        title="Subscribers",
        status=status,
        fields=kept,
        channels=CHANNELS,
        statuses=STATUSES,
        max_chars=filters.MAX_FIELD_CHARS,
        query=filters.link_query(kept) if status == 200 else "",
        counts=[_shown_counts(c) for c in ctx.store.hashtag_counts()],
        tags_shown=TAGS_SHOWN,
        **{"rows": [], "searched": False, "paged": False, "next_page": "", "error": "", **values},
    )


def _shown_counts(counts: HashtagCounts) -> tuple[HashtagCounts, int]:
    """The channel's counts with its TAGS_SHOWN most followed hashtags, and how many more there are."""
    more = max(0, len(counts.tags) - TAGS_SHOWN)
    return HashtagCounts(counts.channel, counts.everything, counts.tags[:TAGS_SHOWN]), more


def export(ctx: ControlContext) -> Response:
    try:
        search = read_search(ctx.request.query_params)
    except filters.BadFilter as bad:
        return _page(ctx, dict(ctx.request.query_params), error=str(bad), status=400)
    where = search.where
    return csv_download(
        ctx.open_store,
        "subscribers",
        ctx.now.date().isoformat(),
        lambda store: subscriber_rows(store.iter_found_subscribers(where), where.channel),
    )


def confirm(ctx: ControlContext) -> Response:
    """The confirmation step: who would be unsubscribed, and one button. Reading it changes nothing."""
    try:
        channel, address = _subscriber_named(ctx.request.query_params)
    except filters.BadFilter as bad:
        return _page(ctx, {}, error=str(bad), status=400)
    subscriber = ctx.store.subscriber(channel, address)
    if subscriber is None:
        return _page(ctx, {}, error=f"There is no {channel} subscriber {address}. Search for them again.", status=404)
    back = filters.link_query({"q": subscriber.address, "match": "exact", "channel": channel})
    return ctx.render("subscribers_unsubscribe", title="Unsubscribe?", subscriber=subscriber, back=back)


def unsubscribe(ctx: ControlContext) -> Response:
    """Unsubscribe, as /stop does: inactive, and what waits for them in the outbox skipped."""
    fields = {"channel": ctx.field("channel"), "address": ctx.field("address")}
    try:
        channel, address = _subscriber_named(fields)
    except filters.BadFilter as bad:
        return ctx.redirect("/subscribers", notice=f"Nothing was changed: {bad}")
    back = "/subscribers" + filters.link_query({"q": address, "match": "exact", "channel": channel})
    if not ctx.store.deactivate_subscriber(channel, address, ADMIN_REASON, ctx.now):
        return ctx.redirect(back, notice=f"{address} ({channel}) was not subscribed, so nothing was changed.")
    log.info("%s", kv(event="admin_unsubscribed", admin=ctx.admin_id, channel=channel))
    return ctx.redirect(
        back, notice=f"{address} ({channel}) is unsubscribed: nothing more is sent to them, and what waited is skipped."
    )


def _subscriber_named(fields: Mapping[str, str]) -> tuple[str, str]:
    channel = filters.choice(fields, "channel", "Channel", CHANNELS)
    address = filters.text(fields, "address", "The chat id or address")
    if not channel or not address:
        raise filters.BadFilter("Say which subscriber: a channel and a chat id or address. Search for them first.")
    return channel, address


PAGE = Page(
    path="/subscribers",
    title="Subscribers",
    view=view,
    actions={"unsubscribe": unsubscribe},
    views={"export.csv": export, "unsubscribe": confirm},
)
