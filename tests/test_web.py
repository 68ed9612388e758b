"""The subscribe / confirm / unsubscribe / preferences pages, as a visitor and a mail client see them."""

from __future__ import annotations

import os
import re
import socket
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from starlette.applications import Starlette

from bot.config import Config, StateConfig
from bot.email.tokens import PURPOSES, TokenSigner, link_signing
from bot.email.web import (
    FLOOD_FACTOR,
    KEEP_ALIVE_SECONDS,
    MAX_BODY_BYTES,
    MAX_CONNECTIONS,
    MAX_HEAD_BYTES,
    SECURITY_HEADERS,
    SUGGESTED_TAGS,
    FormError,
    TagMatch,
    build_app,
    build_server,
    confirm_url,
    match_seen,
    parse_address,
    parse_hashtags,
    preferences_url,
    start_in_thread,
    unsubscribe_url,
)
from bot.errors import ConfigError
from bot.models import Article
from bot.store import EmailSubscriber, OutboxItem, SqliteStore, open_store
from tests.conftest import FakeClock, confirmation_of
from tests.fakes.smtp_server import FakeSmtp
from tests.store_sql import count_articles

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 fork for its TestClient; httpx works the same for these tests.
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

SECRET = b"web-test-secret-0123456789"
PUBLIC = "https://news.example.com"
READER = "reader@example.org"
PER_HOUR = 3
_LINK = re.compile(r"https://news\.example\.com/(?:confirm|preferences|unsubscribe)\?token=[A-Za-z0-9_.-]+")


@dataclass
class Web:
    """The app under test with what it touches: the state file, the mails it sent, the clock."""

    app: Starlette
    store: SqliteStore
    clock: FakeClock
    signer: TokenSigner
    config: Config
    sent: list[EmailMessage] = field(default_factory=list)

    def client(self, ip: str = "198.51.100.7") -> TestClient:
        return TestClient(self.app, base_url=PUBLIC, client=(ip, 40000))

    def subscriber(self, address: str = READER) -> EmailSubscriber | None:
        return self.store.email_subscriber(address)

    def token(self, purpose: str, address: str = READER, *, signer: TokenSigner | None = None) -> str:
        return (signer or self.signer).make(purpose, address, self.clock(), ttl=PURPOSES[purpose])


@pytest.fixture
def web_config(make_config: Callable[..., Config]) -> Config:
    return make_config(
        web={"public_url": PUBLIC, "subscribe_per_hour": PER_HOUR},
        email={"sender": "Example News <news@example.com>", "list_name": "Example News weekly"},
    )


@pytest.fixture
def web(web_config: Config, state: StateConfig, clock: FakeClock) -> Iterator[Web]:
    """The pages over a state on each backend (`state`: SQLite, then PostgreSQL)."""
    sent: list[EmailMessage] = []
    signer = TokenSigner(SECRET)
    app = build_app(
        web_config,
        store_factory=lambda: open_store(state),
        signer=signer,
        send_mail=sent.append,
        make_confirmation=confirmation_of(web_config),
        clock=clock,
    )
    store = open_store(state)
    yield Web(app, store, clock, signer, web_config, sent)
    store.close()


@pytest.fixture
def client(web: Web) -> Iterator[TestClient]:
    with web.client() as test_client:
        yield test_client


def sign_up(
    client: TestClient, email: str = READER, hashtags: str = "#Climate #Politics", name: str = ""
) -> httpx.Response:
    return client.post("/subscribe", data={"email": email, "name": name, "hashtags": hashtags})


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def links_in(message: EmailMessage) -> list[str]:
    return _LINK.findall(text_of(message))


def subscribed(web: Web, client: TestClient, address: str = READER, hashtags: str = "#Climate") -> None:
    """`address` signed up and confirmed through the pages."""
    sign_up(client, address, hashtags)
    (link,) = links_in(web.sent[-1])
    assert client.post(link).status_code == 200
    web.sent.clear()


# -- the sign-up form -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/subscribe"])
def test_the_sign_up_form_is_plain_html_with_security_headers(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="en">' in page.text
    assert '<form method="post" action="subscribe">' in page.text
    for name in ("email", "name", "hashtags"):
        assert f'name="{name}"' in page.text
    assert "<script" not in page.text
    for header, value in SECURITY_HEADERS.items():
        assert page.headers[header] == value


def test_every_answer_carries_the_security_headers(client: TestClient) -> None:
    for response in (client.get("/healthz"), client.get("/nowhere"), client.put("/subscribe"), client.get("/confirm")):
        assert response.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"
    assert client.get("/nowhere").status_code == 404
    assert client.put("/subscribe").status_code == 405


def test_healthz_says_ok(client: TestClient) -> None:
    assert (client.get("/healthz").status_code, client.get("/healthz").text) == (200, "ok")


def test_a_sign_up_is_recorded_unconfirmed_and_gets_a_confirmation_mail(web: Web, client: TestClient) -> None:
    page = sign_up(client, hashtags="#Climate, Politics #climate", name="Ada")
    assert page.status_code == 200
    assert "Check your inbox" in page.text
    subscriber = web.subscriber()
    assert subscriber is not None
    assert (subscriber.active, subscriber.name, subscriber.hashtags) == (False, "Ada", ("Climate", "Politics"))
    (mail,) = web.sent
    assert mail["To"] == READER
    assert mail["Subject"] == "Confirm your subscription"
    assert "#Climate, #Politics" in text_of(mail)
    (link,) = links_in(mail)
    assert link.startswith(f"{PUBLIC}/confirm?token=")


def test_opening_the_confirm_link_only_shows_a_button_so_mail_scanners_confirm_nothing(
    web: Web, client: TestClient
) -> None:
    sign_up(client, hashtags="#Climate #Politics")
    (link,) = links_in(web.sent[0])
    for _ in range(3):  # a mail scanner may open every link in a mail, any number of times
        page = client.get(link)
        assert page.status_code == 200
        assert '<form method="post" action="confirm?token=' in page.text
        assert '<button type="submit">Confirm my subscription</button>' in page.text
        assert READER in page.text and "#Climate, #Politics" in page.text
    subscriber = web.subscriber()
    assert subscriber is not None and not subscriber.active and subscriber.confirmed_at is None


def test_the_confirm_button_subscribes_and_offers_the_preferences(web: Web, client: TestClient) -> None:
    sign_up(client)
    (link,) = links_in(web.sent[0])
    page = client.post(link)
    assert page.status_code == 200
    assert "You&#39;re subscribed" in page.text
    assert 'href="preferences?token=' in page.text
    subscriber = web.subscriber()
    assert subscriber is not None and subscriber.active and subscriber.confirmed_at == web.clock()


def test_a_used_confirm_link_says_the_address_is_already_subscribed(web: Web, client: TestClient) -> None:
    sign_up(client)
    (link,) = links_in(web.sent[0])
    assert client.post(link).status_code == 200
    web.clock.advance(days=1)
    for again in (client.get(link), client.post(link)):
        assert again.status_code == 200
        assert "You&#39;re already subscribed" in again.text
        assert f"{READER} already gets the weekly digest" in again.text
        assert 'href="preferences?token=' in again.text
        assert "<button" not in again.text
    subscriber = web.subscriber()
    assert subscriber is not None and subscriber.active
    assert subscriber.confirmed_at == web.clock() - timedelta(days=1)


def test_a_confirm_link_used_after_unsubscribing_says_so_and_how_to_come_back(web: Web, client: TestClient) -> None:
    sign_up(client)
    (link,) = links_in(web.sent[0])
    client.post(link)
    client.post(unsubscribe_url(web.config, web.signer, READER, web.clock()))
    for again in (client.get(link), client.post(link)):
        assert again.status_code == 200
        assert "broken or has expired" not in again.text
        assert f"{READER} was unsubscribed after this link was sent" in again.text
        assert 'href="subscribe">Sign up again</a>' in again.text
    subscriber = web.subscriber()
    assert subscriber is not None and not subscriber.active and subscriber.status_reason == "unsubscribed"


def test_the_answer_is_the_same_for_new_and_subscribed_addresses(web: Web, client: TestClient) -> None:
    subscribed(web, client, READER, "#Climate")
    known = sign_up(client, READER, "#Sports", name="Mallory")
    new = sign_up(client, "newcomer@example.org", "#Sports")
    assert known.status_code == new.status_code == 200
    assert known.text.replace(READER, "X") == new.text.replace("newcomer@example.org", "X")
    assert dict(known.headers) == dict(new.headers) | {"content-length": known.headers["content-length"]}


def test_a_subscribed_address_is_told_so_and_its_settings_stay(web: Web, client: TestClient) -> None:
    subscribed(web, client, READER, "#Climate")
    sign_up(client, READER, "#Sports", name="Mallory")
    (mail,) = web.sent
    assert "already gets it" in text_of(mail)
    (link,) = links_in(mail)
    assert link.startswith(f"{PUBLIC}/preferences?token=")
    subscriber = web.subscriber()
    assert subscriber is not None
    assert (subscriber.active, subscriber.hashtags, subscriber.name) == (True, ("Climate",), "")


def test_an_unsubscribed_address_can_sign_up_again_with_a_new_confirmation(web: Web, client: TestClient) -> None:
    subscribed(web, client)
    web.store.deactivate_subscriber("email", READER, "unsubscribed", web.clock())
    sign_up(client, READER, "#Sports")
    (link,) = links_in(web.sent[0])
    assert "/confirm?" in link
    assert client.post(link).status_code == 200
    subscriber = web.subscriber()
    assert subscriber is not None and subscriber.active and subscriber.hashtags == ("Sports",)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"email": ""}, "Please enter your email address."),
        ({"email": "no-at-sign.example.org"}, "needs one @"),
        ({"email": "a@b@example.org"}, "needs one @"),
        ({"email": "reader@localhost"}, "needs a domain"),
        ({"email": "two words@example.org"}, "contains spaces"),
        ({"email": READER, "hashtags": "#Climate #9"}, "“#9” is not a hashtag"),
        ({"email": READER, "hashtags": "#Cli-mate"}, "is not a hashtag"),
        ({"email": READER, "hashtags": " ".join(f"#T{n}" for n in range(51))}, "at most 50 hashtags"),
        ({"email": READER, "hashtags": "#" + "a" * 65}, "longer than 64"),
        ({"email": READER, "name": "x" * 101}, "name to 100 characters"),
    ],
)
def test_a_bad_form_is_shown_again_with_the_problem_and_nothing_is_sent(
    web: Web, client: TestClient, form: dict[str, str], message: str
) -> None:
    page = client.post("/subscribe", data=form)
    assert page.status_code == 400
    assert message in page.text
    assert f'value="{form["email"]}"' in page.text
    assert web.sent == []
    assert web.subscriber() is None


def test_what_the_visitor_typed_is_escaped(web: Web, client: TestClient) -> None:
    page = client.post(
        "/subscribe",
        data={"email": "not an address", "name": "<script>alert(1)</script>", "hashtags": '"><img src=x>'},
    )
    assert page.status_code == 400
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<img" not in page.text
    assert "&#34;&gt;&lt;img src=x&gt;" in page.text


def test_a_sign_up_with_a_script_name_is_refused_and_the_name_shown_back_as_text(web: Web, client: TestClient) -> None:
    page = sign_up(client, name="<script>alert(1)</script>")
    assert page.status_code == 400
    assert "not quotes, brackets" in page.text
    assert "<script>alert" not in page.text
    assert web.subscriber() is None and web.sent == []


@pytest.mark.parametrize(
    "name",
    [
        "=?utf-8?q?x=0D=0ASubject:_Your_password_expired=0D=0A=0D=0APWNED?=",
        'x" <evil@example.org>, "y',
        "x\r\nBcc: a@example.org",
        "Bob\u2028Bcc: a@example.org",
    ],
)
def test_a_name_that_a_mail_header_would_read_as_syntax_is_refused(web: Web, client: TestClient, name: str) -> None:
    page = sign_up(client, name=name)
    assert page.status_code == 400
    assert web.subscriber() is None and web.sent == []


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"email": "no-at-sign.example.org"}, "email"),
        ({"email": READER, "name": "<b>"}, "name"),
        ({"email": READER, "hashtags": "#Cli-mate"}, "hashtags"),
        ({"email": READER, "tag": "Not-a-tag"}, "hashtags"),
    ],
)
def test_a_rejected_form_focuses_the_error_and_marks_the_field_it_is_about(
    client: TestClient, form: dict[str, str], field: str
) -> None:
    page = client.post("/subscribe", data=form)
    assert page.status_code == 400
    assert '<p class="error" id="form-error" role="alert" tabindex="-1" autofocus>' in page.text
    (marked,) = re.findall(r'<input [^>]*aria-invalid="true"[^>]*>', page.text)
    assert f'id="{field}"' in marked
    assert re.search(r'aria-describedby="(?:[\w-]+ )?form-error"', marked)
    assert page.text.count("autofocus") == 1


def test_every_text_field_has_a_maxlength(client: TestClient) -> None:
    page = client.get("/").text
    inputs = re.findall(r'<input type="(?:text|email)"[^>]*>', page)
    assert len(inputs) == 3
    assert all(re.search(r'maxlength="\d+"', field) for field in inputs)


# -- hashtags in the news -------------------------------------------------------------------------


def in_the_news(web: Web, *tag_lists: Sequence[str], days_ago: float = 1, channel: str = "email") -> None:
    """One article per list of hashtags, first seen `days_ago`, routed to `channel`, each a minute after the last."""
    for tags in tag_lists:
        number = count_articles(web.store)
        seen = web.clock() - timedelta(days=days_ago) + timedelta(minutes=number)
        article = Article(
            f"a{number}", "feed", "Title", f"https://example.com/{number}", "Text.", tuple(tags), None, seen
        )
        web.store.add_article(article)
        web.store.enqueue([OutboxItem(article.key, channel, "digest", "route", "", seen)], seen)


def offered(page: httpx.Response) -> list[tuple[str, bool]]:
    """The hashtag checkboxes of a page: (hashtag, ticked)."""
    boxes = re.findall(r'<input type="checkbox" name="tag" value="([^"]+)"( checked)?>', page.text)
    return [(tag, bool(ticked)) for tag, ticked in boxes]


def test_the_sign_up_form_offers_the_hashtags_of_the_digest_this_month_most_used_first(
    web: Web, client: TestClient
) -> None:
    in_the_news(web, ["TechNews", "Climate"], ["technews"], ["PoliticsNews"])
    in_the_news(web, ["LastYear"], days_ago=40)
    in_the_news(web, ["TelegramOnly"], channel="telegram")
    page = client.get("/")
    assert offered(page) == [("TechNews", False), ("Climate", False), ("PoliticsNews", False)]
    assert "In the news this month:" in page.text
    assert '<label for="hashtags">Other hashtags</label>' in page.text


def test_at_most_30_hashtags_are_offered(web: Web, client: TestClient) -> None:
    in_the_news(web, *[[f"Tag{n:02}"] for n in range(40)])
    assert len(offered(client.get("/"))) == SUGGESTED_TAGS == 30


def test_without_news_yet_the_form_has_just_the_text_field(client: TestClient) -> None:
    page = client.get("/")
    assert offered(page) == [] and '<label for="hashtags">Hashtags</label>' in page.text


def test_ticked_and_typed_hashtags_are_saved_in_the_spelling_first_seen(web: Web, client: TestClient) -> None:
    in_the_news(web, ["TechNews"], ["technews", "Climate"])
    page = client.post("/subscribe", data={"email": READER, "tag": ["TechNews"], "hashtags": "climate #TECHNEWS"})
    assert page.status_code == 200 and "Check your inbox" in page.text
    assert 'class="note"' not in page.text
    subscriber = web.subscriber()
    assert subscriber is not None and subscriber.hashtags == ("Climate", "TechNews")
    assert "about #TechNews, #Climate at" in text_of(web.sent[0])  # as this request chose them


def test_a_hashtag_no_article_carried_is_kept_with_a_note_that_it_matches_nothing_yet(
    web: Web, client: TestClient
) -> None:
    in_the_news(web, ["PoliticsNews"], ["PoliticsNews"], ["EUPolitics"], ["Climate"])
    page = sign_up(client, hashtags="#Politics #climate")
    assert page.status_code == 200 and "Check your inbox" in page.text
    assert (
        '<p class="note" role="status">No news has been tagged #Politics yet, so it matches nothing for now. '
        "Check the spelling: maybe you mean #PoliticsNews or #EUPolitics? Once subscribed, you can change your "
        "hashtags.</p>"
    ) in page.text
    subscriber = web.subscriber()
    assert subscriber is not None and subscriber.hashtags == ("Climate", "Politics")


def test_the_note_depends_only_on_what_was_typed_so_it_tells_nothing_about_the_address(
    web: Web, client: TestClient
) -> None:
    subscribed(web, client, READER, "#Climate")
    known = sign_up(client, READER, "#Nothing")
    new = sign_up(client, "newcomer@example.org", "#Nothing")
    assert "No news has been tagged #Nothing yet" in known.text
    assert known.text.replace(READER, "X") == new.text.replace("newcomer@example.org", "X")


def test_a_form_shown_again_keeps_the_ticked_hashtags(web: Web, client: TestClient) -> None:
    in_the_news(web, ["TechNews"], ["Climate"])
    page = client.post("/subscribe", data={"email": "bad", "tag": ["Climate", "Gone"], "hashtags": "#Mine"})
    assert page.status_code == 400
    assert offered(page) == [("Climate", True), ("TechNews", False)]
    assert 'value="#Gone #Mine"' in page.text  # ticked, but no longer offered: kept in the text field


def test_preferences_tick_the_offered_hashtags_followed_and_save_them_as_first_seen(
    web: Web, client: TestClient
) -> None:
    in_the_news(web, ["TechNews"], ["Climate"])
    subscribed(web, client, hashtags="#Climate #Gardening")
    link = preferences_url(web.config, web.signer, READER, web.clock())
    page = client.get(link)
    assert offered(page) == [("Climate", True), ("TechNews", False)]
    assert 'value="#Gardening"' in page.text
    saved = client.post(link, data={"tag": ["TechNews"], "hashtags": "climate #Knitting"})
    assert saved.status_code == 200 and "Saved" in saved.text
    assert "No news has been tagged #Knitting yet" in saved.text
    subscriber = web.subscriber()
    assert subscriber is not None and subscriber.hashtags == ("Climate", "Knitting", "TechNews")


def test_match_seen_takes_the_seen_spelling_and_finds_similar_hashtags() -> None:
    match = match_seen(["technews", "Politics", "ai", "Brandnew"], ["TechNews", "PoliticsNews", "AIRegulation"])
    assert match == TagMatch(
        tags=("TechNews", "Politics", "ai", "Brandnew"),
        unseen=("Politics", "ai", "Brandnew"),
        similar=("PoliticsNews",),
    )


# -- rate limits ----------------------------------------------------------------------------------


def test_sign_ups_per_ip_are_limited_per_hour(web: Web) -> None:
    with web.client("203.0.113.5") as busy, web.client("203.0.113.6") as other:
        for n in range(PER_HOUR):
            assert sign_up(busy, f"reader{n}@example.org").status_code == 200
        refused = sign_up(busy, "one-more@example.org")
        assert refused.status_code == 429
        assert "try again" in refused.text
        assert 0 < int(refused.headers["Retry-After"]) <= 3600
        assert len(web.sent) == PER_HOUR
        assert web.subscriber("one-more@example.org") is None
        assert sign_up(other, "one-more@example.org").status_code == 200
        web.clock.advance(hours=1)
        assert sign_up(busy, "later@example.org").status_code == 200


def test_confirmation_mails_per_address_are_limited_per_hour(web: Web) -> None:
    for n in range(PER_HOUR):
        with web.client(f"192.0.2.{n + 1}") as visitor:
            assert sign_up(visitor, READER if n % 2 else READER.upper()).status_code == 200
    with web.client("192.0.2.99") as visitor:
        assert sign_up(visitor, "Reader@Example.org").status_code == 429
        assert len(web.sent) == PER_HOUR
        web.clock.advance(minutes=61)
        assert sign_up(visitor, READER).status_code == 200


# -- confirm, unsubscribe, preferences with bad tokens --------------------------------------------


def bad_tokens(web: Web, purpose: str) -> dict[str, str]:
    good = web.token(purpose)
    payload, signature = good.split(".")
    other_purpose = "unsubscribe" if purpose != "unsubscribe" else "confirm"
    return {
        "tampered payload": payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature,
        "tampered signature": payload + "." + signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB"),
        "forged": web.token(purpose, signer=TokenSigner(b"someone-else's-secret-key")),
        "other purpose": web.token(other_purpose),
        "garbage": "<script>alert(1)</script>",
        "missing": "",
    }


def expired(web: Web, purpose: str) -> str:
    token = web.token(purpose)
    web.clock.advance(days=31)
    return token


@pytest.mark.parametrize(
    "kind", ["tampered payload", "tampered signature", "forged", "other purpose", "garbage", "missing", "expired"]
)
def test_a_bad_confirm_link_gets_400_and_confirms_nothing(web: Web, client: TestClient, kind: str) -> None:
    sign_up(client)
    token = expired(web, "confirm") if kind == "expired" else bad_tokens(web, "confirm")[kind]
    for method in ("GET", "POST"):
        page = client.request(method, "/confirm", params={"token": token} if token else None)
        assert page.status_code == 400
        assert "broken or has expired" in page.text
        assert 'href="subscribe"' in page.text
    subscriber = web.subscriber()
    assert subscriber is not None and not subscriber.active


@pytest.mark.parametrize(
    "kind", ["tampered payload", "tampered signature", "forged", "other purpose", "garbage", "missing"]
)
def test_a_bad_unsubscribe_link_gets_400_and_unsubscribes_nobody(web: Web, client: TestClient, kind: str) -> None:
    subscribed(web, client)
    token = bad_tokens(web, "unsubscribe")[kind]
    assert client.get("/unsubscribe", params={"token": token}).status_code == 400
    posted = client.post("/unsubscribe", params={"token": token}, data={"List-Unsubscribe": "One-Click"})
    assert posted.status_code == 400
    subscriber = web.subscriber()
    assert subscriber is not None and subscriber.active


@pytest.mark.parametrize(
    "kind", ["tampered payload", "tampered signature", "forged", "other purpose", "garbage", "expired"]
)
def test_a_bad_preferences_link_gets_400_and_changes_nothing(web: Web, client: TestClient, kind: str) -> None:
    subscribed(web, client, hashtags="#Climate")
    token = expired(web, "preferences") if kind == "expired" else bad_tokens(web, "preferences")[kind]
    assert client.get("/preferences", params={"token": token}).status_code == 400
    assert client.post("/preferences", params={"token": token}, data={"hashtags": "#Sports"}).status_code == 400
    subscriber = web.subscriber()
    assert subscriber is not None and subscriber.hashtags == ("Climate",)


# -- unsubscribe ----------------------------------------------------------------------------------


def test_opening_the_unsubscribe_link_only_shows_a_button(web: Web, client: TestClient) -> None:
    subscribed(web, client)
    link = unsubscribe_url(web.config, web.signer, READER, web.clock())
    for _ in range(3):  # a mail scanner may follow the link any number of times
        page = client.get(link)
        assert page.status_code == 200
        assert '<form method="post" action="unsubscribe?token=' in page.text
        assert 'type="submit"' in page.text
    subscriber = web.subscriber()
    assert subscriber is not None and subscriber.active


@pytest.mark.parametrize(
    ("standing", "says"),
    [
        ("unsubscribed", f"{READER} was unsubscribed and gets no digests, so there is nothing to do."),
        ("bounced", "mail to it could not be delivered and gets no digests"),
        ("unconfirmed", f"{READER} was never confirmed and gets no digests"),
    ],
)
def test_the_unsubscribe_page_of_an_address_that_gets_nothing_says_so_instead_of_asking(
    web: Web, client: TestClient, standing: str, says: str
) -> None:
    if standing == "unconfirmed":
        sign_up(client)
    else:
        subscribed(web, client)
        web.store.deactivate_subscriber(
            "email", READER, "unsubscribed" if standing == "unsubscribed" else "bounced: 550", web.clock()
        )
    page = client.get(unsubscribe_url(web.config, web.signer, READER, web.clock()))
    assert page.status_code == 200
    assert says in page.text
    assert "Do you want to stop" not in page.text and "<form" not in page.text
    assert 'href="subscribe">Changed your mind? Sign up again</a>' in page.text


def test_the_unsubscribe_button_unsubscribes_at_once(web: Web, client: TestClient) -> None:
    subscribed(web, client)
    link = unsubscribe_url(web.config, web.signer, READER, web.clock())
    page = client.post(link)
    assert page.status_code == 200
    assert "You&#39;re unsubscribed" in page.text
    subscriber = web.subscriber()
    assert subscriber is not None and not subscriber.active and subscriber.status_reason == "unsubscribed"
    assert client.post(link).status_code == 200  # again: still unsubscribed, still fine


@pytest.mark.parametrize("encoding", ["form", "multipart"])
def test_one_click_unsubscribe_from_a_mail_client(web: Web, client: TestClient, encoding: str) -> None:
    subscribed(web, client)
    link = unsubscribe_url(web.config, web.signer, READER, web.clock())
    if encoding == "form":
        answer = client.post(
            link,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    else:
        answer = client.post(link, files={"List-Unsubscribe": (None, "One-Click")})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert len(answer.text) < 100
    subscriber = web.subscriber()
    assert subscriber is not None and not subscriber.active


def test_an_unsubscribe_link_from_an_old_digest_still_works(web: Web, client: TestClient) -> None:
    subscribed(web, client)
    link = unsubscribe_url(web.config, web.signer, READER, web.clock())
    web.clock.advance(days=800)
    assert client.post(link).status_code == 200
    subscriber = web.subscriber()
    assert subscriber is not None and not subscriber.active


# -- preferences ----------------------------------------------------------------------------------


def test_preferences_show_and_replace_the_hashtags(web: Web, client: TestClient) -> None:
    subscribed(web, client, hashtags="#Climate #Politics")
    link = preferences_url(web.config, web.signer, READER, web.clock())
    page = client.get(link)
    assert page.status_code == 200
    assert 'value="#Climate #Politics"' in page.text
    assert 'href="unsubscribe?token=' in page.text
    saved = client.post(link, data={"hashtags": "sports, #Science"})
    assert saved.status_code == 200
    assert "Saved" in saved.text and 'value="#Science #sports"' in saved.text
    subscriber = web.subscriber()
    assert subscriber is not None and subscriber.hashtags == ("Science", "sports")
    everything = client.post(link, data={"hashtags": ""})
    assert "You will get all the news" in everything.text
    subscriber = web.subscriber()
    assert subscriber is not None and subscriber.hashtags == ()


def test_bad_hashtags_in_preferences_keep_the_old_ones(web: Web, client: TestClient) -> None:
    subscribed(web, client, hashtags="#Climate")
    link = preferences_url(web.config, web.signer, READER, web.clock())
    page = client.post(link, data={"hashtags": "#Good #<b>bad</b>"})
    assert page.status_code == 400
    assert "is not a hashtag" in page.text and "<b>" not in page.text
    subscriber = web.subscriber()
    assert subscriber is not None and subscriber.hashtags == ("Climate",)


@pytest.mark.parametrize("standing", ["unknown", "unconfirmed", "unsubscribed"])
def test_preferences_of_an_address_that_does_not_subscribe_change_nothing(
    web: Web, client: TestClient, standing: str
) -> None:
    if standing != "unknown":
        sign_up(client, hashtags="#Climate")
    if standing == "unsubscribed":
        (link,) = links_in(web.sent[0])
        client.post(link)
        web.store.deactivate_subscriber("email", READER, "unsubscribed", web.clock())
    link = preferences_url(web.config, web.signer, READER, web.clock())
    assert client.get(link).status_code == 400
    assert client.post(link, data={"hashtags": "#Sports"}).status_code == 400
    subscriber = web.subscriber()
    if standing == "unknown":
        assert subscriber is None  # set_subscriber_tags would have created an active one
    else:
        assert subscriber is not None and not subscriber.active and subscriber.hashtags == ("Climate",)


# -- limits and failures --------------------------------------------------------------------------


def test_a_huge_form_is_refused_with_413_and_the_form_shown_again(web: Web, client: TestClient) -> None:
    page = client.post("/subscribe", data={"email": READER, "hashtags": "#Tag " * 5000})
    assert page.status_code == 413
    assert "Too much data: the form sent more than 10 KB, so nothing was saved." in page.text
    assert '<p class="error" id="form-error" role="alert" tabindex="-1" autofocus>' in page.text
    assert '<form method="post" action="subscribe">' in page.text
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert web.sent == [] and web.subscriber() is None


def test_a_huge_preferences_form_gets_the_form_again_with_the_hashtags_kept(web: Web, client: TestClient) -> None:
    subscribed(web, client, hashtags="#Climate #Politics")
    link = preferences_url(web.config, web.signer, READER, web.clock())
    page = client.post(link, data={"hashtags": "#Tag " * 5000})
    assert page.status_code == 413
    assert "Too much data" in page.text
    assert f'<form method="post" action="{link.rpartition("/")[2]}">' in page.text
    assert 'value="#Climate #Politics"' in page.text
    subscriber = web.subscriber()
    assert subscriber is not None and subscriber.hashtags == ("Climate", "Politics")


def test_a_huge_unsubscribe_post_gets_a_link_back_to_the_page(web: Web, client: TestClient) -> None:
    subscribed(web, client)
    link = unsubscribe_url(web.config, web.signer, READER, web.clock())
    page = client.post(link, data={"x": "y" * 20_000})
    assert page.status_code == 413
    assert f'<a href="{link.rpartition("/")[2]}">Back to the page</a>' in page.text
    subscriber = web.subscriber()
    assert subscriber is not None and subscriber.active


@pytest.mark.parametrize("path", ["/", "/preferences"])
def test_the_largest_form_a_browser_can_send_fits_under_the_body_limit(web: Web, client: TestClient, path: str) -> None:
    """Every text field filled to its maxlength with 3-byte characters, every offered hashtag ticked."""
    in_the_news(web, *[[f"{'気' * 63}{n:x}"] for n in range(SUGGESTED_TAGS + 10)], [f"T{n}" for n in range(40)])
    subscribed(web, client)
    url = preferences_url(web.config, web.signer, READER, web.clock()) if path == "/preferences" else path
    page = client.get(url).text
    fields = re.findall(
        r'<input type="(?:text|email)" id="\w+" name="(\w+)" value="[^"]*"[^>]*? maxlength="(\d+)"', page
    )
    assert {name for name, _ in fields} == ({"hashtags"} if path == "/preferences" else {"email", "name", "hashtags"})
    ticked = re.findall(r'<input type="checkbox" name="tag" value="([^"]+)"', page)
    assert ticked  # the budget keeps some of the long ones
    form = [(name, "気" * int(limit)) for name, limit in fields] + [("tag", tag) for tag in ticked]
    assert len(urlencode(form)) <= MAX_BODY_BYTES


def test_a_huge_body_without_a_length_is_refused_with_413(web: Web, client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield f"email={READER}&hashtags=".encode()
        for _ in range(20):
            yield b"%23Tag+" * 200

    subscribed(web, client)
    link = unsubscribe_url(web.config, web.signer, READER, web.clock())
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert client.post("/subscribe", content=chunks(), headers=form).status_code == 413
    assert client.post(link, content=chunks(), headers=form).status_code == 413
    subscriber = web.subscriber()
    assert subscriber is not None and subscriber.active


def test_a_mail_that_cannot_be_sent_gets_a_try_later_page(web_config: Config, tmp_path: Path, clock: FakeClock) -> None:
    def broken(message: EmailMessage) -> None:
        raise ConnectionRefusedError("smtp down")

    app = build_app(
        web_config,
        store_factory=lambda: open_store(tmp_path / "s.sqlite"),
        signer=TokenSigner(SECRET),
        send_mail=broken,
        make_confirmation=confirmation_of(web_config),
        clock=clock,
    )
    with TestClient(app) as client:
        page = sign_up(client)
    assert page.status_code == 503
    assert "could not send" in page.text


def test_without_a_mailer_sign_up_is_closed_but_links_still_work(
    web_config: Config, tmp_path: Path, clock: FakeClock
) -> None:
    store = open_store(tmp_path / "s.sqlite")
    store.request_email_subscription(READER, ["Climate"], clock())
    store.confirm_email(READER, clock())
    signer = TokenSigner(SECRET)
    app = build_app(
        web_config, store_factory=lambda: open_store(store.path), signer=signer, send_mail=None, clock=clock
    )
    with TestClient(app) as client:
        assert sign_up(client, "new@example.org").status_code == 503
        assert client.post(unsubscribe_url(web_config, signer, READER, clock())).status_code == 200
    subscriber = store.email_subscriber(READER)
    assert subscriber is not None and not subscriber.active
    store.close()


# -- links and form values ------------------------------------------------------------------------


def test_links_are_built_on_the_public_url(web: Web, make_config: Callable[..., Config]) -> None:
    now = web.clock()
    for build, purpose in (
        (confirm_url, "confirm"),
        (unsubscribe_url, "unsubscribe"),
        (preferences_url, "preferences"),
    ):
        url = build(web.config, web.signer, READER, now)
        assert url.startswith(f"{PUBLIC}/{purpose}?token=")
        assert web.signer.read(url.partition("token=")[2], purpose, now) == READER
    with pytest.raises(ConfigError, match="public_url"):
        confirm_url(make_config(), web.signer, READER, now)


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("  Reader@Example.ORG ", "reader@example.org"),
        ("Bob@Example.NET", "bob@example.net"),
        ("a.b+news@sub.example.co.uk", "a.b+news@sub.example.co.uk"),
        ("o'neil@example.org", "o'neil@example.org"),
        ("leser@bücher.de", "leser@xn--bcher-kva.de"),
    ],
)
def test_addresses_are_trimmed_and_lower_cased_so_one_mailbox_is_one_subscriber(typed: str, kept: str) -> None:
    assert parse_address(typed) == kept


@pytest.mark.parametrize(
    "typed",
    [
        "a..b@example.org",
        ".a@example.org",
        "ünï@example.org",
        "a@example..org",
        "a@-example.org",
        "a@example.org.",
        "a,b@example.org",
        "<a@example.org>",
        "a@example.org\r\nBcc: victim@example.org",
        "a\x00@example.org",
        "a" * 65 + "@example.org",
        "a@" + "b" * 250 + ".org",
    ],
)
def test_implausible_addresses_are_refused(typed: str) -> None:
    with pytest.raises(FormError):
        parse_address(typed)


def test_hashtags_are_read_like_hashtags_everywhere_else() -> None:
    assert parse_hashtags("#Climate #Politics") == ["Climate", "Politics"]
    assert parse_hashtags("climate, #CLIMATE ,#Wahl_2026 #Ökologie") == ["climate", "Wahl_2026", "Ökologie"]
    assert parse_hashtags("   ") == []
    assert parse_hashtags("# ##") == []
    with pytest.raises(FormError):
        parse_hashtags("#2026")


# -- over real HTTP -------------------------------------------------------------------------------


def test_the_whole_journey_over_real_http(web: Web) -> None:
    server, thread = start_in_thread(web.app, "127.0.0.1", 0)
    try:
        port = server.servers[0].sockets[0].getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        local = re.compile(re.escape(PUBLIC))
        with httpx.Client(base_url=base, timeout=10) as http:
            form = http.get("/")
            assert form.status_code == 200 and form.headers["Referrer-Policy"] == "no-referrer"
            answer = http.post("/subscribe", data={"email": READER, "hashtags": "#Climate"})
            assert answer.status_code == 200 and "Check your inbox" in answer.text
            (mail,) = web.sent
            (confirm,) = links_in(mail)
            button = http.get(local.sub(base, confirm))
            assert button.status_code == 200 and "Confirm my subscription" in button.text
            confirmed = http.post(local.sub(base, confirm))
            assert confirmed.status_code == 200 and "subscribed" in confirmed.text
            preferences = re.search(r'href="(preferences\?token=[^"]+)"', confirmed.text)
            assert preferences is not None
            saved = http.post("/" + preferences.group(1).replace("&amp;", "&"), data={"hashtags": "#Science"})
            assert saved.status_code == 200 and "Saved" in saved.text
            one_click = http.post(
                local.sub(base, unsubscribe_url(web.config, web.signer, READER, web.clock())),
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert one_click.status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert not thread.is_alive()
    subscriber = web.subscriber()
    assert subscriber is not None
    assert (subscriber.active, subscriber.status_reason, subscriber.hashtags) == (False, "unsubscribed", ("Science",))


def test_ipv6_clients_are_limited_by_their_slash_64(web: Web) -> None:
    for n in range(PER_HOUR):
        with web.client(f"2001:db8:1:2::{n + 1}") as visitor:
            assert sign_up(visitor, f"reader{n}@example.org").status_code == 200
    with web.client("2001:db8:1:2:ffff::1") as same_network, web.client("2001:db8:1:3::1") as next_network:
        assert sign_up(same_network, "one-more@example.org").status_code == 429
        assert sign_up(next_network, "one-more@example.org").status_code == 200


# -- a stranger and someone else's pending sign-up ------------------------------------------------


def test_each_confirmation_link_confirms_what_its_own_mail_named_whoever_asked_before_or_after(web: Web) -> None:
    with web.client("198.51.100.7") as owner, web.client("203.0.113.66") as stranger:
        sign_up(stranger, READER, "#Sports", name="Mallory")
        web.clock.advance(minutes=5)
        sign_up(owner, READER, "#Climate", name="Ada")
        web.clock.advance(minutes=5)
        sign_up(stranger, READER, "#Gossip", name="Eve")
        strangers_first, owners, strangers_second = web.sent
        assert ["#Sports" in text_of(strangers_first), "#Climate" in text_of(owners)] == [True, True]
        assert "#Gossip" in text_of(strangers_second)
        (link,) = links_in(owners)
        assert "#Climate" in owner.get(link).text  # the page names what its button confirms
        assert owner.post(link).status_code == 200
        subscriber = web.subscriber()
        assert subscriber is not None
        assert (subscriber.active, subscriber.name, subscriber.hashtags) == (True, "Ada", ("Climate",))
        for mail in (strangers_first, strangers_second):  # opened and pressed later: nothing left to confirm
            (link,) = links_in(mail)
            assert "already subscribed" in owner.post(link).text
    assert web.subscriber() == subscriber


def test_a_reader_who_signs_up_again_with_other_hashtags_gets_those_from_the_newer_link(
    web: Web, client: TestClient
) -> None:
    sign_up(client, READER, "#Climate", name="Ada")
    web.clock.advance(minutes=5)
    sign_up(client, READER, "#Climate #Science", name="Ada L.")
    (newer,) = links_in(web.sent[-1])
    client.post(newer)
    subscriber = web.subscriber()
    assert subscriber is not None
    assert (subscriber.active, subscriber.name, subscriber.hashtags) == (True, "Ada L.", ("Climate", "Science"))


def test_a_pending_sign_up_whose_links_expired_can_be_made_again(web: Web, client: TestClient) -> None:
    sign_up(client, READER, "#Climate", name="Ada")
    web.clock.advance(days=7, minutes=1)
    sign_up(client, READER, "#Sports", name="Bea")
    subscriber = web.subscriber()
    assert subscriber is not None and (subscriber.name, subscriber.hashtags) == ("Bea", ("Sports",))
    assert "#Sports" in text_of(web.sent[-1])


# -- cross-site forms -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://blog.news.example.com"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "null"},
        {"Origin": "https://evil.example"},  # an older browser: no Sec-Fetch-Site
        {"Origin": "http://news.example.com.evil.example"},
    ],
)
def test_a_sign_up_posted_from_another_site_gets_403_and_sends_nothing(
    web: Web, client: TestClient, headers: dict[str, str]
) -> None:
    page = client.post("/subscribe", data={"email": READER, "hashtags": "#Climate"}, headers=headers)
    assert page.status_code == 403
    assert "sent to us from another web site" in page.text and 'href="subscribe"' in page.text
    assert web.sent == [] and web.subscriber() is None


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin", "Origin": "null"},  # our pages send no referrer, so Origin is "null"
        {"Sec-Fetch-Site": "none"},  # typed or bookmarked by the user
        {"Origin": "https://news.example.com"},  # [web] public_url
        {"Origin": "https://NEWS.example.com:443"},
        {},  # not a browser
    ],
)
def test_a_sign_up_from_our_own_form_is_accepted(web: Web, client: TestClient, headers: dict[str, str]) -> None:
    page = client.post("/subscribe", data={"email": READER, "hashtags": "#Climate"}, headers=headers)
    assert page.status_code == 200
    assert len(web.sent) == 1


def test_a_sign_up_from_the_servers_own_host_is_accepted_when_public_url_is_elsewhere(web: Web) -> None:
    with TestClient(web.app, base_url="http://127.0.0.1:8080") as local:
        page = local.post("/subscribe", data={"email": READER}, headers={"Origin": "http://127.0.0.1:8080"})
    assert page.status_code == 200 and len(web.sent) == 1


def test_one_click_unsubscribe_from_a_mail_provider_needs_no_origin(web: Web, client: TestClient) -> None:
    subscribed(web, client)
    link = unsubscribe_url(web.config, web.signer, READER, web.clock())
    answer = client.post(
        link,
        data={"List-Unsubscribe": "One-Click"},
        headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://mail.provider.example"},
    )
    assert answer.status_code == 200
    subscriber = web.subscriber()
    assert subscriber is not None and not subscriber.active


# -- what counts against the limits ---------------------------------------------------------------


def test_forms_with_mistakes_do_not_use_up_the_per_ip_limit(web: Web, client: TestClient) -> None:
    for typo in ("reader@", "reader@example", "reader example.org", "@example.org"):
        assert sign_up(client, typo).status_code == 400
    for n in range(PER_HOUR):
        assert sign_up(client, f"reader{n}@example.org").status_code == 200
    assert sign_up(client, "one-more@example.org").status_code == 429
    assert len(web.sent) == PER_HOUR


def test_a_flood_of_bad_forms_from_one_ip_is_cut_off(web: Web, client: TestClient) -> None:
    for _ in range(FLOOD_FACTOR * PER_HOUR):
        assert sign_up(client, "not-an-address").status_code == 400
    assert sign_up(client, READER).status_code == 429
    assert web.sent == []
    with web.client("203.0.113.9") as other:
        assert sign_up(other, READER).status_code == 200


def test_plus_tags_count_as_one_mailbox(web: Web) -> None:
    for n in range(PER_HOUR):
        with web.client(f"192.0.2.{n + 1}") as visitor:
            assert sign_up(visitor, f"reader+{n}@example.org").status_code == 200
    with web.client("192.0.2.99") as visitor:
        assert sign_up(visitor, "Reader+other@Example.org").status_code == 429
        assert sign_up(visitor, "writer@example.org").status_code == 200
    assert len(web.sent) == PER_HOUR + 1


def test_the_per_mailbox_limit_holds_across_processes(web: Web, web_config: Config, state: StateConfig) -> None:
    """`newsbot web` and `newsbot run` each build an app on the same state: they share the count."""
    other_process = build_app(
        web_config,
        store_factory=lambda: open_store(state),
        signer=web.signer,
        send_mail=web.sent.append,
        make_confirmation=confirmation_of(web_config),
        clock=web.clock,
    )
    for n in range(PER_HOUR):
        app = web.app if n % 2 else other_process
        with TestClient(app, base_url=PUBLIC, client=(f"192.0.2.{n + 1}", 4000)) as visitor:
            assert sign_up(visitor).status_code == 200
    with TestClient(other_process, base_url=PUBLIC, client=("192.0.2.50", 4000)) as visitor:
        assert sign_up(visitor).status_code == 429
    assert len(web.sent) == PER_HOUR


# -- behind a reverse proxy -----------------------------------------------------------------------


@contextmanager
def served(web: Web, **options: Any) -> Iterator[str]:
    """The app over real HTTP on 127.0.0.1; yields its base URL."""
    server, thread = start_in_thread(web.app, "127.0.0.1", 0, **options)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_behind_a_trusted_proxy_the_per_ip_limit_counts_each_forwarded_client(web: Web) -> None:
    with served(web, forwarded_allow_ips=["127.0.0.1"]) as base, httpx.Client(base_url=base, timeout=10) as proxy:
        for n in range(PER_HOUR):
            forwarded = {"X-Forwarded-For": "203.0.113.5"}
            assert sign_up_over(proxy, f"reader{n}@example.org", forwarded).status_code == 200
        assert sign_up_over(proxy, "more@example.org", {"X-Forwarded-For": "203.0.113.5"}).status_code == 429
        assert sign_up_over(proxy, "more@example.org", {"X-Forwarded-For": "203.0.113.6"}).status_code == 200


def test_without_a_trusted_proxy_a_client_cannot_choose_its_ip(web: Web) -> None:
    with served(web) as base, httpx.Client(base_url=base, timeout=10) as client:
        for n in range(PER_HOUR):
            answer = sign_up_over(client, f"reader{n}@example.org", {"X-Forwarded-For": f"203.0.113.{n}"})
            assert answer.status_code == 200
        assert sign_up_over(client, "more@example.org", {"X-Forwarded-For": "203.0.113.77"}).status_code == 429


def sign_up_over(client: httpx.Client, email: str, headers: dict[str, str]) -> httpx.Response:
    return client.post("/subscribe", data={"email": email, "hashtags": ""}, headers=headers)


def test_newsbot_run_serves_the_pages_trusting_the_configured_proxy(
    make_config: Callable[..., Config], fake_smtp: FakeSmtp, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from bot.cli import web_server
    from bot.email.parts import email_parts

    monkeypatch.setenv("NEWSBOT_SECRET_KEY", SECRET.decode())
    with socket.socket() as probe:  # a free port for [web] port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = make_config(
        output={"dir": str(tmp_path / "out"), "dry_run": False},
        routes=[{"name": "all", "hashtags": ["*"], "channels": ["email"]}],
        email={"smtp_host": fake_smtp.host, "smtp_port": fake_smtp.port, "security": "none",
               "sender": "Example News <news@example.com>"},
        web={"public_url": PUBLIC, "port": port, "subscribe_per_hour": 1, "forwarded_allow_ips": ["127.0.0.1"]},
    )  # fmt: skip
    signing = link_signing(config.web, os.environ)
    parts = email_parts(config, os.environ, signing)
    with (
        web_server(config, parts, signing),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as proxy,
    ):
        assert sign_up_over(proxy, "ann@example.org", {"X-Forwarded-For": "203.0.113.5"}).status_code == 200
        assert sign_up_over(proxy, "bob@example.org", {"X-Forwarded-For": "203.0.113.6"}).status_code == 200
        assert sign_up_over(proxy, "cy@example.org", {"X-Forwarded-For": "203.0.113.5"}).status_code == 429
    parts.close()
    assert sorted(address for m in fake_smtp.messages for address in m.rcpt_tos) == [
        "ann@example.org",
        "bob@example.org",
    ]


@pytest.mark.parametrize("value", [["proxy.example.com"], ["10.0.0.1/8"], "127.0.0.1, *"])
def test_forwarded_allow_ips_takes_only_addresses_and_networks(
    make_config: Callable[..., Config], value: object
) -> None:
    with pytest.raises(ConfigError, match=r"web\.forwarded_allow_ips.*is not an IP address or network"):
        make_config(web={"public_url": PUBLIC, "forwarded_allow_ips": value})


def test_forwarded_allow_ips_reads_a_list_or_a_comma_separated_string(make_config: Callable[..., Config]) -> None:
    assert make_config(web={"forwarded_allow_ips": "127.0.0.1, ::1"}).web.forwarded_allow_ips == ("127.0.0.1", "::1")
    assert make_config(web={"forwarded_allow_ips": ["10.0.0.0/8"]}).web.forwarded_allow_ips == ("10.0.0.0/8",)
    assert make_config().web.forwarded_allow_ips == ()


# -- slow clients ---------------------------------------------------------------------------------

DEADLINE = 0.5  # the request timeout these tests give the server, in seconds


@pytest.mark.parametrize(
    "half_a_request",
    [
        b"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-",
        b"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 400\r\n\r\nemail=reader%40exa",
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /heal",  # the second request of a keep-alive connection
    ],
    ids=["half a head", "half a body", "half a second request"],
)
def test_a_half_sent_request_is_cut_off_at_the_deadline(web: Web, half_a_request: bytes) -> None:
    with served(web, request_timeout=DEADLINE) as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE + 10) as slow:
            slow.sendall(half_a_request)
            received = b""
            while chunk := slow.recv(4096):  # returns b"" once the server closed; times out (fails) otherwise
                received += chunk
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.get("/healthz").text == "ok"  # the server goes on serving others
    assert received.count(b"HTTP/1.1 200") == (1 if b"/healthz" in half_a_request else 0)
    assert web.sent == []


def test_the_server_bounds_connections_keep_alive_and_head_size() -> None:
    server = build_server(Starlette(), "127.0.0.1", 0)
    assert server.config.limit_concurrency == MAX_CONNECTIONS
    assert server.config.timeout_keep_alive == KEEP_ALIVE_SECONDS
    assert server.config.h11_max_incomplete_event_size == MAX_HEAD_BYTES
    assert not server.config.proxy_headers  # X-Forwarded-For is believed only from [web] forwarded_allow_ips
