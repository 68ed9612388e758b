"""The weekly digest end to end: feeds → store → per-subscriber digest → SMTP (aiosmtpd) → the mail a reader gets."""

from __future__ import annotations

import dataclasses
import os
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.app import App
from bot.config import Config
from bot.email.delivery import EmailDigest, MailSender
from bot.email.tokens import link_signing
from bot.store import FAILED, PENDING, SENT, SKIPPED, UNKNOWN, open_store
from tests.conftest import FakeClock, news_item, newsbot, rss
from tests.fakes.smtp_server import FakeSmtp
from tests.store_sql import latest_digest

# Imported here, not in the test: compiling a module while the test's server threads run once hit CPython 3.11's
# "AST constructor recursion depth mismatch" (a SystemError of the interpreter, not of newsbot).
from tests.test_mail import DKIM_PRIVATE_KEY, DKIM_PUBLIC_KEY, dns_for

SECRET = "a-test-secret-that-is-long-enough"


class Crash(BaseException):
    """Stands for the process dying mid-batch."""


# The ledger rules of the digest (once per subscriber, resume after a crash, bounces, unsubscribe) on SQLite and on
# PostgreSQL (see `state_env` in tests/conftest.py); the rest of this file runs on SQLite.
on_both_backends = pytest.mark.usefixtures("state_env")


@pytest.fixture
def mail_config(
    make_config: Callable[..., Config], tmp_path: Path, fake_smtp: FakeSmtp, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Config]:
    monkeypatch.setenv("NEWSBOT_SECRET_KEY", SECRET)
    feed = tmp_path / "feed.xml"

    def build(items: list[dict[str, str]], **email: Any) -> Config:
        feed.write_text(rss(items), encoding="utf-8")
        return make_config(
            output={"dir": str(tmp_path / "out"), "dry_run": False},
            sources=[{"name": "feed", "url": str(feed), "backfill": len(items)}],
            routes=[{"name": "all", "hashtags": ["*"], "channels": ["email"]}],
            email={
                "smtp_host": fake_smtp.host,
                "smtp_port": fake_smtp.port,
                "security": "none",
                "sender": "Example News <news@example.com>",
                "send_rate": 1000,
                **email,
            },
            web={"public_url": "https://news.example.com/newsbot"},
        )

    return build


def confirmed(app: App, address: str, *tags: str) -> None:
    app.store.request_email_subscription(address, tags, app.clock())
    app.store.confirm_email(address, app.clock())


def mails_to(fake: FakeSmtp, address: str) -> list[EmailMessage]:
    return [m.message for m in fake.messages if address in m.rcpt_tos]


def deliveries(app: App) -> dict[str, str]:
    latest = latest_digest(app.store)
    assert latest is not None
    return {d: s for d, s in _delivery_states(app, latest[0]).items()}


def _delivery_states(app: App, digest_id: str) -> dict[str, str]:
    rows = app.store._db.execute(  # the ledger as an admin would query it
        "SELECT address, state FROM digest_deliveries WHERE digest_id = ?", (digest_id,)
    ).fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


@on_both_backends
def test_each_confirmed_subscriber_gets_their_articles_in_one_deliverable_mail(
    mail_config: Callable[..., Config], fake_smtp: FakeSmtp, clock: FakeClock
) -> None:
    config = mail_config([news_item(1, tag="PoliticsNews"), news_item(2, tag="Climate")])
    with App(config, clock=clock) as app:
        app.poll_due_sources(poll_all=True)
        confirmed(app, "all@example.org")
        confirmed(app, "climate@example.org", "Climate")
        confirmed(app, "sports@example.org", "Sports")
        app.store.request_email_subscription("unconfirmed@example.org", (), clock())
        assert app.digest(force=True).sent == 2
        assert deliveries(app) == {"all@example.org": SENT, "climate@example.org": SENT, "sports@example.org": SKIPPED}
    [everything] = mails_to(fake_smtp, "all@example.org")
    [climate] = mails_to(fake_smtp, "climate@example.org")
    assert mails_to(fake_smtp, "sports@example.org") == mails_to(fake_smtp, "unconfirmed@example.org") == []
    assert everything.get_content_type() == "multipart/alternative"
    text, html = (part.get_content() for part in everything.iter_parts())
    assert "Story number 1" in text and "Story number 2" in text
    assert "Story number 1" in html and "style=" in html  # CSS inlined
    assert "Story number 1" not in climate.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert everything["From"] == "Example News <news@example.com>"
    assert everything["Message-ID"].endswith("@example.com>")
    assert everything["Date"] and everything["List-Id"]
    assert everything["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    links = re.findall(r"<([^>]+)>", everything["List-Unsubscribe"])
    assert links[0].startswith("https://news.example.com/newsbot/unsubscribe?token=")
    assert links[1] == "mailto:news@example.com?subject=unsubscribe"


@on_both_backends
def test_sending_again_with_nothing_new_sends_nothing(
    mail_config: Callable[..., Config], fake_smtp: FakeSmtp, clock: FakeClock
) -> None:
    config = mail_config([news_item(1)])
    with App(config, clock=clock) as app:
        app.poll_due_sources(poll_all=True)
        confirmed(app, "reader@example.org")
        assert app.digest(force=True).sent == 1
        clock.advance(hours=1)
        assert app.digest(force=True).sent == 0
    assert len(fake_smtp.messages) == 1


@on_both_backends
def test_digest_goes_out_once_at_the_scheduled_time_even_after_downtime(
    mail_config: Callable[..., Config], fake_smtp: FakeSmtp, clock: FakeClock
) -> None:
    config = mail_config([news_item(1)], digest_day="wednesday", digest_time="08:00", timezone="Europe/Berlin")
    with App(config, clock=clock) as app:  # Monday 23 November, 12:00 UTC
        confirmed(app, "reader@example.org")
        assert app.digest().sent == 0  # first start: waits for the first scheduled time
        clock.now = datetime.fromisoformat("2026-11-25T06:59:00+00:00")  # 07:59 in Berlin
        assert app.digest().sent == 0
    clock.now = datetime.fromisoformat("2026-12-10T09:00:00+00:00")  # down for two scheduled times
    with App(config, clock=clock) as app:
        app.poll_due_sources(poll_all=True)  # an article of the last week
        assert app.digest().sent == 1
        assert app.digest().sent == 0
    assert len(fake_smtp.messages) == 1


def crash_on_third_send(job: EmailDigest) -> None:
    """The third message, over whichever of the batch's connections, crashes the process instead of going out."""
    senders = job.senders
    real_open = senders.open
    lock = threading.Lock()
    calls = 0

    def open_crashing() -> MailSender:
        sender = real_open()
        real_send = sender.send

        def send_then_crash(message: EmailMessage) -> str:
            nonlocal calls
            with lock:
                calls += 1
                crash = calls == 3
            if crash:
                raise Crash
            return real_send(message)

        sender.send = send_then_crash  # type: ignore[method-assign]
        return sender

    senders.open = open_crashing  # type: ignore[method-assign]


@on_both_backends
def test_a_crash_mid_batch_resumes_without_sending_anyone_the_digest_twice(
    mail_config: Callable[..., Config], fake_smtp: FakeSmtp, clock: FakeClock
) -> None:
    config = mail_config([news_item(1)])
    readers = [f"reader{n}@example.org" for n in range(5)]
    with App(config, clock=clock) as app:
        app.poll_due_sources(poll_all=True)
        for reader in readers:
            confirmed(app, reader)
        assert app.email_digest is not None
        crash_on_third_send(app.email_digest)
        with pytest.raises(Crash):
            app.digest(force=True)
    with App(config, clock=clock) as app:
        app.digest()
        assert set(deliveries(app).values()) == {SENT}
    assert sorted(a for m in fake_smtp.messages for a in m.rcpt_tos) == sorted(readers)


@on_both_backends
def test_a_bounce_marks_the_subscriber_and_the_others_still_get_theirs(
    mail_config: Callable[..., Config], fake_smtp: FakeSmtp, clock: FakeClock
) -> None:
    config = mail_config([news_item(1)])
    fake_smtp.refuse_recipient("gone@example.org")
    with App(config, clock=clock) as app:
        app.poll_due_sources(poll_all=True)
        for reader in ("a@example.org", "gone@example.org", "z@example.org"):
            confirmed(app, reader)
        app.digest(force=True)
        assert deliveries(app) == {"a@example.org": SENT, "gone@example.org": FAILED, "z@example.org": SENT}
        gone = app.store.email_subscriber("gone@example.org")
    assert gone is not None and not gone.active and gone.status_reason.startswith("bounced")
    assert "503" not in " ".join(fake_smtp.replies)


@on_both_backends
def test_a_lost_answer_is_resent_at_most_once(
    mail_config: Callable[..., Config], fake_smtp: FakeSmtp, clock: FakeClock
) -> None:
    config = mail_config([news_item(1)])
    fake_smtp.drop_after_data(times=5)
    with App(config, clock=clock) as app:
        app.poll_due_sources(poll_all=True)
        confirmed(app, "reader@example.org")
        app.digest(force=True)
        clock.advance(hours=1)
        app.digest()
        clock.advance(hours=1)
        app.digest()
        assert deliveries(app) == {"reader@example.org": UNKNOWN}
    assert len(mails_to(fake_smtp, "reader@example.org")) == 2  # never a third copy


@on_both_backends
def test_the_one_click_link_in_the_mail_unsubscribes_at_once(
    mail_config: Callable[..., Config], fake_smtp: FakeSmtp, clock: FakeClock
) -> None:
    from starlette.testclient import TestClient

    from bot.email.parts import email_parts
    from bot.email.web import app_from_config

    config = mail_config([news_item(1)])
    with App(config, clock=clock) as app:
        app.poll_due_sources(poll_all=True)
        confirmed(app, "reader@example.org")
        app.digest(force=True)
    [mail] = mails_to(fake_smtp, "reader@example.org")
    link = re.findall(r"<([^>]+)>", mail["List-Unsubscribe"])[0]
    token = parse_qs(urlsplit(link).query)["token"][0]
    web = app_from_config(
        config, email_parts(config, {}, link_signing(config.web, {"NEWSBOT_SECRET_KEY": SECRET})), send_mail=None
    )
    with TestClient(web) as client:
        answer = client.post(f"/unsubscribe?token={token}", data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    with App(config, clock=clock) as app:
        reader = app.store.email_subscriber("reader@example.org")
        assert reader is not None and not reader.active


def test_digest_preview_writes_the_next_digest_and_says_where(
    mail_config: Callable[..., Config], tmp_path: Path, clock: FakeClock
) -> None:
    config = mail_config([news_item(1), news_item(2)])
    with App(config, clock=clock) as app:
        app.poll_due_sources(poll_all=True)
        html, text, count = app.preview_digest()
    assert count == 2
    assert html == tmp_path / "out" / "email" / "digest.html"
    assert "Story number 2" in html.read_text(encoding="utf-8") and "Story number 1" in text.read_text(encoding="utf-8")


def test_email_import_counts_addresses_as_confirmed_only_when_told(
    mail_config: Callable[..., Config], tmp_path: Path, clock: FakeClock
) -> None:
    import io

    from bot.subscribers_csv import import_subscribers

    config = mail_config([])
    store = open_store(config.state.path)
    rows = "email,hashtags,name\nann@example.org,#Climate,Ann\nnot-an-address,,\n"
    report = import_subscribers(store, "email", io.StringIO(rows), clock())
    ann = store.email_subscriber("ann@example.org")
    assert (report.added, len(report.problems)) == (1, 1) and "line 3" in report.problems[0]
    assert ann is not None and not ann.active and ann.name == "Ann" and ann.hashtags == ("Climate",)
    import_subscribers(store, "email", io.StringIO(rows), clock(), confirmed=True)
    ann = store.email_subscriber("ann@example.org")
    assert ann is not None and ann.active
    store.close()


def test_telegram_subscriber_links_an_address_through_the_same_double_opt_in(
    tmp_path: Path, fake_smtp: FakeSmtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.commands.application import build_application
    from bot.commands.context import open_command_context
    from bot.commands.runner import CommandRunner
    from bot.config import parse_config
    from bot.email.parts import email_parts
    from bot.email.tokens import signer_from_environment
    from bot.email.web import email_confirmer
    from bot.store import open_store
    from tests.fakes.telegram_api import FakeTelegram

    monkeypatch.setenv("NEWSBOT_SECRET_KEY", SECRET)
    with FakeTelegram() as telegram:
        config = parse_config(
            {
                "state": {"path": str(tmp_path / "state.sqlite")},
                "routes": [{"name": "all", "hashtags": ["*"], "channels": ["telegram", "email"]}],
                "telegram": {"base_url": telegram.base_url},
                "email": {"smtp_host": fake_smtp.host, "smtp_port": fake_smtp.port, "security": "none",
                          "sender": "Example News <news@example.com>"},
                "web": {"public_url": "https://news.example.com/newsbot"},
            },
            path=tmp_path / "config.toml",
        )  # fmt: skip
        context = open_command_context(config)
        parts = email_parts(config, os.environ, link_signing(config.web, os.environ))
        context.confirm_email = email_confirmer(config, parts, parts.send)
        runner = CommandRunner(build_application(config, telegram.token, context), config, context)
        runner.start()
        try:
            telegram.send_text("/subscribe #Climate", user_id=555)
            telegram.wait_for_messages(555, 1)
            telegram.send_text("/email reader@example.org", user_id=555)
            [_, reply] = telegram.wait_for_messages(555, 2)
        finally:
            runner.stop()
            context.close()
            parts.close()
    assert "confirmation link" in reply.text
    [mail] = mails_to(fake_smtp, "reader@example.org")
    link = re.search(
        r"https://news\.example\.com/newsbot/confirm\?token=[\w.-]+", mail.get_body(("plain",)).get_content()
    )  # type: ignore[union-attr]
    assert link is not None
    token = parse_qs(urlsplit(link.group(0)).query)["token"][0]
    signer = signer_from_environment(config.web, {"NEWSBOT_SECRET_KEY": SECRET})
    assert signer.read(token, "confirm", datetime.now().astimezone()) == "reader@example.org"
    store = open_store(config.state.path)
    pending = store.email_subscriber("reader@example.org")
    store.close()
    assert pending is not None and not pending.active  # nothing until the link is clicked
    assert pending.hashtags == ("Climate",) and pending.linked_chat == "555"


def test_digest_send_from_the_command_line_says_who_got_one_and_who_had_nothing_new(
    tmp_path: Path, fake_smtp: FakeSmtp
) -> None:
    (tmp_path / "feed.xml").write_text(rss([news_item(1, tag="Climate")]), encoding="utf-8")
    (tmp_path / "config.toml").write_text(
        f"""
[output]
dry_run = false
[[sources]]
name = "feed"
url = "feed.xml"
backfill = 1
[[routes]]
name = "all"
hashtags = ["*"]
channels = ["email"]
[email]
smtp_host = "{fake_smtp.host}"
smtp_port = {fake_smtp.port}
security = "none"
sender = "Example News <news@example.com>"
[web]
public_url = "https://news.example.com/newsbot"
""",
        encoding="utf-8",
    )
    env = {"NEWSBOT_SECRET_KEY": SECRET}

    # Picks up the story; no digest is due on the first start.
    assert newsbot("once", cwd=tmp_path, env=env).returncode == 0
    store = open_store(tmp_path / "newsbot.sqlite")
    for address, tags in (("climate@example.org", ("Climate",)), ("sports@example.org", ("Sports",))):
        store.request_email_subscription(address, tags, datetime.now().astimezone())
        store.confirm_email(address, datetime.now().astimezone())
    store.close()

    done = newsbot("digest", "--send", cwd=tmp_path, env=env)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1 digest(s) sent; 1 subscriber(s) had nothing new matching their hashtags"
    assert [m.rcpt_tos for m in fake_smtp.messages] == [["climate@example.org"]]


def test_a_stop_request_does_not_wait_for_a_slow_send_rate_and_the_rest_stays_due(
    mail_config: Callable[..., Config], fake_smtp: FakeSmtp, clock: FakeClock
) -> None:
    config = mail_config([news_item(1)], send_rate=0.001)  # one mail every 1,000 s, as a strict relay might ask
    with App(config, clock=clock) as app:
        app.poll_due_sources(poll_all=True)
        for n in range(3):
            confirmed(app, f"reader{n}@example.org")

        stop = threading.Event()

        def ask_to_stop_while_the_second_mail_waits_its_turn() -> None:
            while not fake_smtp.messages:
                time.sleep(0.01)
            time.sleep(0.5)
            stop.set()

        asker = threading.Thread(target=ask_to_stop_while_the_second_mail_waits_its_turn, daemon=True)
        asker.start()
        # Without a stop-aware wait this call would sleep 1,000 s before the second mail (pytest-timeout fails it).
        sent = app.digest(force=True, should_stop=stop.is_set).sent
        asker.join()

        assert sent == 1
        states = sorted(deliveries(app).values())
    assert len(fake_smtp.messages) == 1
    assert states == [PENDING, PENDING, SENT]


FORGING_NAME = "=?utf-8?q?x=0D=0ASubject:_Your_password_expired=0D=0A=0D=0APWNED?="


def header_names(raw: bytes) -> list[bytes]:
    """The header field names of a message as it went over the wire, in order (folded lines belong to the one above)."""
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    return [line.split(b":", 1)[0] for line in head.split(b"\n") if line and line[:1] not in (b" ", b"\t")]


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "DKIM-signed"])
def test_a_name_that_would_forge_headers_never_reaches_the_digest_on_the_wire(
    mail_config: Callable[..., Config],
    fake_smtp: FakeSmtp,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    signed: bool,
) -> None:
    import dkim
    from starlette.testclient import TestClient

    from bot.email.parts import email_parts
    from bot.email.tokens import signer_from_environment
    from bot.email.web import app_from_config, confirm_url

    if signed:
        monkeypatch.setenv("NEWSBOT_DKIM_PRIVATE_KEY", DKIM_PRIVATE_KEY.decode())
    config = mail_config([news_item(1)], **({"dkim_selector": "news2026"} if signed else {}))
    confirmations: list[EmailMessage] = []
    web = app_from_config(
        config,
        email_parts(config, os.environ, link_signing(config.web, os.environ)),
        send_mail=confirmations.append,
        clock=clock,
    )
    reader = "reader@example.org"
    with TestClient(web, base_url="https://news.example.com") as browser:
        refused = browser.post("/subscribe", data={"email": reader, "name": FORGING_NAME, "hashtags": ""})
        assert refused.status_code == 400 and "not quotes, brackets" in refused.text
        assert confirmations == []
        with App(config, clock=clock) as app:
            assert app.store.email_subscriber(reader) is None
            # What an older newsbot (or a CSV import) may have stored, before names had a rule:
            app.store.request_email_subscription(reader, (), clock(), name=FORGING_NAME)
        signer = signer_from_environment(config.web, {"NEWSBOT_SECRET_KEY": SECRET})
        link = confirm_url(config, signer, reader, clock()).removeprefix(config.web.public_url)  # the proxy's part
        assert "<form" in browser.get(link).text  # the link shows a button; pressing it confirms
        page = browser.post(link)
        assert page.status_code == 200
    with App(config, clock=clock) as app:
        app.poll_due_sources(poll_all=True)
        assert app.digest(force=True).sent == 1
    [received] = [m for m in fake_smtp.messages if reader in m.rcpt_tos]
    names = header_names(received.data)
    assert names.count(b"Subject") == 1 and names.count(b"To") == 1
    assert received.message["Subject"].startswith(config.email.digest_title)
    assert received.message["To"] == reader  # the name is left out; the address alone
    assert b"PWNED" not in received.data and b"password" not in received.data.lower()
    if signed:
        assert names[0] == b"DKIM-Signature"
        assert dkim.verify(received.data, dnsfunc=dns_for(DKIM_PUBLIC_KEY))


def test_an_address_that_cannot_go_in_a_header_fails_that_delivery_with_the_reason_and_the_others_get_theirs(
    mail_config: Callable[..., Config], fake_smtp: FakeSmtp, clock: FakeClock
) -> None:
    config = mail_config([news_item(1)])
    with App(config, clock=clock) as app:
        app.poll_due_sources(poll_all=True)
        confirmed(app, "a@example.org")
        # As a hand edit of the state file could leave it: the store does not check addresses (a name with CR/LF
        # would only be left out of To:, see the test above).
        bad_address = "mallory@example.org\r\nbcc: victim@example.net"
        app.store.request_email_subscription(bad_address, (), clock(), name="Mallory")
        app.store.confirm_email(bad_address, clock())
        confirmed(app, "z@example.org")

        report = app.digest(force=True)
        assert report.sent == 2

        assert deliveries(app) == {"a@example.org": SENT, bad_address: FAILED, "z@example.org": SENT}
        [reason] = app.store._db.execute(
            "SELECT last_error FROM digest_deliveries WHERE address = ?", (bad_address,)
        ).fetchone()
        summary = report.summary()
    assert reason.startswith("the mail could not be built:") and "CR or LF" in reason
    assert "fix the subscriber's name" in reason
    assert summary == "2 digest(s) sent; 1 failed for good (the log has each reason)"
    assert sorted(a for m in fake_smtp.messages for a in m.rcpt_tos) == ["a@example.org", "z@example.org"]
    assert all("victim" not in str(m.message) for m in fake_smtp.messages)


def tagged_item(n: int, *tags: str) -> dict[str, str]:
    item = news_item(n)
    item["description"] = f"The council approved plan {n} on Tuesday. Officials said it was close. " + " ".join(
        f"#{tag}" for tag in tags
    )
    return item


def sections(mail: EmailMessage) -> tuple[list[str], list[str]]:
    """The section headings of the text part and of the HTML part, in order."""
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    cells = re.findall(r'<td class="group"[^>]*>([^<]*)</td>', html)
    return re.findall(r"^== (.*) ==\r?$", text, re.MULTILINE), cells


def test_digest_sections_are_the_readers_own_hashtags_written_as_chosen(
    mail_config: Callable[..., Config], fake_smtp: FakeSmtp, clock: FakeClock
) -> None:
    config = mail_config(
        [
            tagged_item(1, "Space", "Science"),
            tagged_item(2, "Politics"),
            tagged_item(3, "TechNews", "climate", "Politics"),
            tagged_item(4, "TechNews"),
        ]
    )
    with App(config, clock=clock) as app:
        app.poll_due_sources(poll_all=True)
        confirmed(app, "reader@example.org", "Politics", "Science", "Climate")
        confirmed(app, "everything@example.org")
        confirmed(app, "lower@example.org", "technews")
        app.digest(force=True)
    [reader] = mails_to(fake_smtp, "reader@example.org")
    [lower] = mails_to(fake_smtp, "lower@example.org")
    [everything] = mails_to(fake_smtp, "everything@example.org")
    headings = ["#Climate", "#Politics", "#Science"]  # the reader's hashtags, as the reader wrote them
    assert sections(reader) == (headings, headings)
    text = reader.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # Each story under the first of its own hashtags the reader chose.
    assert text.index("== #Climate ==") < text.index("Story number 3") < text.index("== #Politics ==")
    assert text.index("== #Science ==") < text.index("Story number 1")
    assert "Story number 4" not in text
    # A tag typed in lower case is shown as the stories write it; none is ever upper-cased, not even by CSS.
    assert sections(lower) == (["#TechNews"], ["#TechNews"])
    assert "uppercase" not in lower.get_body(("html",)).get_content()  # type: ignore[union-attr]
    # Someone who reads everything gets a section per story's first hashtag, as the story writes it.
    assert [sorted(found) for found in sections(everything)] == [["#Politics", "#Space", "#TechNews"]] * 2


def test_the_digest_header_and_subject_give_the_dates_of_its_stories(
    mail_config: Callable[..., Config], fake_smtp: FakeSmtp, clock: FakeClock
) -> None:
    config = mail_config([news_item(1, day=10), news_item(2, day=12), news_item(3, day=11)])
    with App(config, clock=clock) as app:
        confirmed(app, "reader@example.org")
        clock.now = datetime.fromisoformat("2026-11-26T09:00:00+00:00")
        app.poll_due_sources(poll_all=True)  # found on 26 November, written on 10–12 November
        clock.now = datetime.fromisoformat("2026-12-02T09:00:00+00:00")
        assert app.digest(force=True).sent == 1
    [mail] = mails_to(fake_smtp, "reader@example.org")
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert mail["Subject"] == "Your weekly news digest — 10 – 12 Nov 2026"
    assert text.splitlines()[:2] == ["Your weekly news digest", "10 – 12 Nov 2026"]
    assert re.search(r'<p class="period"[^>]*>10 – 12 Nov 2026</p>', html)
    assert "Dec" not in text.split("==")[0] and "25 Nov" not in html


class _ShareLinks(HTMLParser):
    """The inline style of each link in a share line (`<p class="share">`) of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.styles: list[dict[str, str]] = []
        self._in_share = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "p":
            self._in_share = found.get("class") == "share"
        elif tag == "a" and self._in_share:
            declarations = (part.partition(":") for part in (found.get("style") or "").split(";"))
            self.styles.append({name.strip(): value.strip() for name, _, value in declarations})

    def handle_endtag(self, tag: str) -> None:
        self._in_share = self._in_share and tag != "p"


def pixels(value: str) -> list[int]:
    return [int(number) for number in re.findall(r"(\d+)px", value)]


def test_share_links_and_the_unsubscribe_link_in_the_mail_are_tap_targets_at_least_44_pixels_high(
    mail_config: Callable[..., Config], fake_smtp: FakeSmtp, clock: FakeClock
) -> None:
    config = mail_config([news_item(1)])
    with App(config, clock=clock) as app:
        app.poll_due_sources(poll_all=True)
        confirmed(app, "reader@example.org")
        app.digest(force=True)
    [mail] = mails_to(fake_smtp, "reader@example.org")
    shares = _ShareLinks()
    shares.feed(mail.get_body(("html",)).get_content())  # type: ignore[union-attr]
    assert len(shares.styles) == 6  # X, Telegram, Facebook, LinkedIn, WhatsApp, Email
    for style in shares.styles:  # as the mail client gets it: the CSS inlined on each link
        top, right, bottom, left = (pixels(style.get("padding", "0px")) * 4)[:4]
        assert style.get("display") == "inline-block"
        assert pixels(style.get("line-height", "0px"))[0] + top + bottom >= 44
        assert pixels(style.get("min-width", "0px"))[0] + left + right >= 44
        assert 14 <= pixels(style.get("font-size", "0px"))[0] <= 16
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    footer = dict(
        (label, {n.strip(): v.strip() for n, _, v in (d.partition(":") for d in style.split(";"))})
        for style, label in re.findall(r'<a [^>]*style="([^"]*)"[^>]*>(Email preferences|Unsubscribe)</a>', html)
    )
    assert set(footer) == {"Email preferences", "Unsubscribe"}
    for style in footer.values():
        top, _right, bottom, _left = (pixels(style.get("padding", "0px")) * 4)[:4]
        assert style.get("display") == "inline-block"
        assert pixels(style.get("line-height", "0px"))[0] + top + bottom >= 44
        assert pixels(style.get("font-size", "0px"))[0] >= 14
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "  X: <https://x.com/intent/post?" in text  # the text part keeps one share link a line


# --- one digest path: the previews and the dry run show what the send mails ---------------------------------------


def story_titles(text: str) -> list[str]:
    return re.findall(r"Story number \d+", text)


def test_a_preview_for_a_subscriber_shows_exactly_the_articles_the_send_mails_them(
    mail_config: Callable[..., Config], fake_smtp: FakeSmtp, clock: FakeClock
) -> None:
    config = mail_config([news_item(1, tag="Climate"), news_item(2, tag="Sports"), news_item(3, tag="Climate")])
    with App(config, clock=clock) as app:
        app.poll_due_sources(poll_all=True)
        confirmed(app, "climate@example.org", "Climate")
        confirmed(app, "everything@example.org")
        _html, text, count = app.preview_digest("Climate@Example.org")
        for_climate = text.read_text(encoding="utf-8")
        for_everyone = app.preview_digest().text.read_text(encoding="utf-8")

        assert app.digest(force=True).sent == 2

    [climate_mail] = mails_to(fake_smtp, "climate@example.org")
    [everything_mail] = mails_to(fake_smtp, "everything@example.org")
    assert count == 2
    assert story_titles(for_climate) == story_titles(plain_text(climate_mail))
    assert sorted(story_titles(for_climate)) == ["Story number 1", "Story number 3"]
    assert story_titles(for_everyone) == story_titles(plain_text(everything_mail))
    assert len(story_titles(for_everyone)) == 3


def test_the_preview_after_a_digest_shows_only_what_came_since_as_the_next_send_does(
    mail_config: Callable[..., Config], tmp_path: Path, fake_smtp: FakeSmtp, clock: FakeClock
) -> None:
    feed = tmp_path / "feed.xml"
    config = mail_config([news_item(1)])
    with App(config, clock=clock) as app:
        app.poll_due_sources(poll_all=True)
        confirmed(app, "reader@example.org")
        app.digest(force=True)
        clock.advance(hours=1)
        feed.write_text(rss([news_item(1), news_item(2)]), encoding="utf-8")
        app.poll_due_sources(poll_all=True)

        previewed = app.preview_digest()
        for_reader = app.preview_digest("reader@example.org")
        app.digest(force=True)

    assert previewed.article_count == for_reader.article_count == 1
    assert story_titles(plain_text(mails_to(fake_smtp, "reader@example.org")[-1])) == ["Story number 2"]


def test_a_dry_run_writes_each_mail_as_an_eml_file_with_its_headers_and_keeps_the_same_ledger(
    mail_config: Callable[..., Config], fake_smtp: FakeSmtp, tmp_path: Path, clock: FakeClock
) -> None:
    live = mail_config([news_item(1, tag="Climate")])
    config = dataclasses.replace(live, output=dataclasses.replace(live.output, dry_run=True))
    with App(config, clock=clock) as app:
        app.poll_due_sources(poll_all=True)
        confirmed(app, "climate@example.org", "Climate")
        confirmed(app, "sports@example.org", "Sports")

        report = app.digest(force=True)

        assert report.summary() == "1 digest(s) sent; 1 subscriber(s) had nothing new matching their hashtags"
        assert deliveries(app) == {"climate@example.org": SENT, "sports@example.org": SKIPPED}
        assert app.digest(force=True).sent == 0  # nothing new: nothing written again
    [eml] = (tmp_path / "out" / "email").glob("*.eml")
    mail = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    assert fake_smtp.messages == []
    assert eml.name.endswith(".climate@example.org.eml")
    assert mail["To"] == "climate@example.org" and mail["From"] == "Example News <news@example.com>"
    assert mail["Message-ID"] and mail["Date"] and mail["List-Id"]
    assert str(mail["List-Unsubscribe"]).startswith("<https://news.example.com/newsbot/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert story_titles(plain_text(mail)) == ["Story number 1"]


def test_a_dry_run_without_sender_link_base_or_key_still_writes_the_mail_with_placeholders(
    make_config: Callable[..., Config], feed_file: Callable[..., Path], tmp_path: Path, clock: FakeClock
) -> None:
    config = make_config(
        sources=[{"name": "feed", "url": str(feed_file([news_item(1)])), "backfill": 1}],
        routes=[{"name": "all", "hashtags": ["*"], "channels": ["email"]}],
    )
    with App(config, clock=clock) as app:
        app.poll_due_sources(poll_all=True)
        confirmed(app, "reader@example.org")
        assert app.digest(force=True).sent == 1
    [eml] = (tmp_path / "out" / "email").glob("*.eml")
    mail = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    assert "example.invalid" in str(mail["From"]) and "example.invalid" in str(mail["List-Unsubscribe"])


def test_digest_preview_to_an_address_that_gets_no_digest_says_why_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[output]\ndry_run = true\n[[routes]]\nname = "all"\nhashtags = ["*"]\nchannels = ["email"]\n',
        encoding="utf-8",
    )
    unknown = newsbot("digest", "--preview", "--to", "nobody@example.org", cwd=tmp_path)
    malformed = newsbot("digest", "--preview", "--to", "no-at-sign", cwd=tmp_path)
    misplaced = newsbot("digest", "--send", "--to", "a@example.org", cwd=tmp_path)

    assert unknown.returncode == malformed.returncode == misplaced.returncode == 2
    assert "nobody@example.org is not subscribed" in unknown.stderr
    assert "needs one @" in malformed.stderr
    assert "--to goes with --preview" in misplaced.stderr
    assert "Traceback" not in unknown.stderr + malformed.stderr + misplaced.stderr


def plain_text(mail: EmailMessage) -> str:
    return str(mail.get_body(("plain",)).get_content())  # type: ignore[union-attr]
