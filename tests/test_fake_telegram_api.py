"""The fake Bot API server answers python-telegram-bot like Telegram does: shapes, errors, limits, updates."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.error import (
    BadRequest,
    ChatMigrated,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

from tests.fakes.telegram_api import FakeTelegram

T = TypeVar("T")


class ManualClock:
    """The fake server's clock for flood-limit tests: time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def retry_after_as_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opt in to PTB's future RetryAfter.retry_after type, which also silences its deprecation warning."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[FakeTelegram]:
    """A fake whose flood windows run on the manual clock, so "at once" and "a minute later" are exact."""
    server = FakeTelegram(clock=clock)
    server.start()
    yield server
    server.stop()


def with_bot(fake: FakeTelegram, action: Callable[[telegram.Bot], Awaitable[T]], **bot_options: Any) -> T:
    """Run `action` with an initialized PTB Bot talking to the fake over HTTP."""

    async def run() -> T:
        async with telegram.Bot(bot_options.pop("token", fake.token), base_url=fake.base_url, **bot_options) as bot:
            return await action(bot)

    return asyncio.run(run())


def send(fake: FakeTelegram, chat_id: int | str, text: str = "hello", **kwargs: Any) -> telegram.Message:
    return with_bot(fake, lambda bot: bot.send_message(chat_id, text, **kwargs))


def sends(fake: FakeTelegram, chat_ids: Sequence[int | str], text: str = "hello") -> list[object]:
    """Send to each chat concurrently; the PTB result or the exception, per chat."""

    async def action(bot: telegram.Bot) -> list[object]:
        return await asyncio.gather(*(bot.send_message(c, text) for c in chat_ids), return_exceptions=True)

    return with_bot(fake, action)


# --- round trips -------------------------------------------------------------------------------------


def test_send_message_round_trip_decodes_parse_mode_keyboard_and_preview(fake: FakeTelegram) -> None:
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Read", url="https://news.example.com/a"),
                InlineKeyboardButton("👍", callback_data="like:1"),
            ]
        ]
    )
    sent = send(
        fake,
        777,
        '<b>Council</b> votes &amp; <a href="https://news.example.com/a">more</a>',
        parse_mode="HTML",
        reply_markup=keyboard,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )

    [message] = fake.messages(777)
    assert message.text == '<b>Council</b> votes &amp; <a href="https://news.example.com/a">more</a>'
    assert message.parse_mode == "HTML"
    assert message.kind == "text"
    assert message.reply_markup == {
        "inline_keyboard": [
            [{"text": "Read", "url": "https://news.example.com/a"}, {"text": "👍", "callback_data": "like:1"}]
        ]
    }
    assert message.link_preview_options == {"is_disabled": True}
    # the answer is a real Message: plain text plus entities, as Telegram returns it
    assert sent.message_id == message.message_id == 1
    assert sent.chat.type == "private"
    assert sent.from_user is not None and sent.from_user.is_bot
    assert sent.text == "Council votes & more"
    assert sent.text_html == '<b>Council</b> votes &amp; <a href="https://news.example.com/a">more</a>'
    assert sent.reply_markup == keyboard
    assert [r.method for r in fake.requests] == ["getMe", "sendMessage"]


def test_message_ids_increase_per_chat_and_chat_types_follow_the_id(fake: FakeTelegram, clock: ManualClock) -> None:
    first = send(fake, -5)
    clock.advance(1.0)
    second = send(fake, -5)
    other = send(fake, "@newsroom")
    channel = send(fake, -1001234)

    assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)
    assert (first.chat.type, other.chat.type, channel.chat.type) == ("group", "channel", "channel")
    assert other.chat.username == "newsroom"
    assert [m.message_id for m in fake.messages("@newsroom")] == [1]


def test_send_photo_upload_is_multipart_and_caption_is_checked(fake: FakeTelegram) -> None:
    sent = with_bot(
        fake,
        lambda bot: bot.send_photo(
            9, telegram.InputFile(b"\x89PNG fake", filename="cover.png"), caption="<i>Cover</i>", parse_mode="HTML"
        ),
    )
    by_url = with_bot(fake, lambda bot: bot.send_photo(10, "https://img.example.com/a.jpg", caption="plain"))

    assert sent.caption == "Cover" and sent.photo and by_url.photo
    [upload] = fake.messages(9)
    assert (upload.kind, upload.photo, upload.text, upload.parse_mode) == (
        "photo",
        "upload:cover.png",
        "<i>Cover</i>",
        "HTML",
    )
    assert fake.messages(10)[0].photo == "https://img.example.com/a.jpg"
    with pytest.raises(BadRequest, match=r"(?i)message caption is too long"):
        with_bot(fake, lambda bot: bot.send_photo(11, "https://img.example.com/a.jpg", caption="c" * 1025))


def test_json_bodies_and_nested_json_strings_are_decoded(fake: FakeTelegram) -> None:
    url = f"{fake.base_url}{fake.token}/sendMessage"
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    as_object = httpx.post(url, json={"chat_id": 1, "text": "one", "reply_markup": markup})
    as_string = httpx.post(url, json={"chat_id": "2", "text": "two", "reply_markup": '{"inline_keyboard": []}'})

    assert as_object.status_code == as_string.status_code == 200
    assert as_object.json()["result"]["reply_markup"] == markup
    assert fake.messages(1)[0].reply_markup == markup
    assert fake.messages(2)[0].reply_markup == {"inline_keyboard": []}


def test_text_that_looks_like_json_or_a_number_stays_text(fake: FakeTelegram) -> None:
    send(fake, 1, "12345")
    send(fake, 2, '{"not": "markup"}')
    assert fake.messages(1)[0].text == "12345"
    assert fake.messages(2)[0].text == '{"not": "markup"}'


def test_get_me_is_a_bot_user(fake: FakeTelegram) -> None:
    me = with_bot(fake, lambda bot: bot.get_me())
    assert me.is_bot and me.username == "newsbot_test_bot" and me.id == 123456
    assert me.can_join_groups is True


def test_edit_message_text_and_markup(fake: FakeTelegram, clock: ManualClock) -> None:
    send(fake, 3, "first", parse_mode="HTML")
    clock.advance(1.0)
    edited = with_bot(fake, lambda bot: bot.edit_message_text("<b>second</b>", 3, 1, parse_mode="HTML"))
    clock.advance(1.0)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x")]])
    with_bot(fake, lambda bot: bot.edit_message_reply_markup(3, 1, reply_markup=keyboard))

    assert isinstance(edited, telegram.Message) and edited.text == "second" and edited.edit_date is not None
    history = fake.messages(3)
    assert [(m.message_id, m.text, m.edited) for m in history] == [
        (1, "first", False),
        (1, "<b>second</b>", True),
        (1, "<b>second</b>", True),
    ]
    assert history[-1].reply_markup == {"inline_keyboard": [[{"text": "x", "callback_data": "x"}]]}
    clock.advance(1.0)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        with_bot(fake, lambda bot: bot.edit_message_reply_markup(3, 1, reply_markup=keyboard))
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        with_bot(fake, lambda bot: bot.edit_message_text("x", 3, 99))


def test_set_my_commands_by_scope(fake: FakeTelegram) -> None:
    async def action(bot: telegram.Bot) -> tuple[telegram.BotCommand, ...]:
        await bot.set_my_commands([("start", "Subscribe"), ("stop", "Unsubscribe")])
        await bot.set_my_commands([("stats", "Numbers")], scope=telegram.BotCommandScopeChat(42))
        await bot.set_my_commands([("help", "Help")], scope=telegram.BotCommandScopeAllPrivateChats())
        await bot.delete_my_commands(scope=telegram.BotCommandScopeAllPrivateChats())
        return await bot.get_my_commands()

    listed = with_bot(fake, action)

    assert fake.commands == {
        "default": [
            {"command": "start", "description": "Subscribe"},
            {"command": "stop", "description": "Unsubscribe"},
        ],
        "chat:42": [{"command": "stats", "description": "Numbers"}],
    }
    assert [c.command for c in listed] == ["start", "stop"]
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        with_bot(fake, lambda bot: bot.set_my_commands([("Start Now", "bad")]))


def test_unknown_method_and_path_are_404_like_telegram(fake: FakeTelegram) -> None:
    answer = httpx.post(f"{fake.base_url}{fake.token}/sendTelepathy", data={"chat_id": "1"})
    assert answer.status_code == 404
    assert answer.json() == {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
    with pytest.raises(EndPointNotFound):
        with_bot(fake, lambda bot: bot.do_api_request("sendTelepathy", api_kwargs={"chat_id": 1}))


# --- errors as PTB exceptions ------------------------------------------------------------------------


def test_retry_after_is_raised_with_its_seconds(fake: FakeTelegram) -> None:
    fake.retry_after(7, times=2, chat_id=5)

    with pytest.raises(RetryAfter) as first:
        send(fake, 5)
    send(fake, 6)  # another chat is not affected
    with pytest.raises(RetryAfter):
        send(fake, 5)

    assert first.value.retry_after == timedelta(seconds=7)
    assert fake.count_429 == 2
    assert [m.chat_id for m in fake.messages()] == [6]
    body = httpx.post(f"{fake.base_url}{fake.token}/sendMessage", data={"chat_id": "5", "text": "x"}).json()
    assert body["ok"] is True  # both injected 429s used up


def test_retry_after_wire_format(fake: FakeTelegram) -> None:
    fake.retry_after(3)
    answer = httpx.post(f"{fake.base_url}{fake.token}/sendMessage", data={"chat_id": "5", "text": "x"})
    assert answer.status_code == 429
    assert answer.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }


@pytest.mark.parametrize(
    ("inject", "description"),
    [
        (FakeTelegram.block, "Forbidden: bot was blocked by the user"),
        (FakeTelegram.deactivate, "Forbidden: user is deactivated"),
    ],
)
def test_blocked_and_deactivated_users_are_forbidden(
    fake: FakeTelegram, inject: Callable[[FakeTelegram, int], None], description: str
) -> None:
    inject(fake, 5)
    with pytest.raises(Forbidden) as error:
        send(fake, 5)
    assert error.value.message == description
    assert fake.messages(5) == []
    assert fake.requests[-1].status == 403


def test_migrated_group_raises_chat_migrated_and_the_new_id_works(fake: FakeTelegram) -> None:
    fake.migrate(-100, -1009999)
    with pytest.raises(ChatMigrated) as error:
        send(fake, -100)
    assert error.value.new_chat_id == -1009999
    sent = send(fake, -1009999)
    assert sent.chat.type == "supergroup"
    assert fake.messages(-100) == [] and len(fake.messages(-1009999)) == 1


@pytest.mark.parametrize(
    ("text", "kwargs", "reason"),
    [
        ("<b>never closed", {"parse_mode": "HTML"}, "can't parse entities: tag <b> is never closed"),
        ("<div>block</div>", {"parse_mode": "HTML"}, "can't parse entities: tag <div> is not supported"),
        ("Fish & chips", {"parse_mode": "HTML"}, "can't parse entities: '&' must start"),
        ("a" * 4097, {}, "message is too long"),
        ("<b>" + "😀" * 2049 + "</b>", {"parse_mode": "HTML"}, "message is too long"),  # 4098 UTF-16 units
        ("   ", {}, "message text is empty"),
        ("<b> </b>", {"parse_mode": "HTML"}, "message text is empty"),
        ("x", {"parse_mode": "XML"}, "unsupported parse_mode"),
        (
            "x",
            {"reply_markup": InlineKeyboardMarkup([[InlineKeyboardButton("ftp", url="ftp://files.example.com")]])},
            "BUTTON_URL_INVALID",
        ),
        (
            "x",
            {"reply_markup": InlineKeyboardMarkup([[InlineKeyboardButton("big", callback_data="é" * 33)]])},
            "BUTTON_DATA_INVALID",
        ),
    ],
)
def test_invalid_sends_are_bad_requests(fake: FakeTelegram, text: str, kwargs: dict[str, Any], reason: str) -> None:
    with pytest.raises(BadRequest) as error:
        send(fake, 5, text, **kwargs)
    # PTB drops "Bad Request: " and capitalize()s the rest, which lowercases everything after the first letter
    assert error.value.message.lower().startswith(reason.lower()), error.value.message
    assert fake.messages() == []
    assert fake.count_429 == 0


def test_length_is_counted_on_visible_text(fake: FakeTelegram, clock: ManualClock) -> None:
    send(fake, 5, "<b>" + "&amp;" * 4096 + "</b>", parse_mode="HTML")  # 4096 visible characters
    clock.advance(1.0)
    send(fake, 5, "😀" * 2048)  # 4096 UTF-16 units
    assert len(fake.messages(5)) == 2


def test_missing_chat_id_is_a_bad_request(fake: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match=r"(?i)chat_id is empty"):
        send(fake, "", "x")


def test_server_error_is_a_network_error_and_nothing_is_delivered(fake: FakeTelegram) -> None:
    fake.fail(502)
    with pytest.raises(NetworkError) as error:
        send(fake, 5)
    assert type(error.value) is NetworkError and error.value.message == "Bad Gateway"
    assert fake.messages(5) == []
    assert send(fake, 6).message_id == 1  # only one failure was injected


def test_slow_answer_times_out_on_the_client_but_the_message_was_delivered(fake: FakeTelegram) -> None:
    async def run() -> None:
        async with telegram.Bot(fake.token, base_url=fake.base_url, request=HTTPXRequest(read_timeout=0.2)) as bot:
            fake.delay(1.0)
            try:
                await bot.send_message(5, "slow")
            finally:
                fake.delay(0)

    with pytest.raises(TimedOut):
        asyncio.run(run())
    assert [m.text for m in fake.messages(5)] == ["slow"]  # as with Telegram: a timeout is not a failed send


def test_dropped_connection_is_a_network_error_and_nothing_is_delivered(fake: FakeTelegram) -> None:
    fake.drop_connection()
    with pytest.raises(NetworkError) as error:
        send(fake, 5)
    assert not isinstance(error.value, TimedOut)
    assert fake.messages(5) == []
    assert fake.requests[-1].status == 0


def test_wrong_token_is_rejected_with_401(fake: FakeTelegram) -> None:
    with pytest.raises(InvalidToken):
        with_bot(fake, lambda bot: bot.send_message(5, "x"), token="999:WRONG")
    answer = httpx.post(f"{fake.base_url}999:WRONG/sendMessage", data={"chat_id": "5", "text": "x"})
    assert (answer.status_code, answer.json()) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    assert fake.messages() == []


# --- flood limits ------------------------------------------------------------------------------------


def test_two_messages_to_one_chat_at_once_the_second_gets_429(fake: FakeTelegram, clock: ManualClock) -> None:
    results = sends(fake, [5, 5])

    assert isinstance(results[0], telegram.Message)
    assert isinstance(results[1], RetryAfter)
    assert fake.count_429 == 1 and len(fake.messages(5)) == 1
    clock.advance(0.999)
    with pytest.raises(RetryAfter):
        send(fake, 5)
    clock.advance(0.001)  # exactly 1.0 s after the first: the window has room again
    send(fake, 5)
    assert len(fake.messages(5)) == 2


def test_21_messages_to_a_group_in_a_minute_the_21st_gets_429(fake: FakeTelegram, clock: ManualClock) -> None:
    async def action(bot: telegram.Bot) -> RetryAfter:
        for _ in range(20):
            await bot.send_message(-42, "news")
            clock.advance(1.0)  # respects the per-chat limit: 20 sends over 19 s
        with pytest.raises(RetryAfter) as error:
            await bot.send_message(-42, "one too many")  # t = 20 s
        clock.advance(40.0)
        await bot.send_message(-42, "room again")  # t = 60 s: the first send has left the window
        return error.value

    refused = with_bot(fake, action)
    assert refused.retry_after == timedelta(seconds=40)
    assert len(fake.messages(-42)) == 21 and fake.count_429 == 1


def test_31_messages_to_different_chats_at_once_one_gets_429(fake: FakeTelegram, clock: ManualClock) -> None:
    results = sends(fake, list(range(1, 32)))

    refused = [r for r in results if isinstance(r, RetryAfter)]
    assert len(refused) == 1 and fake.count_429 == 1
    assert len(fake.messages()) == 30
    clock.advance(1.0)
    send(fake, 31)


def test_limits_respected_give_no_429(fake: FakeTelegram, clock: ManualClock) -> None:
    for second in range(3):
        results = sends(fake, [*range(1, 29), -7, "@newsroom"])  # 30 a second, each chat once a second
        assert all(isinstance(r, telegram.Message) for r in results), (second, results)
        clock.advance(1.0)
    assert fake.count_429 == 0 and len(fake.messages()) == 90


def test_limits_can_be_switched_off(clock: ManualClock) -> None:
    with FakeTelegram(clock=clock, enforce_limits=False) as fake:
        results = sends(fake, [5] * 40)
    assert all(isinstance(r, telegram.Message) for r in results)
    assert fake.count_429 == 0


def test_real_clock_one_message_per_second_per_chat(fake_telegram: FakeTelegram) -> None:
    async def action(bot: telegram.Bot) -> None:
        await bot.send_message(5, "one")
        with pytest.raises(RetryAfter):
            await bot.send_message(5, "too soon")
        await asyncio.sleep(1.05)
        await bot.send_message(5, "two")

    with_bot(fake_telegram, action)
    assert [m.text for m in fake_telegram.messages(5)] == ["one", "two"]


def test_one_article_to_many_chats_is_stored_once(clock: ManualClock) -> None:
    article = "<b>Council</b> approves the budget. " * 50
    with FakeTelegram(clock=clock, enforce_limits=False) as fake:
        sends_per_batch = list(range(1, 201))
        sends(fake, sends_per_batch, article)
    texts = [m.text for m in fake.messages()]
    assert len(texts) == 200 and all(text is texts[0] for text in texts)


# --- updates -----------------------------------------------------------------------------------------


def test_get_updates_delivers_queued_updates_once_with_offset(fake: FakeTelegram) -> None:
    first = fake.send_text("/start", user_id=42)
    second = fake.send_text("hello there", user_id=42, forward=True)

    async def action(bot: telegram.Bot) -> list[tuple[Update, ...]]:
        everything = await bot.get_updates()
        after_first = await bot.get_updates(offset=first + 1)
        after_all = await bot.get_updates(offset=second + 1, timeout=5)  # long-polls at most 1 s
        again = await bot.get_updates()
        return [everything, after_first, after_all, again]

    everything, after_first, after_all, again = with_bot(fake, action)

    assert [u.update_id for u in everything] == [first, second]
    start = everything[0].message
    assert start is not None and start.text == "/start" and start.chat.type == "private"
    assert start.from_user is not None and start.from_user.id == 42
    assert start.entities[0].type == "bot_command" and start.entities[0].length == len("/start")
    forwarded = everything[1].message
    assert forwarded is not None and forwarded.forward_origin is not None
    assert [u.update_id for u in after_first] == [second]
    assert after_all == () and again == ()


async def arrived(fake: FakeTelegram, *, polls: int) -> None:
    """Wait until the fake has taken `polls` getUpdates calls in (a call is recorded only once answered)."""
    for _ in range(1000):
        if fake.polls >= polls:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the fake took {fake.polls} getUpdates calls in, not {polls}")


def test_a_second_poller_ends_the_waiting_getupdates_with_409_as_telegram_does(fake: FakeTelegram) -> None:
    async def two_pollers() -> list[httpx.Response]:
        async with (
            httpx.AsyncClient(base_url=f"{fake.base_url}{fake.token}") as first,
            httpx.AsyncClient(base_url=f"{fake.base_url}{fake.token}") as second,
        ):
            waiting = asyncio.create_task(first.post("/getUpdates", data={"timeout": "5"}))
            await arrived(fake, polls=1)
            later = await second.post("/getUpdates", data={"timeout": "0"})
            return [await waiting, later]

    fake.send_text("/start", user_id=42)
    fake.take_updates()  # nothing queued: the first poll waits
    waiting, later = asyncio.run(two_pollers())
    assert later.json() == {"ok": True, "result": []}
    assert waiting.status_code == 409
    assert waiting.json()["description"].startswith("Conflict: terminated by other getUpdates request")


def test_a_poll_whose_client_hung_up_is_no_conflict(fake: FakeTelegram) -> None:
    async def poller_gone_then_another() -> None:
        async with httpx.AsyncClient(base_url=f"{fake.base_url}{fake.token}") as gone:
            abandoned = asyncio.create_task(gone.post("/getUpdates", data={"timeout": "5"}))
            await arrived(fake, polls=1)
            abandoned.cancel()  # a worker that stopped or died: its connection closes
        await asyncio.sleep(0.1)
        async with httpx.AsyncClient(base_url=f"{fake.base_url}{fake.token}") as taker:
            assert (await taker.post("/getUpdates", data={"timeout": "1"})).status_code == 200

    asyncio.run(poller_gone_then_another())
    assert fake.polls == 2
    assert [call.status for call in fake.calls("getUpdates")] == [200], "the hung-up poll is answered to no one"


def test_group_command_with_bot_username(fake: FakeTelegram) -> None:
    fake.send_text("/digest@newsbot_test_bot now", user_id=42, chat_id=-300, chat_type="group")
    [update] = with_bot(fake, lambda bot: bot.get_updates())
    assert update.message is not None and update.message.chat.type == "group" and update.message.chat.id == -300
    assert update.message.entities[0].length == len("/digest@newsbot_test_bot")


def test_button_press_is_a_callback_query_on_the_latest_message(fake: FakeTelegram) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("👍", callback_data="like:1")]])
    send(fake, 42, "<b>Story</b>", parse_mode="HTML", reply_markup=keyboard)
    fake.press_button("like:1", user_id=42)

    async def action(bot: telegram.Bot) -> telegram.CallbackQuery:
        [update] = await bot.get_updates()
        assert update.callback_query is not None
        await update.callback_query.answer("Thanks")
        with pytest.raises(BadRequest, match=r"(?i)query is too old"):
            await update.callback_query.answer("again")
        return update.callback_query

    query = with_bot(fake, action)
    assert query.data == "like:1" and query.from_user.id == 42
    assert isinstance(query.message, telegram.Message) and query.message.message_id == 1
    assert query.message.text == "Story" and query.message.reply_markup == keyboard


def test_application_answers_start_command_end_to_end(fake: FakeTelegram, clock: ManualClock) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_user is not None
        await update.effective_message.reply_text(f"Welcome, {update.effective_user.first_name}!")

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer()
        await update.callback_query.edit_message_text(f"You chose {update.callback_query.data}")

    async def run() -> None:
        app = Application.builder().token(fake.token).base_url(fake.base_url).build()
        app.add_handler(CommandHandler("start", start))
        app.add_handler(CallbackQueryHandler(button))
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0.05, timeout=0)
            try:
                fake.send_text("/start", user_id=42, username="alice")
                [reply] = await asyncio.to_thread(fake.wait_for_messages, 42, 1)
                assert reply.text == "Welcome, Alice!"
                clock.advance(1.0)  # the per-chat limit: one message per second
                fake.press_button("sports", user_id=42)
                await asyncio.to_thread(fake.wait_for_messages, 42, 2)
            finally:
                await app.updater.stop()
                await app.stop()

    asyncio.run(run())
    assert [(m.text, m.edited) for m in fake.messages(42)] == [
        ("Welcome, Alice!", False),
        ("You chose sports", True),
    ]
    assert len(fake.calls("answerCallbackQuery")) == 1


def test_wait_for_messages_names_what_arrived(fake: FakeTelegram) -> None:
    send(fake, 5, "only one")
    with pytest.raises(AssertionError, match=r"expected 2 message\(s\) in chat 5 .* got 1: \['only one'\]"):
        fake.wait_for_messages(5, 2, timeout=0.2)


def test_fixture_serves_on_loopback(fake_telegram: FakeTelegram) -> None:
    assert fake_telegram.base_url.startswith("http://127.0.0.1:") and fake_telegram.base_url.endswith("/bot")
    assert with_bot(fake_telegram, lambda bot: bot.get_me()).username == "newsbot_test_bot"
