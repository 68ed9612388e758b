"""When things happen. The only module that knows about time passing; the jobs themselves are plain calls."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import ParamSpec

import schedule

from bot.app import App
from bot.config import Config
from bot.logs import kv
from bot.store import StoreError

log = logging.getLogger("newsbot.scheduler")

POLL_CHECK_SECONDS = 5
DIGEST_CHECK_SECONDS = 60
MAX_SLEEP_SECONDS = 1.0
BUG_HELP = "newsbot goes on; if it happens again, report it with the traceback below"
DRAIN_TAG = "drain"


P = ParamSpec("P")


def scheduler_interval(config: Config) -> float:
    """The longest a healthy loop goes without coming round: its slowest frequent job (a poll check or a drain)."""
    return float(max(POLL_CHECK_SECONDS, config.outbox.drain_interval))


class Heartbeat:
    """When the scheduler last came round, in memory: `/readyz` (bot.server) reads it from the web server's thread.

    The loop beats each time round, and the drain and the digest between items, so a long fan-out is not a stall.
    """

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._last: float | None = None

    def beat(self) -> None:
        self._last = self._clock()

    def problem(self) -> str:
        """Why the scheduler does not look alive ("" when it ran within two of its intervals)."""
        if self._last is None:
            return "the scheduler has not started yet"
        age = self._clock() - self._last
        if age > 2 * self.interval:
            return f"the scheduler last ran {age:.0f} s ago, more than two of its {self.interval:g} s intervals"
        return ""


def survive_job_errors(job: Callable[P, object]) -> Callable[P, None]:
    """`job`, except that an exception is logged and the job runs again at its next interval: no job ends `run`
    (under systemd an exit would become a restart loop that retries the same failure at once, forever).

    A StoreError (state file busy, disk full, …) is expected: its transaction was rolled back, so nothing is
    half-written, and it often clears by itself; its message says what to do. Any other exception is a bug: it is
    logged with its traceback, and the job's own ledger rules (a row is `sent` only after its receipt) mean the
    next run picks up where this one stopped. KeyboardInterrupt and SystemExit still end the process.
    """

    def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
        name = getattr(job, "__name__", "job")
        try:
            job(*args, **kwargs)
        except StoreError as error:
            log.error("%s", kv(event="job_failed", job=name, reason=str(error), retry="next interval"))
        except Exception as error:
            reason = f"{type(error).__name__}: {error}"
            log.exception("%s", kv(event="job_failed", job=name, reason=reason, retry="next interval", help=BUG_HELP))

    return guarded


def build_schedule(app: App, stop: threading.Event, heartbeat: Heartbeat | None = None) -> schedule.Scheduler:
    jobs = schedule.Scheduler()
    should_stop = _beating(stop, heartbeat)
    # One job looks for due sources (each has its own interval and error backoff in the state file), so
    # sources an admin adds from chat are polled too without rebuilding the schedule.
    jobs.every(POLL_CHECK_SECONDS).seconds.do(survive_job_errors(app.poll_due_sources), should_stop=should_stop)
    drain = survive_job_errors(app.drain)
    jobs.every(app.config.outbox.drain_interval).seconds.do(drain, should_stop).tag(DRAIN_TAG)
    jobs.every(DIGEST_CHECK_SECONDS).seconds.do(survive_job_errors(app.digest), should_stop=should_stop)
    return jobs


def _beating(stop: threading.Event, heartbeat: Heartbeat | None) -> Callable[[], bool]:
    """`stop.is_set`, beating the heartbeat each time a job asks (between the items of a drain or a digest)."""
    if heartbeat is None:
        return stop.is_set

    def should_stop() -> bool:
        heartbeat.beat()
        return stop.is_set()

    return should_stop


def install_stop_signals(stop: threading.Event) -> None:
    """The first SIGTERM or SIGINT sets `stop`; a second one acts as if no handler were installed (quit at once)."""

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s", kv(event="stopping", signal=signal.Signals(signum).name))
        stop.set()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)


def run_forever(app: App, stop: threading.Event, heartbeat: Heartbeat | None = None) -> None:
    """Run one cycle at once, then every job at its interval until `stop` is set; drain at once when asked.

    A stop request lets the item in flight finish: the drain and the digest check `stop` between items.
    `heartbeat` (for /readyz) beats each time round the loop and between the items of a drain or a digest.
    """
    log.info("%s", kv(event="started", sources=len(app.config.sources), state=app.config.state.path))
    beat = heartbeat.beat if heartbeat is not None else lambda: None
    beat()
    survive_job_errors(_first_cycle)(app, _beating(stop, heartbeat))
    jobs = build_schedule(app, stop, heartbeat)
    [drain] = jobs.get_jobs(DRAIN_TAG)
    drain_when_asked = survive_job_errors(_drain_when_asked)
    while not stop.is_set():
        beat()
        jobs.run_pending()
        drain_when_asked(app, drain)
        idle = jobs.idle_seconds
        stop.wait(MAX_SLEEP_SECONDS if idle is None else min(max(idle, 0.05), MAX_SLEEP_SECONDS))
    log.info("%s", kv(event="stopped"))


def _drain_when_asked(app: App, drain: schedule.Job) -> None:
    """Drain now if rows due now were queued since the last drain: by a poll that just ran (so a new article goes
    out seconds after it is found), or by a chat command in another thread (/post, a broadcast, /resume), noticed
    within MAX_SLEEP_SECONDS. Rows waiting for a posting slot ask for nothing, and a poll that queued nothing
    costs one read.

    The drain is the scheduled job run early, with its usual per-channel budget (so polling waits no longer than
    for a scheduled drain), and its interval starts again from here.
    """
    if app.drain_requested():
        drain.run()  # type: ignore[no-untyped-call]  # schedule ships no types for Job.run


def _first_cycle(app: App, should_stop: Callable[[], bool]) -> None:
    report = app.run_cycle(poll_all=False, should_stop=should_stop)
    log.info("%s", kv(event="cycle", summary=report.summary()))
