"""A digest batch sent over several SMTP connections side by side, within one send rate.

A relay that takes tens of milliseconds to answer each message makes one connection wait most of the time: at
50 ms a message it sends 20 a second. `SendPool` runs one thread per connection (smtplib blocks), each with its
own `MailSender` (its own connection, reused for its share of the batch, reopened as bot.email.smtp does when
the server drops it). The digest job hands it one ready-built message per delivery; exactly one thread takes
each one off the queue, and the outcomes come back to the job's thread, which alone writes the ledger: what
one reader gets is decided by one connection and recorded once, whatever the number of connections.

Every thread takes its turn from the one `MailSenders.reserve_turn` before it sends, so `[email] send_rate`
counts the messages of all connections together. A thread waits for its turn in short steps and gives a
message back unsent (`Sent.started` false, the delivery untouched) once the job asks it to stop, so SIGTERM
ends a batch in seconds even at a send rate of one mail a minute.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from bot.ratelimit import STOP_CHECK_SECONDS
from bot.store import Delivery

if TYPE_CHECKING:
    from email.message import EmailMessage

    from bot.email.delivery import MailSender

__all__ = ["MailSenders", "OneSender", "SendPool", "Sent", "ToSend"]


class MailSenders(Protocol):
    """The connections a digest batch is sent over: `count` of them, each opened by `open`, sharing one rate."""

    @property
    def count(self) -> int: ...

    def open(self) -> MailSender:
        """A sender with a connection of its own (opened on its first message); the pool closes it."""
        ...

    def reserve_turn(self) -> float:
        """Take the next turn under the send rate; returns the seconds until it comes (0: now)."""
        ...


class OneSender:
    """One sender used as it is (the dry run's `.eml` writer): one connection, its own rate; it stays open."""

    count = 1

    def __init__(self, sender: MailSender) -> None:
        self._sender = sender

    def open(self) -> MailSender:
        return _KeptOpen(self._sender)

    def reserve_turn(self) -> float:
        return self._sender.seconds_until_turn()


class _KeptOpen:
    def __init__(self, sender: MailSender) -> None:
        self._sender = sender

    def send(self, message: EmailMessage) -> str:
        return self._sender.send(message)

    def seconds_until_turn(self) -> float:
        return self._sender.seconds_until_turn()

    def close(self) -> None:
        return None  # its owner closes it


@dataclass(frozen=True, slots=True)
class ToSend:
    """One delivery's message, built and ready; `built_at` is the time its Date and links carry."""

    delivery: Delivery
    message: EmailMessage
    article_count: int
    built_at: datetime


@dataclass(frozen=True, slots=True)
class Sent:
    """What became of one `ToSend`: its Message-ID, or the error, or not started (stopped before its turn)."""

    job: ToSend
    message_id: str = ""
    error: BaseException | None = None  # not an Exception (the process is ending): the job raises it again
    started: bool = True


class SendPool:
    """`senders.count` threads, one connection each, sending what `submit` hands in; see the module docstring."""

    def __init__(self, senders: MailSenders, should_stop: Callable[[], bool]) -> None:
        self._senders = senders
        self._should_stop = should_stop
        self._halted = threading.Event()
        # Bounded: a message is built just before a connection is free for it, so its Date is when it goes out.
        self._jobs: queue.Queue[ToSend | None] = queue.Queue(maxsize=senders.count)
        self._done: queue.Queue[Sent] = queue.Queue()
        self.in_flight = 0
        self._threads = [
            threading.Thread(target=self._work, args=(senders.open(),), name=f"smtp-{n + 1}", daemon=True)
            for n in range(senders.count)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, job: ToSend) -> None:
        """Queue one message; waits while every connection is busy and the queue holds one for each."""
        self.in_flight += 1
        self._jobs.put(job)

    def finished(self, *, wait: bool) -> Iterator[Sent]:
        """The outcomes that came back so far; with `wait`, every outcome still to come."""
        while self.in_flight:
            try:
                sent = self._done.get(block=wait)
            except queue.Empty:
                return
            self.in_flight -= 1
            yield sent

    def halt(self) -> None:
        """Start no more messages (the credentials were refused): those queued come back not started."""
        self._halted.set()

    def close(self) -> None:
        """After `finished(wait=True)`: end the threads, each closing its connection (QUIT)."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()

    def _work(self, sender: MailSender) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                self._done.put(self._send(sender, job))
        finally:
            sender.close()

    def _send(self, sender: MailSender, job: ToSend) -> Sent:
        if not self._turn_came():
            return Sent(job, started=False)
        try:
            return Sent(job, message_id=sender.send(job.message))
        except BaseException as error:  # every outcome goes back to the job's thread, which records it
            return Sent(job, error=error)

    def _turn_came(self) -> bool:
        """Take a turn and wait for it in short steps; False if asked to stop first (the turn is then wasted)."""
        if self._stopping():
            return False
        deadline = time.monotonic() + self._senders.reserve_turn()
        while (wait := deadline - time.monotonic()) > 0:
            if self._stopping():
                return False
            time.sleep(min(wait, STOP_CHECK_SECONDS))
        return not self._stopping()

    def _stopping(self) -> bool:
        return self._halted.is_set() or self._should_stop()
