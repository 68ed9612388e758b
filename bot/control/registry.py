"""The control room's pages, once each, in nav order: Overview, Approval, Sources, Routes, Subscribers,
Deliveries, Stats. A new page is a module of bot/control with a `PAGE`, and one line here."""

from __future__ import annotations

from typing import Final

from bot.control import approvals, deliveries, overview, routes, sources, stats, subscribers
from bot.control.page import Page

PAGES: Final[tuple[Page, ...]] = (
    overview.PAGE,
    approvals.PAGE,
    sources.PAGE,
    routes.PAGE,
    subscribers.PAGE,
    deliveries.PAGE,
    stats.PAGE,
)
