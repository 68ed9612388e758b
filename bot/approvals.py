"""The approval queue: what an admin sees of a held article and what each decision does.

    sent = send_previews(store, renderer, config, now)          # App's cycle: one preview per admin per article
    decided = apply_timeouts(store, renderer, config, now)      # App's cycle: `on_timeout` past the deadline
    winner = decide(store, renderer, config, approval, APPROVED, admin="123", now=now)  # a button press

Every message to an admin goes out as a notice (`bot.store.notices`): a preview, and later the edit of each
admin's preview that says who decided what and when. The store settles a decision once (`ApprovalsPart.decide`),
so of two admins pressing at once one wins and the other is told who did.

Callback data is `ap:<approval id>:<a|e|s>` (Approve, Edit, Skip); `parse_button` is the one strict reader.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final, Protocol

from bot import keywords, telegram_html
from bot.channels import REGISTRY
from bot.config import Config, RouteConfig
from bot.errors import RenderError
from bot.invisible import is_hidden
from bot.models import Article
from bot.render import Overflow, Renderer, measured, with_warning
from bot.route import next_slot
from bot.store import APPROVED, SKIPPED_DECISION, TIMEOUT_ADMIN, Approval

__all__ = [
    "APPROVE",
    "EDIT",
    "SKIP",
    "TIMEOUT_ADMIN",
    "ApprovalStore",
    "ChannelPreview",
    "NotWaiting",
    "apply_timeouts",
    "buttons",
    "channel_previews",
    "decide",
    "decided_by",
    "decided_text",
    "decision_for",
    "edit_summary",
    "muted_words_in",
    "parse_button",
    "preview_html",
    "route_of",
    "send_edited_preview",
    "send_previews",
    "summary_problems",
]

APPROVE, EDIT, SKIP = "a", "e", "s"
_BUTTON: Final = re.compile(r"ap:([1-9][0-9]{0,17}):([aes])")
PREVIEW_VISIBLE_CHARS: Final = 3800  # of Telegram's 4096, with room for the header
_DECISIONS: Final = {APPROVE: APPROVED, SKIP: SKIPPED_DECISION}


class ApprovalStore(Protocol):
    """What the approval queue needs of the store (`bot.store.Store` is one)."""

    def transaction(self) -> AbstractContextManager[None]: ...
    def get_article(self, key: str) -> Article | None: ...
    def add_notice(
        self,
        chat_id: int,
        text: str,
        now: datetime,
        *,
        buttons: Sequence[tuple[str, str]] = (),
        replaces: int | None = None,
    ) -> int: ...
    def get_approval(self, approval_id: int) -> Approval | None: ...
    def waiting_approvals(self, limit: int = 50) -> list[Approval]: ...
    def approvals_without_previews(self, limit: int = 50) -> list[Approval]: ...
    def overdue_approvals(self, now: datetime) -> list[Approval]: ...
    def previews_sent(self, approval_id: int, notices: dict[int, int]) -> None: ...
    def preview_notices(self, approval_id: int) -> dict[int, int]: ...
    def edit_approval(self, approval_id: int, summary: str, admin: str, now: datetime) -> bool: ...
    def decide(
        self,
        approval_id: int,
        decision: str,
        admin: str,
        now: datetime,
        not_before: datetime,
        muted: Sequence[str] = (),
    ) -> bool: ...
    def words_in_use(self, channel: str) -> list[str]: ...


def parse_button(data: str) -> tuple[int, str] | None:
    """(approval id, APPROVE | EDIT | SKIP) from callback data, or None for anything else (forged, stale shape)."""
    match = _BUTTON.fullmatch(data)
    return None if match is None else (int(match.group(1)), match.group(2))


def buttons(approval_id: int) -> list[tuple[str, str]]:
    return [(label, f"ap:{approval_id}:{action}") for label, action in (("Approve", APPROVE), ("Edit", EDIT),
                                                                        ("Skip", SKIP))]  # fmt: skip


def route_of(config: Config, name: str) -> RouteConfig | None:
    return next((route for route in config.routes if route.name == name), None)


# --- previews --------------------------------------------------------------------------------------------


def preview_html(renderer: Renderer, config: Config, article: Article, approval: Approval) -> str:
    """The preview an admin gets: each channel's post as it will go out, with its length, in one message."""
    route = route_of(config, approval.route)
    channels = route.channels if route else ()
    edited = " · <i>summary edited</i>" if article.summary else ""
    header = (
        f"<b>Approve?</b> route <code>{telegram_html.escape(approval.route)}</code>, key "
        f"<code>{telegram_html.escape(article.key)}</code>{edited}\n<b>{telegram_html.escape(article.title)}</b>"
    )
    share = PREVIEW_VISIBLE_CHARS // max(1, len(channels))
    sections = [_channel_section(renderer, article, channel, route, share) for channel in channels]
    return "\n\n".join([header, *sections])


@dataclass(frozen=True, slots=True)
class ChannelPreview:
    """One channel's post of a held article, as a page shows it: the text as readers will see it (Telegram HTML
    as its visible text), its length as the channel counts it (X: weighted) and its limit (None: no limit)."""

    channel: str
    markup: str  # "Telegram HTML", "plain text"
    parts: tuple[str, ...]  # one text per post (an X thread has several)
    length: int
    limit: int | None
    problem: str  # why it cannot be rendered; "" when it can
    unit: str = "characters"  # what `length` counts ("weighted characters" on X, "graphemes" on Bluesky)


def channel_previews(renderer: Renderer, config: Config, article: Article, approval: Approval) -> list[ChannelPreview]:
    """Each channel of the approval's route, rendered exactly as `preview_html` renders it for chat."""
    route = route_of(config, approval.route)
    previews = []
    for channel in route.channels if route else ():
        rules = REGISTRY[channel]
        template = route.template.get(channel) if route else None
        try:
            post = renderer.render(article, channel, template=template or None)
        except RenderError as error:
            previews.append(
                ChannelPreview(
                    channel, rules.post_format.markup_name, (), 0, rules.limit, str(error), rules.post_format.unit
                )
            )
            continue
        texts = tuple(post.parts) or (post.text,)
        if rules.post_format.telegram_html:
            texts = tuple(telegram_html.visible_text(text) for text in texts)
        texts = (with_warning(post, texts[0]), *texts[1:])
        length, limit = measured(post)
        shown_limit = limit if rules.limit is not None else None
        markup, unit = rules.post_format.markup_name, rules.post_format.unit
        previews.append(ChannelPreview(channel, markup, texts, length, shown_limit, "", unit))
    return previews


def _channel_section(renderer: Renderer, article: Article, channel: str, route: RouteConfig | None, room: int) -> str:
    template = route.template.get(channel) if route else None
    try:
        post = renderer.render(article, channel, template=template or None)
    except RenderError as error:
        return f"<b>{channel}</b>: cannot be rendered: {telegram_html.escape(str(error))}"
    rules = REGISTRY[channel]
    length, limit = measured(post)
    unit = rules.post_format.unit
    count = f"{length}/{limit} {unit}" if rules.limit is not None else f"{length} {unit}"
    title = f"<b>{channel}</b> ({telegram_html.escape(rules.post_format.markup_name)}, {count}):"
    text = with_warning(post, post.text if not post.parts else "\n\n".join(post.parts))
    if rules.post_format.telegram_html and not post.parts and telegram_html.visible_length(text) <= room:
        return f"{title}\n{text}"
    plain = telegram_html.visible_text(text) if rules.post_format.telegram_html else text
    if len(plain) > room:
        plain = plain[: max(0, room - 1)] + "…"
    return f"{title}\n<blockquote>{telegram_html.escape(plain)}</blockquote>"


def send_previews(store: ApprovalStore, renderer: Renderer, config: Config, now: datetime) -> int:
    """Queue one preview per admin for each approval that has none yet; returns how many approvals."""
    count = 0
    for approval in store.approvals_without_previews():
        article = store.get_article(approval.article_key)
        if article is None:
            continue
        html = preview_html(renderer, config, article, approval)
        with store.transaction():
            notices = {
                admin: store.add_notice(admin, html, now, buttons=buttons(approval.id))
                for admin in config.telegram.admins
            }
            store.previews_sent(approval.id, notices)
        count += 1
    return count


def send_edited_preview(
    store: ApprovalStore, renderer: Renderer, config: Config, approval: Approval, editor: int | None, now: datetime
) -> None:
    """After an Edit: the editor gets the new preview as a new message; the other admins' previews change to it
    (all of them when `editor` is None: an edit made in the control room, not in a chat)."""
    article = store.get_article(approval.article_key)
    if article is None:
        return
    html = preview_html(renderer, config, article, approval)
    with store.transaction():
        earlier = store.preview_notices(approval.id)
        notices: dict[int, int] = {}
        for admin in config.telegram.admins:
            if admin == editor:
                if admin in earlier:
                    store.add_notice(admin, "Summary edited; the new preview is below.", now, replaces=earlier[admin])
                notices[admin] = store.add_notice(admin, html, now, buttons=buttons(approval.id))
            else:
                notices[admin] = store.add_notice(
                    admin, html, now, buttons=buttons(approval.id), replaces=earlier.get(admin)
                )
        store.previews_sent(approval.id, notices)


# --- decisions -------------------------------------------------------------------------------------------


def decide(
    store: ApprovalStore, renderer: Renderer, config: Config, approval_id: int, decision: str, admin: str,
    now: datetime,
) -> Approval | None:  # fmt: skip
    """Settle the approval as `decision` (APPROVED or SKIPPED_DECISION) by `admin` (an id, or TIMEOUT_ADMIN), and
    edit every admin's preview to say so. Returns the approval as it stands when another decision came first
    (nothing changed), None when this one counted."""
    approval = store.get_approval(approval_id)
    if approval is None:
        raise ValueError(f"no approval {approval_id}")
    route = route_of(config, approval.route)
    not_before = next_slot(route, now) if route else now
    article = store.get_article(approval.article_key)
    with store.transaction():
        if not store.decide(approval_id, decision, admin, now, not_before, muted_words_in(store, article, route)):
            return store.get_approval(approval_id)
        settled = replace(approval, decision=decision, decided_by=admin, decided_at=now)
        text = decided_text(article, settled)
        for chat, notice in store.preview_notices(approval_id).items():
            store.add_notice(chat, text, now, replaces=notice)
    return None


def muted_words_in(store: ApprovalStore, article: Article | None, route: RouteConfig | None) -> list[str]:
    """The subscribers' words that occur in the article (to skip those who muted one while it waited)."""
    if article is None or route is None:
        return []
    words = sorted({word for channel in route.channels for word in store.words_in_use(channel)})
    return keywords.found_in(keywords.searchable(article.title, article.text, article.summary), words) if words else []


def decision_for(action: str) -> str:
    return _DECISIONS[action]


def decided_by(approval: Approval) -> str:
    """Who settled `approval`, in words for chat and the control room: "by admin 4242", or "on timeout"."""
    return "on timeout" if approval.decided_by == TIMEOUT_ADMIN else f"by admin {approval.decided_by}"


def decided_text(article: Article | None, approval: Approval) -> str:
    """What a preview says once decided: the article, what became of it, who decided and when."""
    title = telegram_html.escape(article.title if article else approval.article_key)
    when = f"{approval.decided_at:%Y-%m-%d %H:%M} UTC" if approval.decided_at else "just now"
    if approval.decided_by == TIMEOUT_ADMIN:
        what = f"Timed out: {approval.decision}"
    else:
        what = f"{approval.decision.capitalize()} by admin <code>{telegram_html.escape(approval.decided_by)}</code>"
    return f"<b>{title}</b>\n{what} at {when}."


def apply_timeouts(store: ApprovalStore, renderer: Renderer, config: Config, now: datetime) -> int:
    """Approvals past their deadline become what their route's `on_timeout` says; returns how many."""
    count = 0
    for approval in store.overdue_approvals(now):
        route = route_of(config, approval.route)
        decision = APPROVED if route is not None and route.on_timeout == "approve" else SKIPPED_DECISION
        if decide(store, renderer, config, approval.id, decision, TIMEOUT_ADMIN, now) is None:
            count += 1
    return count


# --- an admin's summary ----------------------------------------------------------------------------------


class NotWaiting(Exception):
    """The approval is decided (or gone) already, so its summary can no longer change; `approval` as it stands."""

    def __init__(self, approval: Approval | None) -> None:
        super().__init__("That article is no longer waiting for approval; nothing changed.")
        self.approval = approval


def edit_summary(
    store: ApprovalStore, renderer: Renderer, config: Config, approval_id: int, summary: str, editor: int,
    now: datetime, *, in_chat: bool = True,
) -> list[str]:  # fmt: skip
    """Save admin `editor`'s summary and update every admin's preview (`send_edited_preview`; `in_chat` False: the
    edit was made in the control room, so the editor's chat preview changes in place too); returns its problems
    instead (`summary_problems`: nothing saved) when it does not fit. NotWaiting once the approval is decided."""
    approval = store.get_approval(approval_id)
    article = store.get_article(approval.article_key) if approval else None
    if approval is None or article is None or approval.decision:
        raise NotWaiting(approval)
    problems = summary_problems(renderer, config, article, approval.route, summary)
    if problems:
        return problems
    with store.transaction():
        if not store.edit_approval(approval.id, summary, str(editor), now):
            raise NotWaiting(store.get_approval(approval_id))
        send_edited_preview(store, renderer, config, approval, editor if in_chat else None, now)
    return []


def summary_problems(renderer: Renderer, config: Config, article: Article, route_name: str, summary: str) -> list[str]:
    """Why `summary` cannot go out on each channel of the route (with the link whole), in words; [] if it fits.

    Control characters, lone surrogates and invisible formatting (a bidi override would disguise the post) are
    refused: chat removes them before (bot.commands.context.clean), a web form sends what it is given."""
    if any(is_hidden(char) for char in summary):
        return ["The summary holds control or invisible formatting characters, which no post may carry. Retype it."]
    route = route_of(config, route_name)
    candidate = replace(article, summary=summary)
    problems: list[str] = []
    for channel in route.channels if route else ():
        template = route.template.get(channel) if route else None
        try:
            found = renderer.overflow(candidate, channel, template=template or None)
        except RenderError as error:
            problems.append(f"{channel}: {error}")
            continue
        if found.over:
            problems.append(_overflow_problem(channel, found))
    return problems


def _overflow_problem(channel: str, found: Overflow) -> str:
    unit = REGISTRY[channel].post_format.unit
    if not found.sentence:
        return f"{channel}: {found.over} {unit} over its limit of {found.limit}"
    # A thread carries the rest of a long summary, but each sentence must fit one post of it.
    return (
        f"{channel}: the sentence “{_clipped(found.sentence)}” is {found.over} {unit} over the limit of"
        f" {found.limit} of one post of the thread; split it into shorter sentences"
    )


def _clipped(text: str, most: int = 40) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"
