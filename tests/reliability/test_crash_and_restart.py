"""Crash and restart: `newsbot run` (and the digest) as real processes against the fake Telegram, X and SMTP servers,
killed with SIGKILL at random points in the middle of sending, restarted, and checked afterwards.

What the README promises, and what these tests hold it to: a crash before the remote side confirmed a send loses
nothing, and a crash between the confirmation and the ledger write re-sends only what was in flight. A Telegram
fan-out has at most `[telegram] max_in_flight` requests open, so a kill repeats at most that many messages; the
digest sends one message at a time, so a kill repeats at most one. SIGTERM finishes what is in flight and exits 0;
a second `newsbot run` on the same state file refuses to start.

The kill points come from `random.Random(seed)`; the seed is printed, and NEWSBOT_RELIABILITY_SEED=<seed> replays
the same schedule (the processes' own timing still varies from run to run).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest

from bot.store import PENDING, SENT
from tests.reliability.conftest import Fakes, Installation, Process

SEED_ENV = "NEWSBOT_RELIABILITY_SEED"
SUBSCRIBERS = 3000
MAX_IN_FLIGHT = 30
FAN_OUT_KILLS = 5
DIGEST_SUBSCRIBERS = 300
DIGEST_KILLS = 3
FIRST_CHAT = 100_001
TITLE = "Story number 1 about the council vote"
START_TIMEOUT = 60.0  # a process start, from exec to its first send, on a slow CI machine
FINISH_TIMEOUT = 120.0
SIGTERM_EXIT_SECONDS = 5.0  # the "within a few seconds"
# The fake Telegram answers each send this long after it delivered the message, like a real round trip. At
# 400 sends per second that keeps all MAX_IN_FLIGHT requests open, so a kill nearly always lands between
# deliveries and their ledger writes: the worst case the README's bound is about.
ANSWER_DELAY = 0.1
SMTP_ANSWER_DELAY = 0.02  # the same for the digest: most of each send is the wait for the server's 250
SLOW_SMTP_ANSWER_DELAY = 0.05


@pytest.fixture
def rng() -> random.Random:
    seed = int(os.environ.get(SEED_ENV) or random.SystemRandom().randrange(2**32))
    print(f"kill points from random.Random({seed}); {SEED_ENV}={seed} replays them")
    return random.Random(seed)


# -- what the fakes received and what the ledger says ---------------------------------------------------------


def telegram_copies(fakes: Fakes) -> Counter[str]:
    """Chat id -> how many copies of the article the fake Telegram accepted."""
    return Counter(str(m.chat_id) for m in fakes.telegram.messages() if not m.edited and TITLE in m.text)


def last_message_ids(fakes: Fakes) -> dict[str, str]:
    """Chat id -> the message id of the last copy the fake accepted (the one the ledger should name)."""
    return {str(m.chat_id): str(m.message_id) for m in fakes.telegram.messages() if TITLE in m.text}


def mail_copies(fakes: Fakes) -> Counter[str]:
    """Address -> how many digests the fake SMTP server accepted for it."""
    return Counter(address for received in list(fakes.smtp.messages) for address in received.rcpt_tos)


def last_message_id_headers(fakes: Fakes) -> dict[str, str]:
    return {
        address: str(received.message["Message-ID"])
        for received in list(fakes.smtp.messages)
        for address in received.rcpt_tos
    }


def outbox_rows(home: Installation, channel: str) -> dict[str, tuple[str, str]]:
    """Recipient -> (state, remote id) of the channel's outbox rows: the ledger as an admin would query it."""
    store = home.store()
    try:
        rows = store._db.execute(
            "SELECT recipient, state, remote_id FROM outbox WHERE channel = ?", (channel,)
        ).fetchall()
    finally:
        store.close()
    return {str(r[0]): (str(r[1]), str(r[2])) for r in rows}


def digest_rows(home: Installation) -> dict[str, list[tuple[str, str, str]]]:
    """Digest id -> [(address, state, Message-ID)] of its deliveries."""
    store = home.store()
    try:
        rows = store._db.execute(
            "SELECT g.id, d.address, d.state, d.message_id FROM digests g"
            " LEFT JOIN digest_deliveries d ON d.digest_id = g.id ORDER BY g.id, d.address"
        ).fetchall()
    finally:
        store.close()
    digests: dict[str, list[tuple[str, str, str]]] = {}
    for digest, address, state, message_id in rows:
        digests.setdefault(str(digest), [])
        if address is not None:
            digests[str(digest)].append((str(address), str(state), str(message_id)))
    return digests


def sent_in_ledger(home: Installation, channel: str) -> set[str]:
    return {recipient for recipient, (state, _remote) in outbox_rows(home, channel).items() if state == SENT}


def nothing_pending(home: Installation, *channels: str) -> bool:
    return not any(state == PENDING for channel in channels for state, _ in outbox_rows(home, channel).values())


def settle(count: Callable[[], int], quiet: float = 0.3) -> int:
    """Wait until `count` stops changing for `quiet` seconds (a request the killed process had already written
    may still be read by the fake), and return it."""
    last, since = count(), time.monotonic()
    while time.monotonic() - since < quiet:
        time.sleep(0.05)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
    return last


@dataclass
class Kill:
    """One SIGKILL: how many recipients the fake had reached, and how many sends the fake accepted but the ledger
    did not record before the process died (new since the previous kill): each of them is sent again later."""

    reached: int
    lost: int


def unrecorded_sends(copies: Counter[str], recorded: set[str]) -> int:
    """Messages the fake accepted that no `sent` row in the ledger accounts for (one row per recipient)."""
    assert recorded <= set(copies), "the ledger says sent only what the fake received"
    return sum(copies.values()) - len(recorded)


def record_kill(kills: list[Kill], copies: Counter[str], recorded: set[str]) -> None:
    before = sum(k.lost for k in kills)
    kills.append(Kill(reached=len(copies), lost=unrecorded_sends(copies, recorded) - before))


def kill_mid_send(
    process: Process, sends: Callable[[], int], total: int, rng: random.Random, longest_pause: float
) -> None:
    """Wait until `process` is sending (the fake got a new message), let it go on a random while, SIGKILL it."""
    before = sends()
    process.wait_until(lambda: sends() > before, START_TIMEOUT)
    time.sleep(rng.uniform(0.0, longest_pause))
    process.kill()
    assert sends() < total, "the batch finished before the kill; the kill tested nothing (lower longest_pause)"


def report(what: str, kills: Sequence[Kill], copies: Counter[str]) -> str:
    duplicates = sum(n - 1 for n in copies.values())
    lines = [
        f"{what}: {len(copies)} recipients, {sum(copies.values())} messages, {duplicates} duplicates"
        f" after {len(kills)} kills",
        *(f"  kill {i}: {k.reached} reached, {k.lost} sent but not recorded" for i, k in enumerate(kills, 1)),
    ]
    return "\n".join(lines)


# -- the tests -------------------------------------------------------------------------------------------------


def test_fan_out_killed_repeatedly_reaches_every_subscriber_with_at_most_max_in_flight_duplicates_per_kill(
    installation: Installation, fakes: Fakes, rng: random.Random
) -> None:
    installation.configure(channels=["telegram", "x", "email"], max_in_flight=MAX_IN_FLIGHT)
    chats = {str(chat) for chat in range(FIRST_CHAT, FIRST_CHAT + SUBSCRIBERS)}
    installation.add_telegram_subscribers(int(chat) for chat in chats)
    fakes.telegram.delay(ANSWER_DELAY)

    def sends() -> int:
        return sum(telegram_copies(fakes).values())

    kills: list[Kill] = []
    for _ in range(FAN_OUT_KILLS):
        kill_mid_send(installation.start("run"), sends, SUBSCRIBERS, rng, longest_pause=0.6)
        settle(sends)
        record_kill(kills, telegram_copies(fakes), sent_in_ledger(installation, "telegram"))

    final = installation.start("run")
    final.wait_until(lambda: chats <= set(telegram_copies(fakes)), FINISH_TIMEOUT)
    final.wait_until(lambda: nothing_pending(installation, "telegram", "x"), FINISH_TIMEOUT)
    final.terminate()
    assert final.wait() == 0, final.tail()

    copies = telegram_copies(fakes)
    print(report("telegram fan-out", kills, copies))
    duplicates = sum(n - 1 for n in copies.values())
    assert set(copies) == chats, "every subscriber got the article"
    assert all(k.lost <= MAX_IN_FLIGHT for k in kills), "a kill lost at most the sends in flight"
    assert duplicates <= FAN_OUT_KILLS * MAX_IN_FLIGHT
    assert duplicates == sum(k.lost for k in kills), "every duplicate is a send whose answer died with a kill"
    ledger = outbox_rows(installation, "telegram")
    assert set(ledger) == chats
    assert {state for state, _ in ledger.values()} == {SENT}
    last_ids = last_message_ids(fakes)
    assert {chat: remote for chat, (_, remote) in ledger.items()} == {chat: last_ids[chat] for chat in chats}
    [tweet] = fakes.x.tweets
    assert outbox_rows(installation, "x") == {"timeline": (SENT, tweet.id)}


def test_digest_batch_killed_repeatedly_resumes_without_a_new_digest_and_repeats_at_most_one_mail_per_kill(
    installation: Installation, fakes: Fakes, rng: random.Random
) -> None:
    # One connection: "at most one mail lost per kill" holds per connection (N connections may lose N).
    installation.configure(channels=["email"], articles=3, email_connections=1)
    addresses = {f"reader{n:04d}@example.org" for n in range(DIGEST_SUBSCRIBERS)}
    installation.add_email_subscribers(addresses)
    fakes.smtp.delay(SMTP_ANSWER_DELAY)
    first = installation.run("once")  # picks up the stories for the digest; nothing is due yet
    assert first.returncode == 0, first.tail()
    assert fakes.smtp.messages == []

    def sends() -> int:
        return len(fakes.smtp.messages)

    kills: list[Kill] = []
    process = installation.start("digest", "--send")
    for _ in range(DIGEST_KILLS):
        kill_mid_send(process, sends, DIGEST_SUBSCRIBERS, rng, longest_pause=0.5)
        settle(sends)
        [deliveries] = digest_rows(installation).values()
        record_kill(kills, mail_copies(fakes), {address for address, state, _ in deliveries if state == SENT})
        process = installation.start("once")  # resumes the digest in the ledger; `digest --send` would start one
    assert process.wait() == 0, process.tail()

    copies = mail_copies(fakes)
    print(report("digest batch", kills, copies))
    duplicates = sum(n - 1 for n in copies.values())
    assert set(copies) == addresses, "every subscriber got the digest"
    assert all(k.lost <= 1 for k in kills), "one connection, one message at a time: at most one per kill"
    assert duplicates <= DIGEST_KILLS
    assert duplicates == sum(k.lost for k in kills)
    [deliveries] = digest_rows(installation).values()
    assert {address for address, _, _ in deliveries} == addresses
    assert {state for _, state, _ in deliveries} == {SENT}
    last_ids = last_message_id_headers(fakes)
    assert {address: message_id for address, _, message_id in deliveries} == last_ids


@pytest.mark.parametrize("command", [("run",), ("once",)], ids=" ".join)
def test_sigterm_mid_fan_out_finishes_the_sends_in_flight_records_them_and_exits_0(
    installation: Installation, fakes: Fakes, command: tuple[str, ...]
) -> None:
    installation.configure(channels=["telegram"], max_in_flight=MAX_IN_FLIGHT)
    chats = {str(chat) for chat in range(FIRST_CHAT, FIRST_CHAT + SUBSCRIBERS)}
    installation.add_telegram_subscribers(int(chat) for chat in chats)
    fakes.telegram.delay(ANSWER_DELAY)
    process = installation.start(*command)
    process.wait_until(lambda: len(fakes.telegram.messages()) >= 100, START_TIMEOUT)

    process.terminate()
    asked = time.monotonic()
    code = process.wait()
    took = time.monotonic() - asked

    print(f"SIGTERM: exited {code} after {took:.2f} s")
    assert code == 0, process.tail()
    assert took < SIGTERM_EXIT_SECONDS, process.tail()
    assert "event=stopping signal=SIGTERM" in process.log()
    if command != ("run",):
        assert "the rest goes out on the next start" in process.log()
    copies = telegram_copies(fakes)
    assert set(copies.values()) == {1}
    ledger = outbox_rows(installation, "telegram")
    assert sent_in_ledger(installation, "telegram") == set(copies), "every send that went out is in the ledger"
    assert any(state == PENDING for state, _ in ledger.values()), "the rest of the fan-out waits for the next start"


@pytest.mark.parametrize("command", [("run",), ("once",), ("digest", "--send")], ids=" ".join)
def test_sigterm_mid_digest_batch_finishes_the_mail_in_flight_exits_0_and_the_next_start_completes_it(
    installation: Installation, fakes: Fakes, command: tuple[str, ...]
) -> None:
    installation.configure(channels=["email"])
    addresses = {f"reader{n:04d}@example.org" for n in range(DIGEST_SUBSCRIBERS)}
    installation.add_email_subscribers(addresses)
    if command == ("digest", "--send"):
        assert installation.run("once").returncode == 0  # `digest --send` does not poll: pick up the stories first
    else:
        installation.request_digest()
    fakes.smtp.delay(SLOW_SMTP_ANSWER_DELAY)  # a batch of several seconds: SIGTERM must not wait for its end
    process = installation.start(*command)
    process.wait_until(lambda: len(fakes.smtp.messages) > 0, START_TIMEOUT)

    process.terminate()
    asked = time.monotonic()
    code = process.wait()
    took = time.monotonic() - asked

    print(f"SIGTERM mid-digest: exited {code} after {took:.2f} s, {len(fakes.smtp.messages)} mails sent")
    assert code == 0, process.tail()
    assert took < SIGTERM_EXIT_SECONDS, process.tail()
    if command != ("run",):
        assert "the rest goes out on the next start" in process.log()
    copies = mail_copies(fakes)
    if command == ("digest", "--send"):
        assert f"{len(copies)} digest(s) sent" in process.log()
    assert set(copies.values()) == {1}
    [deliveries] = digest_rows(installation).values()
    assert {address for address, state, _ in deliveries if state == SENT} == set(copies)
    assert any(state == PENDING for _, state, _ in deliveries), "the rest of the batch waits for the next start"

    fakes.smtp.delay(0)
    rest = installation.run("once")
    assert rest.returncode == 0, rest.tail()
    assert mail_copies(fakes) == dict.fromkeys(addresses, 1)
    [deliveries] = digest_rows(installation).values()
    assert {state for _, state, _ in deliveries} == {SENT}


def test_second_run_on_the_same_state_file_refuses_to_start_and_names_the_first(
    installation: Installation, fakes: Fakes
) -> None:
    installation.configure(channels=["telegram"], messages_per_second=100)
    chats = {str(chat) for chat in range(FIRST_CHAT, FIRST_CHAT + 300)}
    installation.add_telegram_subscribers(int(chat) for chat in chats)
    first = installation.start("run")
    first.wait_until(lambda: len(fakes.telegram.messages()) > 0, START_TIMEOUT)

    second = installation.run("run")

    assert second.returncode == 1, second.tail()
    assert f"another newsbot (pid {first.pid}) is already using the state file" in second.log()
    assert "event=started" not in second.log()
    first.wait_until(lambda: chats <= set(telegram_copies(fakes)), FINISH_TIMEOUT)
    first.terminate()
    assert first.wait() == 0, first.tail()
    assert set(telegram_copies(fakes).values()) == {1}, "only the first one published"
