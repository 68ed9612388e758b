"""Digests at list scale: a batch over N parallel SMTP connections to a relay that takes 50 ms a message, over STARTTLS.

Run from the repository root: `PYTHONPATH=. .venv/bin/python bench/digest_connections.py [--per-connection 100]`.
The relay is aiosmtpd in another process, with a self-signed certificate this bench makes with `openssl req`; it
holds every 250 for 50 ms (asyncio.sleep, so sessions wait side by side, as a relay across a network does).

- **newsbot, N connections** (N = 1, 2, 4, 10): the digest job's own sending path, `SendPool` over
  `SmtpConnections` (bot.email.connections, bot.email.parts): each message rendered and built as the job does
  (bench/digest.py's `_Digests`) in this thread, sent by one of N threads, each on its own STARTTLS connection
  reused for its share; `send_rate` 10,000/s. `--per-connection` messages per connection (default 100).
- **new TLS connection per message**: the same render and build, then connect, EHLO, STARTTLS, EHLO, send, QUIT.

Reports messages per second, the ratio of each N to N x one connection's rate, the ratio of 10 connections to a new
TLS connection per message, and the time 100,000 digests take at 10 connections (100,000 / the measured rate: the
rate is steady once the connections are open). Writes bench/RESULTS-digest-connections.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parent))
from digest import HOST, SENDER, _Digests, make_subscribers

RESULTS_PATH = Path(__file__).resolve().parent / "RESULTS-digest-connections.md"
RELAY_DELAY = 0.05
COUNTS = (1, 2, 4, 10)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "relay.pem", directory / "relay.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def serve_relay(connection: Connection, cert: str, key: str) -> None:
    """Child process: aiosmtpd with STARTTLS required, 50 ms before each 250, counting what it accepts."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, Envelope, Session

    class Relay:
        messages = 0

        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            await asyncio.sleep(RELAY_DELAY)
            Relay.messages += 1
            return "250 OK: queued"

    class PortZero(Controller):
        def _trigger_server(self) -> None:
            self.port = cast(asyncio.Server, self.server).sockets[0].getsockname()[1]
            super()._trigger_server()  # type: ignore[no-untyped-call]

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    controller = PortZero(Relay(), hostname=HOST, port=0, tls_context=context, require_starttls=True)
    controller.start()
    connection.send(controller.port)
    while connection.recv() == "count":
        connection.send(Relay.messages)
        Relay.messages = 0
    controller.stop()


def run_newsbot(port: int, cert: Path, connections: int, size: int) -> float:
    """Messages per second over `connections` connections, through the digest job's pool."""
    from bot.config import EmailConfig
    from bot.email.connections import SendPool, ToSend
    from bot.email.parts import SmtpConnections
    from bot.email.smtp import SendRate, SmtpSender
    from bot.store import Delivery

    config = EmailConfig(
        smtp_host=HOST, smtp_port=port, security="starttls", sender=SENDER, send_rate=10_000, connections=connections
    )
    context = ssl.create_default_context(cafile=str(cert))

    class Connections(SmtpConnections):
        def open(self) -> SmtpSender:  # the relay's certificate is the bench's own
            return SmtpSender(config, rate=SendRate(0), ssl_context=context, local_hostname="bench.example")

    digests = _Digests(config)
    pool = SendPool(Connections(config, SendRate(config.send_rate), "", ""), lambda: False)
    started = time.perf_counter()
    for subscriber in make_subscribers(size):
        digest, unsubscribe = digests.render(subscriber)
        message = digests.build(subscriber, digest, unsubscribe)
        delivery = Delivery("bench", subscriber.address, "pending", _now(), 0, 0, "", "", _now())
        pool.submit(ToSend(delivery, message, digest.article_count, _now()))
        for sent in pool.finished(wait=False):
            assert sent.error is None, sent.error
    for sent in pool.finished(wait=True):
        assert sent.error is None, sent.error
    elapsed = time.perf_counter() - started
    pool.close()
    return size / elapsed


def run_new_connection_each(port: int, cert: Path, size: int) -> float:
    from bot.config import EmailConfig

    digests = _Digests(EmailConfig(smtp_host=HOST, smtp_port=port, sender=SENDER))
    context = ssl.create_default_context(cafile=str(cert))
    started = time.perf_counter()
    for subscriber in make_subscribers(size):
        digest, unsubscribe = digests.render(subscriber)
        data = digests.build(subscriber, digest, unsubscribe).as_bytes()
        conn = smtplib.SMTP(HOST, port, local_hostname="bench.example", timeout=30)
        conn.starttls(context=context)
        conn.sendmail("news@bench.example", [subscriber.address], data)
        conn.quit()
    return size / (time.perf_counter() - started)


def _now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-connection", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        cert, key = make_certificate(Path(folder))
        parent, child = multiprocessing.Pipe()
        relay = multiprocessing.Process(target=serve_relay, args=(child, str(cert), str(key)), daemon=True)
        relay.start()
        port = parent.recv()
        rates: dict[int, float] = {}
        try:
            for count in COUNTS:
                size = args.per_connection * count
                rates[count] = run_newsbot(port, cert, count, size)
                parent.send("count")
                assert parent.recv() == size, "the relay lost messages"
                print(f"{count} connection(s): {rates[count]:.1f} msg/s", file=sys.stderr)
            naive = run_new_connection_each(port, cert, args.per_connection)
            parent.send("count")
            assert parent.recv() == args.per_connection
        finally:
            parent.send("stop")
            relay.join(timeout=10)
    report = render(rates, naive, args.per_connection)
    print(report, end="")
    RESULTS_PATH.write_text(report, encoding="utf-8")
    return 0


def render(rates: dict[int, float], naive: float, per_connection: int) -> str:
    one = rates[1]
    lines = [
        "# Digests over parallel SMTP connections",
        "",
        f"Generated by `PYTHONPATH=. .venv/bin/python bench/digest_connections.py --per-connection {per_connection}`:",
        "a local aiosmtpd relay with STARTTLS (self-signed certificate made by the bench) that takes 50 ms a message;",
        "render + build + send of each digest as the job does, N connections each reused for its share",
        f"({per_connection} messages per connection). Measured on a shared, busy 2-core machine.",
        "",
        "| connections | msg/s | ratio to N x one connection |",
        "|---:|---:|---:|",
    ]
    lines += [f"| {n} | {rate:.1f} | {rate / (n * one):.2f} |" for n, rate in rates.items()]
    lines += [
        "",
        f"New STARTTLS connection per message (one at a time): {naive:.1f} msg/s; 10 reused connections are"
        f" {rates[10] / naive:.1f}x that, one reused connection {one / naive:.1f}x.",
        f"100,000 digests at 10 connections: {100_000 / rates[10] / 60:.1f} minutes (100,000 / the measured rate).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
