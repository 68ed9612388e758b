"""Bad input: a corpus of malformed and odd feeds through the real ingest, chat commands with hostile arguments, and
a config file with every kind of mistake through `newsbot check-config`.

What each part checks is what a user would see: no crash, an error that names the source (or the key) and the
problem, and no markup from a feed ever reaching a Telegram message or the digest as markup.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.commands.admin import ADMIN_COMMANDS
from bot.commands.context import CommandContext, InputError, Reply, Request, open_command_context
from bot.commands.subscriber import SUBSCRIBER_COMMANDS, fallback
from bot.config import Config, parse_config
from bot.models import Article
from bot.telegram_html import MESSAGE_LIMIT, split, validate, visible_length, visible_text
from bot.xtext import X_LIMIT, weighted_length
from tests.conftest import REPO

DATA = Path(__file__).parent / "data"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BIG_FEED_ENTRIES = 10_000
ADMIN = 1000
USER = 5

# Corpus files that cannot be read at all, and a phrase their source's last_error must contain.
BROKEN: dict[str, str] = {
    "bad-json.json": "not valid JSON",
    "bad-xml-mismatched.xml": "mismatched tag",
    "bad-xml-not-a-feed.xml": "not an RSS or Atom feed",
    "binary.rss": "a binary file",
    "empty.xml": "empty document",
    "whitespace-only.rss": "empty document",
    "html-page.html": "an HTML web page, not a feed",
    "json-not-a-feed.json": "not a JSON Feed",
    "json-items-not-a-list.json": "'items' is missing or not a list",
    "only-metadata.txt": "no title found",
    "utf8-declared-as-utf16.rss": "not a valid feed",
}
# Markup that must never reach a reader as markup.
DANGEROUS_TAGS = frozenset({"script", "iframe", "object", "embed", "svg", "style", "img", "form", "base", "meta"})


def source_name(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", path.name)


def big_feed(count: int) -> bytes:
    """An RSS feed of `count` items, newest first, each with a script in its description."""
    start = datetime(2026, 11, 20, tzinfo=UTC)
    items = "".join(
        f"<item><title>Bulk story {n} &lt;b&gt;</title><link>https://bulk.example.com/{n}</link>"
        f"<guid>bulk-{n}</guid><pubDate>{(start - timedelta(minutes=n)).strftime('%a, %d %b %Y %H:%M:%S +0000')}"
        f"</pubDate><description><![CDATA[<p>Paragraph {n}. #Bulk</p><script>alert({n})</script>]]></description>"
        "</item>"
        for n in range(count)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Bulk</title>'
        f"<link>https://bulk.example.com/</link><description>d</description>{items}</channel></rss>"
    ).encode()


# --- the corpus through the real ingest --------------------------------------------------------------------


@dataclass
class CorpusRun:
    config: Config
    out: Path
    sources: list[str]
    errors: dict[str, str]  # source -> last_error
    articles: list[Article]
    digest_articles: int


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorpusRun]:
    tmp = tmp_path_factory.mktemp("corpus")
    big = tmp / "bulk.rss"
    big.write_bytes(big_feed(BIG_FEED_ENTRIES))
    files = sorted(p for p in DATA.iterdir() if p.is_file())
    sources: list[dict[str, Any]] = [{"name": source_name(path), "url": str(path), "backfill": 1000} for path in files]
    sources.append({"name": "bulk", "url": str(big), "backfill": 25})
    config = parse_config(
        {
            "state": {"path": str(tmp / "state.sqlite")},
            "output": {"dir": str(tmp / "out"), "dry_run": True},
            "outbox": {"max_posts_per_cycle": 1000},
            "sources": sources,
            "routes": [{"name": "all", "hashtags": ["*"], "channels": ["telegram", "x", "email"]}],
            "telegram": {"subscribers": False},
            "x": {"daily_limit": 1000},
        },
        path=tmp / "config.toml",
    )
    with App(config, clock=lambda: NOW) as app:
        report = app.run_cycle(poll_all=True)
        digest_articles = app.preview_digest().article_count  # the digest's HTML and text, in out/email/
        app.digest(force=True)
        errors = {p.source: app.store.source_state(p.source).last_error for p in report.polls}
        articles = app.store.recent_articles(BIG_FEED_ENTRIES * 2)
    print(
        f"\nreliability: feeds tried {len(sources)} ({len(files)} corpus files + 1 generated), "
        f"entries ingested {len(articles)} (bulk feed {BIG_FEED_ENTRIES}), "
        f"broken sources {sum(map(bool, errors.values()))}, "
        f"digest articles {digest_articles}"
    )
    yield CorpusRun(config, tmp / "out", [s["name"] for s in sources], errors, articles, digest_articles)


def test_every_source_of_the_corpus_was_polled_and_only_the_broken_ones_failed(corpus: CorpusRun) -> None:
    assert set(corpus.errors) == set(corpus.sources)
    failed = {name for name, error in corpus.errors.items() if error}
    assert failed == {source_name(DATA / name) for name in BROKEN}


@pytest.mark.parametrize("file", sorted(BROKEN))
def test_a_broken_source_has_a_clear_error_naming_the_problem(corpus: CorpusRun, file: str) -> None:
    error = corpus.errors[source_name(DATA / file)]
    assert BROKEN[file] in error
    assert "Traceback" not in error and len(error) < 300


def test_the_10000_entry_feed_is_ingested_whole_and_only_its_backfill_is_posted(corpus: CorpusRun) -> None:
    bulk = [a for a in corpus.articles if a.source == "bulk"]
    assert len(bulk) == BIG_FEED_ENTRIES
    posted = {p.stem for p in (corpus.out / "telegram").iterdir()}
    assert len([a for a in bulk if a.key in posted]) == 25


def test_odd_but_readable_feeds_give_articles(corpus: CorpusRun) -> None:
    titles = {a.title for a in corpus.articles}
    assert "Café naïve résumé £100" in titles  # Latin-1, declared or declared as UTF-8
    assert "“Smart quotes” – and € signs" in titles  # Windows-1252 without a declaration
    assert "Complete item survives truncation" in titles
    assert "No title, no link, no guid, no date." in titles  # the first sentence stands in
    assert "Undefined XML entities é —" in titles


def test_duplicate_guids_and_tracking_variants_of_a_link_are_one_story(corpus: CorpusRun) -> None:
    titles = [a.title for a in corpus.articles if a.source == "duplicate-guids.rss"]
    assert len([t for t in titles if t.startswith("Duplicate guid story")]) == 1
    assert len([t for t in titles if t.startswith("Same link twice")]) == 1


class _Elements(HTMLParser):
    """Every element and attribute of an HTML document, as a browser's tokenizer would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str]] = []  # (tag, name, value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(tag, name, value or "") for name, value in attrs]

    handle_startendtag = handle_starttag


def elements(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser


def assert_no_active_markup(html: str, *, allowed_tags: frozenset[str] | None = None) -> None:
    found = elements(html)
    assert not DANGEROUS_TAGS & set(found.tags), f"markup elements {DANGEROUS_TAGS & set(found.tags)} in {html[:300]!r}"
    if allowed_tags is not None:
        assert set(found.tags) <= allowed_tags
    for tag, name, value in found.attributes:
        assert not name.startswith("on"), f"event handler {name}= on <{tag}>"
        if name in ("href", "src", "action"):
            scheme = re.sub(r"[\s\x00-\x1f]", "", value).split(":", 1)[0].lower()
            assert value.startswith(("https://", "http://", "mailto:")), f"<{tag} {name}={value!r}> ({scheme})"


def test_every_telegram_message_is_valid_and_carries_no_markup_from_the_feeds(corpus: CorpusRun) -> None:
    files = sorted((corpus.out / "telegram").iterdir())
    assert len(files) > 25
    for path in files:
        html = path.read_text(encoding="utf-8").strip()
        validate(html)  # only Telegram's tags, balanced; every '<' and '&' of the text escaped
        assert visible_length(html) <= MESSAGE_LIMIT
        assert_no_active_markup(html, allowed_tags=frozenset({"a", "b"}))
    scripted = [p for p in files if "<script>" in visible_text(p.read_text(encoding="utf-8"))]
    assert scripted, "a title that is literally '<script>...' should show as text"


def test_the_digest_has_no_script_iframe_or_event_handler_and_shows_scripts_as_text(corpus: CorpusRun) -> None:
    html = (corpus.out / "email" / "digest.html").read_text(encoding="utf-8")
    assert corpus.digest_articles > 25
    found = elements(html)
    # The digest's own markup: the layout tables, headings, links, and its one <style> block in <head>.
    assert found.tags.count("style") == 1 and "script" not in found.tags and "iframe" not in found.tags
    assert_no_active_markup(html.split("</head>", 1)[1])
    assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;" in html or "&lt;script&gt;" in html
    text = (corpus.out / "email" / "digest.txt").read_text(encoding="utf-8")
    assert "Bulk story" in text


def test_every_x_post_fits_280_weighted_characters(corpus: CorpusRun) -> None:
    files = sorted((corpus.out / "x").iterdir())
    assert len(files) > 25
    for path in files:
        text = path.read_text(encoding="utf-8").strip()
        assert weighted_length(text) <= X_LIMIT, path.name


def test_links_that_are_not_http_never_become_links(corpus: CorpusRun) -> None:
    for article in corpus.articles:
        assert not article.link or article.link.startswith(("http://", "https://")), article.link
    titles = {a.title for a in corpus.articles}
    assert {"Link with a javascript scheme", "Link with a data scheme", "JSON javascript link"} <= titles
    for path in [*(corpus.out / "telegram").iterdir(), *(corpus.out / "x").iterdir()]:
        body = path.read_text(encoding="utf-8").lower()
        assert "javascript:" not in body and "data:text" not in body, path.name


def test_template_syntax_in_an_article_comes_out_literally(corpus: CorpusRun) -> None:
    [article] = [a for a in corpus.articles if a.source == "template-injection.rss"]
    telegram = visible_text((corpus.out / "telegram" / f"{article.key}.html").read_text(encoding="utf-8"))
    x = (corpus.out / "x" / f"{article.key}.txt").read_text(encoding="utf-8")
    digest = (corpus.out / "email" / "digest.txt").read_text(encoding="utf-8")
    for shown in (telegram, digest):
        assert "{{ 7*7 }} and {{ config }} in the title" in shown
        assert "{% for x in range(3) %}loop{% endfor %}" in shown
        assert "49" not in shown.split("in the title")[0]
    assert "{% for x in range(3) %}loop{% endfor %} {{ config.items() }}" in x
    assert "Config(" not in telegram + x + digest and "<class" not in telegram + x + digest


# --- chat commands with hostile arguments ------------------------------------------------------------------

ATTACKS: dict[str, str] = {
    "empty": "",
    "huge": ("#Tag1 https://e.com/x " * 5000)[:100_000],
    "binary": "\x00\x01\x02\x7f\x1b[31m\ufffd\ufffe",
    "right-to-left": "\u202e#lanoitaN \u202dabc\u2066\u05e9\u05dc\u05d5\u05dd\u2069 \u0645\u0631\u062d\u0628\u0627",
    "zero-width": "\u200b\u200c\u200d\ufeff\u2060",
    "markup": '<b>&amp;</a><script>alert(1)</script>" &#x110000; {{ 7*7 }}',
    "at the limit": ("😀<&>" * 1000),  # 4000 characters, 6000 UTF-16 units once escaped
}
# For commands whose argument matters: what the reply says when the argument is not usable.
PROBLEM_REPLIES: dict[str, str] = {
    "subscribe": r"Not a hashtag|Send the hashtags|at most \d+ hashtags",
    "unsubscribe": r"Not a hashtag|Send the hashtags to drop|at most \d+ hashtags|not subscribed",
    "latest": r"Give a number from 1 to 20",
    "email": r"does not send an email digest",
    "preview": r"not an article key|Which article",
    "post": r"not an article key|not an http|What should I post|That URL is \d+ characters long",
    "skip": r"not an article key|Which article",
    "addsource": r"not an http|Usage|Not a hashtag|That URL is \d+ characters long",
    "removesource": r"No source added in chat is called|Which source",
    "pausesource": r"No source is called|Which source",
    "resumesource": r"No source is called|Which source",
    "digest": r"Usage",
    "broadcast": r"Send this to \d+ subscriber|Usage",
    "broadcast-button": r"That broadcast is unknown",
}
ARGUMENTS_IGNORED = frozenset({"start", "stop", "help"})


@pytest.fixture(scope="module")
def command_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CommandContext]:
    tmp = tmp_path_factory.mktemp("commands")
    config = parse_config(
        {
            "state": {"path": str(tmp / "state.sqlite")},
            "output": {"dir": str(tmp / "out"), "dry_run": True},
            "routes": [{"name": "all", "hashtags": ["*"], "channels": ["telegram", "x", "email"]}],
            "telegram": {"admins": [ADMIN]},
        },
        path=tmp / "config.toml",
    )
    context = open_command_context(config, clock=lambda: NOW)
    yield context
    context.close()


def run_command(ctx: CommandContext, name: str, args: str) -> Reply:
    """What the application does with one command: bad input becomes its explanation; anything else is a bug."""
    from bot.commands.admin import broadcast_button

    commands = {c.name: c.run for c in (*SUBSCRIBER_COMMANDS, *ADMIN_COMMANDS)}
    commands["broadcast-button"] = broadcast_button
    commands["unknown"] = fallback
    user = ADMIN if name in {c.name for c in ADMIN_COMMANDS} or name == "broadcast-button" else USER
    request = Request(chat_id=user, user_id=user, chat_type="private", command=name, args=args, first_name=args[:64])
    try:
        return commands[name](ctx, request)
    except InputError as error:
        return Reply((error.html,))


ALL_COMMANDS = [c.name for c in (*SUBSCRIBER_COMMANDS, *ADMIN_COMMANDS)] + ["broadcast-button", "unknown"]


@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_hostile_arguments_get_a_valid_reply_that_says_what_is_wrong(
    command_context: CommandContext, command: str, attack: str
) -> None:
    answer = run_command(command_context, command, ATTACKS[attack])

    assert answer.parts, "every command answers"
    for part in answer.parts:
        validate(part)
        for message in split(part):
            validate(message)
            assert visible_length(message) <= MESSAGE_LIMIT
        shown = visible_text(part)
        assert "\u202e" not in shown and "\x00" not in shown and "\x1b" not in shown
    said = " ".join(visible_text(part) for part in answer.parts)
    if attack == "huge" and command not in ARGUMENTS_IGNORED | {"unknown", "broadcast-button"}:
        assert "too long (100000 characters); the limit is 4000" in said
    elif attack not in ("empty", "right-to-left") and command in PROBLEM_REPLIES:
        # Right-to-left text is fine once its override characters are gone ("#لبنان" is a hashtag).
        assert re.search(PROBLEM_REPLIES[command], said), said[:300]


def test_the_command_attack_figures(command_context: CommandContext) -> None:
    print(f"\nreliability: chat commands {len(ALL_COMMANDS)} × hostile arguments {len(ATTACKS)}")


# --- a config file with every kind of mistake --------------------------------------------------------------

_SOURCE = '[[sources]]\nname = "a"\nurl = "feed.xml"\n'
_ROUTE = '[[routes]]\nname = "r"\nhashtags = ["*"]\nchannels = ["x"]\n'
INLINE_SECRET = "123456789:AAH-inline-SECRET-value"

# (what is wrong, file content, text stderr must contain (the key, or the line for broken TOML))
CONFIG_MISTAKES: list[tuple[str, bytes, str]] = [
    ("unknown top-level key", b"sorces = []\n", "sorces: unknown key; did you mean 'sources'?"),
    ("unknown key in [state]", b'[state]\npth = "x"\n', "state.pth: unknown key"),
    ("unknown key in [outbox]", b"[outbox]\nmax_post = 3\n", "outbox.max_post: unknown key"),
    ("unknown key in [[sources]]", (_SOURCE + "intervall = 60\n").encode(), "sources[0].intervall: unknown key"),
    ("unknown key in [[routes]]", (_ROUTE + 'chanels = ["x"]\n').encode(), "routes[0].chanels: unknown key"),
    ("secret under an unknown key", f'[telegram]\ntoken = "{INLINE_SECRET}"\n'.encode(), "telegram.token: unknown key"),
    ("unknown key in [email]", f'[email]\nsmtp_password = "{INLINE_SECRET}"\n'.encode(), "email.smtp_password"),
    ("unknown key in [web]", b'[web]\nsecret_key = "abc"\n', "web.secret_key: unknown key"),
    ("a table written as an array", b"[[telegram]]\nadmins = [1]\n", "telegram: must be a table"),
    ("sources not as tables", b'sources = ["feed.xml"]\n', "sources: must be written as [[sources]] tables"),
    ("fraction where a count is expected", b"[outbox]\nmax_attempts = 2.5\n", "outbox.max_attempts: must be a whole"),
    ("admins not a list", b"[telegram]\nadmins = 12345\n", "telegram.admins: must be a list of numeric"),
    ("admins as usernames", b'[telegram]\nadmins = ["@boss"]\n', "telegram.admins"),
    ("string where true/false is expected", b"[telegram]\nsubscribers = 1\n", "telegram.subscribers: must be true"),
    ("word where a number is expected", b'[x]\nrequest_timeout = "fast"\n', "x.request_timeout: must be a"),
    ("nan timeout", b"[x]\nrequest_timeout = nan\n", "x.request_timeout: must be a finite number"),
    ("infinite send rate", b"[email]\nsend_rate = inf\n", "email.send_rate: must be a finite number"),
    ("unknown choice", b'[x]\norder = "random"\n', "x.order: 'random' is not"),
    ("port out of range", b"[email]\nsmtp_port = 70000\n", "email.smtp_port: 70000 is not a TCP port"),
    ("port zero", b"[web]\nport = 0\n", "web.port: must be a whole number above 0"),
    ("negative backfill", (_SOURCE + "backfill = -1\n").encode(), "sources[0].backfill: must be 0 or more"),
    ("per_slot without slots", (_ROUTE + "per_slot = 2\n").encode(), "routes[0].per_slot: only applies"),
    ("slot that is not a time", (_ROUTE + 'at = ["9:00"]\n').encode(), "routes[0].at: '9:00' is not a time"),
    ("digest time 24:00", b'[email]\ndigest_time = "24:00"\n', "email.digest_time"),
    ("bad Bot API URL", b'[telegram]\nbase_url = "ftp://api.telegram.org"\n', "telegram.base_url"),
    ("public URL without scheme", b'[web]\npublic_url = "news.example.com"\n', "web.public_url"),
    ("URL with a space", b'[x]\napi_base_url = "http:// spaces"\n', "x.api_base_url"),
    ("unsupported source scheme", b'[[sources]]\nname = "a"\nurl = "gopher://x/feed"\n', "sources[0].url"),
    ("blank source URL", b'[[sources]]\nname = "a"\nurl = "  "\n', "sources[0].url: is empty"),
    ("source name with spaces", b'[[sources]]\nname = "my feed!"\nurl = "f"\n', "sources[0].name"),
    ("unknown time zone", b'[email]\ntimezone = "Europe/Atlantis"\n', "email.timezone: 'Europe/Atlantis' is not"),
    ("path as a time zone", (_ROUTE + 'timezone = "../../etc/passwd"\n').encode(), "routes[0].timezone"),
    ("empty time zone", b'[email]\ntimezone = ""\n', "email.timezone"),
    ("duplicate source names", (_SOURCE + _SOURCE).encode(), "sources: the name 'a' is used twice"),
    ("duplicate route names", (_ROUTE + _ROUTE).encode(), "routes: the name 'r' is used twice"),
    ("bot token inline", f'[telegram]\ntoken_env = "{INLINE_SECRET}"\n'.encode(), "telegram.token_env: must name"),
    ("X bearer token inline", b'[x]\nbearer_token_env = "AAAA%2Fsecret%3D"\n', "x.bearer_token_env: must name"),
    ("SMTP password inline", b'[email]\npassword_env = "hunter2"\n', "email.password_env: must name"),
    ("link key inline", b'[web]\nsecret_key_env = "s3cr3t-key-value"\n', "web.secret_key_env: must name"),
    ("channel name without @", b'[telegram]\nchannel = "mynews"\n', "telegram.channel"),
    ("UTM name without utm_", b'[telegram.utm]\nsource = "x"\n', "telegram.utm.source"),
    ("missing templates folder", b'[templates]\ndir = "no-such-folder"\n', "templates.dir"),
    ("empty state path", b'[state]\npath = ""\n', "state.path: is empty"),
    ("invalid TOML: unclosed table", b"[output\n", "not valid TOML: Expected ']'"),
    ("invalid TOML: key set twice", b"[email]\nsmtp_port = 1\nsmtp_port = 2\n", "(at line 3"),
    ("invalid TOML: unquoted string", b"[email]\nsender = news@example.com\n", "not valid TOML"),
    ("not UTF-8", '[email]\nlist_name = "Caf\u00e9"\n'.encode("latin-1"), "not UTF-8 text; save the file as UTF-8"),
]


@pytest.fixture(scope="module")
def check_config_results(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """Every mistake through `newsbot check-config` at once: the processes run in parallel."""
    started = {}
    for number, (mistake, content, _expected) in enumerate(CONFIG_MISTAKES):
        folder = tmp_path_factory.mktemp(f"config{number}")
        path = folder / "config.toml"
        path.write_bytes(content)
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(path), "check-config"],
            cwd=folder,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started[mistake] = (path, process)
    results = {}
    for mistake, (path, process) in started.items():
        out, err = process.communicate(timeout=60)
        results[mistake] = (path, subprocess.CompletedProcess(process.args, process.returncode, out, err))
    print(f"\nreliability: config mistakes tried {len(CONFIG_MISTAKES)}")
    return results


@pytest.mark.parametrize(("mistake", "expected"), [(m, e) for m, _c, e in CONFIG_MISTAKES])
def test_each_config_mistake_exits_2_naming_the_file_and_the_key(
    check_config_results: dict[str, tuple[Path, subprocess.CompletedProcess[str]]], mistake: str, expected: str
) -> None:
    path, done = check_config_results[mistake]
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith(f"newsbot: {path}: "), done.stderr
    assert expected in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert INLINE_SECRET not in done.stdout + done.stderr
    assert "hunter2" not in done.stderr and "s3cr3t" not in done.stderr


def test_a_config_saved_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf[output]\ndry_run = true\n")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(path), "check-config"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "(dry run: true)" in done.stdout


def test_a_route_template_that_does_not_exist_is_a_check_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[output]\ndry_run = true\n[[routes]]\nname = "r"\nhashtags = ["*"]\nchannels = ["x"]\n'
                    'template = "no-such-template.j2"\n', encoding="utf-8")  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(path), "check-config"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "routes[0].template" in done.stderr
