"""The sign-up pages under abuse, over real HTTP: slow clients that never finish a request."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from bot.config import Config
from bot.email.tokens import TokenSigner
from bot.email.web import build_app, start_in_thread
from bot.store import open_store
from tests.conftest import FakeClock, confirmation_of

DEADLINE = 1.0  # the request timeout the server gets here, in seconds
SLOW_CLIENTS = 50
HALF_REQUESTS = (
    b"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty",
    b"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: 300\r\n\r\nemail=victim%40exam",
    b"GET /",
)


@pytest.fixture
def served(make_config: Callable[..., Config], tmp_path: Path) -> Iterator[tuple[str, list[EmailMessage]]]:
    config = make_config(
        web={"public_url": "https://news.example.com", "subscribe_per_hour": 5},
        email={"sender": "News <n@example.com>"},
    )
    sent: list[EmailMessage] = []
    app = build_app(
        config,
        store_factory=lambda: open_store(tmp_path / "state.sqlite"),
        signer=TokenSigner(b"reliability-web-limits-secret-0123"),
        send_mail=sent.append,
        make_confirmation=confirmation_of(config),
        clock=FakeClock(),
    )
    server, thread = start_in_thread(app, "127.0.0.1", 0, request_timeout=DEADLINE)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", sent
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_slow_clients_are_cut_off_and_sign_up_goes_on(served: tuple[str, list[EmailMessage]]) -> None:
    base, sent = served
    port = int(base.rsplit(":", 1)[1])
    slow = [socket.create_connection(("127.0.0.1", port), timeout=DEADLINE + 10) for _ in range(SLOW_CLIENTS)]
    try:
        for n, connection in enumerate(slow):
            connection.sendall(HALF_REQUESTS[n % len(HALF_REQUESTS)])
        with httpx.Client(base_url=base, timeout=10) as visitor:
            answer = visitor.post("/subscribe", data={"email": "reader@example.org", "hashtags": "#Climate"})
        assert answer.status_code == 200 and len(sent) == 1
        answered = [_read_until_closed(connection) for connection in slow]  # a socket timeout fails the test
    finally:
        for connection in slow:
            connection.close()
    assert answered == [b""] * SLOW_CLIENTS  # closed by the server, nothing sent, nothing processed
    assert len(sent) == 1
    print(f"\nreliability: {SLOW_CLIENTS} half-sent requests, all closed by the server at the {DEADLINE:g} s deadline")


def _read_until_closed(connection: socket.socket) -> bytes:
    received = b""
    while chunk := connection.recv(4096):
        received += chunk
    return received
