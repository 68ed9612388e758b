"""The approval queue in chat: the Approve / Edit / Skip buttons under a preview, and an admin's edited summary.

A press is checked strictly (`bot.approvals.parse_button`): forged data, an unknown or already decided approval,
or a press by someone who is not an admin changes nothing and gets a short answer over the chat. Edit asks for
the new summary; the admin's next plain message (not a command) is it, remembered in the state file
(`approval.editing.<admin id>`) so a restart in between loses nothing. "cancel" keeps the summary as it was.
"""

from __future__ import annotations

import logging
from typing import Final

from bot import approvals
from bot.commands.admin import admin_only, is_admin
from bot.commands.context import CommandContext, Reply, Request, argument, echo, reply
from bot.commands.subscriber import fallback
from bot.logs import kv
from bot.store import Approval

__all__ = ["approval_button", "plain_message"]

log = logging.getLogger("newsbot.commands")

EDITING_META: Final = "approval.editing."  # + admin id -> the approval whose summary that admin is writing
CANCEL: Final = "cancel"
_FORGED: Final = "That button is not one of mine; nothing changed."
_GONE: Final = "That article is no longer waiting for approval; nothing changed."


@admin_only
def approval_button(ctx: CommandContext, request: Request) -> Reply:
    """A press on Approve, Edit or Skip under a preview."""
    parsed = approvals.parse_button(request.args)
    approval = ctx.store.get_approval(parsed[0]) if parsed else None
    if parsed is None or approval is None:
        log.warning("%s", kv(event="approval_button_refused", user_id=request.user_id, reason="unknown"))
        return reply(toast=_FORGED)
    if approval.decision:
        return reply(toast=_already(approval))
    action = parsed[1]
    if action == approvals.EDIT:
        ctx.store.set_meta(EDITING_META + str(request.user_id), str(approval.id))
        article = ctx.store.get_article(approval.article_key)
        title = echo(article.title if article else approval.article_key, 120)
        return reply(
            f"Send me the new summary for <b>{title}</b> as your next message, or <code>{CANCEL}</code> to keep it.",
            toast="Send the new summary.",
        )
    decision = approvals.decision_for(action)
    first = approvals.decide(
        ctx.store, ctx.renderer, ctx.config, approval.id, decision, str(request.user_id), ctx.clock()
    )
    if first is not None:
        return reply(toast=_already(first))
    log.info("%s", kv(event="approval_decided", approval=approval.id, decision=decision, user_id=request.user_id))
    return reply(toast=f"{decision.capitalize()}.")


def _already(approval: Approval) -> str:
    return f"Already {approval.decision} {approvals.decided_by(approval)}."


def plain_message(ctx: CommandContext, request: Request) -> Reply:
    """A message that is no command: an admin's new summary when they pressed Edit, else `fallback`'s answer."""
    editing = (
        ctx.store.get_meta(EDITING_META + str(request.user_id))
        if not request.command and request.chat_type == "private" and is_admin(ctx.config, request.user_id)
        else None
    )
    if not editing or request.forwarded:
        return fallback(ctx, request)
    return _new_summary(ctx, request, int(editing))


def _new_summary(ctx: CommandContext, request: Request, approval_id: int) -> Reply:
    key = EDITING_META + str(request.user_id)
    summary = argument(request.args)
    approval = ctx.store.get_approval(approval_id)
    article = ctx.store.get_article(approval.article_key) if approval else None
    if approval is None or article is None or approval.decision:
        ctx.store.set_meta(key, "")
        return reply(_GONE)
    if summary.lower() == CANCEL or not summary:
        ctx.store.set_meta(key, "")
        return reply("Kept the summary as it was.")
    try:
        problems = approvals.edit_summary(
            ctx.store, ctx.renderer, ctx.config, approval.id, summary, request.user_id, ctx.clock()
        )
    except approvals.NotWaiting:
        ctx.store.set_meta(key, "")
        return reply(_GONE)
    if problems:
        shown = "\n".join(f"• {echo(problem, 300)}" for problem in problems)
        return reply(f"That summary does not fit:\n{shown}\nSend a shorter one, or <code>{CANCEL}</code>.")
    ctx.store.set_meta(key, "")
    log.info("%s", kv(event="approval_edited", approval=approval.id, user_id=request.user_id))
    return reply("Summary saved; the new preview follows.")
