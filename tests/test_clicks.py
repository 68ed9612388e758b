"""Click counts: the signed /r/ token, the rules for what counts, the store's counts on both backends, the links
the renderer writes, and the redirect over the real server on 127.0.0.1."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import App
from bot.channels import REGISTRY
from bot.clicks import (
    MAIL_SCAN_SECONDS,
    ClickLinks,
    Clicks,
    click_links_from_config,
    clicks_from_config,
    is_robot,
    why_not_counted,
)
from bot.config import Config, StateConfig
from bot.email.tokens import PURPOSES, BadToken, TokenSigner, link_signing
from bot.errors import ConfigError
from bot.models import Article
from bot.render import build_renderer
from bot.store import ArticleClicks, DailyClicks, OutboxItem, open_store
from bot.store.states import SENT
from bot.xtext import weighted_length
from tests.conftest import FakeClock
from tests.store_sql import due_deliveries
from tests.test_ops import free_port, served

PUBLIC = "https://news.example.com"
SECRET = b"click-test-secret-0123456789"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ENV = {"NEWSBOT_SECRET_KEY": SECRET.decode()}


def links() -> ClickLinks:
    return ClickLinks(PUBLIC, TokenSigner(SECRET))


def token_of(link: str) -> str:
    assert link.startswith(f"{PUBLIC}/r/")
    return link.removeprefix(f"{PUBLIC}/r/")


def article(key: str = "abc123def456", link: str = "https://example.org/story?id=7#top") -> Article:
    return Article(key, "feed", "A story", link, "First sentence. Second one.", ("World",), None, NOW)


# -- the token ------------------------------------------------------------------------------------------------


def test_a_click_link_carries_only_the_article_and_the_channel_and_reads_back() -> None:
    link = links().link("abc123def456", "x", "https://example.org/a")

    assert links().read(token_of(link)) == ("abc123def456", "x")
    assert "example.org" not in link  # the target is not in the link: /r/ reads it from the stored article
    # The same link for every reader, whenever it is made: nothing in it can tell two readers apart.
    assert links().link("abc123def456", "x", "https://example.org/a?utm_source=other") == link


@pytest.mark.parametrize("case", ["forged", "tampered", "other purpose", "garbage", "unknown channel"])
def test_a_forged_tampered_or_foreign_token_is_refused(case: str) -> None:
    good = token_of(links().link("abc123def456", "x", "https://example.org/a"))
    signature = good.split(".")[1]
    signer = TokenSigner(SECRET)
    token = {
        "forged": token_of(
            ClickLinks(PUBLIC, TokenSigner(b"another-secret-0123456789")).link("k", "x", "https://e.org")
        ),
        "tampered": token_of(links().link("zzz999zzz999", "x", "https://example.org/a")).split(".")[0]
        + "."
        + signature,
        "other purpose": signer.make("unsubscribe", "abc123def456", NOW, ttl=PURPOSES["unsubscribe"], ref="x"),
        "garbage": "<script>alert(1)</script>",
        "unknown channel": token_of(links().link("abc123def456", "myspace", "https://example.org/a")),
    }[case]
    with pytest.raises(BadToken):
        links().read(token)


def test_a_click_token_is_no_unsubscribe_token() -> None:
    click = token_of(links().link("reader@example.org", "email", "https://example.org/a"))
    with pytest.raises(BadToken, match="made for"):
        TokenSigner(SECRET).read(click, "unsubscribe", NOW)


def test_a_link_that_is_no_http_url_is_left_as_it_is() -> None:
    assert links().link("k", "x", "") == ""
    assert links().link("k", "x", "javascript:alert(1)") == "javascript:alert(1)"


# -- what counts ----------------------------------------------------------------------------------------------


def counts(method: str = "GET", headers: dict[str, str] | None = None, **rules: Any) -> str:
    given = {"user-agent": BROWSER} if headers is None else headers
    return why_not_counted(
        method, given, scanned_on_delivery=rules.get("scanned", False), last_mail_at=rules.get("last"), now=NOW
    )


def test_a_get_from_a_browser_counts_and_head_never_does() -> None:
    assert counts() == ""
    assert counts("HEAD") == "not a GET"


@pytest.mark.parametrize(
    "agent",
    [
        "TelegramBot (like TwitterBot)",
        "Twitterbot/1.0",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
        "WhatsApp/2.23.20.0 A",
        "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "SomeFeedCrawler/3.1",
        "python-requests/2.32.3",
        "curl/8.5.0",
        "",
    ],
)
def test_link_previews_crawlers_and_scripts_do_not_count(agent: str) -> None:
    assert is_robot(agent)
    assert counts(headers={"user-agent": agent}) == "a robot's user agent"


@pytest.mark.parametrize(
    "agent",
    [
        BROWSER,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5"
        " Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
        " [FBAN/FBIOS;FBAV/470.0]",
        "Mozilla/5.0 (Linux; Android 13; Cubot P80) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile"
        " Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    ],
)
def test_peoples_browsers_count(agent: str) -> None:
    assert not is_robot(agent)


@pytest.mark.parametrize(
    ("header", "value"),
    [("sec-purpose", "prefetch"), ("sec-purpose", "prefetch;prerender"), ("purpose", "prefetch"),
     ("x-moz", "prefetch"), ("x-purpose", "preview")],
)  # fmt: skip
def test_prefetches_do_not_count(header: str, value: str) -> None:
    assert counts(headers={"user-agent": BROWSER, header: value}) == "a prefetch"


def test_mail_clicks_in_the_first_seconds_after_a_mail_went_out_do_not_count() -> None:
    just_sent = NOW - timedelta(seconds=MAIL_SCAN_SECONDS - 1)
    long_ago = NOW - timedelta(seconds=MAIL_SCAN_SECONDS)
    assert counts(scanned=True, last=just_sent) == f"within {MAIL_SCAN_SECONDS} seconds of a mail going out"
    assert counts(scanned=True, last=long_ago) == ""
    assert counts(scanned=True, last=None) == ""
    assert counts(scanned=False, last=just_sent) == ""  # Telegram and X: no mail went out there
    assert REGISTRY["email"].scanned_on_delivery and not REGISTRY["telegram"].scanned_on_delivery


# -- the store, on both backends ------------------------------------------------------------------------------


def test_clicks_are_counted_per_article_channel_and_utc_day(state: StateConfig) -> None:
    store = open_store(state)
    try:
        store.add_article(article("a1"))
        store.add_article(article("a2"))
        late = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
        for key, channel, when in [
            ("a1", "telegram", late), ("a1", "telegram", NOW), ("a1", "telegram", NOW), ("a1", "email", NOW),
            ("a2", "x", NOW), ("gone", "x", NOW), ("a2", "x", NOW - timedelta(days=9)),
        ]:  # fmt: skip
            store.count_click(key, channel, when)

        assert store.clicks_per_day(date(2026, 11, 20)) == [
            DailyClicks(date(2026, 11, 22), "telegram", 1),
            DailyClicks(date(2026, 11, 23), "email", 1),
            DailyClicks(date(2026, 11, 23), "telegram", 2),
            DailyClicks(date(2026, 11, 23), "x", 2),
        ]
        assert store.top_articles_by_clicks(date(2026, 11, 20)) == [
            ArticleClicks("a1", "A story", 4),
            ArticleClicks("a2", "A story", 1),
            ArticleClicks("gone", "", 1),
        ]
        assert store.top_articles_by_clicks(date(2026, 11, 1), limit=1, channel="x") == [
            ArticleClicks("a2", "A story", 2)
        ]
    finally:
        store.close()


def test_two_workers_counting_the_same_link_at_once_lose_no_click(state: StateConfig) -> None:
    stores = [open_store(state) for _ in range(2)]
    start = threading.Barrier(2)

    def click_many(store: Any) -> None:
        start.wait()
        for _ in range(25):
            store.count_click("a1", "telegram", NOW)

    try:
        workers = [threading.Thread(target=click_many, args=(store,)) for store in stores]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert stores[0].clicks_per_day(NOW.date()) == [DailyClicks(NOW.date(), "telegram", 50)]
    finally:
        for store in stores:
            store.close()


def test_the_last_digest_mail_is_when_the_last_delivery_was_sent(state: StateConfig) -> None:
    store = open_store(state)
    try:
        assert store.last_digest_mail_at() is None
        store.request_email_subscription("reader@example.org", ["World"], NOW)
        store.confirm_email("reader@example.org", NOW)
        store.create_digest("d1", NOW, NOW)
        [delivery] = due_deliveries(store, NOW)
        store.finish_delivery(delivery, SENT, NOW + timedelta(seconds=3), message_id="<m@x>")
        assert store.last_digest_mail_at() == NOW + timedelta(seconds=3)
    finally:
        store.close()


# -- configuration --------------------------------------------------------------------------------------------


def test_analytics_is_off_by_default_and_needs_a_public_url(make_config: Callable[..., Config]) -> None:
    assert not make_config().analytics.enabled
    with pytest.raises(ConfigError, match=r"analytics\.enabled: counting clicks needs \[web\] public_url"):
        make_config(analytics={"enabled": True})
    with pytest.raises(ConfigError, match=r"analytics\.colour: unknown key"):
        make_config(analytics={"colour": "blue"})


def test_analytics_without_the_link_secret_stops_the_start_and_says_what_to_set(
    make_config: Callable[..., Config],
) -> None:
    config = make_config(analytics={"enabled": True}, web={"public_url": PUBLIC})
    assert click_links_from_config(make_config(), link_signing(make_config().web, {})) is None
    with pytest.raises(ConfigError, match=r"\[analytics\] enabled = true signs its /r/ links.*\$NEWSBOT_SECRET_KEY"):
        click_links_from_config(config, link_signing(config.web, {}))
    assert click_links_from_config(config, link_signing(config.web, ENV)) is not None


# -- the rendered posts and digest ----------------------------------------------------------------------------


@pytest.fixture
def analytics_config(make_config: Callable[..., Config]) -> Config:
    return make_config(
        analytics={"enabled": True},
        web={"public_url": PUBLIC},
        x={"utm": {"utm_source": "x"}},
        email={"sender": "News <news@example.com>", "utm": {"utm_source": "newsletter"}},
    )


def test_posts_and_the_digest_carry_click_links_only_when_analytics_is_on(
    analytics_config: Config, make_config: Callable[..., Config]
) -> None:
    story = article()
    on = build_renderer(
        analytics_config, click_links_from_config(analytics_config, link_signing(analytics_config.web, ENV))
    )
    off = build_renderer(make_config())

    for channel in ("telegram", "x", "email"):
        post = on.render(story, channel)
        assert f"{PUBLIC}/r/" in post.text and "example.org/story" not in post.text, channel
        assert all("example.org%2Fstory" in share.url or "example.org/story" in share.url for share in post.share_links)
        assert f"{PUBLIC}/r/" not in off.render(story, channel).text
        assert "https://example.org/story" in off.render(story, channel).text
    digest = on.render_digest([story], title="Weekly")
    for body in (digest.html, digest.text):
        assert f"{PUBLIC}/r/" in body
        assert 'href="https://example.org/story' not in body and "\nhttps://example.org/story" not in body
    assert "example.org%2Fstory%3Fid%3D7%26utm_source%3Dnewsletter" in digest.html  # share links: the own link
    assert f"{PUBLIC}/r/" not in off.render_digest([story], title="Weekly").html


def test_an_x_post_with_a_click_link_still_fits_as_a_url_counts_23(analytics_config: Config) -> None:
    long = Article("k" * 12, "feed", "T" * 300, "https://example.org/s", "Word. " * 200, ("Tag",), None, NOW)
    post = build_renderer(
        analytics_config, click_links_from_config(analytics_config, link_signing(analytics_config.web, ENV))
    ).render(long, "x")
    [link] = [word for word in post.text.split() if word.startswith(f"{PUBLIC}/r/")]
    assert len(link) > 23
    assert weighted_length(post.text) == post.length <= 280
    assert weighted_length(post.text) == weighted_length(post.text.replace(link, "https://x.co/abc"))


def test_dry_run_writes_the_posts_with_the_same_click_links(
    analytics_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_SECRET_KEY", SECRET.decode())
    assert analytics_config.output.dry_run
    with App(analytics_config, clock=FakeClock()) as app:
        app.store.add_article(article())
        app.store.enqueue([OutboxItem("abc123def456", "telegram", "channel", "all", "", NOW)], NOW)
        app.drain()
    [written] = (analytics_config.output.dir / "telegram").glob("*")
    expected = links().link("abc123def456", "telegram", "https://example.org/story?id=7#top")
    assert f'href="{expected}"' in written.read_text(encoding="utf-8")


# -- the redirect, over the real server -----------------------------------------------------------------------


@pytest.fixture
def site(analytics_config: Config) -> Iterator[tuple[httpx.Client, Any, FakeClock]]:
    clock = FakeClock(NOW)
    clicks = clicks_from_config(analytics_config, link_signing(analytics_config.web, ENV), clock)
    assert isinstance(clicks, Clicks)
    store = open_store(analytics_config.state.path)
    store.add_article(article())
    try:
        with served(analytics_config, clicks=clicks) as client:
            yield client, store, clock
    finally:
        store.close()


def click_path(channel: str = "x", key: str = "abc123def456") -> str:
    return "/r/" + token_of(links().link(key, channel, "https://example.org/whatever"))


def total(store: Any) -> int:
    return sum(day.clicks for day in store.clicks_per_day(NOW.date()))


def test_a_get_redirects_to_the_stored_link_with_the_channels_utm_and_counts(site: Any) -> None:
    client, store, _clock = site
    answer = client.get(click_path("x"), headers={"User-Agent": BROWSER})

    assert answer.status_code == 302
    assert answer.headers["location"] == "https://example.org/story?id=7&utm_source=x#top"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "set-cookie" not in answer.headers
    assert store.clicks_per_day(NOW.date()) == [DailyClicks(NOW.date(), "x", 1)]


def test_head_a_scanner_and_a_prefetch_are_redirected_but_not_counted(site: Any) -> None:
    client, store, _clock = site
    head = client.head(click_path(), headers={"User-Agent": BROWSER})
    preview = client.get(click_path(), headers={"User-Agent": "TelegramBot (like TwitterBot)"})
    prefetch = client.get(click_path(), headers={"User-Agent": BROWSER, "Sec-Purpose": "prefetch"})

    assert [head.status_code, preview.status_code, prefetch.status_code] == [302, 302, 302]
    assert head.headers["location"] == preview.headers["location"] == "https://example.org/story?id=7&utm_source=x#top"
    assert total(store) == 0


def test_a_mail_click_right_after_the_digest_went_out_is_not_counted(site: Any) -> None:
    client, store, clock = site
    store.request_email_subscription("reader@example.org", ["World"], NOW)
    store.confirm_email("reader@example.org", NOW)
    store.create_digest("d1", NOW, NOW)
    [delivery] = due_deliveries(store, NOW)
    store.finish_delivery(delivery, SENT, NOW, message_id="<m@x>")

    clock.advance(seconds=2)
    assert client.get(click_path("email"), headers={"User-Agent": BROWSER}).status_code == 302
    assert client.get(click_path("telegram"), headers={"User-Agent": BROWSER}).status_code == 302
    clock.advance(seconds=MAIL_SCAN_SECONDS)
    assert client.get(click_path("email"), headers={"User-Agent": BROWSER}).status_code == 302

    assert store.clicks_per_day(NOW.date()) == [
        DailyClicks(NOW.date(), "email", 1),
        DailyClicks(NOW.date(), "telegram", 1),
    ]


def test_a_forged_token_is_400_and_an_unknown_article_404(site: Any) -> None:
    client, store, _clock = site
    forged = ClickLinks(PUBLIC, TokenSigner(b"an-attacker-guessed-this!!")).link("abc123def456", "x", "https://e.org")
    bad = client.get("/r/" + token_of(forged), headers={"User-Agent": BROWSER})
    garbage = client.get("/r/not-a-token", headers={"User-Agent": BROWSER})
    gone = client.get(click_path(key="nothere00000"), headers={"User-Agent": BROWSER})

    assert (bad.status_code, garbage.status_code, gone.status_code) == (400, 400, 404)
    assert "This link is damaged" in bad.text and "location" not in bad.headers
    assert "This story is gone" in gone.text
    assert total(store) == 0


def test_the_target_is_the_stored_link_never_one_from_the_request(site: Any) -> None:
    client, _store, _clock = site
    answer = client.get(click_path("telegram") + "?next=https://evil.example/", headers={"User-Agent": BROWSER})
    assert answer.headers["location"] == "https://example.org/story?id=7#top"
    assert client.get("/r/https://evil.example/", headers={"User-Agent": BROWSER}).status_code in (400, 404)


# -- when the server runs, and what the config check says -----------------------------------------------------


def test_newsbot_run_serves_click_links_when_analytics_is_on_and_nothing_when_all_is_off(
    make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli import web_server

    monkeypatch.setenv("NEWSBOT_SECRET_KEY", SECRET.decode())
    port = free_port()
    config = make_config(analytics={"enabled": True}, web={"public_url": PUBLIC, "port": port})
    with web_server(
        config, None, link_signing(config.web, os.environ)
    ):  # no email digest live, no metrics, no webhook: only the click links
        assert httpx.get(f"http://127.0.0.1:{port}/r/damaged").status_code == 400
    with (
        web_server(make_config(web={"public_url": PUBLIC, "port": port}), None, link_signing(config.web, {})),
        pytest.raises(httpx.ConnectError),
    ):
        httpx.get(f"http://127.0.0.1:{port}/r/damaged")


def test_check_config_refuses_analytics_without_the_secret_and_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    path = tmp_path / "config.toml"
    path.write_text(
        '[output]\ndry_run = true\n[web]\npublic_url = "https://news.example.com"\n[analytics]\nenabled = true\n',
        encoding="utf-8",
    )
    monkeypatch.delenv("NEWSBOT_SECRET_KEY", raising=False)
    assert main(["check-config", "--config", str(path)]) == 2
    assert (
        "[analytics] enabled = true signs its /r/ links too: $NEWSBOT_SECRET_KEY is not set" in capsys.readouterr().err
    )

    monkeypatch.setenv("NEWSBOT_SECRET_KEY", SECRET.decode())
    assert main(["check-config", "--config", str(path)]) == 0
    assert "analytics: click counts on, links go through https://news.example.com/r/" in capsys.readouterr().out
