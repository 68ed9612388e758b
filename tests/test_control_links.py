"""Getting a sign-in link to the control room: /login in a private chat, and `newsbot admin-link --admin ID`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import parse_config
from bot.control.auth import check_link
from bot.email.tokens import TokenSigner
from tests.test_commands_subscriber import ADMIN, USER, BotChat, running_bot

SECRET = "links-test-secret-0123456789"
PUBLIC = "https://news.example.com"
CONFIG = f"""
[output]
dry_run = true
[telegram]
admins = [{ADMIN}]
[web]
public_url = "{PUBLIC}"
[[routes]]
name = "all"
hashtags = ["*"]
channels = ["telegram"]
"""


def _link_in(text: str) -> str:
    start = text.index(f"{PUBLIC}/admin/login?token=")
    return text[start:].split()[0].split('"')[0]


def _is_a_good_link(link: str, now: datetime) -> bool:
    config = parse_config({"telegram": {"admins": [ADMIN]}, "web": {"public_url": PUBLIC}})
    token = link.split("token=", 1)[1]
    return check_link(config, TokenSigner(SECRET.encode()), token, now)[0] == ADMIN


@pytest.fixture
def bot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BotChat]:
    monkeypatch.setenv("NEWSBOT_SECRET_KEY", SECRET)
    with running_bot(tmp_path, web={"public_url": PUBLIC}) as chat:
        yield chat


def test_login_in_a_private_chat_sends_a_one_time_link_without_a_preview(bot: BotChat) -> None:
    [message] = bot.send("/login", user_id=ADMIN)
    assert message.link_preview_options == {"is_disabled": True}
    link = _link_in(message.text)
    assert _is_a_good_link(link.replace("&amp;", "&"), datetime.now(UTC))
    assert "works once" in message.text and "10 minutes" in message.text


def test_login_is_refused_to_a_non_admin_and_in_a_group(bot: BotChat) -> None:
    assert "only the bot's admins" in bot.ask("/login", user_id=USER)
    group = bot.ask("/login", user_id=ADMIN, chat_id=-100123, chat_type="supergroup")
    assert "only in a private chat" in group and "/admin/login" not in group


def test_login_without_a_secret_names_the_variable_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSBOT_SECRET_KEY", raising=False)
    with running_bot(tmp_path, web={"public_url": PUBLIC}) as chat:
        answer = chat.ask("/login", user_id=ADMIN)
    assert "No sign-in link" in answer and "$NEWSBOT_SECRET_KEY is not set" in answer


def test_login_lists_in_the_admins_help(bot: BotChat) -> None:
    assert "/login — A one-time link to the web control room" in bot.ask("/help", user_id=ADMIN)


def test_admin_link_prints_a_link_for_an_admin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("NEWSBOT_SECRET_KEY", SECRET)
    assert main(["admin-link", "--admin", str(ADMIN), "--config", str(tmp_path / "config.toml")]) == 0
    out = capsys.readouterr()
    assert _is_a_good_link(out.out.strip(), datetime.now(UTC)) and "works once" in out.err


@pytest.mark.parametrize(
    ("admin", "config", "secret", "said"),
    [
        (USER, CONFIG, SECRET, f"{USER} is not in [telegram] admins"),
        (ADMIN, CONFIG.replace(PUBLIC, ""), SECRET, "[web] public_url is empty"),
        (ADMIN, CONFIG, "", "$NEWSBOT_SECRET_KEY is not set"),
        (ADMIN, CONFIG, "sh0rt-x", "$NEWSBOT_SECRET_KEY is shorter than 16 bytes"),
    ],
)
def test_admin_link_refuses_with_a_message_that_says_what_to_do(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    admin: int,
    config: str,
    secret: str,
    said: str,
) -> None:
    (tmp_path / "config.toml").write_text(config, encoding="utf-8")
    monkeypatch.setenv("NEWSBOT_SECRET_KEY", secret)
    assert main(["admin-link", "--admin", str(admin), "--config", str(tmp_path / "config.toml")]) == 2
    out = capsys.readouterr()
    assert said in out.err and out.out == ""
    if secret:
        assert secret not in out.err
