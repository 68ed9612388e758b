"""Parsing many downloads of one poll at once: a few worker processes and the calling process share the work.

Parsing is CPU work that threads cannot spread over cores, so when a poll brings many changed documents some
go to worker processes. What it costs in memory is what decides the shape:
- each worker is a plain subprocess running `bot.sources.parse_worker`: a bare interpreter that loads only this
  package and feedparser, never the bot's channels, store, templates or httpx (`Fetched` travels without it);
  no fork server and no resource tracker stay beside the bot (multiprocessing's forkserver cost 38 MB of
  resident memory for a whole run), and starting one is safe in a process that runs threads;
- there are only as many workers as there are cores besides the calling process's (`worker_count`), which
  parses its own share meanwhile: on 2 cores one worker, not two;
- results come back in source order, one document at a time (`parsed_in_order`), and the caller records each
  before taking the next, so a first poll of many feeds never holds every body or every entry at once.
A hostile document cannot stall or take down the bot from a worker: a worker that takes longer than
`PARSE_TIMEOUT` seconds over one document is killed, one that dies (out of memory, a crash in a C extension) is
replaced, and that document's source gets a `SourceError` saying so.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import cast

from bot.errors import SourceError
from bot.sources import SourceRead, parse_fetched
from bot.sources.fetched import Fetched
from bot.sources.parse_worker import read_message, write_message

__all__ = [
    "MAX_WORKER_PROCESSES",
    "PARSE_IN_PROCESSES_FROM",
    "PARSE_TIMEOUT",
    "Downloads",
    "ParseWorkers",
    "parse_pool",
    "parsed_in_order",
    "usable_cores",
    "worker_count",
]

PARSE_IN_PROCESSES_FROM = 24  # changed documents per worker; below this, starting one costs more than it saves
MAX_WORKER_PROCESSES = 4
PARSE_TIMEOUT = 60.0  # seconds a worker may take over one document before it is killed

Download = SourceRead | Fetched | SourceError
Parsed = SourceRead | SourceError
_Job = tuple[Future[object], tuple[str, str, Fetched] | None]


def usable_cores() -> int:
    """The cores this process may run on (its affinity), not all the machine has."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def worker_count(changed: int, cores: int) -> int:
    """Worker processes for `changed` documents to parse: one per `PARSE_IN_PROCESSES_FROM` of them, at most one
    per core besides the calling process's (which parses too) and `MAX_WORKER_PROCESSES`; none on one core."""
    return max(0, min(changed // PARSE_IN_PROCESSES_FROM, cores - 1, MAX_WORKER_PROCESSES))


def _start_worker() -> subprocess.Popen[bytes]:
    package_root = str(Path(__file__).resolve().parents[2])  # where `bot` is imported from, installed or not
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
    command = [sys.executable, "-m", "bot.sources.parse_worker"]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)


class ParseWorkers:
    """`workers` parse worker processes, each fed by a thread of this process from one queue of jobs."""

    def __init__(self, workers: int, timeout: float = PARSE_TIMEOUT) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.timeout = timeout
        self._feeders = [threading.Thread(target=self._feed, daemon=True) for _ in range(workers)]
        for feeder in self._feeders:
            feeder.start()

    def submit(self, name: str, url: str, fetched: Fetched) -> Future[Parsed]:
        """Parse in a worker; the future can be cancelled until a worker takes it (then the caller parses it)."""
        future: Future[object] = Future()
        self._jobs.put((future, (name, url, fetched)))
        return future  # type: ignore[return-value]  # a worker answers a document with a Parsed

    def loaded_modules(self) -> list[str]:
        """The modules a worker has loaded (for tests: what a worker costs)."""
        future: Future[object] = Future()
        self._jobs.put((future, None))
        return cast("list[str]", future.result())

    def _feed(self) -> None:
        worker: subprocess.Popen[bytes] | None = None
        try:
            while (job := self._jobs.get()) is not None:
                future, work = job
                if not future.set_running_or_notify_cancel():
                    continue  # the caller parsed it itself meanwhile
                worker = worker if worker is not None and worker.poll() is None else _start_worker()
                future.set_result(self._ask(worker, work))
        finally:
            if worker is not None:
                _stop(worker)

    def _ask(self, worker: subprocess.Popen[bytes], work: tuple[str, str, Fetched] | None) -> object:
        assert worker.stdin is not None and worker.stdout is not None  # started with pipes
        watchdog = threading.Timer(self.timeout, worker.kill)
        watchdog.start()
        try:
            write_message(worker.stdin, work)
            return read_message(worker.stdout)
        except (EOFError, OSError):  # killed by the watchdog, or died
            worker.kill()
            worker.wait()
            if work is None:
                raise
            name, url, _fetched = work
            timed_out = watchdog.finished.is_set()  # it fired: cancel() comes later
            reason = (
                f"parsing took longer than {self.timeout:g} s, so it was stopped: check the feed"
                if timed_out
                else f"the parser failed on it (its process ended with {worker.returncode}): check the feed"
            )
            return SourceError(name, url, reason)
        finally:
            watchdog.cancel()

    def close(self) -> None:
        for _ in self._feeders:
            self._jobs.put(None)
        for feeder in self._feeders:
            feeder.join()

    def __enter__(self) -> ParseWorkers:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def _stop(worker: subprocess.Popen[bytes]) -> None:
    """End of input ends a worker; one that does not go within a second is killed."""
    assert worker.stdin is not None
    try:
        worker.stdin.close()
        worker.wait(timeout=1.0)
    except (OSError, subprocess.TimeoutExpired):
        worker.kill()
        worker.wait()
    if worker.stdout is not None:
        worker.stdout.close()


def parse_pool(workers: int) -> ParseWorkers:
    """`workers` parse worker processes (safe in a threaded process); close it (or use `with`) when done."""
    return ParseWorkers(workers)


class Downloads:
    """The downloads of one poll check as the fetch threads bring them, each taken once, in source order, by the
    caller (`parsed_in_order`), so that parsing starts with the first download, not after the last. With
    `workers`, a changed document goes to them as it arrives."""

    def __init__(self, names: Sequence[str], urls: Sequence[str], workers: ParseWorkers | None = None) -> None:
        self.names, self.urls = names, urls
        self._slots: dict[int, Download | Future[Parsed] | Parsed] = {}
        self._jobs: dict[int, tuple[Future[Parsed], Fetched]] = {}  # submitted to the workers, not taken yet
        self._workers = workers
        self._failure: BaseException | None = None
        self._changed = threading.Condition()

    def arrive(self, index: int, got: Download) -> None:
        with self._changed:
            if self._workers is not None and isinstance(got, Fetched) and not got.not_modified:
                future = self._workers.submit(self.names[index], self.urls[index], got)
                self._jobs[index] = (future, got)
                self._slots[index] = future
            else:
                self._slots[index] = got
            self._changed.notify_all()

    def fail(self, error: BaseException) -> None:
        """A fetch thread failed outside the fetch (a bug): the caller's next `take` raises it."""
        with self._changed:
            self._failure = error
            self._changed.notify_all()

    def close(self) -> None:
        """The caller is done (or stopped early): parse jobs no worker has started are dropped."""
        with self._changed:
            for future, _fetched in self._jobs.values():
                future.cancel()
            self._jobs.clear()
            self._changed.notify_all()

    def take(self, index: int) -> Download | Future[Parsed] | Parsed:
        """`index`'s download (or its parse under way in a worker), once it is in; forgotten here."""
        with self._changed:
            self._changed.wait_for(lambda: index in self._slots or self._failure is not None)
            if self._failure is not None:
                raise self._failure
            return self._slots.pop(index)

    def steal(self, index: int) -> Fetched | None:
        """`index`'s document, if no worker has started it (the caller parses it itself); else None."""
        with self._changed:
            job = self._jobs.get(index)
            if job is None or not job[0].cancel():
                return None
            del self._jobs[index]
            return job[1]

    def latest_unstarted(self) -> int | None:
        """The last document submitted that no worker has started yet (the caller may parse it meanwhile)."""
        with self._changed:
            return next(
                (i for i in reversed(self._jobs) if not self._jobs[i][0].running() and not self._jobs[i][0].done()),
                None,
            )

    def parsed_here(self, index: int, result: Parsed) -> None:
        with self._changed:
            self._slots[index] = result

    def held(self) -> int:
        """Downloads (or results parsed ahead) in and not taken yet."""
        with self._changed:
            return len(self._slots)

    def forget_job(self, index: int) -> None:
        with self._changed:
            self._jobs.pop(index, None)


def _parse_here(name: str, url: str, got: Download) -> Parsed:
    return parse_fetched(name, url, got) if isinstance(got, Fetched) else got


def parsed_in_order(downloads: Downloads) -> Iterator[Parsed]:
    """What each download holds (a changed one parsed), in source order, as soon as it is in. A document given to
    the workers is parsed here if no worker has started it when its turn comes; while the worker parses it, this
    process parses the latest documents no worker has started (it records the rest meanwhile)."""
    names, urls = downloads.names, downloads.urls
    for index, name in enumerate(names):
        got = downloads.take(index)
        if not isinstance(got, Future):
            yield _parse_here(name, urls[index], got)
            continue
        yield _await_worker(downloads, index, got)


def _await_worker(downloads: Downloads, index: int, future: Future[Parsed]) -> Parsed:
    """`index`'s result, parsed here if no worker has started it; while a worker has it, others are parsed here."""
    names, urls = downloads.names, downloads.urls
    mine = downloads.steal(index)
    if mine is not None:
        return parse_fetched(names[index], urls[index], mine)
    while not future.done():
        other = downloads.latest_unstarted()
        fetched = downloads.steal(other) if other is not None else None
        if fetched is None:
            break
        assert other is not None
        downloads.parsed_here(other, parse_fetched(names[other], urls[other], fetched))  # its body goes now
    downloads.forget_job(index)
    return future.result()
