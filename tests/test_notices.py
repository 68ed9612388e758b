"""Messages to admins (alerts, approval previews) queued in the store reach them through the fake Bot API: sent
once, edited in place, given up on for an admin Telegram refuses, kept for later on a "retry after". Each runs on
both backends (`state_env`: SQLite, then PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.commands.notices import deliver_now
from bot.config import parse_config
from bot.store import open_store
from tests.conftest import FakeClock
from tests.fakes.telegram_api import FakeTelegram
from tests.test_commands_subscriber import ADMIN, NOW, running_bot

OTHER_ADMIN = 1001
pytestmark = pytest.mark.usefixtures("state_env")


def test_the_running_bot_sends_a_queued_notice_with_its_buttons_then_edits_it_in_place(tmp_path: Path) -> None:
    with running_bot(tmp_path, telegram={"admins": [ADMIN, OTHER_ADMIN]}) as chat:
        first = chat.store.add_notice(ADMIN, "<b>Feed down</b> since 12:00", NOW, buttons=[("Approve", "ap:1:a")])
        chat.store.add_notice(OTHER_ADMIN, "Feed down since 12:00", NOW)
        [sent] = chat.fake.wait_for_messages(ADMIN, 1)
        assert sent.text == "<b>Feed down</b> since 12:00" and sent.parse_mode == "HTML"
        assert sent.reply_markup == {"inline_keyboard": [[{"text": "Approve", "callback_data": "ap:1:a"}]]}
        assert [m.text for m in chat.fake.wait_for_messages(OTHER_ADMIN, 1)] == ["Feed down since 12:00"]

        chat.store.add_notice(ADMIN, "Approved by Ann at 12:05", NOW, replaces=first)
        chat.fake.wait_until(lambda: any(m.edited for m in chat.fake.messages(ADMIN)))
        [edited] = [m for m in chat.fake.messages(ADMIN) if m.edited]
        assert (edited.message_id, edited.text) == (sent.message_id, "Approved by Ann at 12:05")
        assert not edited.reply_markup  # the buttons are gone
        chat.fake.wait_until(lambda: chat.store.unsent_notices() == [])
        assert len([m for m in chat.fake.messages(ADMIN) if not m.edited]) == 1  # nothing sent twice


def test_once_delivers_what_waits_gives_up_on_a_blocked_admin_and_keeps_the_rest_after_retry_after(
    tmp_path: Path,
) -> None:
    fake = FakeTelegram()
    fake.start()
    try:
        config = parse_config(
            {"state": {"path": str(tmp_path / "s.sqlite")}, "telegram": {"base_url": fake.base_url, "admins": [1, 2]}}
        )
        store = open_store(config.state)
        fake.block(2)
        blocked = store.add_notice(2, "to a blocked admin", NOW)
        store.add_notice(1, "first", NOW)
        store.add_notice(1, "second", NOW)
        fake.retry_after(60, chat_id=1, after=0)
        clock = FakeClock(NOW)

        assert deliver_now(config.telegram, fake.token, store, clock) == 0  # a long 429 on "first" ends the pass
        assert [n.text for n in store.unsent_notices()] == ["first", "second"]
        assert deliver_now(config.telegram, fake.token, store, clock) == 2  # a 1 s wait between the two is waited
        assert [m.text for m in fake.messages(1)] == ["first", "second"]

        # The blocked admin's notice was given up on after one try, not retried every pass.
        assert len([r for r in fake.requests if r.params.get("chat_id") in (2, "2")]) == 1
        # An edit of a message that never arrived is tried as a message of its own (here refused in turn).
        store.add_notice(2, "edit of a message that never arrived", NOW, replaces=blocked)
        assert deliver_now(config.telegram, fake.token, store, clock) == 0
        assert [r.method for r in fake.requests if r.params.get("chat_id") in (2, "2")] == ["sendMessage"] * 2
        assert store.unsent_notices() == []
        assert deliver_now(config.telegram, fake.token, store, clock) == 0  # nothing waits: no call at all
        store.close()
    finally:
        fake.stop()


def test_an_edit_telegram_calls_unchanged_still_lets_a_later_edit_reach_the_same_message(tmp_path: Path) -> None:
    fake = FakeTelegram()
    fake.start()
    try:
        config = parse_config({"state": {"path": str(tmp_path / "s.sqlite")}, "telegram": {"base_url": fake.base_url}})
        store = open_store(config.state)
        clock = FakeClock(NOW)
        preview = store.add_notice(1, "Preview", NOW, buttons=[("Approve", "ap:1:a")])
        assert deliver_now(config.telegram, fake.token, store, clock) == 1
        same = store.add_notice(1, "Preview", NOW, buttons=[("Approve", "ap:1:a")], replaces=preview)
        assert deliver_now(config.telegram, fake.token, store, clock) == 0  # "message is not modified": done
        store.add_notice(1, "Approved by admin 1", NOW, replaces=same)
        assert deliver_now(config.telegram, fake.token, store, clock) == 1
        [message] = fake.messages(1)[-1:]
        assert (message.text, message.edited, message.reply_markup) == ("Approved by admin 1", True, None)
        assert len([m for m in fake.messages(1) if not m.edited]) == 1
        store.close()
    finally:
        fake.stop()
