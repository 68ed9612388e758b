"""Email digest: render and send one digest per subscriber to N subscribers through a local SMTP sink.

Run from the repository root: `.venv/bin/python bench/digest.py [--sizes 1000 10000]` (`--sizes 200` for a quick
look). Each size runs newsbot in a fresh process (so its peak RSS is that size's own) and the naive baseline in
another fresh process, both talking over real TCP to an aiosmtpd sink that runs in yet another process and only
counts the messages it accepts (it keeps nothing, so its memory and CPU stay small and out of the measurement).

- **newsbot**: per subscriber, as the digest job does: `matching(...)` picks the subscriber's articles,
  `DigestContents` renders them (once per distinct articles and hashtags, each reader's links put in; since issue
  #16's second round), `build_digest_message` builds the MIME message, and one `SmtpSender`
  sends it over ONE reused connection (`send_rate` 10,000/s, so the rate limit is not what is measured).
  The timed span covers all three steps.
- **naive** (the baseline, same run, same sink): the same per-subscriber render and build by the same code,
  then a new `smtplib.SMTP` connection per message (connect, EHLO, sendmail, QUIT), as a simple mailer would.
  The timed span covers the same steps, so the ratio shows what one reused connection buys.

Reports messages per second for both, the ratio newsbot / naive and newsbot's peak RSS; also where newsbot's
time goes (render, build, send). Writes bench/RESULTS-digest.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from email.message import EmailMessage

    from bot.config import EmailConfig
    from bot.models import Article
    from bot.render import Digest

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_PATH = BENCH_DIR / "RESULTS-digest.md"
DEFAULT_SIZES = (1000, 10000)
HOST = "127.0.0.1"
SEND_RATE = 10_000.0  # messages per second: far above what is reached, so the limiter never waits
SENDER = "Bench News <news@bench.example>"
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # fixed, so every run renders the same digests
ARTICLE_COUNT = 12
SEED = 20260302

# --- input: articles and subscribers, generated deterministically ------------------------------------------------

TOPICS = ("World", "Politics", "Economy", "Climate", "Tech", "Science", "Health", "Sport", "Culture", "Europe")
PLACES = ("Lisbon", "Nairobi", "Osaka", "Quito", "Tallinn", "Accra", "Hobart", "Bergen", "Valparaíso", "Lyon")
ACTORS = (
    "the city council",
    "a coalition of regional governments",
    "the national statistics office",
    "researchers at the state university",
    "the transport ministry",
    "a group of independent auditors",
    "the central bank",
    "local health authorities",
    "a consortium of energy firms",
    "the football federation",
)
ACTIONS = (
    "announced a plan to",
    "voted narrowly to",
    "published figures suggesting it will",
    "agreed after months of talks to",
    "said on Tuesday that it would",
    "was criticised for its decision to",
)
OBJECTS = (
    "expand the tram network to the northern suburbs",
    "cap rents in the districts where prices rose fastest",
    "delay the opening of the new offshore wind farm",
    "fund a ten-year study of coastal erosion",
    "raise the minimum wage by four per cent",
    "cut the waiting time for hip operations",
    "move the national archive into a renovated power station",
    "bid for the 2034 championships",
    "tighten the rules on short-term holiday lets",
    "open its climate data to outside researchers",
)
DETAILS = (
    "Officials said the cost would be about {n} million euros over {m} years.",
    "Critics argue that the timetable is unrealistic and that {n} jobs are at stake.",
    "A survey of {n} residents found that two thirds supported the idea.",
    "The measure follows a report that counted {n} complaints in the past {m} months.",
    "Opposition members called for an independent review before any money is spent.",
    "Similar schemes elsewhere took {m} years longer than planned, according to the auditors.",
    "The first phase is expected to start in the spring, weather permitting.",
    "Union representatives said they had not been consulted and would ask for a meeting.",
    "Economists cautioned that the figures depend on assumptions about interest rates.",
    "Residents interviewed on Monday were divided, with many saying they wanted more detail.",
    "The decision can still be challenged in court within {m} weeks.",
    "Neighbouring regions are watching closely and may follow if the pilot succeeds.",
)
QUOTES = (
    '"This is the most important change in a generation," the spokesperson said.',
    '"We have listened, and we will keep listening," a senior official told reporters.',
    '"Nobody asked the people who will actually pay for it," one resident said.',
    '"The data are clear, even if the politics are not," said a researcher who studies the field.',
)


def make_articles(count: int = ARTICLE_COUNT) -> list[Article]:
    """`count` news articles: 3–5 paragraphs, a link and 2–3 hashtags each; every topic is used at least once."""
    from bot.models import Article

    rng = random.Random(SEED)
    articles = []
    for index in range(count):
        place, actor = PLACES[index % len(PLACES)], ACTORS[rng.randrange(len(ACTORS))]
        action, thing = ACTIONS[rng.randrange(len(ACTIONS))], OBJECTS[rng.randrange(len(OBJECTS))]
        first = TOPICS[index % len(TOPICS)]
        others = rng.sample([topic for topic in TOPICS if topic != first], rng.choice((1, 2)))
        paragraphs = [f"In {place}, {actor} {action} {thing}. " + _sentences(rng, 2)]
        for _ in range(rng.randint(2, 4)):
            paragraphs.append(
                _sentences(rng, rng.randint(3, 4)) + (" " + rng.choice(QUOTES) if rng.random() < 0.5 else "")
            )
        published = NOW - timedelta(days=6, hours=20) + timedelta(hours=13 * index)
        slug = "-".join(thing.split()[:5])
        articles.append(
            Article(
                key=f"a{index + 1:02d}",
                source="Bench Wire",
                title=f"{place}: {actor[0].upper()}{actor[1:]} {action.split(' to')[0]} to {thing}",
                link=f"https://news.bench.example/{published:%Y/%m/%d}/{slug}-{index + 1}",
                text="\n\n".join(paragraphs),
                hashtags=(first, *others),
                published=published,
                first_seen=published + timedelta(minutes=5),
            )
        )
    return articles


def _sentences(rng: random.Random, count: int) -> str:
    chosen = rng.sample(DETAILS, count)
    return " ".join(s.format(n=rng.randint(12, 900), m=rng.randint(2, 11)) for s in chosen)


@dataclass(frozen=True, slots=True)
class Subscriber:
    address: str
    name: str
    hashtags: tuple[str, ...]


def make_subscribers(count: int) -> Iterator[Subscriber]:
    """`count` subscribers: one in ten with no hashtags (gets everything), the rest with 1–3 topics."""
    rng = random.Random(SEED + 1)
    for index in range(count):
        tags = () if index % 10 == 0 else tuple(rng.sample(TOPICS, rng.randint(1, 3)))
        name = f"Reader {index + 1}" if index % 3 else ""
        yield Subscriber(f"reader{index + 1:06d}@inbox.bench.example", name, tags)


def _token(address: str) -> str:
    return hashlib.sha256(address.encode()).hexdigest()[:43]  # about as long as a signed link's token


class _Digests:
    """Renders and builds one subscriber's digest as newsbot's digest job does (bot.email.delivery): rendered once
    per distinct (articles, hashtags) by `DigestContents`, each reader's links put in."""

    def __init__(self, email_config: EmailConfig) -> None:
        from bot.config import Config
        from bot.email.contents import DigestContents
        from bot.email.delivery import unsubscribe_mailto
        from bot.email.message import MailIdentity
        from bot.render import build_renderer

        self.config = email_config
        self.renderer = build_renderer(Config(email=email_config))
        self.contents = DigestContents(self.renderer, email_config.digest_title)  # as the digest job renders
        self.identity = MailIdentity.from_config(email_config)
        self.mailto = unsubscribe_mailto(email_config.sender)
        self.articles = make_articles()

    def render(self, subscriber: Subscriber) -> tuple[Digest, str]:
        """(the rendered Digest, the subscriber's unsubscribe URL)."""
        from bot.email.selection import matching

        articles = matching(self.articles, subscriber.hashtags)
        unsubscribe = f"https://news.bench.example/unsubscribe?t={_token(subscriber.address)}"
        digest = self.contents.digest(
            articles,
            subscriber.hashtags,
            unsubscribe_url=unsubscribe,
            preferences_url=f"https://news.bench.example/preferences?t={_token(subscriber.address)}",
        )
        return digest, unsubscribe

    def build(self, subscriber: Subscriber, digest: Digest, unsubscribe: str) -> EmailMessage:
        from bot.email.message import build_digest_message

        return build_digest_message(
            digest,
            identity=self.identity,
            to=subscriber.address,
            to_name=subscriber.name,
            unsubscribe_url=unsubscribe,
            unsubscribe_mailto=self.mailto,
            now=NOW,
        )


def _email_config(port: int) -> EmailConfig:
    from bot.config import EmailConfig

    return EmailConfig(smtp_host=HOST, smtp_port=port, security="none", sender=SENDER, send_rate=SEND_RATE)


# --- the sink ----------------------------------------------------------------------------------------------------


def serve_sink(connection: Connection) -> None:
    """Child process: an aiosmtpd server that accepts every message and only counts it, until told to stop."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, Envelope, Session

    class Counter:
        def __init__(self) -> None:
            self.messages = 0
            self.bytes = 0

        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            self.messages += 1
            self.bytes += len(envelope.original_content or b"")
            return "250 OK"

    class PortZero(Controller):
        """Listens on port 0; reads the port the system chose before checking that the server answers."""

        def _trigger_server(self) -> None:
            server = cast(asyncio.Server, self.server)
            self.port = server.sockets[0].getsockname()[1]
            super()._trigger_server()  # type: ignore[no-untyped-call]

    counter = Counter()
    controller = PortZero(counter, hostname=HOST, port=0)
    controller.start()
    connection.send(controller.port)
    while connection.recv() == "count":  # the counts so far, then zero again
        connection.send({"messages": counter.messages, "bytes": counter.bytes})
        counter.messages = counter.bytes = 0
    controller.stop()


# --- the two measured processes ----------------------------------------------------------------------------------


def run_newsbot(size: int, port: int) -> dict[str, float]:
    """This process: newsbot renders, builds and sends `size` digests over one reused SMTP connection."""
    sys.path.insert(0, str(REPO))
    from bot.email.smtp import SmtpSender

    config = _email_config(port)
    digests = _Digests(config)
    subscribers = list(make_subscribers(size))
    render_s = build_s = send_s = 0.0
    articles = 0
    with SmtpSender(config, local_hostname="bench.example") as sender:
        started = time.perf_counter()
        for subscriber in subscribers:
            t0 = time.perf_counter()
            digest, unsubscribe = digests.render(subscriber)
            t1 = time.perf_counter()
            message = digests.build(subscriber, digest, unsubscribe)
            t2 = time.perf_counter()
            sender.send(message)
            t3 = time.perf_counter()
            render_s, build_s, send_s = render_s + t1 - t0, build_s + t2 - t1, send_s + t3 - t2
            articles += digest.article_count
        elapsed = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "sent": size,
        "seconds": elapsed,
        "render_s": render_s,
        "build_s": build_s,
        "send_s": send_s,
        "mean_articles": articles / size,
        "peak_rss_mb": peak_kib / 1024,
    }


def run_naive(size: int, port: int) -> dict[str, float]:
    """This process: the same per-subscriber work, but a new smtplib connection for every message."""
    sys.path.insert(0, str(REPO))
    import smtplib

    from bot.email.message import MailIdentity

    config = _email_config(port)
    digests = _Digests(config)
    sender = MailIdentity.from_config(config).address
    subscribers = list(make_subscribers(size))
    started = time.perf_counter()
    for subscriber in subscribers:
        digest, unsubscribe = digests.render(subscriber)
        data = digests.build(subscriber, digest, unsubscribe).as_bytes()
        # local_hostname given: smtplib would otherwise look up this host's FQDN on every connection.
        conn = smtplib.SMTP(HOST, port, local_hostname="bench.example", timeout=30)
        conn.sendmail(sender, [subscriber.address], data)
        conn.quit()
    elapsed = time.perf_counter() - started
    return {"sent": size, "seconds": elapsed}


# --- driver ------------------------------------------------------------------------------------------------------


def _child(kind: str, size: int, port: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--one", kind, "--size", str(size), "--port", str(port)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{kind} run for {size} failed:\n{done.stderr}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def measure(sizes: list[int]) -> list[dict[str, float]]:
    rows = []
    for size in sizes:
        parent, child = multiprocessing.Pipe()
        sink = multiprocessing.Process(target=serve_sink, args=(child,), daemon=True)
        sink.start()
        port = parent.recv()
        try:
            newsbot = _child("newsbot", size, port)
            parent.send("count")
            newsbot_received = parent.recv()
            naive = _child("naive", size, port)
            parent.send("count")
            naive_received = parent.recv()
        finally:
            parent.send("stop")
            sink.join(timeout=10)
        for name, got in (("newsbot", newsbot_received), ("naive", naive_received)):
            if got["messages"] != size:
                raise RuntimeError(f"the sink received {got['messages']} of {size} {name} messages")
        row = {
            "subscribers": size,
            "newsbot_rate": size / newsbot["seconds"],
            "naive_rate": size / naive["seconds"],
            "newsbot_seconds": newsbot["seconds"],
            "naive_seconds": naive["seconds"],
            "render_s": newsbot["render_s"],
            "build_s": newsbot["build_s"],
            "send_s": newsbot["send_s"],
            "mean_articles": newsbot["mean_articles"],
            "sink_kb": newsbot_received["bytes"] / size / 1024,
            "peak_rss_mb": newsbot["peak_rss_mb"],
        }
        row["ratio"] = row["newsbot_rate"] / row["naive_rate"]
        rows.append(row)
        print(f"{size} subscribers: {json.dumps(row)}", file=sys.stderr)
    return rows


def render(rows: list[dict[str, float]]) -> str:
    lines = [
        "# Email digest benchmark",
        "",
        "Generated by `.venv/bin/python bench/digest.py`: one digest per subscriber (12 articles, each subscriber",
        "gets those matching their hashtags) to a local aiosmtpd sink in another process that only counts messages.",
        "newsbot = render + build + send over one reused SMTP connection (send_rate 10,000/s);",
        "naive = the same render and build per subscriber, then a new smtplib connection per message.",
        "",
        "| subscribers | newsbot msg/s | naive msg/s | ratio newsbot / naive | newsbot peak RSS (MB) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['subscribers']:,.0f} | {row['newsbot_rate']:,.1f} | {row['naive_rate']:,.1f}"
            f" | {row['ratio']:.2f} | {row['peak_rss_mb']:.0f} |"
        )
    lines += [
        "",
        "Where newsbot's time goes (ms per message; send includes serializing the message):",
        "",
        "| subscribers | render | build (MIME + CSS inlining) | send | articles per digest | KB per message |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        size = row["subscribers"]
        lines.append(
            f"| {size:,.0f} | {row['render_s'] / size * 1000:.2f} | {row['build_s'] / size * 1000:.2f}"
            f" | {row['send_s'] / size * 1000:.2f} | {row['mean_articles']:.1f} | {row['sink_kb']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--one", choices=("newsbot", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run = run_newsbot if args.one == "newsbot" else run_naive
        print(json.dumps(run(args.size, args.port)))
        return 0
    report = render(measure(args.sizes))
    print(report, end="")
    RESULTS_PATH.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
