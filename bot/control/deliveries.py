"""Deliveries (/admin/deliveries): what went out, failed, was skipped or waits, per article, channel and recipient,
newest first, and the CSV export of a filter.

    GET /admin/deliveries?article=&channel=&recipient=&outcome=&after=CURSOR   one page, "Next page" by cursor
    GET /admin/deliveries/export.csv?<the same, no cursor>                    every row the filter selects, streamed

The rows are the store's deliveries list (bot.store.reports: posts from the outbox, digest mails from the digest
ledger). A field that cannot be used, or a damaged page link, gets the page back with what is wrong (status 400).
Error texts are shown with URL credentials redacted and shortened, the whole text one click away (<details>);
long titles are cut at a word's end (bot.control.cells), the whole title in the link's accessible name and tooltip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from starlette.responses import Response

from bot.channels import NAMES
from bot.control import cells, filters
from bot.control.exports import csv_download, delivery_rows
from bot.control.page import ControlContext, Page
from bot.store import STATES
from bot.store.reports import PAGE_SIZE, DeliveryCursor, DeliveryFilter, DeliveryRecord
from bot.urls import redact_urls_in

ERROR_SHOWN: Final = 80  # characters of an error in the table; the rest behind "more"
TITLE_SHOWN: Final = 60  # characters of a title in the table: three lines of its 12rem column
_FIELDS: Final = ("article", "channel", "recipient", "outcome")


@dataclass(frozen=True, slots=True)
class Shown:
    """A row as the table shows it."""

    record: DeliveryRecord
    link: str  # the article's own link if it is a web address, else ""
    title: str  # the article's title (its key if it has none), or "Digest <id>"
    title_short: str  # "" when `title` is short enough to show whole
    error: str  # redacted
    error_short: str  # "" when `error` is short enough to show whole


def read_filter(params: Mapping[str, str]) -> tuple[DeliveryFilter, DeliveryCursor | None, dict[str, str]]:
    """The filter, the page cursor and the fields (for links) a query string asks for; filters.BadFilter if not."""
    fields = {
        "article": filters.text(params, "article", "The article key"),
        "channel": filters.choice(params, "channel", "Channel", NAMES),
        "recipient": filters.text(params, "recipient", "The recipient"),
        "outcome": filters.choice(params, "outcome", "Outcome", STATES),
    }
    after = params.get("after", "")
    try:
        cursor = DeliveryCursor.parse(after) if after else None
    except ValueError as bad:
        raise filters.BadFilter(f"This page link is damaged or out of date: {bad}.") from None
    return DeliveryFilter(**fields), cursor, fields


def view(ctx: ControlContext) -> Response:
    try:
        where, after, fields = read_filter(ctx.request.query_params)
    except filters.BadFilter as bad:
        shown = {name: ctx.request.query_params.get(name, "") for name in _FIELDS}
        return _page(ctx, shown, error=str(bad), status=400)
    page = ctx.store.deliveries(where, after, PAGE_SIZE)
    next_page = filters.link_query({**fields, "after": page.next.token}) if page.next else ""
    return _page(ctx, fields, rows=[_shown(r) for r in page.rows], paged=after is not None, next_page=next_page)


def _page(ctx: ControlContext, fields: Mapping[str, str], *, status: int = 200, **values: object) -> Response:
    return ctx.render(
        "deliveries",
        title="Deliveries",
        status=status,
        fields=fields,
        filtered=any(fields.values()),
        channels=NAMES,
        outcomes=STATES,
        max_chars=filters.MAX_FIELD_CHARS,
        query=filters.link_query(fields) if status == 200 else "",
        **{"rows": [], "paged": False, "next_page": "", "error": "", **values},
    )


def _shown(record: DeliveryRecord) -> Shown:
    error = redact_urls_in(record.error)
    short = error[: ERROR_SHOWN - 1] + "…" if len(error) > ERROR_SHOWN else ""
    link = record.link if record.link.startswith(("https://", "http://")) else ""
    title = record.title or record.article_key
    title_short = cells.short_title(title, TITLE_SHOWN) if len(title) > TITLE_SHOWN else ""
    return Shown(record, link, title, title_short, error, short)


def export(ctx: ControlContext) -> Response:
    try:
        where, _after, _fields = read_filter(ctx.request.query_params)
    except filters.BadFilter as bad:
        shown = {name: ctx.request.query_params.get(name, "") for name in _FIELDS}
        return _page(ctx, shown, error=str(bad), status=400)
    return csv_download(
        ctx.open_store,
        "deliveries",
        ctx.now.date().isoformat(),
        lambda store: delivery_rows(store.iter_deliveries(where)),
    )


PAGE = Page(path="/deliveries", title="Deliveries", view=view, views={"export.csv": export})
