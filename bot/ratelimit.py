"""Rate limits as sliding windows: pacing for asyncio senders, and refusals for what people send us.

Telegram allows about 30 messages per second overall, 1 per second to one chat and 20 per minute to one group or
channel. Each limit here is "at most N sends in any window of P seconds", checked when a send starts, and sends
are spaced evenly (P / N apart) rather than started in bursts. A small safety margin is added to every window so
that jitter between our clock and the server's never pushes a send over the server's own count; the throughput
cost is margin / period (3 % by default).

`PerKeyLimit` is the other direction: at most N events per key (a user, an address) in any window, where what
comes on top is refused rather than delayed. `SendRate` spaces the email digest's messages (`[email] send_rate`).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable

DEFAULT_MARGIN = 0.03  # seconds added to every window
# How often anything that waits (a turn to send, the digest's spacing, the chat command loop) looks for a stop
# request: a tenth of a second keeps shutdown prompt and costs ten wake-ups a second while waiting.
STOP_CHECK_SECONDS = 0.1


class StopRequested(Exception):
    """`acquire` gave up waiting because a stop was requested; nothing was sent."""


class SlidingWindow:
    """At most `limit` events in any `period` seconds (+ margin)."""

    def __init__(self, limit: int, period: float, margin: float = DEFAULT_MARGIN) -> None:
        if limit <= 0 or period <= 0:
            raise ValueError("a rate limit needs a positive count and period")
        self.limit = limit
        self.span = period + margin
        self._events: deque[float] = deque()

    def wait_time(self, now: float) -> float:
        """Seconds until one more event fits (0 if it fits now)."""
        self._forget(now)
        if len(self._events) < self.limit:
            return 0.0
        return self._events[0] + self.span - now

    def record(self, now: float) -> None:
        self._events.append(now)

    def idle(self, now: float) -> bool:
        self._forget(now)
        return not self._events

    def _forget(self, now: float) -> None:
        while self._events and self._events[0] + self.span <= now:
            self._events.popleft()


class KeyedWindows:
    """One SlidingWindow per key (a chat, a user), made on first use. The windows of idle keys are dropped once
    many are kept, and the next drop waits until the count has doubled, so memory stays flat at O(1) per event."""

    MIN_PRUNE_AT = 4096

    def __init__(self, limit: int, period: float, margin: float = DEFAULT_MARGIN) -> None:
        self._limit = limit
        self._period = period
        self._margin = margin
        self._windows: dict[Hashable, SlidingWindow] = {}
        self._prune_at = self.MIN_PRUNE_AT

    def __len__(self) -> int:
        return len(self._windows)

    def get(self, key: Hashable, now: float) -> SlidingWindow:
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= self._prune_at:
                self._windows = {k: w for k, w in self._windows.items() if not w.idle(now)}
                self._prune_at = max(self.MIN_PRUNE_AT, 2 * len(self._windows))
            window = self._windows[key] = SlidingWindow(self._limit, self._period, self._margin)
        return window


class PerKeyLimit:
    """At most `limit` events per key in any `period` seconds; what comes on top is refused, not delayed."""

    def __init__(self, limit: int, period: float) -> None:
        self._windows = KeyedWindows(limit, period, margin=0.0)

    def wait(self, key: Hashable, now: float) -> float:
        """0 if one more event for `key` fits now, else the seconds until one would; counts nothing."""
        return max(0.0, self._windows.get(key, now).wait_time(now))

    def record(self, key: Hashable, now: float) -> None:
        self._windows.get(key, now).record(now)

    def take(self, key: Hashable, now: float) -> float:
        """0 if one more event fits (and it is counted), else the seconds until one would (nothing is counted)."""
        wait = self.wait(key, now)
        if not wait:
            self.record(key, now)
        return wait


def is_group_chat(chat_id: str) -> bool:
    """Channels and groups have negative ids or @names; private chats have positive ids."""
    return chat_id.startswith(("-", "@"))


class ChatRateLimiter:
    """The three Telegram limits together. `acquire(chat)` returns when a message to `chat` may start."""

    def __init__(
        self,
        *,
        overall_per_second: int = 30,
        per_chat_per_second: int = 1,
        per_group_per_minute: int = 20,
        margin: float = DEFAULT_MARGIN,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self._overall = SlidingWindow(overall_per_second, 1.0, margin)
        # Sends are spread evenly rather than in bursts of `overall_per_second`: a burst reaches the server
        # over tens of milliseconds, and that spread, not our clock, is what would break the server's window.
        self._spacing = (1.0 + margin) / overall_per_second
        self._next_start = 0.0
        # Windows of idle chats are forgotten, so memory stays flat during a large fan-out.
        self._chats = KeyedWindows(per_chat_per_second, 1.0, margin)
        self._groups = KeyedWindows(per_group_per_minute, 60.0, margin)
        self._paused_until = 0.0
        self._clock = clock
        if sleep is None:
            # Imported here: asyncio takes ~15 ms to import and only the Telegram senders pace with it; the email
            # digest imports this module for STOP_CHECK_SECONDS, and the CLI must start fast.
            import asyncio

            sleep = asyncio.sleep
        self._sleep = sleep

    def pause_all(self, seconds: float) -> None:
        """After the server said "retry after N": no send starts for N seconds."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    async def acquire(self, chat_id: str, give_up: Callable[[], bool] | None = None) -> None:
        """Return when a message to `chat_id` may start; raise StopRequested if `give_up()` turns true first."""
        chat = self._chats.get(chat_id, self._clock())
        group = self._groups.get(chat_id, self._clock()) if is_group_chat(chat_id) else None
        while True:
            now = self._clock()
            windows = [self._overall, chat] + ([group] if group else [])
            wait = max([self._paused_until - now, self._next_start - now, *(w.wait_time(now) for w in windows)])
            if wait <= 0:
                # No await between the check and the record: asyncio runs this atomically.
                for window in windows:
                    window.record(now)
                # Keep to the even timeline even when this start was a little late (the event loop was busy),
                # but never let the next two starts come closer than half the spacing.
                self._next_start = max(self._next_start + self._spacing, now + self._spacing / 2)
                return
            if give_up is None:
                await self._sleep(wait)
            elif give_up():
                raise StopRequested
            else:
                await self._sleep(min(wait, STOP_CHECK_SECONDS))


class SendRate:
    """Turns at most `per_second` apart, handed out to any number of threads (0 or less: no limit)."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next_turn = -math.inf
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take the next turn; returns when it comes (on `clock`), now or later. A turn taken is used up."""
        with self._lock:
            turn = max(self.clock(), self._next_turn)
            self._next_turn = turn + self._interval
            return turn

    def seconds_until_turn(self) -> float:
        """How long a turn taken now would wait (0: it may go now)."""
        with self._lock:
            return max(0.0, self._next_turn - self.clock())
