"""Start-up: each command imports only what it uses (issue #16: within 150 ms of `python -c pass`).

Asserted on `sys.modules` in a fresh process, never on time: bench/startup.py measures the time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, news_item, newsbot, rss

# What a command that sends, fetches or serves nothing has no use for, and what each costs to import.
CHANNEL_STACKS = {
    "telegram",
    "tweepy",
    "requests",
    "smtplib",
    "atproto",
    "atproto_client",
    "regex",
}  # the publishers' libraries, the SMTP client
FETCHING = {"httpx", "httpcore", "ssl", "multiprocessing"}  # polling: the HTTP client, the parse workers
RENDERING = {"jinja2"}  # templates: compiled at the first render
WEB = {"starlette", "uvicorn", "prometheus_client"}
SUMMARIES = {"sumy", "nltk", "numpy", "twitter_text"}
ASYNC = {"asyncio"}  # only the Telegram senders and the web server run an event loop

_RUN_AND_LIST_MODULES = """
import json, sys
from bot.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""

SECRETS = {
    "NEWSBOT_TELEGRAM_TOKEN": "123456:test-token",
    "NEWSBOT_X_BEARER_TOKEN": "test-bearer",
    "NEWSBOT_BLUESKY_APP_PASSWORD": "test-app-password",
    "NEWSBOT_SECRET_KEY": "a" * 40,
}

# Every channel live (no dry run), secrets set, the digest on: what `once` could need is all configured.
LIVE_CONFIG = """
[output]
dry_run = false
[state]
path = "state.sqlite"
[web]
public_url = "https://news.example.com"
[telegram]
channel = "@news"
[bluesky]
handle = "newsbot.bsky.social"
[email]
sender = "news@example.com"
smtp_host = "127.0.0.1"
[[sources]]
name = "local"
url = "feed.xml"
[[routes]]
name = "all"
hashtags = ["*"]
channels = ["telegram", "x", "bluesky", "email"]
"""

EMPTY_FEED = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>Empty</title><link>https://example.com/</link>'
    "<description>Nothing yet</description></channel></rss>"
)


def modules_loaded_by(*args: str, cwd: Path) -> set[str]:
    """The top-level modules `newsbot ARGS` has imported when it returns (the command must succeed)."""
    return {name.split(".")[0] for name in all_modules_loaded_by(*args, cwd=cwd)}


def all_modules_loaded_by(*args: str, cwd: Path) -> set[str]:
    """Every module, dotted names included, `newsbot ARGS` has imported when it returns."""
    done = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST_MODULES, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **SECRETS},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    result = json.loads(done.stderr.strip().splitlines()[-1])
    assert result["code"] == 0, done.stderr
    return set(result["modules"])


@pytest.fixture
def live_folder(tmp_path: Path) -> Path:
    """A live config whose one source was just polled: the next `once` has nothing due."""
    (tmp_path / "config.toml").write_text(LIVE_CONFIG, encoding="utf-8")
    (tmp_path / "feed.xml").write_text(EMPTY_FEED, encoding="utf-8")
    first = newsbot("once", cwd=tmp_path, env=SECRETS)
    assert first.returncode == 0, first.stderr
    assert "polled 1 source(s)" in first.stdout
    return tmp_path


def test_once_with_nothing_due_imports_no_channel_library_no_http_client_and_compiles_no_template(
    live_folder: Path,
) -> None:
    again = newsbot("once", cwd=live_folder, env=SECRETS)
    assert again.stdout.startswith("polled 0 source(s)"), again.stdout + again.stderr
    loaded = modules_loaded_by("once", cwd=live_folder)
    assert loaded & (CHANNEL_STACKS | FETCHING | RENDERING | WEB | SUMMARIES | ASYNC) == set()


MAIL_BUILDING = {
    "bot.email.message",
    "email.message",
    "email.policy",
    "email.headerregistry",
    "email.contentmanager",
    "css_inline",
    "dkim",
}


def test_once_with_nothing_due_builds_no_mail_and_imports_nothing_that_builds_one(live_folder: Path) -> None:
    """The digest's settings are checked at start (bot.email.identity, bot.email.tokens); the email package's
    header machinery, css-inline and DKIM come with the first mail."""
    loaded = all_modules_loaded_by("once", cwd=live_folder)
    assert loaded & MAIL_BUILDING == set()
    assert {"bot.email.identity", "bot.email.parts"} <= loaded  # the live mail settings were checked


def test_once_with_nothing_due_checks_no_telegram_html_and_loads_nothing_only_errors_need(live_folder: Path) -> None:
    """Telegram's tag checker and markupsafe come with the first post; difflib with the first misspelt key."""
    loaded = all_modules_loaded_by("once", cwd=live_folder)
    assert loaded & {"bot.telegram_tags", "markupsafe", "difflib", "secrets"} == set()


def test_once_still_polls_and_renders_what_is_due_with_everything_it_needs(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[output]\ndry_run = true\n[state]\npath = "state.sqlite"\n'
        '[[sources]]\nname = "feed"\nurl = "feed.xml"\nbackfill = 1\n'
        '[[routes]]\nname = "all"\nhashtags = ["*"]\nchannels = ["telegram"]\n',
        encoding="utf-8",
    )
    (tmp_path / "feed.xml").write_text(rss([news_item(1)]), encoding="utf-8")
    loaded = modules_loaded_by("once", cwd=tmp_path)
    assert "jinja2" in loaded  # the post was rendered
    posts = list((tmp_path / "out" / "telegram").iterdir())
    assert len(posts) == 1 and "Story number 1" in posts[0].read_text(encoding="utf-8")


def test_check_config_imports_no_channel_library_no_http_client_and_no_web_stack(live_folder: Path) -> None:
    loaded = modules_loaded_by("check-config", cwd=live_folder)
    assert loaded & (CHANNEL_STACKS | FETCHING | WEB | SUMMARIES | ASYNC) == set()
    assert "jinja2" in loaded  # check-config compiles every template: that is its job


def test_help_imports_nothing_but_the_command_line(tmp_path: Path) -> None:
    code = "import json, sys, bot.cli; bot.cli._parser().format_help(); print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    loaded = {name.split(".")[0] for name in json.loads(done.stdout)}
    assert loaded & (CHANNEL_STACKS | FETCHING | RENDERING | WEB | SUMMARIES | ASYNC | {"sqlite3", "tomllib"}) == set()
