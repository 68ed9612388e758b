"""One chat never waits for another: a command flood, a "retry after" or a slow command holds up only the chat
it came from, over real HTTP against the fake Bot API server. Order and counts are asserted, never durations."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bot.commands.application import CommandLimit
from bot.commands.context import Request
from bot.config import TelegramConfig, parse_config
from bot.telegram_html import visible_text
from tests.conftest import news_item, rss
from tests.test_commands_subscriber import ADMIN, USER, running_bot

FLOODER = 6
LIMIT = TelegramConfig().commands_per_minute
FLOOD = 2 * LIMIT


# --- a flood from one user --------------------------------------------------------------------------------


def test_a_command_flood_is_cut_to_the_limit_and_does_not_hold_up_another_user(tmp_path: Path) -> None:
    with running_bot(tmp_path) as bot:
        for _ in range(FLOOD):
            bot.fake.send_text("/help", user_id=FLOODER)
        bot.fake.send_text("/help", user_id=USER)
        bot.fake.wait_for_messages(USER, 1)
        bot.fake.wait_for_messages(FLOODER, LIMIT + 1)
    # Leaving running_bot stopped the runner, which first answers every update it fetched: nothing more comes.

    to_flooder = bot.fake.messages(FLOODER)
    assert len(to_flooder) == LIMIT + 1
    assert all("What I can do" in message.text for message in to_flooder[:LIMIT])
    assert visible_text(to_flooder[-1].text) == (
        f"Slow down, please: that is more than {LIMIT} commands in a minute. "
        "Send the next one in 60 s; until then I ignore commands from you."
    )
    order = bot.fake.messages()
    [other] = bot.fake.messages(USER)
    assert "What I can do" in other.text
    assert order.index(other) < order.index(to_flooder[-1]), "the other user waited for the whole flood"


def test_the_limit_tells_once_drops_the_rest_and_frees_after_a_minute_but_never_limits_admins(
    tmp_path: Path,
) -> None:
    now = [0.0]
    config = parse_config(
        {"state": {"path": str(tmp_path / "state.sqlite")}, "telegram": {"admins": [ADMIN], "commands_per_minute": 3}}
    )
    limit = CommandLimit(config, clock=lambda: now[0])

    def answers(user: int, count: int) -> list[str]:
        request = Request(chat_id=user, user_id=user, chat_type="private", command="help", args="")
        refusals = [limit.refusal(request) for _ in range(count)]
        return ["run" if r is None else visible_text("".join(r.parts)) or "silence" for r in refusals]

    assert answers(FLOODER, 3) == ["run"] * 3
    now[0] = 20.0
    [told, *dropped] = answers(FLOODER, 5)
    assert told.startswith("Slow down, please: that is more than 3 commands in a minute. Send the next one in 40 s")
    assert dropped == ["silence"] * 4
    assert answers(USER, 3) == ["run"] * 3, "one user's flood must not use up another user's commands"
    assert answers(ADMIN, 50) == ["run"] * 50
    now[0] = 60.0
    assert answers(FLOODER, 4) == ["run"] * 3 + ["silence"], "at most one notice a minute"
    now[0] = 80.5
    assert answers(FLOODER, 1)[0].startswith("Slow down")


# --- a "retry after" in one chat --------------------------------------------------------------------------


def test_a_retry_after_for_one_chat_does_not_hold_up_another_and_its_reply_still_arrives(tmp_path: Path) -> None:
    with running_bot(tmp_path) as bot:
        bot.fake.retry_after(3, chat_id=FLOODER)
        bot.fake.send_text("/help", user_id=FLOODER)
        bot.fake.wait_until(lambda: bot.fake.count_429 == 1)  # the bot now waits 3 s before it tries again
        [other] = bot.send("/help", user_id=USER)
        [late] = bot.fake.wait_for_messages(FLOODER, 1)

    assert bot.fake.messages() == [other, late], "the other chat's reply waited for the rate-limited one"
    assert "What I can do" in late.text
    sends = [(r.params["chat_id"], r.status) for r in bot.fake.calls("sendMessage")]
    assert sends == [(FLOODER, HTTPStatus.TOO_MANY_REQUESTS), (USER, HTTPStatus.OK), (FLOODER, HTTPStatus.OK)]


# --- the configured time-out -----------------------------------------------------------------------------


class EventSeen(logging.Handler):
    """Sets `seen` when a log line with `event=<event>` arrives (from any thread); keeps that line."""

    def __init__(self, event: str) -> None:
        super().__init__()
        self.event = event
        self.seen = threading.Event()
        self.line = ""

    def emit(self, record: logging.LogRecord) -> None:
        if f"event={self.event}" in record.getMessage():
            self.line = record.getMessage()
            self.seen.set()


def test_a_reply_telegram_answers_later_than_request_timeout_is_given_up_and_the_next_command_is_answered(
    tmp_path: Path,
) -> None:
    failed = EventSeen("reply_failed")
    commands_log = logging.getLogger("newsbot.commands")
    commands_log.addHandler(failed)
    try:
        with running_bot(tmp_path, telegram={"request_timeout": 1}) as bot:
            # Answered after 3 s: within python-telegram-bot's own 5 s default, past [telegram] request_timeout.
            bot.fake.random_faults(1.0, kinds=["timeout"], timeout_delay=3.0)
            bot.fake.send_text("/help", user_id=FLOODER)
            assert failed.seen.wait(30), "the reply waited longer than [telegram] request_timeout"
            bot.fake.random_faults(0)
            [answer] = bot.send("/help", user_id=USER)
    finally:
        commands_log.removeHandler(failed)

    assert "timed out" in failed.line.lower()
    assert "What I can do" in answer.text


# --- a slow command ---------------------------------------------------------------------------------------


@dataclass
class StallingFeed:
    """An RSS feed on 127.0.0.1 that answers only once `release` is set; `asked` is set when it is requested."""

    url: str
    asked: threading.Event
    release: threading.Event


@contextmanager
def stalling_feed() -> Iterator[StallingFeed]:
    asked, release = threading.Event(), threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            asked.set()
            release.wait(30)
            body = rss([news_item(1)]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield StallingFeed(f"http://127.0.0.1:{server.server_port}/feed.xml", asked, release)
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def test_a_slow_addsource_holds_up_only_its_own_chat_which_is_answered_in_order(tmp_path: Path) -> None:
    # The feed is on 127.0.0.1, which a chat-given URL may reach only with allow_private.
    with stalling_feed() as feed, running_bot(tmp_path, fetch={"allow_private": True}) as bot:
        bot.fake.send_text(f"/addsource {feed.url}", user_id=ADMIN)
        bot.fake.send_text("/sources", user_id=ADMIN)
        assert feed.asked.wait(10), "the bot never fetched the feed"

        assert "/subscribe" in bot.ask("/help", user_id=USER)  # answered while /addsource is still fetching
        assert bot.fake.messages(ADMIN) == []
        feed.release.set()
        added, listed = bot.fake.wait_for_messages(ADMIN, 2)

    assert visible_text(added.text).startswith("Added source 127.0.0.1")
    assert "127.0.0.1" in visible_text(listed.text), "/sources ran before the /addsource sent ahead of it"
