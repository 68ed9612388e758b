"""The approval queue end to end: a route with approval = true holds its articles; each admin gets a preview with
Approve / Edit / Skip through the fake Bot API; the first decision counts, the other previews say who decided;
forged, stale and non-admin presses change nothing; a restart loses nothing and sends nothing unapproved."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import approvals
from bot.app import App
from bot.config import parse_config
from bot.ingest import Ingest
from bot.models import Article
from bot.render import build_renderer
from bot.store import HELD, PENDING, SKIPPED, SqliteStore, open_store
from bot.telegram_html import visible_text
from tests.conftest import FakeClock
from tests.store_sql import approval_events
from tests.test_commands_subscriber import ADMIN, NOW, USER, BotChat, add_article, running_bot

OTHER_ADMIN = 1001
ROUTE: dict[str, Any] = {"name": "desk", "hashtags": ["*"], "channels": ["telegram", "x"], "approval": True}


def held_bot(tmp_path: Path, **route: Any) -> Any:
    return running_bot(
        tmp_path, clock=lambda: NOW, telegram={"admins": [ADMIN, OTHER_ADMIN]}, routes=[{**ROUTE, **route}]
    )


def route_and_preview(chat: BotChat, article: Article) -> int:
    """Route the article as polling does and queue the previews as the cycle does; returns the approval id."""
    assert Ingest(chat.store, chat.config).route(article, NOW) == 2
    approvals.send_previews(chat.store, build_renderer(chat.config), chat.config, NOW)
    [approval] = chat.store.waiting_approvals()
    return approval.id


def states(store: SqliteStore, key: str) -> set[str]:
    return {row.state for row in store.rows_for_article(key)}


def answers(chat: BotChat, count: int) -> list[str]:
    chat.fake.wait_until(lambda: len(chat.fake.calls("answerCallbackQuery")) >= count)
    return [str(call.params.get("text", "")) for call in chat.fake.calls("answerCallbackQuery")]


def test_parse_button_takes_only_its_own_shape() -> None:
    assert approvals.parse_button("ap:12:a") == (12, "a")
    assert approvals.parse_button("ap:7:e") == (7, "e")
    forged = ["ap:0:a", "ap:-1:a", "ap:1:x", "ap:1:a:", "ap:1", "ap::a", "bc:yes:1", "ap:1:a ", " ap:1:a", "ap:１:a",
              "ap:99999999999999999999:a", "ap:1:A", "", "ap:1\n:a"]  # fmt: skip
    assert [approvals.parse_button(data) for data in forged] == [None] * len(forged)
    assert all(len(data.encode()) <= 64 for _label, data in approvals.buttons(10**17))


def test_each_admin_gets_one_preview_and_of_two_simultaneous_presses_one_decides(
    tmp_path: Path, state_env: str
) -> None:
    with held_bot(tmp_path) as chat:
        article = add_article(chat.store, "a1", "Council <votes> & budget", ("Politics",))
        approval_id = route_and_preview(chat, article)
        assert states(chat.store, "a1") == {HELD}
        assert chat.store.due_article_keys("telegram", NOW, 10) == []  # the drain sees nothing

        [mine] = chat.fake.wait_for_messages(ADMIN, 1)
        [theirs] = chat.fake.wait_for_messages(OTHER_ADMIN, 1)
        shown = visible_text(mine.text)
        assert "Council <votes> & budget" in shown and "route desk" in shown
        assert "telegram (Telegram HTML, " in shown and "x (X text, " in shown and "/280 weighted characters)" in shown
        assert mine.reply_markup == {
            "inline_keyboard": [[{"text": label, "callback_data": f"ap:{approval_id}:{action}"}]
                                for label, action in (("Approve", "a"), ("Edit", "e"), ("Skip", "s"))]
        }  # fmt: skip

        chat.fake.press_button(f"ap:{approval_id}:a", user_id=ADMIN)
        chat.fake.press_button(f"ap:{approval_id}:s", user_id=OTHER_ADMIN)  # at once, in another chat
        said = answers(chat, 2)

        approval = chat.store.get_approval(approval_id)
        assert approval is not None and approval.decision in ("approved", "skipped")
        winner, loser = (ADMIN, OTHER_ADMIN) if approval.decision == "approved" else (OTHER_ADMIN, ADMIN)
        assert approval.decided_by == str(winner)
        assert sorted(said) == sorted([f"{approval.decision.capitalize()}.",
                                       f"Already {approval.decision} by admin {winner}."])  # fmt: skip
        assert states(chat.store, "a1") == ({PENDING} if approval.decision == "approved" else {SKIPPED})
        assert [e[:2] for e in approval_events(chat.store, approval_id)] == [("held", ""), (approval.decision,
                                                                                            str(winner))]  # fmt: skip
        for admin, preview in ((ADMIN, mine), (OTHER_ADMIN, theirs)):
            chat.fake.wait_until(lambda a=admin: any(m.edited for m in chat.fake.messages(a)))
            [edited] = [m for m in chat.fake.messages(admin) if m.edited]
            assert edited.message_id == preview.message_id and not edited.reply_markup
            assert f"{approval.decision.capitalize()} by admin {winner} at 2026-11-23 12:00 UTC" in visible_text(
                edited.text
            )
        assert loser in (ADMIN, OTHER_ADMIN)


def test_forged_stale_and_non_admin_presses_change_nothing(tmp_path: Path) -> None:
    with held_bot(tmp_path) as chat:
        approval_id = route_and_preview(chat, add_article(chat.store, "a1", "Budget"))
        chat.fake.wait_for_messages(ADMIN, 1)
        chat.fake.press_button(f"ap:{approval_id}:a", user_id=USER, chat_id=ADMIN)  # not an admin
        chat.fake.press_button(f"ap:{approval_id + 1}:a", user_id=ADMIN)  # no such approval
        chat.fake.press_button(f"ap:{approval_id}:z", user_id=ADMIN)  # forged action
        said = answers(chat, 3)
        forged = "That button is not one of mine; nothing changed."
        assert said == ["Sorry, only the bot's admins can use that.", forged, forged]
        assert states(chat.store, "a1") == {HELD} and chat.store.waiting_approvals() != []

        chat.fake.press_button(f"ap:{approval_id}:s", user_id=ADMIN)
        chat.fake.press_button(f"ap:{approval_id}:a", user_id=ADMIN)  # a stale preview: already decided
        assert answers(chat, 5)[3:] == ["Skipped.", f"Already skipped by admin {ADMIN}."]
        assert states(chat.store, "a1") == {SKIPPED}
        [row] = [r for r in chat.store.rows_for_article("a1") if r.channel == "x"]
        assert row.last_error == f"skipped by admin {ADMIN} at 2026-11-23 12:00 UTC"
        # The preview (edited in place) and the non-admin's refusal; the admin's presses sent no message.
        assert len(chat.fake.messages(ADMIN)) == 2


def test_edit_checks_every_channel_shows_the_new_preview_and_approve_publishes_it(tmp_path: Path) -> None:
    with held_bot(tmp_path) as chat:
        approval_id = route_and_preview(chat, add_article(chat.store, "a1", "Budget"))
        chat.fake.wait_for_messages(ADMIN, 1)
        chat.fake.press_button(f"ap:{approval_id}:e", user_id=ADMIN)
        assert "Send me the new summary for Budget" in visible_text(chat.fake.wait_for_messages(ADMIN, 2)[-1].text)

        too_long = "word " * 80
        said = chat.ask(too_long, user_id=ADMIN)
        assert "does not fit" in said and "x: " in said and "over its limit of 280" in said
        assert "telegram" not in said.split("does not fit")[1]  # 400 characters fit a Telegram post
        assert chat.store.get_article("a1").summary == ""  # type: ignore[union-attr]

        assert "Summary saved" in chat.ask("The council agreed the budget 5 to 4.", user_id=ADMIN)
        chat.fake.wait_until(lambda: chat.store.unsent_notices() == [] and len(chat.fake.messages(ADMIN)) >= 6)
        new_preview = chat.fake.messages(ADMIN)[-1]
        assert "The council agreed the budget 5 to 4." in new_preview.text and new_preview.reply_markup
        assert "summary edited" in visible_text(new_preview.text)
        other = [m for m in chat.fake.messages(OTHER_ADMIN) if m.edited]
        assert other and "The council agreed the budget 5 to 4." in other[-1].text  # their preview shows it too
        assert "/help" in chat.ask("hello", user_id=ADMIN)  # the edit is over: plain text is plain text again

        chat.fake.press_button(f"ap:{approval_id}:a", user_id=ADMIN, message_id=new_preview.message_id)
        assert answers(chat, 2)[-1] == "Approved."
        post = build_renderer(chat.config).render(chat.store.get_article("a1"), "x")  # type: ignore[arg-type]
        assert "The council agreed the budget 5 to 4." in post.text
        assert [e[0] for e in approval_events(chat.store, approval_id)] == ["held", "edited", "approved"]


def test_a_summary_too_long_says_how_far_over_in_each_channels_own_unit(tmp_path: Path) -> None:
    route = {"name": "desk", "hashtags": ["*"], "channels": ["telegram", "x", "bluesky"], "approval": True}
    tables = {"routes": [route], "bluesky": {"handle": "a.bsky.social"}, "telegram": {"admins": [ADMIN]}}
    config = parse_config({"state": {"path": str(tmp_path / "state.sqlite")}, **tables}, path=tmp_path / "config.toml")
    article = Article("a1", "feed", "Budget", "https://news.example.com/a", "", (), None, NOW)
    problems = approvals.summary_problems(build_renderer(config), config, article, "desk", "👍🏽 " * 200)
    assert [problem.split(" over ")[0].split(" ", 2)[2] for problem in problems] == ["weighted characters", "graphemes"]
    assert problems[1].startswith("bluesky: ") and problems[1].endswith(" graphemes over its limit of 300")


def test_pending_lists_what_waits_oldest_first(tmp_path: Path) -> None:
    with held_bot(tmp_path) as chat:
        assert chat.ask("/pending", user_id=ADMIN) == "Nothing waits for approval."
        for key, title in (("a1", "First story"), ("a2", "Second story")):
            Ingest(chat.store, chat.config).route(add_article(chat.store, key, title), NOW)
        said = chat.ask("/pending", user_id=ADMIN)
        assert said.index("First story") < said.index("Second story")
        assert "route desk, waiting since 2026-11-23 12:00 UTC, key a1" in said
        assert "only the bot's admins" in chat.ask("/pending", user_id=USER)


def app_config(tmp_path: Path, **route: Any) -> Any:
    return parse_config(
        {
            "state": {"path": str(tmp_path / "state.sqlite")},
            "output": {"dir": str(tmp_path / "out"), "dry_run": True},
            "telegram": {"admins": [ADMIN, OTHER_ADMIN]},
            "routes": [{**ROUTE, **route}],
        },
        path=tmp_path / "config.toml",
    )


def sent_files(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / "out").rglob("*") if p.is_file() and p.parent.name != "email")


def test_a_restart_while_articles_wait_loses_nothing_and_sends_nothing_unapproved(tmp_path: Path) -> None:
    config = app_config(tmp_path)
    clock = FakeClock(NOW)
    with App(config, clock=clock) as app:
        app.ingest.route(add_article(app.store, "a1", "Budget"), NOW)
        assert app.drain().sent == 0
        assert len(app.store.unsent_notices()) == 2  # one preview per admin
    assert sent_files(tmp_path) == []

    clock.advance(days=3)
    with App(config, clock=clock) as app:  # restarted: still held, no second preview
        assert app.drain().sent == 0
        assert len(app.store.unsent_notices()) == 2 and states(app.store, "a1") == {HELD}
        [approval] = app.store.waiting_approvals()
        assert approvals.decide(app.store, app.renderer, config, approval.id, "approved", str(ADMIN), clock()) is None
        assert app.drain().sent == 2
    assert len(sent_files(tmp_path)) == 2


@pytest.mark.parametrize(("on_timeout", "sent", "state"), [("skip", 0, SKIPPED), ("approve", 2, "sent")])
def test_on_timeout_decides_after_the_deadline(tmp_path: Path, on_timeout: str, sent: int, state: str) -> None:
    config = app_config(tmp_path, approval_timeout="6h", on_timeout=on_timeout)
    clock = FakeClock(NOW)
    with App(config, clock=clock) as app:
        app.ingest.route(add_article(app.store, "a1", "Budget"), NOW)
        assert app.drain().sent == 0
        for preview in app.store.unsent_notices():  # as the chat bot would have sent them
            app.store.notice_sent(preview.id, 100 + preview.id, clock())
        clock.advance(hours=5, minutes=59)
        assert app.drain().sent == 0 and states(app.store, "a1") == {HELD}
        clock.advance(minutes=1)
        assert app.drain().sent == sent
        assert states(app.store, "a1") == {state}
        edits = [n for n in app.store.unsent_notices() if n.replaces is not None]
        decided = "approved" if on_timeout == "approve" else "skipped"
        assert [visible_text(n.text).splitlines()[-1] for n in edits] == [
            f"Timed out: {decided} at 2026-11-23 18:00 UTC."
        ] * 2


def test_route_approval_keys_are_checked(tmp_path: Path) -> None:
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match=r"routes\[0\]\.approval_timeout: “soon” is not a duration"):
        app_config(tmp_path, approval_timeout="soon")
    with pytest.raises(ConfigError, match=r"routes\[0\]\.on_timeout: only applies with approval_timeout"):
        app_config(tmp_path, on_timeout="approve")
    with pytest.raises(ConfigError, match=r"routes\[0\]\.on_timeout: must be"):
        app_config(tmp_path, approval_timeout="2d", on_timeout="later")
    with pytest.raises(ConfigError, match=r"routes\[0\]\.approval_timeout: only applies with approval = true"):
        app_config(tmp_path, approval=False, approval_timeout="30m")
    with pytest.raises(ConfigError, match=r"routes\[0\]\.approval: needs admins to decide: list their Telegram"):
        parse_config({"routes": [ROUTE]})


def test_subscribers_and_watchers_get_a_held_article_only_once_it_is_approved(tmp_path: Path) -> None:
    with held_bot(tmp_path) as chat:
        chat.store.subscribe("telegram", "77", NOW)
        chat.store.add_subscriber_tags("telegram", "77", ["Politics"], NOW)
        chat.store.subscribe("telegram", "78", NOW)
        chat.store.add_subscriber_words("telegram", "78", "watch", ["budget"])
        article = add_article(chat.store, "a1", "Council budget", ("Politics",))
        assert Ingest(chat.store, chat.config).route(article, NOW) == 4  # the channel, X, two subscribers
        assert {row.recipient: row.state for row in chat.store.rows_for_article("a1")} == {
            "channel": HELD, "timeline": HELD, "77": HELD, "78": HELD
        }  # fmt: skip
        assert chat.store.due_article_keys("telegram", NOW, 10) == []

        [approval] = chat.store.waiting_approvals()
        approvals.send_previews(chat.store, build_renderer(chat.config), chat.config, NOW)
        chat.fake.wait_for_messages(ADMIN, 1)
        chat.fake.press_button(f"ap:{approval.id}:a", user_id=ADMIN)
        answers(chat, 1)
        assert {row.state for row in chat.store.rows_for_article("a1")} == {PENDING}


def test_the_digest_takes_a_held_article_only_once_approved_and_never_a_skipped_one(
    tmp_path: Path, state_env: str
) -> None:
    config = app_config(tmp_path, channels=["telegram", "email"])
    store = open_store(config.state)
    renderer = build_renderer(config)
    for key in ("a1", "a2"):
        Ingest(store, config).route(add_article(store, key, f"Story {key}"), NOW)
    week = (NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert store.email_articles(*week) == []  # both held

    first, second = store.waiting_approvals()
    approvals.decide(store, renderer, config, second.id, "skipped", str(ADMIN), NOW)
    assert store.email_articles(*week) == []  # skipped: never in a digest

    # Approved after a digest had gone out: in the next digest, which covers the time of the approval.
    later = NOW + timedelta(days=3)
    approvals.decide(store, renderer, config, first.id, "approved", str(ADMIN), later)
    assert [a.key for a in store.email_articles(NOW + timedelta(days=1), later + timedelta(hours=1))] == ["a1"]
    assert store.email_articles(*week) == []  # not counted again in the window it was first seen in
    store.close()


def test_a_subscriber_who_stops_or_mutes_while_an_article_waits_gets_nothing_once_it_is_approved(
    tmp_path: Path, state_env: str
) -> None:
    config = app_config(tmp_path)
    store = open_store(config.state)
    for chat in ("71", "72", "73"):
        store.subscribe("telegram", chat, NOW)
    Ingest(store, config).route(add_article(store, "a1", "Flood warning for the valley"), NOW)
    assert {r.recipient for r in store.rows_for_article("a1") if r.state == HELD} >= {"71", "72", "73"}

    store.deactivate_subscriber("telegram", "71", "stopped", NOW)  # /stop while it waits
    store.add_subscriber_words("telegram", "72", "mute", ["flood"])  # /mute flood while it waits
    [approval] = store.waiting_approvals()
    approvals.decide(store, build_renderer(config), config, approval.id, "approved", str(ADMIN), NOW)

    rows = {r.recipient: r for r in store.rows_for_article("a1")}
    assert rows["73"].state == PENDING and rows["channel"].state == PENDING
    assert (rows["71"].state, rows["72"].state) == (SKIPPED, SKIPPED)
    assert "muted" in rows["72"].last_error and "stopped" in rows["71"].last_error
    store.close()


def test_a_muted_word_in_the_summary_an_admin_wrote_keeps_the_article_from_that_subscriber(
    tmp_path: Path, state_env: str
) -> None:
    config = app_config(tmp_path)
    store = open_store(config.state)
    for chat in ("71", "72"):
        store.subscribe("telegram", chat, NOW)
    store.add_subscriber_words("telegram", "72", "mute", ["flood"])
    Ingest(store, config).route(add_article(store, "a1", "Storm over the valley"), NOW)
    [approval] = store.waiting_approvals()
    assert store.edit_approval(approval.id, "Rivers burst their banks: a flood warning is out.", str(ADMIN), NOW)
    approvals.decide(store, build_renderer(config), config, approval.id, "approved", str(ADMIN), NOW)

    rows = {r.recipient: r for r in store.rows_for_article("a1")}
    assert rows["71"].state == PENDING
    assert rows["72"].state == SKIPPED and "muted" in rows["72"].last_error
    store.close()


def test_post_and_skip_decide_an_article_that_waits_and_post_reaches_a_later_subscriber(tmp_path: Path) -> None:
    with held_bot(tmp_path) as chat:
        route_and_preview(chat, add_article(chat.store, "a1", "To skip"))
        chat.fake.wait_for_messages(ADMIN, 1)
        assert "Skipped 2 pending message(s)" in chat.ask("/skip a1", user_id=ADMIN)
        assert states(chat.store, "a1") == {SKIPPED} and chat.store.waiting_approvals() == []
        chat.fake.wait_until(lambda: any("Skipped by admin" in m.text for m in chat.fake.messages(OTHER_ADMIN)))

        Ingest(chat.store, chat.config).route(add_article(chat.store, "a2", "To post"), NOW)
        assert "1 article(s) wait for approval: /pending" in chat.ask("/queue", user_id=ADMIN)
        said = chat.ask("/post a2", user_id=ADMIN)
        assert "approved: it waited for approval" in said and "goes out within seconds" in said
        assert states(chat.store, "a2") == {PENDING}
        [approval] = chat.store.approvals_for_article("a2")
        assert (approval.decision, approval.decided_by) == ("approved", str(ADMIN))

        for row in chat.store.rows_for_article("a2"):
            chat.store.mark_sent(row.id, "m1", NOW)  # as the drain does
        chat.store.subscribe("telegram", "99", NOW)  # joins after the approval: /post sends to them too, not held
        chat.ask("/post a2", user_id=ADMIN)
        assert {r.recipient: r.state for r in chat.store.rows_for_article("a2")}["99"] == PENDING


def test_with_x_threads_an_edit_longer_than_a_post_is_taken_whole_unless_one_sentence_is_too_long(
    tmp_path: Path,
) -> None:
    tables = {"telegram": {"admins": [ADMIN, OTHER_ADMIN]}, "routes": [ROUTE], "x": {"thread": True}}
    with running_bot(tmp_path, clock=lambda: NOW, **tables) as chat:
        approval_id = route_and_preview(chat, add_article(chat.store, "a1", "Budget"))
        chat.fake.wait_for_messages(ADMIN, 1)
        chat.fake.press_button(f"ap:{approval_id}:e", user_id=ADMIN)
        chat.fake.wait_for_messages(ADMIN, 2)

        one_long_sentence = "The council " + "met and talked " * 20 + "until late."
        said = chat.ask(one_long_sentence, user_id=ADMIN)
        assert "does not fit" in said  # a thread would cut it, so the admin is told which sentence and what to do
        assert "x: the sentence “The council met and talked met and talk…” is 43 weighted characters" in said
        assert "over the limit of 280 of one post of the thread; split it into shorter sentences" in said

        summary = " ".join(f"Sentence {n} of the council's long budget debate, told in full by the desk." for n in
                           range(1, 8))  # fmt: skip
        assert len(summary) > 280
        assert "Summary saved" in chat.ask(summary, user_id=ADMIN)
        post = build_renderer(chat.config).render(chat.store.get_article("a1"), "x")  # type: ignore[arg-type]
        assert len(post.parts) > 1 and " ".join(post.parts).count("told in full by the desk.") == 7  # all of it


def test_an_approved_article_of_a_route_with_slots_waits_for_the_next_slot(tmp_path: Path) -> None:
    config = app_config(tmp_path, at=["09:00"], timezone="UTC")  # the clock says 12:00: the slot is tomorrow's
    clock = FakeClock(NOW)
    with App(config, clock=clock) as app:
        app.ingest.route(add_article(app.store, "a1", "Budget"), NOW)
        [approval] = app.store.waiting_approvals()
        assert approvals.decide(app.store, app.renderer, config, approval.id, "approved", str(ADMIN), clock()) is None
        rows = app.store.rows_for_article("a1")
        assert {(row.state, row.not_before) for row in rows} == {(PENDING, NOW.replace(hour=9) + timedelta(days=1))}
        assert app.drain().sent == 0
        clock.advance(hours=21)
        assert app.drain().sent == 2


def test_the_preview_in_chat_shows_every_channel_of_the_route_the_digest_and_the_social_networks_included(
    tmp_path: Path,
) -> None:
    channels = ["telegram", "x", "mastodon", "bluesky", "email"]
    tables = {"mastodon": {"api_base_url": "https://mastodon.example"}, "bluesky": {"handle": "news.example.com"}}
    route = {**ROUTE, "channels": channels}
    with running_bot(tmp_path, clock=lambda: NOW, telegram={"admins": [ADMIN]}, routes=[route], **tables) as chat:
        article = add_article(chat.store, "a1", "Council budget", text="The council agreed the budget on Tuesday.")
        Ingest(chat.store, chat.config).route(article, NOW)
        approvals.send_previews(chat.store, build_renderer(chat.config), chat.config, NOW)
        [preview] = chat.fake.wait_for_messages(ADMIN, 1)
    shown = visible_text(preview.text)
    for section in ("telegram (Telegram HTML, ", "x (X text, ", "mastodon (Mastodon text, ", "bluesky (Bluesky text, ",
                    "email (plain text, "):  # fmt: skip
        assert section in shown, shown
    assert "/280 weighted characters)" in shown and "/500 characters)" in shown and "/300 graphemes)" in shown
    digest = shown.split("email (plain text, ")[1]
    assert "The council agreed the budget on Tuesday." in digest  # the digest's summary of the article


def test_an_edit_is_checked_against_telegrams_4096_and_1024_under_an_image(tmp_path: Path) -> None:
    route = {"name": "desk", "hashtags": ["*"], "channels": ["telegram"], "approval": True}
    config = app_config(tmp_path, **route)
    renderer = build_renderer(config)
    plain = Article("a1", "feed", "Budget", "https://news.example.com/a", "", (), None, NOW)
    pictured = replace(plain, image_url="https://news.example.com/a.jpg")
    summary = "The council agreed the budget. " * 50  # 1,550 characters
    assert approvals.summary_problems(renderer, config, plain, "desk", summary) == []
    [problem] = approvals.summary_problems(renderer, config, pictured, "desk", summary)
    assert problem.startswith("telegram: ") and problem.endswith(" characters over its limit of 1024")
    [problem] = approvals.summary_problems(renderer, config, plain, "desk", summary * 3)
    assert problem.startswith("telegram: ") and problem.endswith(" characters over its limit of 4096")
