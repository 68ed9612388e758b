"""Approval (/admin/approvals): the articles waiting for an admin's decision, each as it will look on every channel
of its route, with Approve, Edit (the summary) and Skip; below, the latest decisions.

Every decision goes through bot.approvals, as a press in chat does: `decide` settles it once (of two admins — in
chat, in two tabs — one wins; the other is told who decided what and when) and edits every admin's chat preview
to say so; `edit_summary` checks the summary with `summary_problems` and updates the previews.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from starlette.responses import Response

from bot import approvals
from bot.approvals import ChannelPreview
from bot.control.page import ControlContext, Page
from bot.logs import kv
from bot.models import Article
from bot.store import APPROVED, SKIPPED_DECISION, Approval

log = logging.getLogger("newsbot.control")

WAITING_SHOWN: Final = 50
DECIDED_SHOWN: Final = 20
_ID_DIGITS: Final = 18


@dataclass(frozen=True, slots=True)
class Waiting:
    approval: Approval
    article: Article
    channels: list[ChannelPreview]
    muted: list[str]  # subscribers' mute words in it: those subscribers are skipped when it is approved
    on_timeout: str  # "approve" or "skip": what happens at the deadline
    summary: str  # the summary in the edit field: the admin's rejected text, else the article's own
    problems: list[str] = field(default_factory=list)  # why the summary sent last does not fit


@dataclass(frozen=True, slots=True)
class Decided:
    approval: Approval
    title: str
    who: str  # "admin 4242", "timeout": the table's By column


def view(ctx: ControlContext) -> Response:
    return _page(ctx)


def _page(ctx: ControlContext, rejected: tuple[int, str, list[str]] | None = None, status: int = 200) -> Response:
    waiting = [
        _waiting(ctx, approval, rejected)
        for approval in ctx.store.waiting_approvals(WAITING_SHOWN)
        if ctx.store.get_article(approval.article_key) is not None
    ]
    decided = [_decided(ctx, approval) for approval in ctx.store.decided_approvals(DECIDED_SHOWN)]
    return ctx.render("approvals", title="Approval", status=status, waiting=waiting, decided=decided)


def _waiting(ctx: ControlContext, approval: Approval, rejected: tuple[int, str, list[str]] | None) -> Waiting:
    article = ctx.store.get_article(approval.article_key)
    assert article is not None
    route = approvals.route_of(ctx.config, approval.route)
    summary, problems = (rejected[1], rejected[2]) if rejected and rejected[0] == approval.id else ("", [])
    return Waiting(
        approval=approval,
        article=article,
        channels=approvals.channel_previews(ctx.posts, ctx.config, article, approval),
        muted=approvals.muted_words_in(ctx.store, article, route),
        on_timeout=route.on_timeout if route else "skip",
        summary=summary or article.summary or article.text,
        problems=problems,
    )


def _decided(ctx: ControlContext, approval: Approval) -> Decided:
    article = ctx.store.get_article(approval.article_key)
    who = "timeout" if approval.decided_by == approvals.TIMEOUT_ADMIN else f"admin {approval.decided_by}"
    return Decided(approval, article.title if article else approval.article_key, who)


def approve(ctx: ControlContext) -> Response:
    return _decide(ctx, APPROVED)


def skip(ctx: ControlContext) -> Response:
    return _decide(ctx, SKIPPED_DECISION)


def _decide(ctx: ControlContext, decision: str) -> Response:
    approval = _approval(ctx)
    if approval is None:
        return ctx.redirect("/approvals", notice=_UNKNOWN)
    if approval.decision:
        return ctx.redirect("/approvals", notice=already(approval))
    first = approvals.decide(ctx.store, ctx.posts, ctx.config, approval.id, decision,
                             str(ctx.admin_id), ctx.now)  # fmt: skip
    if first is not None:
        return ctx.redirect("/approvals", notice=already(first))
    log.info("%s", kv(event="approval_decided", approval=approval.id, decision=decision, admin=ctx.admin_id,
                      via="control"))  # fmt: skip
    return ctx.redirect("/approvals", notice=f"{_title(ctx, approval)}: {decision}.")


def edit(ctx: ControlContext) -> Response:
    approval = _approval(ctx)
    if approval is None:
        return ctx.redirect("/approvals", notice=_UNKNOWN)
    summary = ctx.field("summary").replace("\r\n", "\n").strip()  # a textarea's line breaks are CR LF
    if not summary:
        return _page(ctx, (approval.id, summary, ["Write a summary, or leave this item as it is."]), status=400)
    try:
        problems = approvals.edit_summary(ctx.store, ctx.posts, ctx.config, approval.id, summary,
                                          ctx.admin_id, ctx.now, in_chat=False)  # fmt: skip
    except approvals.NotWaiting as gone:
        return ctx.redirect("/approvals", notice=already(gone.approval) if gone.approval else _UNKNOWN)
    if problems:
        return _page(ctx, (approval.id, summary, problems), status=400)
    log.info("%s", kv(event="approval_edited", approval=approval.id, admin=ctx.admin_id, via="control"))
    return ctx.redirect("/approvals", notice=f"{_title(ctx, approval)}: summary saved; it still waits for approval.")


def already(approval: Approval) -> str:
    """What a late decision is told: who decided what, and when (nothing changed)."""
    when = _when(approval.decided_at)
    return f"Nothing changed: it was already {approval.decision} {approvals.decided_by(approval)} at {when}."


def _approval(ctx: ControlContext) -> Approval | None:
    raw = ctx.field("approval")
    if not raw.isascii() or not raw.isdigit() or len(raw) > _ID_DIGITS:
        return None
    return ctx.store.get_approval(int(raw))


def _title(ctx: ControlContext, approval: Approval) -> str:
    article = ctx.store.get_article(approval.article_key)
    return f"“{article.title if article else approval.article_key}”"


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "an unknown time"


_UNKNOWN: Final = "That item is not in the approval queue; nothing changed."

PAGE = Page(path="/approvals", title="Approval", view=view, actions={"approve": approve, "edit": edit, "skip": skip})
