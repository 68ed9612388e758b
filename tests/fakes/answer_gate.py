"""A gate a fake holds its answers at: a post is made, and its answer waits until the test opens the gate.

A test that kills the client while an answer is held knows, whatever the machine's load, that the kill came after
the post was made and before the client could have heard of it (so before its ledger could say sent):

    fake.answers.close()
    process.wait_until(lambda: fake.answers.held > 0, timeout)
    process.kill()
    fake.answers.open()
"""

from __future__ import annotations

import asyncio
import threading

_LOOK_EVERY = 0.01  # seconds between looks at the gate while an answer is held


class AnswerGate:
    """Open at first. `hold()` is awaited by the fake's handler between making a post and answering it."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()
        self._held = 0

    @property
    def held(self) -> int:
        """How many answers are waiting at the gate now."""
        with self._lock:
            return self._held

    def close(self) -> None:
        """Hold every answer that comes to the gate from now on."""
        self._open.clear()

    def open(self) -> None:
        """Let the held answers go (to a client that may be gone) and the ones after them through."""
        self._open.set()

    async def hold(self) -> None:
        """Return at once while the gate is open, else when it opens (or the request is cancelled)."""
        if self._open.is_set():
            return
        with self._lock:
            self._held += 1
        try:
            while not self._open.is_set():
                await asyncio.sleep(_LOOK_EVERY)
        finally:
            with self._lock:
                self._held -= 1
