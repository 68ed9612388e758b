"""Security: admin commands only for admins, link tokens that cannot be forged or replayed into a change, and
secrets that never show in logs, errors, /status or check-config output."""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from bot.commands.admin import ADMIN_COMMANDS
from bot.email.tokens import PURPOSES, TokenSigner
from bot.email.web import build_app
from bot.models import Article
from bot.store import OutboxItem, SqliteStore, open_store
from bot.telegram_html import visible_text
from tests.conftest import REPO, FakeClock, confirmation_of, news_item, rss
from tests.fakes.telegram_api import FakeTelegram
from tests.test_commands_subscriber import ADMIN, NOW, USER, BotChat, running_bot

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

OTHER = 4242
GROUP = -5555


def snapshot(path: Path) -> list[str]:
    """Every row of every table of the state file, as SQL."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return list(db.iterdump())


# --- admin commands as someone who is not allowed ----------------------------------------------------------

# Arguments that would change the store if the command ran.
ADMIN_ARGUMENTS = {
    "preview": "sec000000001",
    "post": "sec000000001",
    "skip": "sec000000001",
    "addsource": "http://127.0.0.1:9/feed.xml #Tag",
    "removesource": "chat-added",
    "pausesource": "chat-added",
    "resumesource": "chat-added",
    "broadcast": "Hello everyone",
    "digest": "send",
}
ATTEMPTS = {
    "non-admin in private": {"user_id": USER},
    "admin in a group": {"user_id": ADMIN, "chat_id": GROUP, "chat_type": "group"},
    "admin in a supergroup": {"user_id": ADMIN, "chat_id": GROUP - 1, "chat_type": "supergroup"},
    "admin forwarding": {"user_id": ADMIN, "forward": True},
    "admin's command forwarded by another": {"user_id": USER, "forward": True},
    "non-admin with the admin's username": {"user_id": OTHER, "username": "admin"},
}
REFUSALS = {
    "non-admin in private": "only the bot's admins",
    "admin in a group": "only in a private chat",
    "admin in a supergroup": "only in a private chat",
    "admin forwarding": "forwarded command does not count",
    "admin's command forwarded by another": "forwarded command does not count",
    "non-admin with the admin's username": "only the bot's admins",
}


@pytest.fixture(scope="module")
def admin_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotChat]:
    tmp = tmp_path_factory.mktemp("admin")
    # Two users send every admin command several times within seconds: above the per-user command limit (tested
    # in test_commands_concurrency), which is raised here so that each attempt meets the admin check.
    with running_bot(tmp, telegram={"commands_per_minute": 1000}) as bot:
        from datetime import timedelta

        from bot.store import AddedSource

        article = Article(
            key="sec000000001", source="s", title="Pending story", link="https://e.com/1", text="Body.",
            hashtags=("World",), published=NOW, first_seen=NOW,
        )  # fmt: skip
        bot.store.add_article(article)
        bot.store.enqueue([OutboxItem(article.key, "x", "timeline", "all", "", NOW + timedelta(days=1))], NOW)
        bot.store.add_source(AddedSource("chat-added", "https://e.com/feed", ("World",), str(ADMIN), NOW))
        bot.store.subscribe("telegram", str(USER), NOW)
        yield bot


@pytest.mark.parametrize("attempt", list(ATTEMPTS))
@pytest.mark.parametrize("command", [c.name for c in ADMIN_COMMANDS])
def test_every_admin_command_is_refused_logged_and_changes_nothing(
    admin_bot: BotChat, caplog: pytest.LogCaptureFixture, command: str, attempt: str
) -> None:
    caplog.set_level(logging.WARNING, logger="newsbot.commands")
    before = snapshot(admin_bot.config.state.path)

    options = ATTEMPTS[attempt]
    answer = admin_bot.ask(f"/{command} {ADMIN_ARGUMENTS.get(command, '')}".strip(), **options)

    assert REFUSALS[attempt] in answer
    assert snapshot(admin_bot.config.state.path) == before
    assert f"event=admin_refused user_id={options['user_id']}" in caplog.text
    assert f"command={command}" in caplog.text


def test_a_broadcast_confirmation_pressed_by_anyone_else_queues_nothing(admin_bot: BotChat) -> None:
    [confirm] = admin_bot.send("/broadcast Only admins may send this", user_id=ADMIN)
    assert confirm.reply_markup is not None
    [[send, _cancel]] = confirm.reply_markup["inline_keyboard"]
    before = snapshot(admin_bot.config.state.path)
    for user in (USER, OTHER):
        count = len(admin_bot.fake.messages(ADMIN))
        admin_bot.fake.press_button(send["callback_data"], user_id=user, chat_id=ADMIN)
        [refusal] = admin_bot.fake.wait_for_messages(ADMIN, count + 1)[count:]
        assert "only the bot's admins" in refusal.text
    assert snapshot(admin_bot.config.state.path) == before
    print(f"\nreliability: admin commands {len(ADMIN_COMMANDS)} × refused attempts {len(ATTEMPTS)}")


# --- link tokens through the web app -----------------------------------------------------------------------

KEY = b"reliability-web-secret-0123456789"
READER = "reader@example.org"


@pytest.fixture
def web(tmp_path: Path, make_config: object) -> Iterator[tuple[TestClient, SqliteStore, TokenSigner, FakeClock, Path]]:
    config = make_config(web={"public_url": "https://news.example.com"}, email={"sender": "News <n@example.com>"})  # type: ignore[operator]
    state = tmp_path / "state.sqlite"
    clock = FakeClock()
    signer = TokenSigner(KEY)
    app = build_app(
        config,
        store_factory=lambda: open_store(state),
        signer=signer,
        send_mail=lambda m: None,
        make_confirmation=confirmation_of(config),
        clock=clock,
    )
    store = open_store(state)
    store.request_email_subscription(READER, ["Climate"], clock())
    store.confirm_email(READER, clock())
    store.request_email_subscription("pending@example.org", ["World"], clock())
    with TestClient(app, base_url="https://news.example.com") as client:
        yield client, store, signer, clock, state
    store.close()


def _flip(text: str, index: int) -> str:
    return text[:index] + ("B" if text[index] != "B" else "C") + text[index + 1 :]


def bad_tokens(signer: TokenSigner, purpose: str, address: str, clock: FakeClock) -> dict[str, str]:
    good = signer.make(purpose, address, clock(), ttl=PURPOSES[purpose])
    payload, signature = good.split(".")
    other = "confirm" if purpose != "confirm" else "unsubscribe"
    forged = TokenSigner(b"an-attacker-guessed-this-secret!!")
    expired = signer.make(purpose, address, clock.now.replace(year=clock.now.year - 1), ttl=PURPOSES[purpose] or None)
    tokens = {
        "forged with another key": forged.make(purpose, address, clock(), ttl=PURPOSES[purpose]),
        "other purpose": signer.make(other, address, clock(), ttl=PURPOSES[other]),
        "payload of another address": signer.make(purpose, "x@example.org", clock(), ttl=None).split(".")[0]
        + "."
        + signature,
        "truncated signature": payload + "." + signature[:-4],
        "no signature": payload + ".",
        "no payload": "." + signature,
        "two dots": good + ".x",
        "padding added": good + "==",
        "spaces": " " + good + " ",
        "upper-cased": good.upper(),
        "huge": good * 50,
        "markup": "<script>alert(1)</script>",
    }
    for index in range(0, len(payload), max(1, len(payload) // 8)):
        tokens[f"payload byte {index} changed"] = _flip(payload, index) + "." + signature
    for index in range(0, len(signature), max(1, len(signature) // 4)):
        tokens[f"signature byte {index} changed"] = payload + "." + _flip(signature, index)
    if PURPOSES[purpose] is not None:
        tokens["expired"] = expired
    return tokens


@pytest.mark.parametrize(
    ("purpose", "method", "path", "address"),
    [
        ("confirm", "GET", "/confirm", "pending@example.org"),
        ("confirm", "POST", "/confirm", "pending@example.org"),
        ("unsubscribe", "GET", "/unsubscribe", READER),
        ("unsubscribe", "POST", "/unsubscribe", READER),
        ("preferences", "GET", "/preferences", READER),
        ("preferences", "POST", "/preferences", READER),
    ],
)
def test_forged_tampered_expired_and_misused_tokens_get_400_and_change_nothing(
    web: tuple[TestClient, SqliteStore, TokenSigner, FakeClock, Path],
    purpose: str,
    method: str,
    path: str,
    address: str,
) -> None:
    client, _store, signer, clock, state = web
    before = snapshot(state)
    tokens = bad_tokens(signer, purpose, address, clock)
    for kind, token in tokens.items():
        form = {"List-Unsubscribe": "One-Click", "hashtags": "#Hijacked"} if method == "POST" else None
        answer = client.request(method, path, params={"token": token}, data=form)
        assert answer.status_code == 400, (kind, answer.status_code)
        assert "<script>" not in answer.text
    assert snapshot(state) == before, "a bad token changed the state file"


def test_replaying_a_used_unsubscribe_link_is_harmless(
    web: tuple[TestClient, SqliteStore, TokenSigner, FakeClock, Path],
) -> None:
    client, store, signer, clock, state = web
    token = signer.make("unsubscribe", READER, clock(), ttl=None)
    assert client.post("/unsubscribe", params={"token": token}).status_code == 200
    after_first = snapshot(state)
    for _ in range(3):
        clock.advance(days=1)
        assert (
            client.post("/unsubscribe", params={"token": token}, data={"List-Unsubscribe": "One-Click"}).status_code
            == 200
        )
        assert client.get("/unsubscribe", params={"token": token}).status_code == 200
    assert snapshot(state) == after_first
    subscriber = store.email_subscriber(READER)
    assert subscriber is not None and not subscriber.active


def test_replaying_an_old_confirm_link_does_not_resubscribe_someone_who_left(
    web: tuple[TestClient, SqliteStore, TokenSigner, FakeClock, Path],
) -> None:
    client, store, signer, clock, _state = web
    confirm = signer.make("confirm", READER, clock(), ttl=PURPOSES["confirm"])
    clock.advance(hours=1)
    assert (
        client.post("/unsubscribe", params={"token": signer.make("unsubscribe", READER, clock(), ttl=None)}).status_code
        == 200
    )
    clock.advance(hours=1)
    for method in ("GET", "POST"):  # opening the link shows a button; pressing it must not bring them back either
        answer = client.request(method, "/confirm", params={"token": confirm})
        assert "was unsubscribed after this link was sent" in answer.text
    subscriber = store.email_subscriber(READER)
    assert subscriber is not None and not subscriber.active


# --- secrets never shown -----------------------------------------------------------------------------------

DKIM_PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANSECRETDKIMKEYMATERIAL0123456789abcdef\n-----END PRIVATE KEY-----"
SECRETS = {
    "NEWSBOT_TELEGRAM_TOKEN": "SECRET-TELEGRAM-123456:ABCDEF",
    "NEWSBOT_X_CONSUMER_KEY": "SECRET-X-CONSUMER-KEY-1a2b",
    "NEWSBOT_X_CONSUMER_SECRET": "SECRET-X-CONSUMER-SECRET/+=3c4d",
    "NEWSBOT_X_ACCESS_TOKEN": "SECRET-X-ACCESS-TOKEN-5e6f",
    "NEWSBOT_X_ACCESS_TOKEN_SECRET": "SECRET-X-ACCESS-SECRET-7g8h",
    "NEWSBOT_X_BEARER_TOKEN": "SECRET-X-BEARER%2FTOKEN-9i0j",
    "NEWSBOT_SMTP_USERNAME": "secret-smtp-user@example.com",
    "NEWSBOT_SMTP_PASSWORD": "SECRET-SMTP-PASSWORD-!@#$",
    "NEWSBOT_SECRET_KEY": "SECRET-LINK-SIGNING-KEY-0123456789abcdef",
    "NEWSBOT_DKIM_PRIVATE_KEY": DKIM_PEM,
}


def secret_forms() -> dict[str, str]:
    """Each secret as written and URL-encoded; for the PEM, its key line (a log could show one line of it)."""
    forms: dict[str, str] = {}
    for name, value in SECRETS.items():
        for form in {value, quote(value, safe=""), quote_plus(value), quote(value)}:
            forms[form] = name
    forms["SECRETDKIMKEYMATERIAL"] = "NEWSBOT_DKIM_PRIVATE_KEY"
    return forms


def assert_no_secret(where: str, text: str) -> None:
    leaked = {name for form, name in secret_forms().items() if form in text}
    assert not leaked, f"{where} shows {sorted(leaked)}:\n{text[:2000]}"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_live_config(folder: Path, telegram_url: str, *, dkim: bool = False) -> Path:
    (folder / "feed.xml").write_text(rss([news_item(1), news_item(2)]), encoding="utf-8")
    port = closed_port()
    path = folder / "config.toml"
    path.write_text(
        '[[sources]]\nname = "feed"\nurl = "feed.xml"\nbackfill = 2\n'
        '[[sources]]\nname = "gone"\nurl = "missing.xml"\n'
        f'[[sources]]\nname = "web"\nurl = "http://127.0.0.1:{port}/feed.xml"\n'
        '[[routes]]\nname = "all"\nhashtags = ["*"]\nchannels = ["telegram", "x", "email"]\n'
        f'[telegram]\nbase_url = "{telegram_url}"\nchannel = "@reliability"\nadmins = [{ADMIN}]\nrequest_timeout = 2\n'
        f'[x]\napi_base_url = "http://127.0.0.1:{port}"\nrequest_timeout = 2\n'
        f'[email]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\nsender = "News <news@example.com>"\n'
        'security = "none"\nsmtp_timeout = 2\n'
        + ('dkim_selector = "sel"\n' if dkim else "")
        + '[web]\npublic_url = "https://news.example.com"\n',
        encoding="utf-8",
    )
    return path


def newsbot(folder: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(REPO), **SECRETS},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_secrets_never_appear_in_any_output(
    tmp_path: Path, fake_telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = f"http://127.0.0.1:{closed_port()}/bot"
    write_live_config(tmp_path, closed)
    outputs = {
        "check-config": newsbot(tmp_path, "check-config"),
        "once -v --all": newsbot(tmp_path, "-v", "once", "--all"),
    }
    (tmp_path / "readers.csv").write_text("email,hashtags,name\nreader@example.org,,Reader\n", encoding="utf-8")
    outputs["subscribers import"] = newsbot(
        tmp_path, "subscribers", "import", "--channel", "email", "readers.csv", "--confirmed"
    )
    outputs["digest --send"] = newsbot(tmp_path, "-v", "digest", "--send")  # SMTP on a closed port
    dkim_folder = tmp_path / "dkim"
    dkim_folder.mkdir()
    write_live_config(dkim_folder, closed, dkim=True)
    outputs["digest --send (key not a PEM key)"] = newsbot(dkim_folder, "digest", "--send")
    assert outputs["digest --send (key not a PEM key)"].returncode == 2
    assert outputs["once -v --all"].returncode in (0, 1)
    assert "source_failed" in outputs["once -v --all"].stderr  # errors did happen
    # `run` whose bot token Telegram refuses: it must stop and say so, without the token.
    run_folder = tmp_path / "run"
    run_folder.mkdir()
    write_live_config(run_folder, fake_telegram.base_url)
    outputs["run (token refused)"] = newsbot(run_folder, "run", timeout=60)
    assert outputs["run (token refused)"].returncode != 0
    for name, done in outputs.items():
        assert "Traceback" not in done.stderr or name.startswith("once")
        assert_no_secret(f"newsbot {name} stdout", done.stdout)
        assert_no_secret(f"newsbot {name} stderr", done.stderr)

    # /status after those failures, from a bot whose environment holds the secrets.
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    import tomllib

    sources = tomllib.loads((tmp_path / "config.toml").read_text(encoding="utf-8"))["sources"]
    with running_bot(tmp_path / "status", state={"path": str(tmp_path / "newsbot.sqlite")}, sources=sources) as bot:
        status = bot.send("/status", user_id=ADMIN)[-1].text
        sources = bot.send("/sources", user_id=ADMIN)[-1].text
    assert "failure(s) in a row" in visible_text(status)
    assert_no_secret("/status", status + sources)
    print(f"\nreliability: secrets {len(SECRETS)} × outputs {len(outputs) + 2} (each also URL-encoded)")
