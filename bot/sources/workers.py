"""Parsing many downloads of one poll at once: a few worker processes and the calling process share the work.

Parsing is CPU work that threads cannot spread over cores, so when a poll brings many changed documents some
go to worker processes. What it costs in memory is what decides the shape:
- the workers are forked from a fork server that has loaded only what parsing needs (`PRELOAD`: this package
  and feedparser), never the bot's channels, store, templates or httpx (`Fetched` travels without it), so each
  worker is about the size of a bare interpreter with feedparser;
- there are only as many workers as there are cores besides the calling process's (`worker_count`), which
  parses its own share meanwhile: on 2 cores one worker, not two;
- results come back in source order, one document at a time (`parsed_in_order`), and the caller records each
  before taking the next, so a first poll of many feeds never holds every body or every entry at once.
A plain fork would be cheaper still but is unsafe in a process that runs threads (chat commands, web pages).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Iterator, MutableSequence, Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from bot.errors import SourceError
from bot.sources import SourceRead, parse_fetched
from bot.sources.fetched import Fetched

__all__ = [
    "MAX_WORKER_PROCESSES",
    "PARSE_IN_PROCESSES_FROM",
    "PRELOAD",
    "loaded_modules",
    "parse_pool",
    "parsed_in_order",
    "usable_cores",
    "worker_count",
]

PARSE_IN_PROCESSES_FROM = 24  # changed documents per worker; below this, starting one costs more than it saves
MAX_WORKER_PROCESSES = 4
PRELOAD = ("bot.sources", "feedparser")  # what a worker needs to parse, loaded once in the fork server

Download = SourceRead | Fetched | SourceError


def usable_cores() -> int:
    """The cores this process may run on (its affinity), not all the machine has."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def worker_count(changed: int, cores: int) -> int:
    """Worker processes for `changed` documents to parse: one per `PARSE_IN_PROCESSES_FROM` of them, at most one
    per core besides the calling process's (which parses too) and `MAX_WORKER_PROCESSES`; none on one core."""
    return max(0, min(changed // PARSE_IN_PROCESSES_FROM, cores - 1, MAX_WORKER_PROCESSES))


def parse_pool(workers: int) -> ProcessPoolExecutor:
    """`workers` processes forked from a fork server that has loaded `PRELOAD` (safe in a threaded process)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    return ProcessPoolExecutor(workers, mp_context=context)


def loaded_modules() -> list[str]:
    """The modules loaded in the process that runs this (a worker's, when submitted to `parse_pool`)."""
    return sorted(sys.modules)


def _parse_here(name: str, url: str, got: Download) -> SourceRead | SourceError:
    return parse_fetched(name, url, got) if isinstance(got, Fetched) else got


def parsed_in_order(
    names: Sequence[str], urls: Sequence[str], downloads: MutableSequence[Download | None], *, cores: int = 0
) -> Iterator[SourceRead | SourceError]:
    """What each download holds (a changed one parsed), in order, each download dropped from `downloads` as it
    is taken. With workers (`worker_count`) the changed documents go to them, and while the caller's next one
    is not parsed yet this process parses one no worker has started (it records the rest meanwhile). `cores`:
    how many this process may use (0: `usable_cores()`)."""
    jobs = {i: got for i, got in enumerate(downloads) if isinstance(got, Fetched) and not got.not_modified}
    workers = worker_count(len(jobs), cores or usable_cores())
    if not workers:
        for index, name in enumerate(names):
            got, downloads[index] = downloads[index], None
            assert got is not None  # taken once
            yield _parse_here(name, urls[index], got)
        return
    with parse_pool(workers) as pool:
        pending = {index: pool.submit(parse_fetched, names[index], urls[index], got) for index, got in jobs.items()}
        done: dict[int, SourceRead | SourceError] = {}
        try:
            for index in range(len(names)):
                got, downloads[index] = downloads[index], None
                assert got is not None  # taken once
                if isinstance(got, Fetched) and not got.not_modified:
                    _parse_while_waiting(names, urls, jobs, pending, done, index)
                    yield done.pop(index)
                else:
                    yield _parse_here(names[index], urls[index], got)
        finally:
            for left in pending.values():
                left.cancel()  # the caller stopped early: parse nothing more for it


def _parse_while_waiting(
    names: Sequence[str],
    urls: Sequence[str],
    jobs: dict[int, Fetched],
    pending: dict[int, Future[SourceRead | SourceError]],
    done: dict[int, SourceRead | SourceError],
    wanted: int,
) -> None:
    """Put `wanted`'s result in `done`, parsing here the latest documents no worker has started until it is in."""
    while wanted not in done:
        future = pending[wanted]
        taken = None if future.done() else next((i for i in [wanted, *reversed(pending)] if pending[i].cancel()), None)
        if taken is None:  # parsed, or every document left is with a worker
            jobs.pop(wanted)
            done[wanted] = pending.pop(wanted).result()
            return
        pending.pop(taken)
        done[taken] = parse_fetched(names[taken], urls[taken], jobs.pop(taken))  # its body goes now
