"""`newsbot run` builds each shared part once (bot.app.App) and hands it to the web pages, the control room, the
click links and the chat commands."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bot.app import App
from bot.cli import web_server
from bot.commands.context import open_command_context
from bot.config import Config
from bot.email.tokens import TokenSigner
from bot.render import Renderer

SECRET = "a-test-secret-of-32-characters-xx"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _counting(monkeypatch: pytest.MonkeyPatch, cls: type[Any]) -> list[object]:
    """Every instance of `cls` made from now on (the class's own constructor, still run)."""
    made: list[object] = []
    original: Callable[..., None] = cls.__init__

    def init(self: object, *args: Any, **kwargs: Any) -> None:
        made.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__init__", init)
    return made


def test_run_builds_the_link_signer_and_the_renderer_once_for_every_part(
    make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    config = make_config(
        output={"dry_run": False},
        routes=[{"name": "all", "hashtags": ["*"], "channels": ["email"]}],
        email={"smtp_host": "127.0.0.1", "security": "none", "sender": "Example News <news@example.com>"},
        web={"public_url": "https://news.example.com", "port": port},
        telegram={"admins": [123456789]},
        analytics={"enabled": True},
    )
    monkeypatch.setenv("NEWSBOT_SECRET_KEY", SECRET)
    signers, renderers = _counting(monkeypatch, TokenSigner), _counting(monkeypatch, Renderer)
    # As cmd_run wires them; the chat commands' context as chat_commands opens it (without a bot token to start).
    with App(config) as app, web_server(config, app.email, app.signing, posts=app.renderer, metrics=app.metrics):
        context = open_command_context(config, renderer=app.renderer, signing=app.signing)
        context.close()
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/admin/signin", timeout=10).status_code == 200  # the control room is on
        assert httpx.get(f"{base}/subscribe", timeout=10).status_code == 200  # and the subscription pages
        assert httpx.get(f"{base}/r/damaged", timeout=10).status_code == 400  # and the click links
    assert signers == [app.signing.signer()]
    assert renderers == [app.renderer]
    assert app.email is not None and app.email.signer is app.signing.signer()
    assert context.renderer is app.renderer and context.signing is app.signing
