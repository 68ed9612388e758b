"""The command line as a user runs it: real subprocesses for the commands that matter end to end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
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
    digest = (out / "email" / "digest.txt").read_text(encoding="utf-8")
    assert "#PoliticsNews" in digest and "Syria joins coalition" in digest
    assert "Syria joins coalition" in (out / "email" / "digest.html").read_text(encoding="utf-8")
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and "sqlite" not in p.name}

    second = newsbot("demo", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "Nothing new" in second.stdout
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and "sqlite" not in p.name}
    assert after == before


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
    assert done.stdout.startswith("In a significant diplomatic shift")
    assert len(done.stdout.strip()) <= 400


def test_preview_prints_the_channel_post_for_a_feed_entry(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(rss([news_item(1), news_item(2)]), encoding="utf-8")
    done = newsbot("preview", str(feed), "--channel", "x", "--entry", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "https://news.example.com/2026/11/story-2" in done.stdout
    assert "entry 2 of 2" in done.stderr


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


def test_unreadable_source_in_summarize_says_which_and_why(tmp_path: Path) -> None:
    done = newsbot("summarize", str(tmp_path / "missing.txt"), cwd=tmp_path)
    assert done.returncode == 1
    assert "missing.txt" in done.stderr and "Traceback" not in done.stderr


def test_subscribers_import_and_export_round_trip(tmp_path: Path) -> None:
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
        "chat_id,hashtags,active,status",
        "1001,#Science,1,",
        "-1002003004005,,1,",
    ]
    (tmp_path / "again.csv").write_text(exported.stdout, encoding="utf-8")
    again = newsbot("subscribers", "import", "again.csv", cwd=tmp_path)
    assert "0 added, 2 updated, 0 skipped" in again.stdout


def test_subscribers_import_with_a_wrong_header_says_what_is_expected(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[output]\ndry_run = true\n", encoding="utf-8")
    (tmp_path / "bad.csv").write_text("id,tags\n1,#a\n", encoding="utf-8")
    done = newsbot("subscribers", "import", "bad.csv", cwd=tmp_path)
    assert done.returncode == 2
    assert "header must be 'chat_id,hashtags'" in done.stderr


def test_subscribers_unsubscribe_stops_the_named_addresses_and_says_what_it_did(tmp_path: Path) -> None:
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
