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
import os
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import AnyStr, cast

sys.path.insert(0, str(Path(__file__).resolve().parent))
from digest import HOST, SENDER, Subscriber, _Digests, make_subscribers

RESULTS_PATH = Path(__file__).resolve().parent / "RESULTS-digest-connections.md"
RELAY_DELAY = 0.05
COUNTS = (1, 2, 4, 10)
CPU_MS: dict[int, float] = {}  # newsbot's CPU (all threads) per message, at each number of connections
RELAY_CPU_MS: dict[int, float] = {}  # the relay's (same machine, same cores)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "relay.pem", directory / "relay.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def serve_relay(connection: Connection, cert: str, key: str, rtt: float) -> None:
    """Child process: aiosmtpd with STARTTLS required, 50 ms before each 250, counting what it accepts.

    `rtt` (seconds) stands for the network between newsbot and a relay on the internet: every reply waits that
    long before it is written (smtplib sends one command and waits for its reply, so each costs one round trip),
    the greeting one more (the TCP handshake) and STARTTLS's 220 one more (the TLS 1.3 handshake)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, Envelope, Session

    class Relay:
        messages = 0

        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            await asyncio.sleep(RELAY_DELAY)
            Relay.messages += 1
            return "250 OK: queued"

    class FarAway(SMTP):
        async def push(self, status: AnyStr) -> None:
            if rtt:
                text = status.decode() if isinstance(status, bytes) else status
                await asyncio.sleep(rtt * 2 if text.startswith("220") else rtt)
            await super().push(status)

    class PortZero(Controller):
        def factory(self) -> SMTP:
            return FarAway(self.handler, **self.SMTP_kwargs)

        def _trigger_server(self) -> None:
            self.port = cast(asyncio.Server, self.server).sockets[0].getsockname()[1]
            super()._trigger_server()  # type: ignore[no-untyped-call]

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    controller = PortZero(Relay(), hostname=HOST, port=0, tls_context=context, require_starttls=True)
    controller.start()
    connection.send(controller.port)
    while connection.recv() == "count":  # answers the messages accepted and the relay's CPU, since the last count
        connection.send((Relay.messages, time.process_time()))
        Relay.messages = 0
    controller.stop()


def _one_per_content() -> list[Subscriber]:
    """One reader for each distinct hashtag set among 100,000 readers (what the job renders once each)."""
    seen: dict[tuple[str, ...], Subscriber] = {}
    for subscriber in make_subscribers(100_000):
        seen.setdefault(subscriber.hashtags, subscriber)
    return list(seen.values())


def run_newsbot(port: int, cert: Path, connections: int, size: int, warm: bool) -> float:
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
    if warm:  # the steady state of a list-scale batch: every distinct content rendered once already
        for subscriber in _one_per_content():
            digests.render(subscriber)
    pool = SendPool(Connections(config, SendRate(config.send_rate), "", ""), lambda: False)
    started, cpu = time.perf_counter(), time.process_time()
    for subscriber in make_subscribers(size):
        digest, unsubscribe = digests.render(subscriber)
        message = digests.build(subscriber, digest, unsubscribe)
        delivery = Delivery("bench", subscriber.address, "pending", _now(), 0, 0, "", "", _now())
        pool.submit(ToSend(delivery, message, digest.article_count, _now()))
        for sent in pool.finished(wait=False):
            assert sent.error is None, sent.error
    for sent in pool.finished(wait=True):
        assert sent.error is None, sent.error
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    pool.close()
    CPU_MS[connections] = cpu / size * 1000
    return size / elapsed


def run_new_connection_each(port: int, cert: Path, size: int, warm: bool) -> float:
    from bot.config import EmailConfig

    digests = _Digests(EmailConfig(smtp_host=HOST, smtp_port=port, sender=SENDER))
    if warm:  # rendered as newsbot's side is, so only the connections differ
        for subscriber in _one_per_content():
            digests.render(subscriber)
    context = ssl.create_default_context(cafile=str(cert))
    started = time.perf_counter()
    for subscriber in make_subscribers(size):
        digest, unsubscribe = digests.render(subscriber)
        data = digests.build(subscriber, digest, unsubscribe).as_bytes()
        conn = smtplib.SMTP(HOST, port, local_hostname="bench.example", timeout=30)
        assert conn.sock is not None  # no wait for a delayed ACK (Nagle), as newsbot's SmtpSender
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
    parser.add_argument("--rtt", type=float, default=0.0, help="milliseconds of network round trip to simulate")
    parser.add_argument(
        "--cold", action="store_true", help="start each run with no digest rendered (default: every distinct one once)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        cert, key = make_certificate(Path(folder))
        parent, child = multiprocessing.Pipe()
        relay_args = (child, str(cert), str(key), args.rtt / 1000)
        relay = multiprocessing.Process(target=serve_relay, args=relay_args, daemon=True)
        relay.start()
        port = parent.recv()
        try:
            rates, naive = measure(parent, port, cert, args.per_connection, warm=not args.cold)
        finally:
            parent.send("stop")
            relay.join(timeout=10)
    report = render(rates, naive, args)
    print(report, end="")
    suffix = f"-rtt{args.rtt:g}" if args.rtt else ""
    (RESULTS_PATH.parent / f"{RESULTS_PATH.stem}{suffix}{'-cold' if args.cold else ''}.md").write_text(report)
    return 0


def measure(
    relay: Connection, port: int, cert: Path, per_connection: int, *, warm: bool
) -> tuple[dict[int, float], float]:
    """Messages per second at each number of connections, and with a new connection per message."""
    rates: dict[int, float] = {}
    relay.send("count")
    _, relay_cpu = relay.recv()
    for count in COUNTS:
        size = per_connection * count
        rates[count] = run_newsbot(port, cert, count, size, warm)
        relay.send("count")
        accepted, cpu = relay.recv()
        assert accepted == size, "the relay lost messages"
        RELAY_CPU_MS[count], relay_cpu = (cpu - relay_cpu) / size * 1000, cpu
        print(f"{count} connection(s): {rates[count]:.1f} msg/s", file=sys.stderr)
    naive = run_new_connection_each(port, cert, per_connection, warm)
    relay.send("count")
    assert relay.recv()[0] == per_connection
    return rates, naive


def render(rates: dict[int, float], naive: float, args: argparse.Namespace) -> str:
    one, command = rates[1], "PYTHONPATH=. .venv/bin/python bench/digest_connections.py"
    flags = f" --per-connection {args.per_connection}" + (f" --rtt {args.rtt:g}" if args.rtt else "")
    lines = [
        "# Digests over parallel SMTP connections",
        "",
        f"Generated by `{command}{flags}{' --cold' if args.cold else ''}`: a local aiosmtpd relay with STARTTLS",
        "(self-signed certificate made by the bench) that takes 50 ms a message"
        + (f", {args.rtt:g} ms added to each reply as a network round trip" if args.rtt else "")
        + "; render + build + send of each digest as the job does, N connections each reused for its share",
        f"({args.per_connection} messages per connection); "
        + ("no digest rendered before the run." if args.cold else "every distinct digest rendered once before it.")
        + f" Measured on {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end of the run.",
        "",
        "| connections | msg/s | ratio to N x one connection | newsbot CPU per message (ms)"
        " | relay CPU per message (ms) |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {n} | {rate:.1f} | {rate / (n * one):.2f} | {CPU_MS[n]:.1f} | {RELAY_CPU_MS[n]:.1f} |"
        for n, rate in rates.items()
    ]
    lines += [
        "",
        f"A new STARTTLS connection per message (one at a time): {naive:.1f} msg/s. One reused connection is"
        f" {one / naive:.2f}x that, 10 reused connections {rates[10] / naive:.1f}x.",
        f"100,000 digests at 10 connections: {100_000 / rates[10] / 60:.1f} minutes (100,000 / the measured rate).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
