"""The page contract of the control room: what a page is (`Page`) and what its handlers get (`ControlContext`).

See the package docstring (bot/control/__init__.py) for how to add a page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from bot.approvals import ApprovalStore
from bot.config import Config
from bot.control.auth import SessionStore
from bot.render import Renderer
from bot.source_admin import SourceAdminStore
from bot.stats import StatsStore
from bot.status import StatusStore

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from bot.store import Approval, Subscriber
    from bot.store.reports import (
        DeliveryCursor,
        DeliveryFilter,
        DeliveryPage,
        DeliveryRecord,
        HashtagCounts,
        SubscriberFilter,
        SubscriberRecord,
    )

__all__ = ["ControlContext", "ControlStore", "Handler", "Page"]


class ControlStore(SessionStore, ApprovalStore, StatusStore, SourceAdminStore, StatsStore, Protocol):
    """What the control room reads and writes (`bot.store.Store` is one): sign-in and sessions, and what its pages
    ask of the state, their own and through the parts they share with the chat commands (approvals, status,
    sources, stats)."""

    def close(self) -> None: ...
    def set_admin_notice(self, session_hash: str, notice: str) -> None: ...
    def is_paused(self) -> bool: ...
    def set_paused(self, paused: bool) -> None: ...
    def queue_counts(self) -> dict[tuple[str, str], int]: ...
    def outcome_counts_since(self, since: datetime) -> dict[tuple[str, str], int]: ...
    def find_article_key(self, aliases: Iterable[str]) -> str | None: ...
    def get_approval(self, approval_id: int) -> Approval | None: ...
    def waiting_approvals(self, limit: int = 50) -> list[Approval]: ...
    def decided_approvals(self, limit: int = 20) -> list[Approval]: ...
    def subscriber(self, channel: str, address: str) -> Subscriber | None: ...
    def deactivate_subscriber(self, channel: str, address: str, reason: str, now: datetime) -> bool: ...
    def deliveries(
        self, where: DeliveryFilter, after: DeliveryCursor | None = None, limit: int = ...
    ) -> DeliveryPage: ...
    def iter_deliveries(self, where: DeliveryFilter, batch: int = ...) -> Iterator[DeliveryRecord]: ...
    def find_subscribers(
        self, where: SubscriberFilter, before_id: int | None = None, limit: int = ...
    ) -> list[SubscriberRecord]: ...
    def iter_found_subscribers(self, where: SubscriberFilter, batch: int = ...) -> Iterator[SubscriberRecord]: ...
    def hashtag_counts(self) -> list[HashtagCounts]: ...


@dataclass(frozen=True, slots=True)
class ControlContext:
    """What a page's handler gets: one request of a signed-in admin, whose POST (if any) passed the CSRF and Origin
    checks already. Handlers are plain functions, run in the thread pool; `store` is opened for this request and
    closed after it (SQLite or PostgreSQL)."""

    request: Request
    config: Config
    store: ControlStore
    now: datetime  # the clock, read once for the request
    clock: Callable[[], datetime]
    admin_id: int
    csrf_token: str  # the session's; `render` puts it in every template as `csrf_token`
    form: FormData | None  # a POST's fields; None for a GET
    base: str  # the control room's path as the browser sees it, "/admin" (or behind a proxy, "/prefix/admin")
    renderer: Callable[..., Response]  # fills the layout; use `render`
    leave_notice: Callable[[str], None]  # stores the notice the next page shows; use `redirect`
    # A store of its own for work that goes on after the handler returned (a streamed CSV export), when `store`
    # is closed already: open it inside the stream and close it there.
    open_store: Callable[[], ControlStore]
    # Renders an article's posts as the channels get them: built once per app the way App builds its renderer
    # (bot.clicks.renderer_of: with [analytics] on, the /r/ click links), so a preview here matches chat's and the post.
    posts: Renderer

    def render(self, template: str, *, title: str, status: int = 200, **values: Any) -> Response:
        """`templates/admin/<template>.html.j2` (which extends base.html.j2) as a page titled `title`."""
        return self.renderer(self, template, title=title, status=status, **values)

    def redirect(self, path: str, notice: str = "") -> Response:
        """303 to `path` (under /admin: "/" is the overview), showing `notice` once there (role=status).

        With a notice, the URL ends in `#notice`: the browser moves focus to it, so a screen reader reads what the
        action did (a live region present when the page loads is not announced) and Tab goes on from there."""
        from starlette.responses import RedirectResponse

        url = self.url(path)
        if notice:
            self.leave_notice(notice)
            url = url.split("#", 1)[0] + "#notice"
        return RedirectResponse(url, status_code=303)

    def url(self, path: str) -> str:
        """The browser's URL of `path` under the control room ("/approvals" → "/admin/approvals")."""
        return self.base + (path if path.startswith("/") else f"/{path}")

    def field(self, name: str) -> str:
        """A POST field's text ("" when missing or a file)."""
        value = self.form.get(name) if self.form is not None else None
        return value if isinstance(value, str) else ""


Handler = Callable[[ControlContext], Response]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of the control room, listed once in `bot.control.registry.PAGES` (nav order).

    `path` is under /admin ("/" for the overview, "/approvals", ...); `view` answers GET `path`. Each of `actions`
    answers POST `path/<name>` ("/approvals/approve"), and each of `views` answers GET `path/<name>` (a CSV
    export, a detail page). POSTs reach their handler only with a signed-in session, the session's CSRF token in
    the form field `csrf_token` and no foreign Origin; the app checks that in one place, before any handler.
    """

    path: str
    title: str  # in the nav and the page's <title>
    view: Handler
    actions: Mapping[str, Handler] = field(default_factory=lambda: MappingProxyType({}))
    views: Mapping[str, Handler] = field(default_factory=lambda: MappingProxyType({}))
