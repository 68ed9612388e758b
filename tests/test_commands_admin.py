"""Admin commands, end to end over real HTTP against the fake Bot API server: the admin check, what each command
says, and what it writes to the store (commands never publish: they queue)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.render import build_renderer
from bot.store import DIGEST_REQUEST_KEY, PENDING, SKIPPED, OutboxItem, SourceState
from bot.telegram_html import visible_text
from tests.conftest import SYRIA_PAGE, news_item, rss
from tests.store_sql import count_articles
from tests.test_commands_subscriber import ADMIN, NOW, USER, BotChat, add_article, running_bot

OTHER_ADMIN = 1001
SECRET = "s3cr3t-feed-key"


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[BotChat]:
    with running_bot(tmp_path, telegram={"admins": [ADMIN, OTHER_ADMIN]}) as chat:
        yield chat


@pytest.fixture
def lan_bot(tmp_path: Path) -> Iterator[BotChat]:
    """A bot allowed to fetch URLs given in chat from private addresses, such as the test site on 127.0.0.1."""
    with running_bot(tmp_path, fetch={"allow_private": True}) as chat:
        yield chat


# An article's web page as a browser shows it: a menu, the article, a footer.
ARTICLE_HTML = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Budget | City News</title></head>
<body><header><nav><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li></ul></nav></header>
<main><article><h1>Council passes the budget after a long night</h1>
<p>The city council passed the budget on Tuesday after a debate that lasted until dawn. Officials said the vote
was close.</p><p>The new budget raises spending on schools and roads.</p><p>#CityNews #Budget</p></article>
<aside><h2>Most read</h2><p>Another story</p></aside></main><footer><p>© City News</p></footer></body></html>"""


class _Site(BaseHTTPRequestHandler):
    """/feed.xml: an RSS feed; /page.txt: an article page; /article.html: its web page; anything else: 404."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        pages = {
            "/feed.xml": (rss([news_item(1), news_item(2)]).encode(), "application/rss+xml"),
            "/page.txt": (SYRIA_PAGE.read_bytes(), "text/plain; charset=utf-8"),
            "/article.html": (ARTICLE_HTML.encode("utf-8"), "text/html; charset=utf-8"),
        }
        body, content_type = pages.get(self.path, (b"", ""))
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", content_type or "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def subscribe(bot: BotChat, *users: int, tags: str = "") -> None:
    for user in users:
        bot.ask(f"/subscribe {tags}" if tags else "/start", user_id=user)


# --- who may ----------------------------------------------------------------------------------------------


def test_a_non_admin_is_refused_and_the_refusal_is_logged(bot: BotChat, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="newsbot.commands")

    assert "only the bot's admins" in bot.ask("/pause", user_id=USER)
    assert not bot.store.is_paused()
    assert f"event=admin_refused user_id={USER}" in caplog.text


def test_a_non_admin_with_an_admins_username_is_still_refused(bot: BotChat) -> None:
    assert "only the bot's admins" in bot.ask("/status", user_id=USER, username="admin")


def test_a_forwarded_admin_command_is_refused(bot: BotChat) -> None:
    assert "forwarded command does not count" in bot.ask("/pause", user_id=ADMIN, forward=True)
    assert not bot.store.is_paused()


def test_admin_commands_in_a_group_are_refused(bot: BotChat) -> None:
    assert "private chat" in bot.ask("/pause", user_id=ADMIN, chat_id=-5555, chat_type="group")
    assert not bot.store.is_paused()


# --- looking ----------------------------------------------------------------------------------------------


def test_pause_and_resume_set_the_flag_the_outbox_honours(bot: BotChat) -> None:
    assert "paused" in bot.ask("/pause", user_id=ADMIN)
    assert bot.store.is_paused()
    assert "paused" in bot.ask("/status", user_id=ADMIN)
    assert "resumed" in bot.ask("/resume", user_id=ADMIN)
    assert not bot.store.is_paused()


def test_status_shows_sources_queue_and_subscribers_but_no_secrets(tmp_path: Path) -> None:
    sources = [{"name": "wire", "url": f"https://user:{SECRET}@wire.example.com/feed?key={SECRET}"}]
    with running_bot(tmp_path, sources=sources) as bot:
        bot.store.save_source_state(
            SourceState(
                name="wire",
                last_poll=NOW,
                failures=2,
                last_error=f"source 'wire' (https://wire.example.com/feed?key={SECRET}): HTTP 503",
            )
        )
        article = add_article(bot.store, "a1", "Story")
        bot.store.enqueue([OutboxItem(article.key, "x", "timeline", "all", "", NOW)], NOW)
        subscribe(bot, USER)

        status = bot.ask("/status", user_id=ADMIN)
        shown_sources = bot.ask("/sources", user_id=ADMIN)

    assert "running" in status
    assert "wire: polled 2026-11-23 12:00 UTC, last success never, 2 failure(s) in a row" in status
    assert "HTTP 503" in status
    assert "x: 1 pending, 0 sent, 0 failed, 0 skipped" in status
    assert "Subscribers: 1 active, 0 inactive" in status
    assert "https://wire.example.com/feed?…" in shown_sources
    assert SECRET not in status + shown_sources


def test_status_says_which_sources_are_paused(tmp_path: Path) -> None:
    sources = [{"name": "wire", "url": "https://wire.example.com/feed"}, {"name": "city", "url": "https://c.example/f"}]
    with running_bot(tmp_path, sources=sources) as bot:
        assert "Source wire is paused" in bot.ask("/pausesource wire", user_id=ADMIN)
        status = bot.ask("/status", user_id=ADMIN)

    assert "wire: paused (/resumesource wire), not polled yet" in status
    assert "city: not polled yet" in status


def test_queue_lists_pending_articles_with_key_channel_count_and_title(bot: BotChat) -> None:
    article = add_article(bot.store, "abc123def456", "Council <votes>")
    bot.store.enqueue(
        [
            OutboxItem(article.key, "telegram", "channel", "all", "", NOW),
            OutboxItem(article.key, "telegram", "77", "all", "", NOW),
        ],
        NOW,
    )

    answer = bot.ask("/queue", user_id=ADMIN)

    assert "abc123def456 telegram ×2 now — Council <votes>" in answer


def test_preview_renders_each_channel_the_routes_use_with_its_length(bot: BotChat) -> None:
    add_article(bot.store, "abc123def456", "Council approves the plan", ("Politics",))

    replies = bot.send("/preview abc1", user_id=ADMIN, replies=5)
    texts = [m.text for m in replies]

    assert "routed to telegram via all, x via all, email via all" in texts[0]
    assert texts[1].startswith("<b>telegram</b>: ") and "of 4096 characters" in texts[1]
    assert texts[2].startswith("<b>Council approves the plan</b>")
    assert "<b>x</b>: " in texts[3] and "of 280 weighted characters" in texts[3] and "<pre>" in texts[3]
    assert "<b>email</b>: " in texts[4] and "<pre>" in texts[4]
    assert not any("mastodon" in text or "bluesky" in text for text in texts)  # no route posts there


def test_preview_of_an_unknown_or_ambiguous_key_says_so(bot: BotChat) -> None:
    add_article(bot.store, "abc111", "One")
    add_article(bot.store, "abc222", "Two")

    assert "No article has a key starting with ffff" in bot.ask("/preview ffff", user_id=ADMIN)
    ambiguous = bot.ask("/preview abc", user_id=ADMIN)
    assert "matches several articles" in ambiguous and "abc111" in ambiguous and "abc222" in ambiguous
    assert "Which article?" in bot.ask("/preview", user_id=ADMIN)


# --- acting -----------------------------------------------------------------------------------------------


def test_post_releases_an_articles_pending_rows_now(bot: BotChat) -> None:
    article = add_article(bot.store, "abc123def456", "Slotted story")
    later = datetime.now(UTC) + timedelta(days=2)  # the commands run on the real clock
    bot.store.enqueue([OutboxItem(article.key, "x", "timeline", "all", "", later)], NOW)

    answer = bot.ask("/post abc123", user_id=ADMIN)

    assert "queued for x" in answer
    [row] = bot.store.rows_for_article(article.key)
    assert row.state == PENDING and row.not_before < later


def test_post_routes_an_article_again_including_telegram_subscribers(bot: BotChat) -> None:
    subscribe(bot, 21, 22)
    subscribe(bot, 23, tags="#Sports")
    article = add_article(bot.store, "abc123def456", "Climate story", ("Climate",))

    answer = bot.ask("/post abc123def456", user_id=ADMIN)

    assert "queued for telegram (1 + 2 subscribers), x, email" in answer
    rows = bot.store.rows_for_article(article.key)
    assert {(r.channel, r.recipient) for r in rows} == {
        ("telegram", "channel"),
        ("telegram", "21"),
        ("telegram", "22"),
        ("x", "timeline"),
        ("email", "digest"),
    }
    assert "queued for telegram (1 + 2 subscribers), x, email" in bot.ask("/post abc123", user_id=ADMIN)
    for row in rows:
        bot.store.mark_sent(row.id, "remote", NOW)
    assert "Nothing queued" in bot.ask("/post abc123def456", user_id=ADMIN)


def test_post_a_url_reads_the_page_stores_the_article_and_queues_it(lan_bot: BotChat, site: str) -> None:
    answer = lan_bot.ask(f"/post {site}/page.txt", user_id=ADMIN)

    assert "queued for telegram, x, email" in answer
    [article] = lan_bot.store.recent_articles(5)
    assert article.source == "post" and article.title.startswith("Syria joins coalition")
    assert {r.channel for r in lan_bot.store.rows_for_article(article.key)} == {"telegram", "x", "email"}


def test_post_a_url_of_an_html_article_page_posts_that_article(lan_bot: BotChat, site: str) -> None:
    answer = lan_bot.ask(f"/post {site}/article.html", user_id=ADMIN)

    assert "queued for telegram, x, email" in answer
    [article] = lan_bot.store.recent_articles(5)
    assert (article.title, article.link) == ("Council passes the budget after a long night", f"{site}/article.html")
    assert article.hashtags == ("CityNews", "Budget")
    assert article.text.startswith("The city council passed the budget") and "Home" not in article.text


def test_addsource_of_an_html_article_page_says_it_is_no_feed(lan_bot: BotChat, site: str) -> None:
    answer = lan_bot.ask(f"/addsource {site}/article.html", user_id=ADMIN)

    assert "an HTML web page, not a feed: use the site's RSS or Atom feed" in answer
    assert lan_bot.store.added_sources() == []


def test_post_a_url_that_cannot_be_read_says_why(lan_bot: BotChat, site: str) -> None:
    assert "Could not read that page" in lan_bot.ask(f"/post {site}/gone", user_id=ADMIN)
    assert "not an http" in lan_bot.ask("/post file:///etc/passwd", user_id=ADMIN)
    assert count_articles(lan_bot.store) == 0


def test_skip_marks_every_pending_row_skipped_with_the_admins_id(bot: BotChat) -> None:
    article = add_article(bot.store, "abc123def456", "Story")
    bot.store.enqueue(
        [OutboxItem(article.key, c, r, "all", "", NOW) for c, r in (("telegram", "channel"), ("x", "timeline"))], NOW
    )

    assert "Skipped 2 pending message(s)" in bot.ask("/skip abc123", user_id=ADMIN)
    assert {(r.state, r.last_error) for r in bot.store.rows_for_article(article.key)} == {
        (SKIPPED, f"skipped by admin {ADMIN}")
    }
    assert "Nothing was pending" in bot.ask("/skip abc123", user_id=ADMIN)


def test_addsource_checks_the_feed_and_stores_it_under_a_host_name(lan_bot: BotChat, site: str) -> None:
    answer = lan_bot.ask(f"/addsource {site}/feed.xml #Local #News", user_id=ADMIN)

    assert "Added source 127.0.0.1-1 (2 entries found now)" in answer
    [added] = lan_bot.store.added_sources()
    assert (added.name, added.url, added.hashtags, added.added_by) == (
        "127.0.0.1-1",
        f"{site}/feed.xml",
        ("Local", "News"),
        str(ADMIN),
    )
    assert "already a source: 127.0.0.1-1" in lan_bot.ask(f"/addsource {site}/feed.xml", user_id=ADMIN)
    assert "127.0.0.1-1" in lan_bot.ask("/sources", user_id=ADMIN)


def test_addsource_refuses_a_broken_source_or_a_bad_url(lan_bot: BotChat, site: str) -> None:
    assert "does not work, so it was not added" in lan_bot.ask(f"/addsource {site}/missing.xml", user_id=ADMIN)
    assert "not an http" in lan_bot.ask("/addsource ftp://example.com/feed", user_id=ADMIN)
    assert "limit is 2000" in lan_bot.ask("/addsource https://example.com/" + "a" * 2100, user_id=ADMIN)
    assert lan_bot.store.added_sources() == []


def test_removesource_removes_chat_added_sources_and_refuses_config_ones(tmp_path: Path, site: str) -> None:
    config_source = {"name": "wire", "url": "https://wire.example.com/feed"}
    with running_bot(tmp_path, sources=[config_source], fetch={"allow_private": True}) as bot:
        bot.ask(f"/addsource {site}/feed.xml", user_id=ADMIN)

        assert "remove it there" in bot.ask("/removesource wire", user_id=ADMIN)
        assert "Removed source 127.0.0.1-1" in bot.ask("/removesource 127.0.0.1-1", user_id=ADMIN)
        assert "No source added in chat is called" in bot.ask("/removesource 127.0.0.1-1", user_id=ADMIN)
        assert bot.store.added_sources() == []


def test_routes_lists_the_config_routes(tmp_path: Path) -> None:
    routes = [
        {"name": "breaking", "hashtags": ["Breaking"], "exclude": ["Sports"], "channels": ["telegram"]},
        {"name": "daily", "hashtags": ["*"], "channels": ["x"], "at": ["09:00"], "timezone": "Europe/Berlin"},
    ]
    with running_bot(tmp_path, routes=routes) as bot:
        answer = bot.ask("/routes", user_id=ADMIN)

    assert "breaking: #Breaking except #Sports → telegram" in answer
    assert "daily: * → x; at 09:00 Europe/Berlin, 1 per slot" in answer


def test_routes_shows_the_keyword_and_pattern_rules(tmp_path: Path) -> None:
    routes = [
        {
            "name": "floods",
            "keywords": ["flood", "<b>"],
            "exclude_keywords": ["football"],
            "pattern": "level [0-9]",
            "channels": ["telegram"],
        }
    ]
    with running_bot(tmp_path, routes=routes) as bot:
        answer = bot.ask("/routes", user_id=ADMIN)

    assert "floods: * with any of “flood”, “<b>” without “football” matching the pattern “level [0-9]”" in answer


def test_stats_counts_subscribers_and_outcomes_of_the_last_week(bot: BotChat) -> None:
    subscribe(bot, 21, 22)
    bot.ask("/stop", user_id=22)
    article = add_article(bot.store, "abc123def456", "Story")
    bot.store.enqueue([OutboxItem(article.key, "telegram", r, "all", "", NOW) for r in ("channel", "21")], NOW)
    [first, second] = bot.store.rows_for_article(article.key)
    now = datetime.now(UTC)  # the commands run on the wall clock
    bot.store.mark_sent(first.id, "m1", now)
    bot.store.mark_failed(second.id, "rejected", now)
    old = add_article(bot.store, "old000000000", "Old story")
    bot.store.enqueue([OutboxItem(old.key, "x", "timeline", "all", "", NOW)], NOW)
    [old_row] = bot.store.rows_for_article(old.key)
    bot.store.mark_sent(old_row.id, "m0", now - timedelta(days=8))

    answer = bot.ask("/stats", user_id=ADMIN)

    assert "Subscribers: 1 active, 1 inactive" in answer
    assert "telegram: 1 sent, 1 failed, 0 skipped" in answer
    assert "x: 0 sent" in answer
    assert "Clicks are not counted; turn it on with [analytics] enabled = true." in answer


def test_stats_shows_clicks_per_channel_and_the_most_clicked_articles_of_the_last_week(tmp_path: Path) -> None:
    tables = {"analytics": {"enabled": True}, "web": {"public_url": "https://news.example.com"}}
    with running_bot(tmp_path, telegram={"admins": [ADMIN]}, **tables) as bot:
        add_article(bot.store, "abc123def456", "Most read <story>")
        add_article(bot.store, "fed000000000", "Second story")
        now = datetime.now(UTC)  # the commands run on the wall clock
        for key, channel in [("abc123def456", "telegram")] * 3 + [("abc123def456", "email"), ("fed000000000", "x")]:
            bot.store.count_click(key, channel, now)
        bot.store.count_click("fed000000000", "x", now - timedelta(days=8))  # before the week: left out

        answer = bot.ask("/stats", user_id=ADMIN)

    assert "Clicks, last 7 days\nemail: 1, telegram: 3, x: 1" in answer
    assert "Most clicked\n1. Most read <story> abc123def456: 4\n2. Second story fed000000000: 1" in answer


# --- broadcast --------------------------------------------------------------------------------------------


def test_broadcast_asks_first_then_queues_one_row_per_active_subscriber_once(bot: BotChat) -> None:
    subscribe(bot, 21, 22)
    subscribe(bot, 23, tags="#Sports")  # subscribers with hashtags get broadcasts too
    subscribe(bot, 24)
    bot.ask("/stop", user_id=24)

    [confirm] = bot.send("/broadcast Hello <everyone> & welcome!", user_id=ADMIN)

    assert "Send this to 3 subscriber(s)?" in confirm.text
    assert "Hello &lt;everyone&gt; &amp; welcome!" in confirm.text
    assert confirm.reply_markup is not None
    [[send, cancel]] = confirm.reply_markup["inline_keyboard"]
    assert send["text"] == "Send to 3 subscriber(s)" and cancel["text"] == "Cancel"
    assert all(len(button["callback_data"].encode()) <= 64 for button in (send, cancel))
    assert bot.store.pending_articles() == []

    bot.fake.press_button(send["callback_data"], user_id=OTHER_ADMIN, chat_id=ADMIN)
    bot.fake.press_button(send["callback_data"], user_id=ADMIN)
    bot.fake.press_button(send["callback_data"], user_id=ADMIN)  # a second press does nothing
    replies = bot.fake.wait_for_messages(ADMIN, 3)
    assert "Only the admin who wrote this broadcast" in replies[-2].text
    assert "Broadcast queued for 3 subscriber(s)" in replies[-1].text
    assert "/status" not in bot.ask("/queue", user_id=ADMIN)  # the last press was handled before this

    [(key, channel, count, _due)] = bot.store.pending_articles()
    assert (channel, count) == ("telegram", 3)
    rows = bot.store.rows_for_article(key)
    assert {r.recipient for r in rows} == {"21", "22", "23"}
    assert {(r.route, r.template) for r in rows} == {("broadcast", "broadcast.html.j2")}
    article = bot.store.get_article(key)
    assert article is not None and article.source == "broadcast" and article.text == "Hello <everyone> & welcome!"
    assert len(bot.fake.messages(ADMIN)) == 4  # confirmation, refusal, queued, /queue: nothing for the 2nd press


def test_a_cancelled_broadcast_queues_nothing(bot: BotChat) -> None:
    subscribe(bot, 21)
    [confirm] = bot.send("/broadcast Hi", user_id=ADMIN)
    assert confirm.reply_markup is not None
    cancel = confirm.reply_markup["inline_keyboard"][0][1]["callback_data"]

    bot.fake.press_button(cancel, user_id=ADMIN)

    assert "cancelled" in visible_text(bot.fake.wait_for_messages(ADMIN, 2)[-1].text)
    assert bot.store.pending_articles() == []


def test_the_broadcast_template_renders_just_the_text(bot: BotChat) -> None:
    subscribe(bot, 21)
    [confirm] = bot.send("/broadcast Tonight: maintenance & a <short> break.", user_id=ADMIN)
    assert confirm.reply_markup is not None
    bot.fake.press_button(confirm.reply_markup["inline_keyboard"][0][0]["callback_data"], user_id=ADMIN)
    bot.fake.wait_for_messages(ADMIN, 2)
    [(key, _channel, _count, _due)] = bot.store.pending_articles()
    article = bot.store.get_article(key)
    assert article is not None

    post = build_renderer(bot.config).render(article, "telegram", template="broadcast.html.j2")

    assert post.text == "Tonight: maintenance &amp; a &lt;short&gt; break."


# --- digest -----------------------------------------------------------------------------------------------


def test_digest_preview_shows_the_text_part_split_into_messages(bot: BotChat) -> None:
    add_digest_articles(bot, 12)

    replies = bot.send("/digest preview", user_id=ADMIN, replies=3)

    assert "Digest preview: 12 article(s)" in visible_text(replies[0].text)
    assert "== #World ==" in visible_text(replies[1].text)
    assert all(len(visible_text(m.text)) <= 4096 for m in replies)


def test_a_reply_in_several_messages_waits_out_the_flood_limit(tmp_path: Path) -> None:
    with running_bot(tmp_path, enforce_limits=True) as bot:
        add_digest_articles(bot, 12)

        replies = bot.send("/digest preview", user_id=ADMIN, replies=3)

        assert len(replies) == 3 and bot.fake.count_429 >= 1


def test_digest_preview_for_an_address_shows_what_that_subscriber_would_get(bot: BotChat) -> None:
    add_digest_articles(bot, 2)
    now = datetime.now(UTC)
    for address, tags in (("world@example.org", ("World",)), ("sports@example.org", ("Sports",))):
        bot.store.request_email_subscription(address, tags, now)
        bot.store.confirm_email(address, now)

    replies = bot.send("/digest preview World@Example.org", user_id=ADMIN, replies=2)
    assert "Digest preview: 2 article(s)" in visible_text(replies[0].text)
    assert "Nothing new for sports@example.org" in bot.ask("/digest preview sports@example.org", user_id=ADMIN)
    assert "not subscribed" in bot.ask("/digest preview nobody@example.org", user_id=ADMIN)


def add_digest_articles(bot: BotChat, count: int) -> None:
    """Articles routed to email an hour ago on the wall clock the commands run on, so in the next digest."""
    age = int((NOW - datetime.now(UTC)).total_seconds() // 60) + 60  # first_seen = NOW - age
    for n in range(count):
        text = " ".join(f"Sentence {i} of story {n} says something about the council." for i in range(40))
        article = add_article(
            bot.store, f"d{n:02d}", f"Story {n} " + "long title words " * 5, ("World",), text=text, age_minutes=age
        )
        bot.store.enqueue([OutboxItem(article.key, "email", "digest", "all", "", NOW)], NOW)


def test_digest_send_asks_the_main_loop_to_send_it(bot: BotChat) -> None:
    assert "goes out on the next cycle" in bot.ask("/digest send", user_id=ADMIN)
    assert bot.store.get_meta(DIGEST_REQUEST_KEY) == "1"
    assert "Usage" in bot.ask("/digest now", user_id=ADMIN)


def test_digest_send_without_any_email_route_says_so_and_requests_nothing(tmp_path: Path) -> None:
    routes = [{"name": "social", "hashtags": ["*"], "channels": ["telegram", "x"]}]
    with running_bot(tmp_path, routes=routes) as chat:
        answer = chat.ask("/digest send", user_id=ADMIN)
        assert "no route sends to email" in answer
        assert chat.store.get_meta(DIGEST_REQUEST_KEY) in (None, "")


# --- hostile input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/broadcast " + "x" * 5000, "too long"),
        ("/broadcast", "Usage"),
        ("/broadcast \u202e\u2066\x00\x01", "Usage"),
        ("/skip \u202eabc", "No article has a key starting with abc."),
        ("/skip abc%", "not an article key"),
        ("/preview <script>", "not an article key"),
        ("/removesource " + "\x00\x7f", "Which source?"),
        ("/addsource", "Usage"),
        ("/post", "What should I post?"),
    ],
)
def test_hostile_or_empty_arguments_get_a_clear_reply(bot: BotChat, command: str, expected: str) -> None:
    assert expected in bot.ask(command, user_id=ADMIN)


def test_routes_and_status_show_the_telegram_channels_and_topics_each_route_posts_to(tmp_path: Path) -> None:
    routes = [
        {"name": "sport", "hashtags": ["Sports"], "channels": ["telegram"], "telegram_channels": ["@mygroup/42"]},
        {"name": "rest", "hashtags": ["*"], "channels": ["telegram", "x"]},
    ]
    telegram = {"admins": [ADMIN], "channel": ["@mynews", "@mygroup/42"]}
    with running_bot(tmp_path, routes=routes, telegram=telegram) as bot:
        routes_answer = bot.ask("/routes", user_id=ADMIN)
        status = bot.ask("/status", user_id=ADMIN)

    assert "sport: #Sports → telegram (@mygroup/42)" in routes_answer
    assert "rest: * → telegram (@mynews, @mygroup/42), x" in routes_answer
    assert "telegram (@mynews, @mygroup/42): publishing" in status
    assert "x: publishing" in status
