"""The digest and confirmation emails: what a mailbox provider and a reader see in the built message."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import dkim
import pytest

from bot.config import EmailConfig
from bot.email.message import (
    DkimKey,
    MailIdentity,
    build_already_subscribed_message,
    build_confirmation_message,
    build_digest_message,
    inline_css,
    load_dkim_key,
)
from bot.errors import ConfigError
from bot.models import Article
from bot.render import Digest, Renderer

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
UNSUBSCRIBE = "https://news.example.com/unsubscribe?token=abc.def&list=1"
IDENTITY = MailIdentity(sender="Example News <news@example.com>", reply_to="editor@example.com")

# A 2048-bit RSA key made for these tests only (fixed, so the tests need no key generation), and its public key
# as it would be published in DNS at selector._domainkey.example.com.
DKIM_PRIVATE_KEY = b"""\
-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAlBavYWec9sfXpqv0NoGXAgWl0CUB99uywWgXLqk4GH3fYtWf
eqoqnw8BRTQtI1zVlvN+FMM22bPPqaoQppn1qHgB1xCHzPpAwb4+KKvHS4i7Ft5b
kzLFX2wiwBSTEh2AS5Tw11VHJkeL4OulL+Dfel8MKScZzsebBQk2op0ToB8axSXb
sREbfyCLeWYvThD7ZB0VOa8C3apcnX6/7hXkPOywATVY0qwFAYaTzN2MruVKkxuX
GUzz+lqQ4xmgwTxi8Wz/Ve0SEc5ZaX0K2Uef3ABKRbZfK3oei5BHb1SGowPXKnAa
gAQNGIWma4vG80M6l1ugQrbqXE769uHNn7UWJwIDAQABAoIBAAs8HVoabkIarzWp
3gE0m6w/mXDNHfUb6dfaecfEdskE46mv40V/G3Stwr7pUnNYW6v0FSCmHsctaRfK
GzFIhOafFCSo0GSwp7ELKdQUFC6a1PbLL89fDrJKlehUp0O8kTsqtYrgoWE6FFag
Cgwz10CFbXrByKdzZUNgi5CSsiZ3mAbpp6MGsVxo+TpNUvMe/XcWLgrMyx3cyVfL
v1egCJczN2yiofX9Czi9p3qNbajFUlJXmPcOpe0avsyVDzLMRwyDF5TfOv/d8Ia/
1SshG5CO40m9YcmFKUuaump1/swps54+u6AeUmtjqM8Jg7wQwJmGBQnvyP3Pl3au
7paJwuECgYEA0Lk/jdM2azgD6E1ddXTIdxMV7m4Hpy/o3xocM44LW/7djtCKLnf+
Q1vYD6+6/7LIABOmtvj10Y0fUbmt9JHZip/A6NXw2woOKmq4MRnv7gUMXPt1w+jp
luBYvCQxpXB32Re68SpgV2M+zAGu3HXF8SlEMbwjUzyRcBXb9KcBq9sCgYEAtaGK
hg6LlSNcmsPlcYlGA+aRfnsvmb1py4ogEd1/tWK6jbwy9gKU+s9x9FkFS2DgyZah
ZadCfQ8TgLCIhHGGLINnFrUurh4mumPfoPUvZSOlrC0truHSFYf/a7iuqD5CrzIY
89iGiinx/X4h+TzLg825l06DyYAYttX75XV9lqUCgYBkHJZZJjdx0do97+2lyq/k
PSlFxUyyag5eBB4GtFjKdUI7n9bHVxKDqGfHjlg5EL1RHBvYoyz0p6WgA1lmdxZK
oTlb9FGkHfyRZ8KU+oXUOmOlrY7curhff5fQFeQiIAG8BN/LkLHI+HdEToJah7q7
YzmsSTsAT4rKohFwFTJ+BQKBgGw2kJeKNvNmHBhBOoRIaySLzId00UlhppST+MNs
GlhxOACV7i7QHv7HdXdFSng8gfDZA9PSsTRdNRtpEg0Grg/7QgIvdF5crGpEcsot
Ck3RzTUlvaAB/u7BFhaR881dOtGyoVc23AGZOAn1ijw6Um52tWpGZxI4dYEJQIjX
VTnZAoGBAIXWmjhvnavg3qKIA++s5nTRoNgFUsWUlkYiRuRjSWtSD+1m9amMi161
5R1wbeHLEa1P2I+1vGY98Z4BNi2u/b7ZFc00kafGody0+MijGNDoNv+EQHEq2Feg
zFi/sZlfgTnkwA+LyEvRZlAfk8NglXS02K9hrEpelf0C/hwUMdsM
-----END RSA PRIVATE KEY-----
"""
DKIM_PUBLIC_KEY = (
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAlBavYWec9sfXpqv0NoGXAgWl0CUB99uywWgXLqk4GH3fYtWfeqoq"
    "nw8BRTQtI1zVlvN+FMM22bPPqaoQppn1qHgB1xCHzPpAwb4+KKvHS4i7Ft5bkzLFX2wiwBSTEh2AS5Tw11VHJkeL4OulL+Df"
    "el8MKScZzsebBQk2op0ToB8axSXbsREbfyCLeWYvThD7ZB0VOa8C3apcnX6/7hXkPOywATVY0qwFAYaTzN2MruVKkxuXGUzz"
    "+lqQ4xmgwTxi8Wz/Ve0SEc5ZaX0K2Uef3ABKRbZfK3oei5BHb1SGowPXKnAagAQNGIWma4vG80M6l1ugQrbqXE769uHNn7UW"
    "JwIDAQAB"
)


class FirstSentence:
    def summarize(self, text: str, max_chars: int) -> str:
        return text.split(". ")[0][:max_chars]


def article(n: int, **changes: object) -> Article:
    fields: dict[str, object] = {
        "key": f"k{n}",
        "source": "Example News",
        "title": f"Council approves plan {n}",
        "link": f"https://news.example.com/2026/11/plan-{n}",
        "text": f"The city council approved plan {n} on Tuesday. Officials said the vote was close.",
        "hashtags": ("Politics",),
        "published": datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        "first_seen": datetime(2026, 11, 20, 9, 5, tzinfo=UTC),
    }
    fields.update(changes)
    return Article(**fields)  # type: ignore[arg-type]


def digest(*articles: Article, title: str = "Your weekly news digest") -> Digest:
    renderer = Renderer(summarizer=FirstSentence(), utm={"email": {"utm_source": "newsletter"}})
    return renderer.render_digest(
        articles or (article(1), article(2)),
        title=title,
        period="16–22 Nov 2026",
        unsubscribe_url=UNSUBSCRIBE,
        preferences_url="https://news.example.com/prefs",
    )


def build(the_digest: Digest | None = None, **changes: object) -> EmailMessage:
    arguments: dict[str, object] = {
        "identity": IDENTITY,
        "to": "reader@example.org",
        "to_name": "Reader",
        "unsubscribe_url": UNSUBSCRIBE,
        "unsubscribe_mailto": "unsubscribe@news.example.com",
        "now": NOW,
    }
    arguments.update(changes)
    return build_digest_message(the_digest or digest(), **arguments)  # type: ignore[arg-type]


def received(message: EmailMessage) -> EmailMessage:
    """The message as the recipient's mail program reads it."""
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = list(message.iter_parts())
    return str(text.get_content()), str(html.get_content())


def dns_for(public_key: str) -> object:
    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"news2026._domainkey.example.com."
        return b"v=DKIM1; k=rsa; p=" + public_key.encode()

    return dnsfunc


# --- headers ---------------------------------------------------------------------------------------------------


def test_digest_mail_has_date_message_id_on_the_sender_domain_and_the_addresses() -> None:
    mail = received(build())
    assert parsedate_to_datetime(mail["Date"]) == NOW
    assert mail["Message-ID"].startswith("<") and mail["Message-ID"].endswith("@example.com>")
    assert mail["From"] == "Example News <news@example.com>"
    assert mail["To"] == "Reader <reader@example.org>"
    assert mail["Reply-To"] == "editor@example.com"
    assert mail["Subject"] == "Your weekly news digest — 16–22 Nov 2026"
    assert mail["MIME-Version"] == "1.0"


def test_two_mails_never_share_a_message_id() -> None:
    assert build()["Message-ID"] != build()["Message-ID"]


def test_digest_mail_carries_list_id_and_one_click_unsubscribe() -> None:
    mail = received(build())
    assert mail["List-Id"] == '"News digest" <news-digest.example.com>'
    assert mail["List-Unsubscribe"] == (f"<{UNSUBSCRIBE}>, <mailto:unsubscribe@news.example.com?subject=unsubscribe>")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_long_unsubscribe_url_is_kept_whole_not_turned_into_encoded_words() -> None:
    url = "https://news.example.com/unsubscribe?token=" + "a1b2c3d4" * 30
    raw = build(unsubscribe_url=url, unsubscribe_mailto="mailto:leave@news.example.com").as_bytes()
    assert f"List-Unsubscribe: <{url}>,\r\n <mailto:leave@news.example.com>\r\n".encode() in raw
    assert b"=?utf-8?" not in raw.split(b"\r\n\r\n")[0].split(b"List-Unsubscribe:")[1]


def test_without_an_https_link_there_is_no_one_click_header() -> None:
    mail = received(build(unsubscribe_url="http://localhost:8080/u?t=1", unsubscribe_mailto=""))
    assert mail["List-Unsubscribe"] == "<http://localhost:8080/u?t=1>"
    assert mail["List-Unsubscribe-Post"] is None


def test_unicode_subject_names_and_list_name_are_encoded_and_read_back() -> None:
    identity = MailIdentity(sender="Café Nouvelles <news@example.com>", list_name="Nachrichten Übersicht")
    message = build(digest(title="Wöchentliche Übersicht"), identity=identity, to_name="Zoë Ünal Jr.")
    header_block = message.as_bytes().split(b"\r\n\r\n")[0]
    assert header_block.isascii()
    mail = received(message)
    assert mail["Subject"] == "Wöchentliche Übersicht — 16–22 Nov 2026"
    assert mail["To"].addresses[0].display_name == "Zoë Ünal Jr."
    assert mail["To"].addresses[0].addr_spec == "reader@example.org"
    assert mail["From"].addresses[0].display_name == "Café Nouvelles"
    assert mail["List-Id"] == "Nachrichten Übersicht <nachrichten-ubersicht.example.com>"


def test_subject_is_the_digest_title_as_written_not_shouted() -> None:
    subject = received(build())["Subject"]
    assert subject != subject.upper()


def test_identity_from_config_needs_a_sender_address() -> None:
    identity = MailIdentity.from_config(EmailConfig(sender="Example News <news@Example.com>", list_name="Briefing"))
    assert (identity.domain, identity.list_id) == ("example.com", "briefing.example.com")
    with pytest.raises(ConfigError, match=r"\[email\] sender"):
        MailIdentity.from_config(EmailConfig(sender=""))


# --- body ------------------------------------------------------------------------------------------------------


def test_digest_mail_is_multipart_alternative_text_first_then_html_both_utf8_and_7bit_safe() -> None:
    message = build()
    mail = received(message)
    assert mail.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in mail.iter_parts()] == ["text/plain", "text/html"]
    for part in mail.iter_parts():
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] in ("quoted-printable", "base64")
    assert message.as_bytes().isascii()


def test_text_and_html_parts_say_the_same() -> None:
    text, html = parts(received(build()))
    for n in (1, 2):
        for words in (f"Council approves plan {n}", f"The city council approved plan {n} on Tuesday"):
            assert words in text and words in html
        link = f"https://news.example.com/2026/11/plan-{n}?utm_source=newsletter"
        assert link in text and link in html
    for words in ("#Politics", "Example News · 2026-11-20", "X", "Telegram", "Email preferences", "Unsubscribe"):
        assert words in text and words in html
    assert text.count("Share:\r\n  X: <https://x.com/intent/post?") == 2  # one link a line: readable in plain text
    assert UNSUBSCRIBE in text and UNSUBSCRIBE.replace("&", "&amp;") in html


def test_css_is_inlined_and_only_media_queries_could_stay_in_a_style_element() -> None:
    _, html = parts(received(build()))
    assert '<td class="item" style="' in html
    assert "padding: 12px 24px" in html
    assert ".item {" not in html and "<style>" not in html.replace("<style>@media", "")


def test_inline_css_keeps_media_queries() -> None:
    html = "<html><head><style>p { color: red; } @media (max-width: 600px) { p { color: blue; } }</style></head>"
    inlined = inline_css(html + "<body><p>Hi</p></body></html>")
    assert '<p style="color: red;">Hi</p>' in inlined
    assert "@media (max-width: 600px)" in inlined


def test_the_only_hidden_text_is_the_preheader() -> None:
    _, html = parts(received(build()))
    assert html.count("display: none") == 1
    hidden = html.split("display: none")[1].split(">", 1)[1].split("</div>")[0]
    assert hidden == "Council approves plan 1 · Council approves plan 2"


def test_digest_html_has_no_image_without_alt_text() -> None:
    _, html = parts(received(build()))
    for tag in html.split("<img")[1:]:
        assert " alt=" in tag.split(">")[0]


# --- DKIM ------------------------------------------------------------------------------------------------------


KEY = DkimKey(selector="news2026", domain="example.com", private_key=DKIM_PRIVATE_KEY)


def test_signed_digest_verifies_against_the_published_key() -> None:
    raw = build(dkim=KEY).as_bytes()
    assert raw.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com;")
    assert dkim.verify(raw, dnsfunc=dns_for(DKIM_PUBLIC_KEY))
    signed = received(build(dkim=KEY))["DKIM-Signature"].replace(" ", "").lower()
    for header in ("from", "to", "subject", "date", "message-id", "list-unsubscribe", "list-unsubscribe-post"):
        assert header in signed.split("h=")[1].split(";")[0].split(":")


def test_signed_digest_with_unicode_headers_still_verifies() -> None:
    identity = MailIdentity(sender="Café Nouvelles <news@example.com>", list_name="Nachrichten Übersicht")
    message = build(digest(title="Wöchentliche Übersicht"), identity=identity, to_name="Zoë", dkim=KEY)
    assert dkim.verify(message.as_bytes(), dnsfunc=dns_for(DKIM_PUBLIC_KEY))


def test_a_changed_subject_or_body_fails_verification() -> None:
    raw = build(dkim=KEY).as_bytes()
    forged_subject = raw.replace(b"Subject: Your weekly", b"Subject: Your monthly")
    forged_body = raw.replace(b"Council approves plan 1", b"Council rejects plan 1")
    assert not dkim.verify(forged_subject, dnsfunc=dns_for(DKIM_PUBLIC_KEY))
    assert not dkim.verify(forged_body, dnsfunc=dns_for(DKIM_PUBLIC_KEY))


def test_dkim_key_is_read_from_the_named_variable_only_when_a_selector_is_set() -> None:
    config = EmailConfig(sender="News <news@example.com>", dkim_selector="news2026", dkim_key_env="MY_DKIM")
    key = load_dkim_key(config, {"MY_DKIM": DKIM_PRIVATE_KEY.decode()}, MailIdentity.from_config(config))
    assert key == KEY
    assert "BEGIN" not in repr(key)
    unsigned = EmailConfig(sender="News <news@example.com>")
    assert load_dkim_key(unsigned, {"NEWSBOT_DKIM_PRIVATE_KEY": "x"}, MailIdentity.from_config(unsigned)) is None
    one_line = DKIM_PRIVATE_KEY.decode().strip().replace("\n", "\\n")
    assert load_dkim_key(config, {"MY_DKIM": one_line}, MailIdentity.from_config(config)) == KEY


def test_a_missing_dkim_key_names_the_variable() -> None:
    config = EmailConfig(sender="News <news@example.com>", dkim_selector="news2026", dkim_key_env="MY_DKIM")
    with pytest.raises(ConfigError, match=r"\$MY_DKIM is empty"):
        load_dkim_key(config, {}, MailIdentity.from_config(config))


def test_a_dkim_variable_without_a_private_key_names_the_variable_and_not_its_value() -> None:
    config = EmailConfig(sender="News <news@example.com>", dkim_selector="news2026", dkim_key_env="MY_DKIM")
    with pytest.raises(ConfigError, match=r"\$MY_DKIM does not hold a PEM private key") as caught:
        load_dkim_key(config, {"MY_DKIM": "s3cret-not-a-key"}, MailIdentity.from_config(config))
    assert "s3cret" not in str(caught.value)


# --- the confirmation mail -------------------------------------------------------------------------------------


def test_confirmation_mail_has_the_link_in_both_parts_and_no_list_headers() -> None:
    confirm = "https://news.example.com/confirm?token=xyz&a=1"
    message = build_confirmation_message(
        identity=IDENTITY, to="new@example.org", confirm_url=confirm, hashtags=["World", "#Science"], now=NOW
    )
    mail = received(message)
    assert mail["Subject"] == "Confirm your subscription"
    assert mail["To"] == "new@example.org"
    assert mail["Message-ID"].endswith("@example.com>")
    assert parsedate_to_datetime(mail["Date"]) == NOW
    assert mail["List-Unsubscribe"] is None and mail["List-Id"] is None
    text, html = parts(mail)
    assert confirm in text and confirm.replace("&", "&amp;") in html
    assert "#World, #Science" in text and "#World, #Science" in html


def test_signed_confirmation_mail_verifies() -> None:
    message = build_confirmation_message(
        identity=IDENTITY, to="new@example.org", confirm_url="https://e.com/c", hashtags=[], now=NOW, dkim=KEY
    )
    assert dkim.verify(message.as_bytes(), dnsfunc=dns_for(DKIM_PUBLIC_KEY))


def test_already_subscribed_mail_links_the_settings_in_both_parts_and_is_signed_like_the_others() -> None:
    settings = "https://news.example.com/preferences?token=abc&x=1"
    message = build_already_subscribed_message(
        identity=IDENTITY, to="reader@example.org", preferences_url=settings, now=NOW, dkim=KEY
    )
    assert dkim.verify(message.as_bytes(), dnsfunc=dns_for(DKIM_PUBLIC_KEY))
    mail = received(message)
    assert mail["Subject"] == f"You already get {IDENTITY.list_name}"
    assert mail["Reply-To"] == "editor@example.com" and mail["List-Unsubscribe"] is None
    text, html = parts(mail)
    assert "nothing has changed" in text and "nothing has changed" in html
    assert settings in text and settings.replace("&", "&amp;") in html


@pytest.mark.parametrize("kind", ["confirmation", "already subscribed"])
def test_notice_mails_fit_a_phone_a_button_and_the_url_that_may_wrap_anywhere(kind: str) -> None:
    url = "https://news.example.com/confirm?token=" + "A1b2C3d4" * 16
    if kind == "confirmation":
        message = build_confirmation_message(
            identity=IDENTITY, to="n@example.org", confirm_url=url, hashtags=[], now=NOW
        )
        button = "Confirm my subscription"
    else:
        message = build_already_subscribed_message(identity=IDENTITY, to="n@example.org", preferences_url=url, now=NOW)
        button = "Choose your hashtags"
    _text, html = parts(received(message))
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert re.search(rf'<a href="{re.escape(url)}" style="display: inline-block;[^"]*">{button}</a>', html)
    assert f'<p style="word-break: break-all; overflow-wrap: anywhere; font-size: 14px;"><a href="{url}"' in html
