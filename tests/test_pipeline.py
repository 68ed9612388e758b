"""The spine end to end: sources → identity → routing → outbox → publisher → ledger, with a fake clock."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.app import App
from bot.config import Config
from bot.errors import PublishError, RateLimited, RecipientGone, Rejected, Unauthorized
from bot.models import Post, Receipt
from bot.publishers import FileSink
from bot.store import FAILED, PENDING, SENT, SKIPPED
from tests.conftest import FakeClock, news_item, rss


class Crash(BaseException):
    """Stands for the process dying (SIGKILL) at this point."""


class RecordingPublisher:
    """A publisher for our own interface: records what the 'remote side' accepted, follows a failure script."""

    def __init__(self, channel: str = "telegram", script: list[BaseException | None] | None = None) -> None:
        self.channel = channel
        self.script = list(script or [])
        self.delivered: list[Post] = []
        self.calls = 0
        self.crash_after_delivery_at: int | None = None

    def publish(self, post: Post) -> Receipt:
        self.calls += 1
        failure = self.script.pop(0) if self.script else None
        if failure is not None:
            raise failure
        self.delivered.append(post)
        if self.crash_after_delivery_at == len(self.delivered):
            raise Crash  # delivered, but the process dies before recording it
        return Receipt(remote_id=f"{self.channel}-{len(self.delivered)}")

    def close(self) -> None:
        return None


def titles(posts: list[Post]) -> list[str]:
    return [p.text.split("\n", 1)[0] for p in posts]


def states(app: App) -> dict[str, int]:
    out: dict[str, int] = {}
    for (_channel, state), count in app.store.queue_counts().items():
        out[state] = out.get(state, 0) + count
    return out


@pytest.fixture
def one_channel(make_config: Callable[..., Config], feed_file: Callable[..., Path]) -> Callable[..., Config]:
    def build(items: list[dict[str, str]], backfill: int = 0, **tables: object) -> Config:
        path = feed_file(items)
        return make_config(
            sources=[{"name": "feed", "url": str(path), "backfill": backfill}],
            routes=[{"name": "all", "hashtags": ["*"], "channels": ["telegram"]}],
            **tables,
        )

    return build


def test_first_poll_marks_the_backlog_seen_and_later_entries_are_posted(
    one_channel: Callable[..., Config], feed_file: Callable[..., Path], clock: FakeClock
) -> None:
    config = one_channel([news_item(1), news_item(2)])
    publisher = RecordingPublisher()
    with App(config, clock=clock, publishers={"telegram": publisher}) as app:
        first = app.run_cycle(poll_all=True)
        assert (first.polls[0].new, first.polls[0].queued, publisher.calls) == (2, 0, 0)
        feed_file([news_item(3), news_item(1), news_item(2)])
        clock.advance(minutes=20)
        second = app.run_cycle(poll_all=True)
    assert (second.polls[0].new, second.polls[0].queued, second.drain.sent) == (1, 1, 1)
    assert "Story number 3" in publisher.delivered[0].text


def test_backfill_posts_only_the_newest_entries_of_a_new_source(
    one_channel: Callable[..., Config], clock: FakeClock
) -> None:
    config = one_channel([news_item(1, day=18), news_item(2, day=20), news_item(3, day=19)], backfill=2)
    publisher = RecordingPublisher()
    with App(config, clock=clock, publishers={"telegram": publisher}) as app:
        app.run_cycle(poll_all=True)
    delivered = " ".join(p.text for p in publisher.delivered)
    assert "Story number 2" in delivered and "Story number 3" in delivered
    assert "Story number 1" not in delivered


def test_running_again_posts_nothing_new(one_channel: Callable[..., Config], clock: FakeClock) -> None:
    config = one_channel([news_item(1), news_item(2)], backfill=5)
    publisher = RecordingPublisher()
    with App(config, clock=clock, publishers={"telegram": publisher}) as app:
        app.run_cycle(poll_all=True)
    clock.advance(hours=1)
    with App(config, clock=clock, publishers={"telegram": publisher}) as app:
        report = app.run_cycle(poll_all=True)
    assert report.drain.sent == 0
    assert len(publisher.delivered) == 2


def test_the_same_story_from_two_sources_is_posted_once(
    make_config: Callable[..., Config], tmp_path: Path, clock: FakeClock
) -> None:

    (tmp_path / "a.xml").write_text(rss([news_item(7)]), encoding="utf-8")
    copy = dict(news_item(7), guid="other-feed-guid-7", link="https://news.example.com/2026/11/story-7?utm_medium=x")
    (tmp_path / "b.xml").write_text(rss([copy]), encoding="utf-8")
    config = make_config(
        sources=[
            {"name": "a", "url": str(tmp_path / "a.xml"), "backfill": 5},
            {"name": "b", "url": str(tmp_path / "b.xml"), "backfill": 5},
        ],
        routes=[{"name": "all", "hashtags": ["*"], "channels": ["telegram"]}],
    )
    publisher = RecordingPublisher()
    with App(config, clock=clock, publishers={"telegram": publisher}) as app:
        report = app.run_cycle(poll_all=True)
    assert [p.new for p in report.polls] == [1, 0]
    assert len(publisher.delivered) == 1


def test_dry_run_writes_each_channel_in_the_demo_layout(
    make_config: Callable[..., Config], feed_file: Callable[..., Path], tmp_path: Path, clock: FakeClock
) -> None:
    config = make_config(sources=[{"name": "feed", "url": str(feed_file([news_item(1)])), "backfill": 1}])
    with App(config, clock=clock) as app:
        app.run_cycle(poll_all=True)
        app.preview_digest()  # the digest's HTML and text; a dry run mails subscribers as .eml files
        app.digest(force=True)
        [row] = [r for r in app.store.rows_for_article(app.store.find_articles("")[0].key) if r.channel == "x"]
    out = tmp_path / "out"
    [telegram] = list((out / "telegram").glob("*.html"))
    [x_post] = list((out / "x").glob("*.txt"))
    assert "<b>Story number 1 about the council vote</b>" in telegram.read_text(encoding="utf-8")
    assert "https://news.example.com/2026/11/story-1" in x_post.read_text(encoding="utf-8")
    assert "Story number 1" in (out / "email" / "digest.html").read_text(encoding="utf-8")
    assert "Story number 1" in (out / "email" / "digest.txt").read_text(encoding="utf-8")
    assert row.state == SENT and row.remote_id == str(x_post)


def test_crash_before_the_remote_confirms_resumes_without_loss_or_duplicates(
    one_channel: Callable[..., Config], clock: FakeClock
) -> None:
    config = one_channel([news_item(i) for i in range(5)], backfill=5)
    publisher = RecordingPublisher(script=[None, None, Crash()])
    with pytest.raises(Crash), App(config, clock=clock, publishers={"telegram": publisher}) as app:
        app.run_cycle(poll_all=True)
    with App(config, clock=clock, publishers={"telegram": publisher}) as app:
        app.run_cycle()
        assert states(app) == {SENT: 5}
    assert sorted(titles(publisher.delivered)) == sorted(set(titles(publisher.delivered)))
    assert len(publisher.delivered) == 5


def test_crash_after_delivery_repeats_at_most_the_one_item_in_flight(
    one_channel: Callable[..., Config], clock: FakeClock
) -> None:
    config = one_channel([news_item(i) for i in range(5)], backfill=5)
    publisher = RecordingPublisher()
    publisher.crash_after_delivery_at = 3
    with pytest.raises(Crash), App(config, clock=clock, publishers={"telegram": publisher}) as app:
        app.run_cycle(poll_all=True)
    publisher.crash_after_delivery_at = None
    with App(config, clock=clock, publishers={"telegram": publisher}) as app:
        app.run_cycle()
        assert states(app) == {SENT: 5}
    assert len(set(titles(publisher.delivered))) == 5
    assert len(publisher.delivered) == 6  # the third post went out twice: the in-flight item, nothing more


def test_rate_limit_waits_exactly_retry_after_and_never_earlier(
    one_channel: Callable[..., Config], clock: FakeClock
) -> None:
    config = one_channel([news_item(1)], backfill=1)
    publisher = RecordingPublisher(script=[RateLimited(30)])
    with App(config, clock=clock, publishers={"telegram": publisher}) as app:
        report = app.run_cycle(poll_all=True)
        assert report.drain.retry_later == 1 and "rate limited" in report.drain.halted["telegram"]
        clock.advance(seconds=29)
        app.drain()
        assert publisher.calls == 1
        clock.advance(seconds=1)
        assert app.drain().sent == 1
    assert publisher.calls == 2


def test_refused_credentials_stop_the_channel_but_keep_its_queue(
    make_config: Callable[..., Config], feed_file: Callable[..., Path], clock: FakeClock
) -> None:
    config = make_config(
        sources=[{"name": "feed", "url": str(feed_file([news_item(1), news_item(2)])), "backfill": 2}],
        routes=[{"name": "all", "hashtags": ["*"], "channels": ["telegram", "x"]}],
    )
    telegram = RecordingPublisher(script=[Unauthorized("401 Unauthorized")])
    x = RecordingPublisher("x")
    with App(config, clock=clock, publishers={"telegram": telegram, "x": x}) as app:
        report = app.run_cycle(poll_all=True)
        clock.advance(minutes=5)
        app.drain()
        assert app.store.queue_counts()[("telegram", PENDING)] == 2
    assert "credentials refused" in report.drain.halted["telegram"]
    assert telegram.calls == 1
    assert len(x.delivered) == 2


def test_rejected_post_is_failed_with_its_reason_and_not_retried(
    one_channel: Callable[..., Config], clock: FakeClock
) -> None:
    config = one_channel([news_item(1)], backfill=1)
    publisher = RecordingPublisher(script=[Rejected("duplicate content")])
    with App(config, clock=clock, publishers={"telegram": publisher}) as app:
        app.run_cycle(poll_all=True)
        clock.advance(hours=2)
        app.drain()
        [row] = app.store.rows_for_article(app.store.find_articles("")[0].key)
    assert (row.state, row.last_error) == (FAILED, "rejected: duplicate content")
    assert publisher.calls == 1


def test_gone_recipient_is_skipped(one_channel: Callable[..., Config], clock: FakeClock) -> None:
    config = one_channel([news_item(1)], backfill=1)
    publisher = RecordingPublisher(script=[RecipientGone("bot was blocked by the user")])
    with App(config, clock=clock, publishers={"telegram": publisher}) as app:
        app.run_cycle(poll_all=True)
        assert states(app) == {SKIPPED: 1}


def test_transient_errors_back_off_then_fail_after_max_attempts(
    one_channel: Callable[..., Config], clock: FakeClock
) -> None:
    config = one_channel([news_item(1)], backfill=1, outbox={"max_attempts": 3})
    publisher = RecordingPublisher(script=[PublishError("502 Bad Gateway")] * 3)
    with App(config, clock=clock, publishers={"telegram": publisher}) as app:
        app.run_cycle(poll_all=True)
        app.drain()
        assert publisher.calls == 1  # backing off: not retried at once
        clock.advance(seconds=30)
        app.drain()
        clock.advance(seconds=60)
        app.drain()
        [row] = app.store.rows_for_article(app.store.find_articles("")[0].key)
    assert publisher.calls == 3
    assert row.state == FAILED and "gave up after 3 attempts: 502 Bad Gateway" in row.last_error


def test_per_cycle_cap_keeps_a_burst_from_flooding(one_channel: Callable[..., Config], clock: FakeClock) -> None:
    config = one_channel([news_item(i) for i in range(5)], backfill=5, telegram={"max_posts_per_cycle": 2})
    publisher = RecordingPublisher()
    with App(config, clock=clock, publishers={"telegram": publisher}) as app:
        assert app.run_cycle(poll_all=True).drain.sent == 2
        assert app.drain().sent == 2
        assert app.drain().sent == 1


def test_posting_slots_release_per_slot_articles_at_each_slot(
    make_config: Callable[..., Config], feed_file: Callable[..., Path], clock: FakeClock
) -> None:
    config = make_config(
        sources=[{"name": "feed", "url": str(feed_file([news_item(i) for i in range(3)])), "backfill": 3}],
        routes=[{"name": "slots", "hashtags": ["*"], "channels": ["telegram"], "at": ["18:00"], "per_slot": 2}],
    )
    publisher = RecordingPublisher()
    with App(config, clock=clock, publishers={"telegram": publisher}) as app:  # 12:00 UTC
        assert app.run_cycle(poll_all=True).drain.sent == 0
        clock.now = clock.now.replace(hour=18)
        assert app.drain().sent == 2
        clock.advance(hours=1)
        assert app.drain().sent == 0
        clock.advance(days=1)
        assert app.drain().sent == 1


def test_broken_source_is_reported_backed_off_and_others_go_on(
    make_config: Callable[..., Config], feed_file: Callable[..., Path], tmp_path: Path, clock: FakeClock
) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<rss><channel><item><title>unterminated")
    config = make_config(
        sources=[
            {"name": "broken", "url": str(broken), "interval": 60},
            {"name": "good", "url": str(feed_file([news_item(1)])), "backfill": 1, "interval": 60},
        ],
        routes=[{"name": "all", "hashtags": ["*"], "channels": ["telegram"]}],
    )
    publisher = RecordingPublisher()
    with App(config, clock=clock, publishers={"telegram": publisher}) as app:
        report = app.run_cycle()
        assert "broken" in report.polls[0].error and str(broken) in report.polls[0].error
        assert len(publisher.delivered) == 1
        clock.advance(seconds=61)
        assert [s.name for s in app.ingest.due_sources(clock())] == ["good"]  # broken backs off
        assert app.store.source_state("broken").failures == 1
        clock.advance(seconds=60)
        assert "broken" in [s.name for s in app.ingest.due_sources(clock())]


def test_article_with_no_route_is_logged_with_the_reason(
    make_config: Callable[..., Config],
    feed_file: Callable[..., Path],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = make_config(
        sources=[{"name": "feed", "url": str(feed_file([news_item(1, tag="Sports")])), "backfill": 1}],
        routes=[{"name": "tech", "hashtags": ["Tech"], "channels": ["telegram"]}],
    )
    caplog.set_level(logging.DEBUG)
    with App(config, clock=clock, publishers={"telegram": RecordingPublisher()}) as app:
        app.run_cycle(poll_all=True)
    assert "event=not_routed" in caplog.text
    assert "#Sports" in caplog.text and "tech: #Tech" in caplog.text


def test_file_sink_writes_posts_atomically_without_leftovers(tmp_path: Path) -> None:
    sink = FileSink(tmp_path, "telegram")
    receipt = sink.publish(Post(article_key="abc", channel="telegram", text="<b>Hi</b>", length=2, limit=4096))
    assert Path(receipt.remote_id).read_text(encoding="utf-8") == "<b>Hi</b>\n"
    assert [p.name for p in (tmp_path / "telegram").iterdir()] == ["abc.html"]


def test_a_route_template_that_does_not_exist_is_a_config_error_at_start(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    from bot.errors import ConfigError

    config = make_config(routes=[{"name": "r", "hashtags": ["*"], "channels": ["x"], "template": "breakng.txt.j2"}])
    with pytest.raises(ConfigError) as err:
        App(config)
    assert "routes[0].template.x" in str(err.value) and "'breakng.txt.j2' not found" in str(err.value)


def test_a_route_can_use_its_own_template_from_the_user_folder(
    make_config: Callable[..., Config], feed_file: Callable[..., Path], tmp_path: Path, clock: FakeClock
) -> None:
    folder = tmp_path / "my-templates"
    folder.mkdir()
    (folder / "breaking.txt.j2").write_text("BREAKING: {{ title }} {{ link }}\n", encoding="utf-8")
    config = make_config(
        templates={"dir": str(folder)},
        sources=[{"name": "feed", "url": str(feed_file([news_item(1)])), "backfill": 1}],
        routes=[{"name": "r", "hashtags": ["*"], "channels": ["x"], "template": "breaking.txt.j2"}],
    )
    publisher = RecordingPublisher("x")
    with App(config, clock=clock, publishers={"x": publisher}) as app:
        app.run_cycle(poll_all=True)
    assert publisher.delivered[0].text == (
        "BREAKING: Story number 1 about the council vote https://news.example.com/2026/11/story-1"
    )


def test_many_changed_web_feeds_are_parsed_in_worker_processes_with_errors_intact(
    make_config: Callable[..., Config], tmp_path: Path, clock: FakeClock
) -> None:
    import functools
    import pickle
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from bot.errors import SourceError
    from bot.sources.workers import PARSE_IN_PROCESSES_FROM

    error = pickle.loads(pickle.dumps(SourceError("feed", "https://x.example/rss", "HTTP 500: try again later")))
    assert (error.source, error.url, error.reason) == ("feed", "https://x.example/rss", "HTTP 500: try again later")
    site = tmp_path / "site"
    site.mkdir()
    count = PARSE_IN_PROCESSES_FROM + 2
    for n in range(count):
        body = rss([news_item(n)]) if n else "<rss><channel><item><title>cut"
        (site / f"feed{n}.xml").write_text(body, encoding="utf-8")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    sources = [{"name": f"feed{n}", "url": f"{base}/feed{n}.xml", "backfill": 1} for n in range(count)]
    config = make_config(sources=sources, routes=[{"name": "all", "hashtags": ["*"], "channels": ["telegram"]}])
    try:
        with App(config, clock=clock, publishers={"telegram": RecordingPublisher()}) as app:
            report = app.run_cycle(poll_all=True)
    finally:
        server.shutdown()
    assert [p.source for p in report.polls] == [s["name"] for s in sources]
    assert "feed0" in report.polls[0].error and "not a valid feed" in report.polls[0].error
    assert sum(p.new for p in report.polls) == sum(p.queued for p in report.polls) == count - 1


def test_once_compiles_no_template_at_start_but_a_broken_one_stops_the_first_render_and_loses_no_post(
    make_config: Callable[..., Config], feed_file: Callable[..., Path], tmp_path: Path, clock: FakeClock
) -> None:
    from bot.errors import ConfigError

    folder = tmp_path / "my-templates"
    folder.mkdir()
    (folder / "breaking.txt.j2").write_text("BREAKING: {{ title }\n", encoding="utf-8")  # `}` missing
    config = make_config(
        templates={"dir": str(folder)},
        sources=[{"name": "feed", "url": str(feed_file([news_item(1)])), "backfill": 1}],
        routes=[{"name": "r", "hashtags": ["*"], "channels": ["x"], "template": "breaking.txt.j2"}],
    )
    publisher = RecordingPublisher("x")
    with App(config, clock=clock, publishers={"x": publisher}, compile_templates=False) as app:
        assert app.poll_due_sources(poll_all=True)[0].queued == 1  # the start only saw that the file is there
        with pytest.raises(ConfigError) as err:
            app.drain()
        assert "routes[0].template.x: template 'breaking.txt.j2' line 1" in str(err.value)
        assert publisher.delivered == []
        assert app.store.queue_counts() == {("x", PENDING): 1}  # not failed: it goes out once the file is fixed
    with pytest.raises(ConfigError, match=r"routes\[0\]\.template\.x"):
        App(config, clock=clock, publishers={"x": publisher})  # `newsbot run` compiles them all at start


def test_once_with_a_template_name_that_does_not_exist_stops_at_start(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    from bot.errors import ConfigError

    config = make_config(routes=[{"name": "r", "hashtags": ["*"], "channels": ["x"], "template": "breakng.txt.j2"}])
    with pytest.raises(ConfigError) as err:
        App(config, compile_templates=False)
    assert "routes[0].template.x" in str(err.value) and "'breakng.txt.j2' not found" in str(err.value)
