"""A job that cannot finish never ends `newsbot run`, and one subscriber whose mail cannot be built never stops
the others' digests: real processes against the fake SMTP server.

The bad data is written straight into the state file, as an older newsbot (before names were checked) or a hand
edit could have left it: a display name with CR/LF, which Python's email package refuses to put in a header.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.store import FAILED, SENT
from tests.reliability.conftest import Fakes, Installation

GOOD_READERS = ("ann@example.org", "zoe@example.org")
# A name with CR/LF is left out of To: (bot.email.message), so what cannot be built is an address that a hand edit
# of the state file broke: the store does not check addresses, the web form, /email and CSV import do.
BAD_READER = "mallory@example.org\r\nbcc: victim@example.net"
START_TIMEOUT = 60.0


def add_reader_with_a_header_breaking_address(home: Installation) -> None:
    store = home.store()
    try:
        now = datetime.now(UTC)
        store.request_email_subscription(BAD_READER, (), now, name="Mallory")
        store.confirm_email(BAD_READER, now)
    finally:
        store.close()


def ledger(home: Installation) -> dict[str, tuple[str, str]]:
    """Address -> (state, reason) of every digest delivery, as an admin would query it."""
    store = home.store()
    try:
        rows = store._db.execute("SELECT address, state, last_error FROM digest_deliveries").fetchall()
    finally:
        store.close()
    return {str(address): (str(state), str(reason)) for address, state, reason in rows}


def recipients(fakes: Fakes) -> list[str]:
    return sorted(address for received in list(fakes.smtp.messages) for address in received.rcpt_tos)


@pytest.mark.parametrize("command", [("run",), ("once",), ("digest", "--send")], ids=" ".join)
def test_an_address_with_cr_lf_fails_its_own_delivery_with_the_reason_and_the_process_goes_on(
    installation: Installation, fakes: Fakes, command: tuple[str, ...]
) -> None:
    installation.configure(channels=["email"])
    installation.add_email_subscribers(GOOD_READERS)
    add_reader_with_a_header_breaking_address(installation)
    if command == ("digest", "--send"):
        assert installation.run("once").returncode == 0  # `digest --send` does not poll: pick up the story first
    else:
        installation.request_digest()  # an admin's /digest send: the first cycle sends it

    process = installation.start(*command)
    if command == ("run",):
        process.wait_until(lambda: BAD_READER in ledger(installation) and len(recipients(fakes)) == 2, START_TIMEOUT)
        process.wait_until(lambda: ledger(installation)[BAD_READER][0] == FAILED, START_TIMEOUT)
        assert process.running(), process.tail()
        process.terminate()
    code = process.wait()

    assert code == 0, process.tail()
    assert recipients(fakes) == sorted(GOOD_READERS)
    assert all("victim" not in str(received.message) for received in fakes.smtp.messages)
    state, reason = ledger(installation)[BAD_READER]
    assert state == FAILED
    assert reason.startswith("the mail could not be built:") and "fix the subscriber's name" in reason
    assert {ledger(installation)[reader][0] for reader in GOOD_READERS} == {SENT}
    assert "Traceback" not in process.log()
    assert "event=digest_unbuildable" in process.log()
    if command == ("digest", "--send"):
        assert "2 digest(s) sent; 1 failed for good" in process.log()
