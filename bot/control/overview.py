"""Overview (/admin/): whether publishing is paused, each channel's state and queue, what went out and failed in
the last 24 hours, the next digest, paused sources, sources in error (with what to do), items waiting for approval.

It reads what chat's /status, /queue and /stats read (bot.status and the same store queries), so both agree.
**Pause publishing** and **Resume publishing** are chat's /pause and /resume: the same store call
(`set_paused`, whose resume also asks for a drain, so what waited goes out at once), in the same words.

    POST /admin/pause     hold every channel's publishing; polling and queueing go on
    POST /admin/resume    publish again
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Final

from starlette.responses import Response

from bot import status
from bot.control.page import ControlContext, Page
from bot.logs import kv
from bot.store import FAILED, HELD, PENDING, SENT, SKIPPED, UNKNOWN
from bot.urls import redact_urls_in

log = logging.getLogger("newsbot.control")

APPROVALS_COUNTED: Final = 100  # "more than 100 wait" is enough to know
RECENT: Final = timedelta(hours=24)
# (state, column heading): what waits now, and what finished in the last RECENT
QUEUE_COLUMNS: Final = ((PENDING, "waiting"), (HELD, "held for approval"), (UNKNOWN, "sent, no answer"))
RECENT_COLUMNS: Final = ((SENT, "sent, 24 h"), (FAILED, "failed, 24 h"), (SKIPPED, "skipped, 24 h"))
ERROR_CHARS: Final = 300


@dataclass(frozen=True, slots=True)
class ChannelRow:
    channel: str
    state: str  # "publishing", "stopped: …", "rate limited until …"
    counts: tuple[int, ...]  # per QUEUE_COLUMNS, then per RECENT_COLUMNS


def view(ctx: ControlContext) -> Response:
    return ctx.render(
        "overview",
        title="Overview",
        paused=ctx.store.is_paused(),
        headings=[heading for _state, heading in QUEUE_COLUMNS + RECENT_COLUMNS],
        channels=_channel_rows(ctx),
        digest=status.digest_status(ctx.config, ctx.store, ctx.now),
        paused_sources=status.paused_sources(ctx.config, ctx.store),
        failing=[_shown(source) for source in status.failing_sources(ctx.config, ctx.store)],
        approvals_waiting=len(ctx.store.waiting_approvals(APPROVALS_COUNTED + 1)),
        approvals_counted=APPROVALS_COUNTED,
    )


def _channel_rows(ctx: ControlContext) -> list[ChannelRow]:
    queue = ctx.store.queue_counts()
    recent = ctx.store.outcome_counts_since(ctx.now - RECENT)
    states = {s.channel: s for s in status.channel_statuses(ctx.config, ctx.store, ctx.now)}
    names = sorted({channel for channel, _ in queue} | {channel for channel, _ in recent} | set(states))
    return [
        ChannelRow(
            channel,
            _state_words(states.get(channel)),
            tuple(queue.get((channel, state), 0) for state, _ in QUEUE_COLUMNS)
            + tuple(recent.get((channel, state), 0) for state, _ in RECENT_COLUMNS),
        )
        for channel in names
    ]


def _state_words(channel: status.ChannelStatus | None) -> str:
    if channel is None:
        return "not in any route"
    if channel.stopped:
        return f"stopped: {channel.stopped}"
    if channel.limited_until is not None:
        return f"rate limited until {channel.limited_until:%Y-%m-%d %H:%M} UTC"
    return "publishing"


def _shown(source: status.FailingSource) -> status.FailingSource:
    """The source with its error as it may be shown: URL credentials redacted, shortened."""
    error = redact_urls_in(source.state.last_error)[:ERROR_CHARS]
    return replace(source, state=replace(source.state, last_error=error))


# --- pausing and resuming publishing ----------------------------------------------------------------------


def pause(ctx: ControlContext) -> Response:
    ctx.store.set_paused(True)
    log.info("%s", kv(event="publishing_paused", admin=ctx.admin_id, via="control"))
    return ctx.redirect(
        "/", notice="Publishing is paused: nothing goes out until you resume. Articles keep being collected and queued."
    )


def resume(ctx: ControlContext) -> Response:
    ctx.store.set_paused(False)
    log.info("%s", kv(event="publishing_resumed", admin=ctx.admin_id, via="control"))
    return ctx.redirect("/", notice="Publishing resumed: what is due goes out now.")


PAGE = Page(path="/", title="Overview", view=view, actions={"pause": pause, "resume": resume})
