"""A digest rendered once per distinct content (bot.email.contents): each reader's mail is what rendering it for
them alone gives, carries their own links only, and no stand-in ever reaches a mail."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from html.parser import HTMLParser

import pytest

from bot.email.contents import DigestContents
from bot.email.message import build_digest_message, inline_css
from bot.email.smtp import _wire_format
from bot.models import Article
from bot.render import Digest, Renderer
from tests.test_mail import IDENTITY, NOW, FirstSentence, article

TITLE = "Your weekly news digest"
TRICKY = 'https://news.example.com/u?t=a.b&list=1&x="<b>"'  # escaped in HTML, as written in the text


class CountingRenderer(Renderer):
    def __init__(self) -> None:
        super().__init__(summarizer=FirstSentence())
        self.renders = 0

    def render_digest(self, *args: object, **kwargs: object) -> Digest:
        self.renders += 1
        return super().render_digest(*args, **kwargs)  # type: ignore[arg-type]


def links(reader: int) -> dict[str, str]:
    return {
        "unsubscribe_url": f"https://news.example.com/unsubscribe?t=TOKEN{reader:04d}x",
        "preferences_url": f"https://news.example.com/preferences?t=PREFS{reader:04d}y",
    }


def received(message: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


class Links(HTMLParser):
    def __init__(self, page: str) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [value or "" for name, value in attrs if tag == "a" and name == "href"]


def test_each_reader_gets_what_a_render_for_them_alone_gives() -> None:
    articles = [article(1, hashtags=("Politics",)), article(2, hashtags=("Climate",), text="Rain & <wind>. More.")]
    contents = DigestContents(CountingRenderer(), TITLE)
    direct = Renderer(summarizer=FirstSentence())
    for reader in range(3):
        own = {
            "unsubscribe_url": f"https://news.example.com/u?t=a{reader}",
            "preferences_url": f"https://n.example/p?t={reader}&a=1",
        }
        cached = contents.digest(articles, ("Climate", "Politics"), **own)
        alone = direct.render_digest(articles, title=TITLE, reader_hashtags=("Climate", "Politics"), **own)
        assert cached.text == alone.text
        assert cached.html == inline_css(alone.html)  # the same bytes
        assert (cached.subject, cached.article_count, cached.css_inlined) == (alone.subject, 2, True)


def test_a_link_with_characters_html_escapes_reads_back_as_written() -> None:
    """The CSS inliner writes attributes its own way (`&quot;` for Jinja's `&#34;`): the same link once read."""
    articles = [article(1)]
    own = {"unsubscribe_url": TRICKY, "preferences_url": "https://n.example/p?t=1&a=1"}
    cached = DigestContents(CountingRenderer(), TITLE).digest(articles, (), **own)
    alone = Renderer(summarizer=FirstSentence()).render_digest(articles, title=TITLE, **own)
    assert TRICKY in Links(cached.html).hrefs and "https://n.example/p?t=1&a=1" in Links(cached.html).hrefs
    assert Links(cached.html).hrefs == Links(inline_css(alone.html)).hrefs
    assert cached.text == alone.text and f"Unsubscribe: {TRICKY}" in cached.text


def test_readers_with_the_same_hashtags_share_one_rendering_but_not_their_links() -> None:
    renderer = CountingRenderer()
    contents = DigestContents(renderer, TITLE)
    articles = [article(1), article(2)]
    digests = [contents.digest(articles, ("Politics",), **links(reader)) for reader in range(5)]
    contents.digest(articles, ("Climate", "Politics"), **links(9))
    assert renderer.renders == 2
    for reader, digest in enumerate(digests):
        for other in range(5):
            mine = other == reader
            assert (f"TOKEN{other:04d}x" in digest.html) is mine and (f"TOKEN{other:04d}x" in digest.text) is mine
            assert (f"PREFS{other:04d}y" in digest.html) is mine and (f"PREFS{other:04d}y" in digest.text) is mine
        assert "newsbotunsubscribe" not in digest.html + digest.text  # no stand-in left
        assert "newsbotpreferences" not in digest.html + digest.text


def test_article_text_that_looks_like_a_stand_in_is_kept_and_never_replaced() -> None:
    contents = DigestContents(CountingRenderer(), TITLE)
    lookalike = "newsbotunsubscribe" + "0" * 32
    articles = [article(1, title=f"Plan {lookalike}", text=f"{lookalike} newsbotpreferences. Second.")]
    digest = contents.digest(articles, (), **links(1))
    assert lookalike in digest.text and lookalike in digest.html
    assert "TOKEN0001x" in digest.text


def test_a_stand_in_that_would_survive_is_never_sent() -> None:
    contents = DigestContents(CountingRenderer(), TITLE)
    contents.digest([article(1)], (), **links(1))
    (rendered,) = contents._cache.values()
    with pytest.raises(ValueError, match="stand-in"):
        contents.digest([article(1)], (), unsubscribe_url=rendered.unsubscribe, preferences_url="https://x.example/p")


def test_a_reader_without_a_preferences_link_is_rendered_alone() -> None:
    renderer = CountingRenderer()
    contents = DigestContents(renderer, TITLE)
    digest = contents.digest([article(1)], (), unsubscribe_url="https://x.example/u", preferences_url="")
    assert "Email preferences" not in digest.text and "https://x.example/u" in digest.text
    assert not contents._cache


def test_the_cache_forgets_the_oldest_content_past_its_size_and_on_clear() -> None:
    renderer = CountingRenderer()
    contents = DigestContents(renderer, TITLE, cache_size=2)
    for tags in [("A",), ("B",), ("C",), ("A",)]:
        contents.digest([article(1)], tags, **links(1))
    assert renderer.renders == 4
    contents.clear()
    contents.digest([article(1)], ("A",), **links(1))
    assert renderer.renders == 5


def test_mails_built_from_shared_content_parse_and_keep_lines_short() -> None:
    contents = DigestContents(CountingRenderer(), TITLE)
    long_articles: list[Article] = [article(n, text="Ünïcode " + "word " * 400 + ". Next.") for n in range(1, 4)]
    for reader in range(3):
        own = links(reader)
        digest = contents.digest(long_articles, (), **own)
        message = build_digest_message(
            digest, identity=IDENTITY, to=f"r{reader}@example.org", to_name="Rëader", now=NOW,
            unsubscribe_url=own["unsubscribe_url"], unsubscribe_mailto="unsubscribe@news.example.com",
        )  # fmt: skip
        wire = _wire_format(message.as_bytes())
        assert all(len(line) <= 998 for line in wire.split(b"\r\n"))
        assert wire.isascii()
        mail = received(message)
        text, html = (str(part.get_content()) for part in mail.iter_parts())
        assert own["unsubscribe_url"] in text and own["unsubscribe_url"].replace("&", "&amp;") in html
        assert f"<{own['unsubscribe_url']}>" in str(mail["List-Unsubscribe"])
        assert mail["To"].addresses[0].display_name == "Rëader"
        assert text.replace("\r\n", "\n") == digest.text and html.replace("\r\n", "\n").rstrip(
            "\n"
        ) == digest.html.rstrip("\n")
        body = wire.split(b"\r\n\r\n", 1)[1]
        assert all(len(line) <= 76 for line in body.split(b"\r\n"))  # quoted-printable lines (RFC 2045)
