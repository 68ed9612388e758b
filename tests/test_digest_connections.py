"""A digest batch over `[email] connections` parallel SMTP connections (bot.email.connections), against the fake
SMTP server on 127.0.0.1: the connections really open and are reused, `send_rate` holds for all of them together,
and each reader gets one copy whatever fails mid-batch."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest

from bot.app import App
from bot.config import Config
from bot.store import PENDING, SENT
from tests.conftest import FakeClock, news_item
from tests.fakes.smtp_server import FakeSmtp
from tests.test_email_digest import confirmed, deliveries, mail_config  # noqa: F401 (mail_config: a fixture)

RELAY_DELAY = 0.05  # seconds the fake holds each 250, as a relay across a network does


def readers(count: int) -> list[str]:
    return [f"reader{n:03d}@example.org" for n in range(count)]


def copies(fake: FakeSmtp) -> Counter[str]:
    return Counter(address for received in fake.messages for address in received.rcpt_tos)


def subscribe(app: App, addresses: list[str]) -> None:
    app.poll_due_sources(poll_all=True)
    for address in addresses:
        confirmed(app, address)


def test_a_batch_goes_out_over_the_configured_connections_each_reused_for_several_mails(
    mail_config: Callable[..., Config],  # noqa: F811
    fake_smtp: FakeSmtp,
    clock: FakeClock,
) -> None:
    fake_smtp.answer_delay = RELAY_DELAY
    addresses = readers(24)
    with App(mail_config([news_item(1)], connections=4), clock=clock) as app:
        subscribe(app, addresses)
        assert app.digest(force=True).sent == 24
        assert set(deliveries(app).values()) == {SENT}
    assert fake_smtp.connections == 4
    per_session = Counter(received.session for received in fake_smtp.messages)
    assert sorted(per_session) == [1, 2, 3, 4]
    assert min(per_session.values()) >= 2, "each connection carried several mails"
    assert fake_smtp.commands.count("EHLO") == 4, "no connection was opened again"
    assert copies(fake_smtp) == Counter({address: 1 for address in addresses})


def test_the_send_rate_holds_for_all_connections_together(
    mail_config: Callable[..., Config],  # noqa: F811
    fake_smtp: FakeSmtp,
    clock: FakeClock,
) -> None:
    rate, connections = 20, 4
    with App(mail_config([news_item(1)], connections=connections, send_rate=rate), clock=clock) as app:
        subscribe(app, readers(50))
        assert app.digest(force=True).sent == 50
    assert fake_smtp.connections == connections
    times = sorted(received.at for received in fake_smtp.messages)
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    # Turns are 1/rate apart for all connections; a mail delayed on the way may arrive with the next ones (at most
    # one per connection). Each connection at its own rate would bring up to 80 a second.
    assert busiest <= rate + connections


def test_a_421_on_one_connection_retries_that_reader_later_and_everyone_gets_one_copy(
    mail_config: Callable[..., Config],  # noqa: F811
    fake_smtp: FakeSmtp,
    clock: FakeClock,
) -> None:
    fake_smtp.answer_delay = RELAY_DELAY
    fake_smtp.fail_data(times=1, code=421, text="4.4.2 Closing connection, too busy")
    addresses = readers(16)
    with App(mail_config([news_item(1)], connections=4), clock=clock) as app:
        subscribe(app, addresses)
        report = app.digest(force=True)
        assert (report.sent, report.retry_later) == (15, 1)
        [deferred] = [address for address, state in deliveries(app).items() if state == PENDING]
        assert copies(fake_smtp) == Counter({address: 1 for address in addresses if address != deferred})
        clock.advance(minutes=6)  # past the first retry's backoff
        assert app.digest().sent == 1
        assert set(deliveries(app).values()) == {SENT}
    assert copies(fake_smtp) == Counter({address: 1 for address in addresses})
    assert fake_smtp.connections >= 5, "the connection the server closed was opened anew"
    assert not [reply for reply in fake_smtp.replies if reply.startswith("503")], "no half-open transaction reused"


def test_a_connection_dropped_after_a_mail_leaves_that_reader_to_the_unknown_outcome_rule_and_the_rest_once(
    mail_config: Callable[..., Config],  # noqa: F811
    fake_smtp: FakeSmtp,
    clock: FakeClock,
) -> None:
    fake_smtp.answer_delay = RELAY_DELAY
    fake_smtp.drop_after_data(times=1)
    addresses = readers(16)
    with App(mail_config([news_item(1)], connections=4), clock=clock) as app:
        subscribe(app, addresses)
        report = app.digest(force=True)
        assert (report.sent, report.retry_later) == (15, 1)
        rows = app.store._db.execute(
            "SELECT address, unknown_outcomes FROM digest_deliveries WHERE state = ?", (PENDING,)
        ).fetchall()
        assert [int(row[1]) for row in rows] == [1], "retried later, once at most (bot.email.delivery)"
    assert copies(fake_smtp) == Counter({address: 1 for address in addresses}), "none sent twice in the batch"


def test_a_stop_request_mid_batch_leaves_the_unsent_readers_due_and_none_sent_twice(
    mail_config: Callable[..., Config],  # noqa: F811
    fake_smtp: FakeSmtp,
    clock: FakeClock,
) -> None:
    fake_smtp.answer_delay = RELAY_DELAY
    addresses = readers(30)
    with App(mail_config([news_item(1)], connections=4), clock=clock) as app:
        subscribe(app, addresses)
        report = app.digest(force=True, should_stop=lambda: len(fake_smtp.messages) >= 8)
        assert 8 <= report.sent < 30
        assert report.sent == len(fake_smtp.messages)
        clock.advance(seconds=1)
        assert app.digest().sent == 30 - report.sent
        assert set(deliveries(app).values()) == {SENT}
    assert copies(fake_smtp) == Counter({address: 1 for address in addresses})


@pytest.mark.usefixtures("state_env")
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_two_workers_with_two_connections_each_share_a_batch_on_postgresql_and_send_each_reader_once(
    mail_config: Callable[..., Config],  # noqa: F811
    fake_smtp: FakeSmtp,
    clock: FakeClock,
) -> None:
    fake_smtp.answer_delay = RELAY_DELAY
    addresses = readers(250)  # a worker claims 50 per connection at a time: three chunks
    config = mail_config([news_item(1)], connections=2)
    with App(config, clock=clock) as first, App(config, clock=clock) as second:
        subscribe(first, addresses)
        assert first.email_digest is not None and second.email_digest is not None
        first.email_digest.start(clock())
        reports = []
        workers = [
            threading.Thread(target=lambda app=app: reports.append(app.email_digest.deliver(clock)))  # type: ignore[union-attr]
            for app in (first, second)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert sum(report.sent for report in reports) == 250
        assert all(report.sent > 0 for report in reports), "the batch was shared out"
        assert set(deliveries(first).values()) == {SENT}
    assert copies(fake_smtp) == Counter({address: 1 for address in addresses})
    assert fake_smtp.connections == 4
