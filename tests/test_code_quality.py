"""The test command also holds the code to its standards: ruff clean, mypy strict on bot/."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    done = run("ruff", "check", "bot", "tests", "bench")
    assert done.returncode == 0, done.stdout + done.stderr


def test_code_is_formatted() -> None:
    done = run("ruff", "format", "--check", "bot", "tests", "bench")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_passes_on_bot() -> None:
    done = run("mypy")
    assert done.returncode == 0, done.stdout + done.stderr


# What is particular to a channel lives in its descriptor (bot/channels/) and its own modules; elsewhere the code
# reads the descriptor. These may still name their own channel.
CHANNEL_MODULES = (
    "bot/channels/",
    "bot/publishers/telegram.py",
    "bot/publishers/x.py",
    "bot/publishers/mastodon.py",
    "bot/publishers/bluesky.py",
    "bot/email/",
    "bot/commands/",  # the Telegram chat UI
    "bot/store/subscribers.py",  # the email tables: double opt-in, lower-cased addresses
)
_NAME = r"""["'](telegram|x|email|mastodon|bluesky)["']"""
_CONSTANT = r"""(\b[a-z_]+\.NAME|\b(TELEGRAM|EMAIL|X|MASTODON|BLUESKY))\b"""
CHANNEL_NAME_BRANCH = re.compile(
    rf"""[=!]=\s*({_NAME}|{_CONSTANT})"""
    rf"""|({_NAME}|{_CONSTANT})\s*[=!]="""
    rf"""|\bin\s+[(\[{{]\s*{_NAME}"""
    rf"""|({_NAME}|{_CONSTANT})\s+(not\s+)?in\b"""
    rf"""|\bcase\s+({_NAME}|{_CONSTANT})"""
)


def channel_name_branches(path: Path, shown: str) -> list[str]:
    """Each line of `path` that branches on a channel's name, as "shown:line: text"."""
    return [
        f"{shown}:{number}: {line.strip()}"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if CHANNEL_NAME_BRANCH.search(line)
    ]


def test_no_code_outside_a_channel_branches_on_its_name() -> None:
    found = [
        branch
        for path in sorted((REPO / "bot").rglob("*.py"))
        if not str(path.relative_to(REPO)).startswith(CHANNEL_MODULES)
        for branch in channel_name_branches(path, str(path.relative_to(REPO)))
    ]
    assert not found, "read the channel's descriptor (bot/channels/) instead of its name:\n" + "\n".join(found)


def test_the_channel_name_check_finds_each_way_of_branching(tmp_path: Path) -> None:
    branches = [
        'if channel == "mastodon":',
        'if "bluesky" != row.channel:',
        'if channel in ("x", "telegram"):',
        'if "email" not in channels:',
        "if mastodon_channel.NAME in config.channels_in_use():",
        "if name == bluesky.NAME:",
        '    case "telegram":',
    ]
    module = tmp_path / "module.py"
    module.write_text("\n".join([*branches, 'label = "mastodon"', "for name in NAMES:"]), encoding="utf-8")
    found = [line.split(": ", 1)[1] for line in channel_name_branches(module, "module.py")]
    assert found == [line.strip() for line in branches]


def test_the_time_of_day_comes_from_one_clock_helper() -> None:
    """`bot.clock.utc_now` is the one reader of the wall clock as a datetime; parts take a Clock defaulting to it."""
    wall_clock = re.compile(r"\bdatetime\.(now|utcnow|today)\(|\bdate\.today\(|\bdef utc_now\b")
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in sorted((REPO / "bot").rglob("*.py"))
        if path != REPO / "bot" / "clock.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if wall_clock.search(line)
    ]
    assert not found, "call bot.clock.utc_now (or the Clock handed in) instead:\n" + "\n".join(found)


def test_import_layers_hold() -> None:
    """The import-linter contracts in pyproject.toml: transforms never reach the store or the senders, SQL stays in
    the store package, the web pages (subscription pages, control room) and the chat commands stay apart, and the
    chat commands and CSV import never load the web framework."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_measuring_an_x_post_prints_no_library_warning_on_stderr() -> None:
    """twitter_text imports pkg_resources, and setuptools 81 and later (which sumy pulls in) warn about it on
    stderr of every command that measures an X post; that warning is not for newsbot's users."""
    code = (
        "from bot.xtext import links_and_mentions, weighted_length; weighted_length('hi'); links_and_mentions('@a b')"
    )
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stderr == ""
