"""When things happen. The only module that knows about time passing; the jobs themselves are plain calls."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import ParamSpec

import schedule

from bot.app import App
from bot.logs import kv
from bot.store import StoreError

log = logging.getLogger("newsbot.scheduler")

POLL_CHECK_SECONDS = 5
DIGEST_CHECK_SECONDS = 60
MAX_SLEEP_SECONDS = 1.0
BUG_HELP = "newsbot goes on; if it happens again, report it with the traceback below"
DRAIN_TAG = "drain"


P = ParamSpec("P")


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


def build_schedule(app: App, stop: threading.Event) -> schedule.Scheduler:
    jobs = schedule.Scheduler()
    # One job looks for due sources (each has its own interval and error backoff in the state file), so
    # sources an admin adds from chat are polled too without rebuilding the schedule.
    jobs.every(POLL_CHECK_SECONDS).seconds.do(survive_job_errors(app.poll_due_sources))
    drain = survive_job_errors(app.drain)
    jobs.every(app.config.outbox.drain_interval).seconds.do(drain, stop.is_set).tag(DRAIN_TAG)
    jobs.every(DIGEST_CHECK_SECONDS).seconds.do(survive_job_errors(app.digest), should_stop=stop.is_set)
    return jobs


def install_stop_signals(stop: threading.Event) -> None:
    """The first SIGTERM or SIGINT sets `stop`; a second one acts as if no handler were installed (quit at once)."""

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s", kv(event="stopping", signal=signal.Signals(signum).name))
        stop.set()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)


def run_forever(app: App, stop: threading.Event) -> None:
    """Run one cycle at once, then every job at its interval until `stop` is set; drain at once when asked.

    A stop request lets the item in flight finish: the drain and the digest check `stop` between items.
    """
    log.info("%s", kv(event="started", sources=len(app.config.sources), state=app.config.state.path))
    survive_job_errors(_first_cycle)(app, stop)
    jobs = build_schedule(app, stop)
    [drain] = jobs.get_jobs(DRAIN_TAG)
    drain_when_asked = survive_job_errors(_drain_when_asked)
    while not stop.is_set():
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


def _first_cycle(app: App, stop: threading.Event) -> None:
    report = app.run_cycle(poll_all=False, should_stop=stop.is_set)
    log.info("%s", kv(event="cycle", summary=report.summary()))
