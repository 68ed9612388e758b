"""The client-side limiter, driven by a fake clock: it must never start more sends than a window allows."""

from __future__ import annotations

import asyncio

from bot.ratelimit import ChatRateLimiter, KeyedWindows, PerKeyLimit, SlidingWindow


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def starts(limiter: ChatRateLimiter, chats: list[str], time: FakeTime) -> list[float]:
    times: list[float] = []

    async def one(chat: str) -> None:
        await limiter.acquire(chat)
        times.append(time.now)

    async def all_of_them() -> None:
        await asyncio.gather(*(one(chat) for chat in chats))

    asyncio.run(all_of_them())
    return times


def max_in_window(times: list[float], span: float) -> int:
    return max(sum(1 for t in times if start <= t < start + span) for start in times)


def test_overall_rate_is_never_exceeded_and_sends_are_spread_evenly() -> None:
    time = FakeTime()
    limiter = ChatRateLimiter(overall_per_second=30, clock=time.clock, sleep=time.sleep)
    times = starts(limiter, [str(1000 + i) for i in range(300)], time)
    assert max_in_window(times, 1.0) <= 30
    gaps = [b - a for a, b in zip(sorted(times), sorted(times)[1:], strict=False)]
    assert min(gaps) >= 1.0 / 30
    assert len(times) / (max(times) + 1.03 / 30) >= 0.95 * 30  # close to the ceiling


def test_one_chat_gets_at_most_one_message_per_second() -> None:
    time = FakeTime()
    limiter = ChatRateLimiter(clock=time.clock, sleep=time.sleep)
    times = starts(limiter, ["42"] * 5, time)
    assert max_in_window(times, 1.0) == 1


def test_a_group_gets_at_most_twenty_a_minute() -> None:
    time = FakeTime()
    limiter = ChatRateLimiter(clock=time.clock, sleep=time.sleep)
    times = starts(limiter, ["-100123"] * 25, time)
    assert max_in_window(times, 60.0) == 20
    assert sorted(times)[20] >= 60.0


def test_retry_after_pauses_every_send() -> None:
    time = FakeTime()
    limiter = ChatRateLimiter(clock=time.clock, sleep=time.sleep)
    limiter.pause_all(5)
    assert starts(limiter, ["1"], time) == [5.0]


def test_sliding_window_frees_a_slot_after_period_plus_margin() -> None:
    window = SlidingWindow(2, 1.0, margin=0.03)
    window.record(0.0)
    window.record(0.5)
    assert window.wait_time(0.6) == 1.03 - 0.6
    assert window.wait_time(1.03) == 0.0


def test_per_key_limit_refuses_what_comes_on_top_without_counting_it() -> None:
    limit = PerKeyLimit(2, 60.0)
    assert [limit.take("alice", 0.0), limit.take("alice", 10.0)] == [0.0, 0.0]
    assert limit.take("alice", 30.0) == 30.0  # until the first one leaves the window
    assert limit.take("alice", 59.0) == 1.0  # the refusal above was not counted
    assert limit.take("bob", 59.0) == 0.0  # keys are counted apart
    assert limit.take("alice", 60.0) == 0.0


def test_keyed_windows_forget_idle_keys_so_memory_stays_flat() -> None:
    windows = KeyedWindows(1, 1.0, margin=0.0)
    for key in range(KeyedWindows.MIN_PRUNE_AT):
        windows.get(key, 0.0).record(0.0)
    busy = windows.get("busy", 5.0)
    busy.record(5.0)
    assert len(windows) == 1  # the first 4096 were idle by then and were dropped
    assert windows.get("busy", 5.5) is busy
