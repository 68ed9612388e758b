"""Subscriber commands, end to end: the bot polls a fake Bot API server over real HTTP; we read its replies
and the rows in the store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from bot import telegram_html
from bot.clicks import renderer_of
from bot.clock import utc_now
from bot.commands import CommandRunner, build_application, open_command_context
from bot.config import Config, parse_config
from bot.email.parts import email_parts
from bot.email.tokens import link_signing
from bot.email.web import build_app, email_confirmer
from bot.models import Article
from bot.store import OutboxItem, SqliteStore, open_store
from tests.conftest import FakeClock, confirmation_of
from tests.fakes.telegram_api import FakeTelegram, Message

ADMIN = 1000
USER = 5
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SECRET = "subscriber-commands-secret-0123456789"
VICTIM = "victim@example.org"


@dataclass
class BotChat:
    """A running bot and what a test needs around it: the fake server, the config, a store connection."""

    fake: FakeTelegram
    config: Config
    store: SqliteStore

    def send(self, text: str, *, user_id: int = USER, replies: int = 1, **options: Any) -> list[Message]:
        """Send `text` as `user_id` and wait for `replies` new messages in that chat; every one is valid HTML."""
        chat = options.get("chat_id") or user_id
        before = len(self.fake.messages(chat))
        self.fake.send_text(text, user_id=user_id, **options)
        arrived = self.fake.wait_for_messages(chat, before + replies)[before:]
        for message in arrived:
            assert message.parse_mode == "HTML"
            telegram_html.validate(message.text)
        return arrived

    def ask(self, text: str, *, user_id: int = USER, **options: Any) -> str:
        """The visible text of the one reply to `text`."""
        return telegram_html.visible_text(self.send(text, user_id=user_id, **options)[-1].text)


@contextmanager
def running_bot(
    tmp_path: Path,
    *,
    enforce_limits: bool = False,
    mail: list[EmailMessage] | None = None,
    clock: Callable[[], datetime] = utc_now,
    **tables: Any,
) -> Iterator[BotChat]:
    """A CommandRunner on a fresh state file, talking to a FakeTelegram (flood limits off unless asked for).

    With `mail`, /email works and the mails it sends are appended there.
    """
    fake = FakeTelegram(enforce_limits=enforce_limits)
    fake.start()
    data: dict[str, Any] = {
        "state": {"path": str(tmp_path / "state.sqlite")},
        "output": {"dir": str(tmp_path / "out"), "dry_run": True},
        "routes": [{"name": "all", "hashtags": ["*"], "channels": ["telegram", "x", "email"]}],
        **tables,
    }
    data["telegram"] = {"admins": [ADMIN], "base_url": fake.base_url, **tables.get("telegram", {})}
    config = parse_config(data, path=tmp_path / "config.toml")
    # Built as App builds it (with [analytics] on, click links signed with the test's secret).
    context = open_command_context(
        config, clock, renderer=renderer_of(config, {}, link_signing(config.web, {"NEWSBOT_SECRET_KEY": SECRET}))
    )
    if mail is not None:
        context.confirm_email = email_confirmer(
            config, email_parts(config, {}, link_signing(config.web, {"NEWSBOT_SECRET_KEY": SECRET})), mail.append
        )
    runner = CommandRunner(build_application(config, fake.token, context), config, context)
    store = open_store(config.state)
    try:
        runner.start()
        yield BotChat(fake, config, store)
    finally:
        assert runner.stop(timeout=10)
        context.close()
        store.close()
        fake.stop()


@pytest.fixture
def bot(tmp_path: Path, state_env: str) -> Iterator[BotChat]:
    """A running bot whose state is on each backend in turn (SQLite, PostgreSQL: see `state_env`)."""
    with running_bot(tmp_path) as chat:
        yield chat


def add_article(
    store: SqliteStore,
    key: str,
    title: str,
    hashtags: tuple[str, ...] = (),
    *,
    age_minutes: int = 0,
    text: str = "The council met on Tuesday. Officials said the vote was close.",
) -> Article:
    article = Article(
        key=key,
        source="feed",
        title=title,
        link=f"https://news.example.com/{key}",
        text=text,
        hashtags=hashtags,
        published=None,
        first_seen=NOW - timedelta(minutes=age_minutes),
    )
    store.add_article(article)
    return article


def route_to_telegram(store: SqliteStore, article: Article) -> None:
    store.enqueue([OutboxItem(article.key, "telegram", "channel", "all", "", NOW)], NOW)


# --- /start, /stop ----------------------------------------------------------------------------------------


def test_start_subscribes_and_welcomes_then_says_already_subscribed(bot: BotChat) -> None:
    welcome = bot.ask("/start")

    assert "Welcome, Alice!" in welcome
    assert "/subscribe" in welcome and "everything" in welcome
    subscriber = bot.store.subscriber("telegram", str(USER))
    assert subscriber is not None and subscriber.active and subscriber.hashtags == ()
    assert "already subscribed" in bot.ask("/start")


def test_stop_deactivates_and_start_brings_them_back(bot: BotChat) -> None:
    bot.ask("/start")

    assert "/start brings you back" in bot.ask("/stop")
    stopped = bot.store.subscriber("telegram", str(USER))
    assert stopped is not None and not stopped.active and stopped.status_reason == "stopped by user"
    assert "not subscribed" in bot.ask("/stop")
    assert "Welcome" in bot.ask("/start")
    again = bot.store.subscriber("telegram", str(USER))
    assert again is not None and again.active


# --- hashtags ---------------------------------------------------------------------------------------------


def test_subscribe_stores_hashtags_as_written_and_implies_start(bot: BotChat) -> None:
    answer = bot.ask("/subscribe #Climate, Überleben")

    assert "You are subscribed" in answer
    assert "#Climate #Überleben" in answer
    subscriber = bot.store.subscriber("telegram", str(USER))
    assert subscriber is not None and subscriber.active
    assert set(subscriber.hashtags) == {"Climate", "Überleben"}


def test_subscribe_without_hashtags_explains_and_shows_popular_ones(bot: BotChat) -> None:
    for n in range(3):
        add_article(bot.store, f"k{n}", f"Story {n}", ("Climate", "World") if n else ("Climate",))

    answer = bot.ask("/subscribe")

    assert "/subscribe #Climate #World" in answer
    assert "Popular hashtags: #Climate #World" in answer
    assert bot.store.subscriber("telegram", str(USER)) is None


def test_invalid_hashtags_change_nothing_and_are_shown_escaped(bot: BotChat) -> None:
    bot.ask("/subscribe #Climate")

    reply = bot.send("/subscribe #World <b>bold</b> 2024")[-1].text

    assert "Not a hashtag" in reply and "Nothing was changed" in reply
    assert "&lt;b&gt;bold&lt;/b&gt;" in reply
    subscriber = bot.store.subscriber("telegram", str(USER))
    assert subscriber is not None and subscriber.hashtags == ("Climate",)


def test_a_subscriber_cannot_follow_more_than_a_hundred_hashtags(bot: BotChat) -> None:
    bot.ask("/subscribe " + " ".join(f"#a{i}" for i in range(50)))
    bot.ask("/subscribe " + " ".join(f"#b{i}" for i in range(50)))

    assert "at most 100" in bot.ask("/subscribe #OneTooMany")
    subscriber = bot.store.subscriber("telegram", str(USER))
    assert subscriber is not None and len(subscriber.hashtags) == 100


def test_unsubscribing_the_last_hashtag_means_everything_again(bot: BotChat) -> None:
    bot.ask("/subscribe #Climate #World")

    assert "You follow: #World." in bot.ask("/unsubscribe climate")
    answer = bot.ask("/unsubscribe #World #Sports")

    assert "You did not follow #Sports" in answer
    assert "you get everything" in answer
    subscriber = bot.store.subscriber("telegram", str(USER))
    assert subscriber is not None and subscriber.hashtags == ()


def test_tags_lists_their_hashtags_and_the_popular_ones(bot: BotChat) -> None:
    add_article(bot.store, "k1", "Story", ("Energy",))
    bot.ask("/subscribe #Climate")

    answer = bot.ask("/tags")

    assert "You follow: #Climate." in answer
    assert "Popular hashtags: #Energy" in answer


# --- /latest ----------------------------------------------------------------------------------------------


def test_latest_lists_the_newest_telegram_articles_that_match_their_hashtags(bot: BotChat) -> None:
    climate_old = add_article(bot.store, "old1", "Old climate story", ("Climate",), age_minutes=30)
    climate_new = add_article(bot.store, "new1", "New <climate> & story", ("climate",), age_minutes=1)
    sports = add_article(bot.store, "spo1", "Sports story", ("Sports",))
    for article in (climate_old, climate_new, sports):
        route_to_telegram(bot.store, article)
    add_article(bot.store, "xonly", "Climate story only on X", ("Climate",))
    bot.ask("/subscribe #Climate")

    reply = bot.send("/latest")[-1].text

    assert reply.index("New &lt;climate&gt; &amp; story") < reply.index("Old climate story")
    assert '<a href="https://news.example.com/new1">' in reply
    assert "Sports" not in reply and "only on X" not in reply
    assert "Old climate" not in bot.ask("/latest 1")


def test_latest_refuses_a_count_out_of_range(bot: BotChat) -> None:
    assert "from 1 to 20" in bot.ask("/latest 500")
    assert "from 1 to 20" in bot.ask("/latest \u202eevil")


# --- everything else --------------------------------------------------------------------------------------


def test_unknown_commands_and_plain_text_point_to_help(bot: BotChat) -> None:
    assert "I don't know /frobnicate" in bot.ask("/frobnicate now")
    assert "/help" in bot.ask("hello there")


def test_a_forwarded_command_is_not_acted_on(bot: BotChat) -> None:
    assert "not on forwarded messages" in bot.ask("/start", forward=True)
    assert bot.store.subscriber("telegram", str(USER)) is None


def test_help_lists_admin_commands_to_admins_only(bot: BotChat) -> None:
    for_user = bot.ask("/help")
    for_admin = bot.ask("/help", user_id=ADMIN)

    assert "/subscribe" in for_user and "/broadcast" not in for_user
    assert "/broadcast" in for_admin and "/status" in for_admin


def test_command_menus_are_set_for_private_chats_and_each_admin(bot: BotChat) -> None:
    private = [c["command"] for c in bot.fake.commands["all_private_chats"]]
    admin = [c["command"] for c in bot.fake.commands[f"chat:{ADMIN}"]]

    assert "subscribe" in private and "status" not in private
    assert set(private) < set(admin) and {"status", "broadcast", "digest"} <= set(admin)


def test_commands_in_a_group_are_ignored(bot: BotChat) -> None:
    bot.fake.send_text("/start", user_id=USER, chat_id=-4242, chat_type="group")
    bot.ask("/tags")  # updates are handled in order: once this is answered, the group message was handled

    assert bot.fake.messages(-4242) == []
    assert bot.store.subscriber("telegram", "-4242") is None


# --- /email -----------------------------------------------------------------------------------------------

MAIL_TABLES: dict[str, Any] = {
    "email": {"sender": "Example News <news@example.com>"},
    "web": {"public_url": "https://news.example.com", "subscribe_per_hour": 5},
}


@pytest.fixture
def mail() -> list[EmailMessage]:
    return []


@pytest.fixture
def mail_bot(tmp_path: Path, mail: list[EmailMessage], clock: FakeClock) -> Iterator[BotChat]:
    with running_bot(tmp_path, mail=mail, clock=clock, **MAIL_TABLES) as chat:
        yield chat


def mails_to(mail: list[EmailMessage], address: str) -> list[EmailMessage]:
    return [message for message in mail if message["To"] == address]


def test_email_answers_the_same_whether_the_address_is_new_pending_subscribed_or_limited(
    mail_bot: BotChat, mail: list[EmailMessage], clock: FakeClock
) -> None:
    store = mail_bot.store
    store.request_email_subscription("subscribed@example.org", ["Climate"], clock())
    store.confirm_email("subscribed@example.org", clock())
    store.request_email_subscription("pending@example.org", ["Climate"], clock())
    for _ in range(5):  # the mailbox had its five mails for the hour (from the web form, say)
        store.take_rate_slot("confirmation mail", "limited@example.org", clock(), limit=5, window=timedelta(hours=1))
    replies = {
        kind: mail_bot.ask(f"/email {kind}@example.org", user_id=100 + n)
        for n, kind in enumerate(("new", "pending", "subscribed", "limited"))
    }

    shapes = {reply.replace(f"{kind}@example.org", "ADDRESS") for kind, reply in replies.items()}
    assert len(shapes) == 1, replies
    assert "If new@example.org can get the digest, a mail with a confirmation link is on its way" in replies["new"]
    assert "/confirm?token=" in mails_to(mail, "new@example.org")[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    [note] = mails_to(mail, "subscribed@example.org")
    assert "already gets it" in note.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert mails_to(mail, "limited@example.org") == []
    subscribed = store.email_subscriber("subscribed@example.org")
    assert subscribed is not None and subscribed.active and subscribed.linked_chat == ""  # not re-recorded


def test_email_repeated_twenty_times_from_one_chat_sends_three_mails(
    mail_bot: BotChat, mail: list[EmailMessage]
) -> None:
    replies = [mail_bot.ask(f"/email {VICTIM}") for _ in range(20)]

    assert len(mails_to(mail, VICTIM)) == 3
    assert all("confirmation link is on its way" in reply for reply in replies[:3])
    assert all("You asked for 3 confirmation mails in the last hour" in reply for reply in replies[3:])


def test_email_from_many_chats_sends_a_mailbox_at_most_subscribe_per_hour_mails(
    mail_bot: BotChat, mail: list[EmailMessage], clock: FakeClock
) -> None:
    addresses = [VICTIM, "Victim+1@Example.org", "victim+2@example.org"]
    replies = [mail_bot.ask(f"/email {addresses[n % 3]}", user_id=200 + n) for n in range(20)]

    assert len([m for m in mail if m["To"].endswith("@example.org")]) == 5
    assert len(set(replies)) == 3  # one answer per address typed: being limited changes nothing in it
    clock.advance(hours=1)
    assert "on its way" in mail_bot.ask(f"/email {VICTIM}", user_id=300)
    assert len(mail) == 6


def test_the_web_form_and_email_share_one_limit_per_mailbox(
    mail_bot: BotChat, mail: list[EmailMessage], clock: FakeClock
) -> None:
    from starlette.testclient import TestClient

    from bot.email.tokens import TokenSigner

    app = build_app(
        mail_bot.config,
        store_factory=lambda: open_store(mail_bot.config.state),
        signer=TokenSigner(SECRET.encode()),
        send_mail=mail.append,
        make_confirmation=confirmation_of(mail_bot.config),
        clock=clock,
    )
    for n in range(5):
        with TestClient(app, client=(f"192.0.2.{n}", 4000)) as visitor:
            assert visitor.post("/subscribe", data={"email": VICTIM}).status_code == 200

    answer = mail_bot.ask(f"/email {VICTIM}")

    assert "confirmation link is on its way" in answer
    assert len(mails_to(mail, VICTIM)) == 5


def test_email_does_not_change_the_hashtags_of_someone_elses_pending_sign_up(
    mail_bot: BotChat, mail: list[EmailMessage], clock: FakeClock
) -> None:
    mail_bot.store.request_email_subscription(VICTIM, ["Climate"], clock(), name="Ada")
    mail_bot.ask("/subscribe #Sports")

    mail_bot.ask(f"/email {VICTIM}")

    pending = mail_bot.store.email_subscriber(VICTIM)
    assert pending is not None and (pending.name, pending.hashtags, pending.linked_chat) == ("Ada", ("Climate",), "")
    # The mail names what its own link would confirm: this chat's request, which only the mailbox can accept.
    [confirmation] = mails_to(mail, VICTIM)
    text = confirmation.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "#Sports" in text and "#Climate" not in text


# --- /watch, /mute ----------------------------------------------------------------------------------------


def test_watch_stores_comma_separated_words_and_phrases_and_implies_start(bot: BotChat) -> None:
    answer = bot.ask("/watch climate change, Flood , Überschwemmung,,")

    assert "You are subscribed" in answer
    assert "You watch: “climate change”, “Flood”, “Überschwemmung”." in answer
    assert "you get only articles with your watch words" in answer
    assert "Separate words with commas; a phrase may contain spaces." in answer
    assert bot.store.subscriber_words("telegram", str(USER), "watch") == ("climate change", "Flood", "Überschwemmung")


def test_watch_and_mute_without_words_explain_how_and_list_what_they_have(bot: BotChat) -> None:
    bot.ask("/mute football")

    assert "/watch climate change, flood" in bot.ask("/watch")
    answer = bot.ask("/mute")
    assert "separate words with commas" in answer.lower()
    assert "You mute: “football”." in answer
    assert "You watch no words." in bot.ask("/unwatch")


def test_tags_shows_hashtags_watch_words_and_mute_words(bot: BotChat) -> None:
    bot.ask("/subscribe #Climate")
    bot.ask("/watch москва, 地震")
    bot.ask("/mute Sponsored content")

    answer = bot.ask("/tags")

    assert "You follow: #Climate." in answer
    assert "You watch: “москва”, “地震”." in answer
    assert "You mute: “Sponsored content”. Articles that contain one never come to you" in answer


def test_a_subscriber_cannot_watch_more_than_twenty_words_and_nothing_changes(bot: BotChat) -> None:
    bot.ask("/watch " + ", ".join(f"word{i}" for i in range(18)))

    answer = bot.ask("/watch alpha, beta, gamma, word1")

    assert "at most 20 words; you watch 18 and sent 3 new ones" in answer
    assert "/unwatch word, other word" in answer and "Nothing was changed" in answer
    assert len(bot.store.subscriber_words("telegram", str(USER), "watch")) == 18
    assert "at most 20" in bot.ask("/mute " + ", ".join(f"m{i}" for i in range(21)))
    assert bot.store.subscriber_words("telegram", str(USER), "mute") == ()


def test_unusable_words_are_named_and_change_nothing(bot: BotChat) -> None:
    bot.ask("/watch flood")

    answer = bot.ask("/watch storm, " + "x" * 101)

    assert "longer than 100 characters" in answer and "Nothing was changed" in answer
    assert "no letter or digit" in bot.ask("/mute ???")
    assert bot.store.subscriber_words("telegram", str(USER), "watch") == ("flood",)


def test_unwatch_and_unmute_remove_words_in_any_case_and_name_unknown_ones(bot: BotChat) -> None:
    bot.ask("/watch Flood, storm")
    bot.ask("/mute football")

    answer = bot.ask("/unwatch FLOOD, drought")

    assert "You did not watch “drought”." in answer
    assert "You watch: “storm”." in answer
    assert "You mute: “football”" in bot.ask("/unwatch storm")
    assert "you get everything" in bot.ask("/unmute Football")
    assert bot.store.subscriber_words("telegram", str(USER), "mute") == ()


def test_latest_follows_watch_and_mute_words(bot: BotChat) -> None:
    flood = add_article(bot.store, "f1", "Flood warning", ("Weather",), age_minutes=3)
    climate = add_article(bot.store, "c1", "Climate talks", ("Climate",), age_minutes=2)
    sponsored = add_article(bot.store, "s1", "Climate deal", ("Climate",), text="Sponsored content.", age_minutes=1)
    for article in (flood, climate, sponsored):
        route_to_telegram(bot.store, article)
    bot.ask("/subscribe #Climate")
    bot.ask("/watch flood")
    bot.ask("/mute sponsored content")

    reply = bot.ask("/latest")

    assert "Flood warning" in reply and "Climate talks" in reply
    assert "Climate deal" not in reply


def test_help_and_the_command_menu_describe_watch_and_mute(bot: BotChat) -> None:
    help_text = bot.ask("/help")
    menu = {c["command"]: c["description"] for c in bot.fake.commands["all_private_chats"]}

    assert "/watch climate change, flood" in help_text and "Up to 20 of each" in help_text
    assert {"watch", "unwatch", "mute", "unmute"} <= set(menu)
    assert "watch and mute words" in menu["tags"]
