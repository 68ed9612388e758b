"""Overview (/admin/): whether publishing is paused, the queue per channel, items waiting for approval."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from starlette.responses import Response

from bot.control.page import ControlContext, Page
from bot.store import PENDING, STATES

APPROVALS_COUNTED: Final = 100  # "more than 100 wait" is enough to know


@dataclass(frozen=True, slots=True)
class QueueRow:
    channel: str
    counts: tuple[int, ...]  # per state, in STATES order


def view(ctx: ControlContext) -> Response:
    counts = ctx.store.queue_counts()
    channels = sorted({channel for channel, _state in counts} | set(ctx.config.channels_in_use()))
    queue = [QueueRow(channel, tuple(counts.get((channel, state), 0) for state in STATES)) for channel in channels]
    waiting = len(ctx.store.waiting_approvals(APPROVALS_COUNTED + 1))
    return ctx.render(
        "overview",
        title="Overview",
        paused=ctx.store.is_paused(),
        states=STATES,
        pending_state=PENDING,
        queue=queue,
        approvals_waiting=waiting,
        approvals_counted=APPROVALS_COUNTED,
    )


PAGE = Page(path="/", title="Overview", view=view)
