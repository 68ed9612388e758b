"""A parse worker process: `python -m bot.sources.parse_worker` reads jobs from stdin and writes results to stdout.

A plain subprocess running this small module, not a multiprocessing pool: a bare interpreter that imports only
this package and feedparser, with no fork server and no resource tracker beside it (38 MB of resident memory
that the bot kept for a whole run), and safe to start from a process that runs threads.

The wire: each message is an 8-byte big-endian length and that many bytes of pickle. A job is `(name, url,
Fetched)` or `None` (list the loaded modules, for tests); the answer is what `parse_fetched` returned (a
`SourceRead` or `SourceError`), or the sorted module names. End of input ends the worker.
"""

from __future__ import annotations

import pickle
import sys
from typing import IO, TYPE_CHECKING, cast

if TYPE_CHECKING:
    from bot.sources.fetched import Fetched

__all__ = ["main", "read_message", "write_message"]

_LENGTH_BYTES = 8


def write_message(stream: IO[bytes], value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(_LENGTH_BYTES, "big") + data)
    stream.flush()


def read_message(stream: IO[bytes]) -> object:
    """The next message; EOFError when the other side has gone (closed, exited or was killed)."""
    header = stream.read(_LENGTH_BYTES)
    if len(header) < _LENGTH_BYTES:
        raise EOFError("the other side closed the pipe")
    size = int.from_bytes(header, "big")
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the other side closed the pipe mid-message")
    return pickle.loads(data)  # only ever from the process at the other end of our own pipe


def main() -> None:
    from bot.sources import parse_fetched

    jobs, answers = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            job = read_message(jobs)
        except EOFError:
            return
        if job is None:
            write_message(answers, sorted(sys.modules))
            continue
        name, url, fetched = cast("tuple[str, str, Fetched]", job)
        write_message(answers, parse_fetched(name, url, fetched))


if __name__ == "__main__":
    main()
