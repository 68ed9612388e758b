"""SMTP sending against FakeSmtp over real SMTP on 127.0.0.1: what the server receives, and which error each
failure becomes for the outbox."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from bot.config import EmailConfig
from bot.email.message import MailIdentity, build_digest_message
from bot.email.smtp import SmtpSender
from bot.errors import PublishError, RecipientGone, Rejected, Unauthorized, UnknownOutcome
from bot.render import Digest
from tests.fakes.smtp_server import Certificate, FakeSmtp, Security

SENDER = "Example News <news@example.com>"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


class FakeTime:
    """A monotonic clock that only moves when the sender sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def message(to: str = "reader@example.org", subject: str = "Weekly digest") -> EmailMessage:
    digest = Digest(subject=subject, html=f"<p>{subject} for {to}</p>", text=f"{subject} for {to}\n", article_count=1)
    return build_digest_message(
        digest,
        identity=MailIdentity(sender=SENDER),
        to=to,
        unsubscribe_url="https://news.example.com/u?t=1",
        unsubscribe_mailto="unsubscribe@news.example.com",
        now=NOW,
    )


def sender_for(fake: FakeSmtp, security: Security = "none", **kwargs: object) -> SmtpSender:
    config = EmailConfig(
        smtp_host=fake.host, smtp_port=fake.port, security=security, sender=SENDER, send_rate=1000.0, smtp_timeout=5.0
    )
    return SmtpSender(config, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def sender(fake_smtp: FakeSmtp) -> Iterator[SmtpSender]:
    with sender_for(fake_smtp) as smtp:
        yield smtp


def delivered_to(fake: FakeSmtp) -> list[str]:
    return [address for received in fake.messages for address in received.rcpt_tos]


def assert_no_protocol_errors(fake: FakeSmtp) -> None:
    assert not [reply for reply in fake.replies if reply.startswith("503")]
    assert all(count == 1 for count in fake.mail_from_per_session())


# --- delivery --------------------------------------------------------------------------------------------------


def test_three_messages_go_over_one_connection_and_return_their_message_ids(
    fake_smtp: FakeSmtp, sender: SmtpSender
) -> None:
    mails = [message(f"reader{n}@example.org") for n in range(3)]
    ids = [sender.send(mail) for mail in mails]
    assert ids == [mail["Message-ID"] for mail in mails]
    assert fake_smtp.connections == 1
    assert delivered_to(fake_smtp) == ["reader0@example.org", "reader1@example.org", "reader2@example.org"]
    received = fake_smtp.messages[0]
    assert received.mail_from == "news@example.com"
    assert received.message["Message-ID"] == ids[0]
    assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_close_says_quit(fake_smtp: FakeSmtp) -> None:
    smtp = sender_for(fake_smtp)
    smtp.send(message())
    smtp.close()
    smtp.close()
    assert fake_smtp.commands[-1] == "QUIT"


def test_lines_starting_with_a_dot_arrive_intact(fake_smtp: FakeSmtp, sender: SmtpSender) -> None:
    mail = build_digest_message(
        Digest(subject="Dots", html="<p>x</p>", text=".\n.hidden line\n..two\n", article_count=0),
        identity=MailIdentity(sender=SENDER),
        to="reader@example.org",
        unsubscribe_url="https://news.example.com/u",
        unsubscribe_mailto="",
        now=NOW,
    )
    sender.send(mail)
    text = fake_smtp.messages[0].message.get_body(("plain",))
    assert text is not None and text.get_content().splitlines() == [".", ".hidden line", "..two"]


def test_sends_are_spaced_to_the_configured_rate(fake_smtp: FakeSmtp) -> None:
    time = FakeTime()
    config = EmailConfig(smtp_host=fake_smtp.host, smtp_port=fake_smtp.port, security="none", send_rate=4.0)
    with SmtpSender(config, clock=time.clock, sleep=time.sleep) as smtp:
        for n in range(3):
            smtp.send(message(f"reader{n}@example.org"))
        assert time.sleeps == [0.25, 0.25]
        time.now += 10  # a pause longer than the interval: no wait
        smtp.send(message("later@example.org"))
    assert time.sleeps == [0.25, 0.25]
    assert len(fake_smtp.messages) == 4


# --- refusals --------------------------------------------------------------------------------------------------


def test_unknown_recipient_is_gone_and_the_next_message_still_goes_through(
    fake_smtp: FakeSmtp, sender: SmtpSender
) -> None:
    fake_smtp.refuse_recipient("gone@example.org")
    with pytest.raises(RecipientGone, match=r"550 5\.1\.1 User unknown"):
        sender.send(message("gone@example.org"))
    sender.send(message("next@example.org"))
    assert delivered_to(fake_smtp) == ["next@example.org"]
    assert "RSET" in fake_smtp.commands
    assert_no_protocol_errors(fake_smtp)


def test_a_relay_or_policy_refusal_of_a_recipient_is_not_a_bounce(fake_smtp: FakeSmtp, sender: SmtpSender) -> None:
    fake_smtp.refuse_recipient("reader@example.org", 554, "5.7.1 Relay access denied")
    with pytest.raises(Rejected) as caught:
        sender.send(message("reader@example.org"))
    assert not isinstance(caught.value, RecipientGone)


def test_a_deferred_recipient_is_retried_later(fake_smtp: FakeSmtp, sender: SmtpSender) -> None:
    fake_smtp.defer_recipient("busy@example.org")
    with pytest.raises(PublishError) as caught:
        sender.send(message("busy@example.org"))
    assert type(caught.value) is PublishError
    assert "451" in str(caught.value)
    sender.send(message("next@example.org"))
    assert_no_protocol_errors(fake_smtp)


def test_a_full_mailbox_is_retried_later_not_a_bounce(fake_smtp: FakeSmtp, sender: SmtpSender) -> None:
    fake_smtp.refuse_recipient("full@example.org", 552, "5.2.2 Mailbox full")
    with pytest.raises(PublishError) as caught:
        sender.send(message("full@example.org"))
    assert type(caught.value) is PublishError


def test_a_server_closing_with_421_is_retried_later_on_a_new_connection(
    fake_smtp: FakeSmtp, sender: SmtpSender
) -> None:
    fake_smtp.refuse_recipient("first@example.org", 421, "4.3.2 Service shutting down")
    with pytest.raises(PublishError, match="421"):
        sender.send(message("first@example.org"))
    sender.send(message("second@example.org"))
    assert fake_smtp.connections == 2
    assert_no_protocol_errors(fake_smtp)


def test_a_temporary_failure_after_data_is_retried_later_and_nothing_was_delivered(
    fake_smtp: FakeSmtp, sender: SmtpSender
) -> None:
    fake_smtp.fail_data(times=1, code=451)
    with pytest.raises(PublishError) as caught:
        sender.send(message("first@example.org"))
    assert type(caught.value) is PublishError
    sender.send(message("second@example.org"))
    assert delivered_to(fake_smtp) == ["second@example.org"]
    assert fake_smtp.connections == 1
    assert_no_protocol_errors(fake_smtp)


def test_content_refused_for_good_is_rejected(fake_smtp: FakeSmtp, sender: SmtpSender) -> None:
    fake_smtp.fail_data(times=1, code=554, text="5.7.1 Message rejected as spam")
    with pytest.raises(Rejected, match=r"554 5\.7\.1"):
        sender.send(message())
    sender.send(message())
    assert len(fake_smtp.messages) == 1


def test_a_mailbox_that_no_longer_exists_said_after_data_is_a_bounce(fake_smtp: FakeSmtp, sender: SmtpSender) -> None:
    fake_smtp.fail_data(times=1, code=550, text="5.1.1 The email account does not exist")
    with pytest.raises(RecipientGone):
        sender.send(message())


# --- connections -----------------------------------------------------------------------------------------------


def test_a_drop_after_the_data_is_an_unknown_outcome_and_the_server_has_the_message(
    fake_smtp: FakeSmtp, sender: SmtpSender
) -> None:
    fake_smtp.drop_after_data()
    with pytest.raises(UnknownOutcome, match="may have been delivered"):
        sender.send(message("maybe@example.org"))
    assert delivered_to(fake_smtp) == ["maybe@example.org"]  # so the caller must not resend blindly
    sender.send(message("next@example.org"))
    assert delivered_to(fake_smtp) == ["maybe@example.org", "next@example.org"]
    assert fake_smtp.connections == 2


def test_a_connection_the_server_closed_while_idle_is_reopened_and_the_message_sent_once(
    fake_smtp: FakeSmtp, sender: SmtpSender
) -> None:
    sender.send(message("first@example.org"))
    fake_smtp.disconnect_all()
    sender.send(message("second@example.org"))
    assert delivered_to(fake_smtp) == ["first@example.org", "second@example.org"]
    assert fake_smtp.connections == 2


def test_a_server_that_is_down_is_a_transient_error(fake_smtp: FakeSmtp) -> None:
    smtp = sender_for(fake_smtp)
    fake_smtp.stop()
    with pytest.raises(PublishError, match="connection refused") as caught:
        smtp.send(message())
    assert type(caught.value) is PublishError


def test_an_unknown_host_is_a_transient_error() -> None:
    config = EmailConfig(smtp_host="smtp.invalid", smtp_port=25, security="none", smtp_timeout=2.0)
    with pytest.raises(PublishError, match=r"smtp\.invalid:25"):
        SmtpSender(config, local_hostname="test.example.com").send(message())


# --- login -----------------------------------------------------------------------------------------------------


def test_login_with_the_right_password_sends(fake_smtp: FakeSmtp) -> None:
    fake_smtp.require_auth("newsbot", "right-password")
    with sender_for(fake_smtp, username="newsbot", password="right-password") as smtp:
        smtp.send(message())
    assert "AUTH" in fake_smtp.commands
    assert len(fake_smtp.messages) == 1


def test_a_wrong_password_is_unauthorized_and_never_logged(
    fake_smtp: FakeSmtp, caplog: pytest.LogCaptureFixture
) -> None:
    fake_smtp.require_auth("newsbot", "right-password")
    caplog.set_level(logging.DEBUG)
    with sender_for(fake_smtp, username="newsbot", password="wrong-password") as smtp, pytest.raises(Unauthorized):
        smtp.send(message())
    assert "wrong-password" not in caplog.text
    assert not fake_smtp.messages


def test_sending_without_login_where_login_is_required_is_unauthorized(fake_smtp: FakeSmtp) -> None:
    fake_smtp.require_auth("newsbot", "right-password")
    with sender_for(fake_smtp) as smtp, pytest.raises(Unauthorized, match="530"):
        smtp.send(message())


# --- TLS -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_tls_and_starttls_deliver_to_a_server_whose_certificate_is_trusted(
    security: Security, smtp_certificate: Certificate
) -> None:
    with FakeSmtp(security=security, certificate=smtp_certificate) as fake:
        context = smtp_certificate.client_context()
        with sender_for(fake, security, ssl_context=context) as smtp:
            smtp.send(message())
        assert len(fake.messages) == 1
        assert ("STARTTLS" in fake.commands) == (security == "starttls")


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_an_untrusted_certificate_is_a_transient_error(security: Security, smtp_certificate: Certificate) -> None:
    with FakeSmtp(security=security, certificate=smtp_certificate) as fake:
        with pytest.raises(PublishError, match="CERTIFICATE_VERIFY_FAILED"):
            sender_for(fake, security).send(message())
        assert not fake.messages
