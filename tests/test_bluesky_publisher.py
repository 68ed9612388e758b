"""The Bluesky publisher end to end: newsbot → the atproto SDK → real XRPC over HTTP → the fake PDS."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import regex
from PIL import Image

from bot.app import App
from bot.config import BlueskyConfig, Config
from bot.errors import ConfigError, PublishError, RateLimited, Rejected, Unauthorized
from bot.images import ImageLimits, ImageLoader, PostImage
from bot.models import Post
from bot.publishers.bluesky import BlueskyPublisher, PostRef, seconds_until_reset
from bot.store import SENT
from tests.conftest import FakeClock, news_item, rss
from tests.fakes.bluesky_api import FakeBluesky

PASSWORD_ENV = "NEWSBOT_BLUESKY_APP_PASSWORD"
LINK = "app.bsky.richtext.facet#link"


def graphemes(text: str) -> int:
    return len(regex.findall(r"\X", text))


def _byte_range(text: str, piece: str) -> tuple[int, int]:
    start = len(text[: text.index(piece)].encode("utf-8"))
    return start, start + len(piece.encode("utf-8"))


def utf8_slice(text: str, facet: dict[str, Any]) -> str:
    index = facet["index"]
    return text.encode("utf-8")[index["byteStart"] : index["byteEnd"]].decode("utf-8")


class TinyJpegLoader(ImageLoader):
    """The image contract's loader as it will be once images are fetched: a real 8x8 JPEG made with Pillow."""

    def __init__(self) -> None:
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="JPEG")
        self.data = buffer.getvalue()
        self.asked: list[ImageLimits] = []

    def load(self, post: Post, limits: ImageLimits) -> PostImage | None:
        self.asked.append(limits)
        return PostImage(self.data, "image/jpeg", 8, 8, post.image_alt or "image", "image.jpg")


def publisher(fake: FakeBluesky, images: ImageLoader | None = None) -> BlueskyPublisher:
    config = BlueskyConfig(service_url=fake.base_url.removesuffix("/xrpc"), handle=fake.handle, request_timeout=2)
    return BlueskyPublisher(config, fake.password, images)


def post(text: str, key: str = "k1", **fields: Any) -> Post:
    return Post(key, "bluesky", text, 0, 300, recipient="timeline", **fields)


@pytest.fixture
def bluesky_config(
    make_config: Callable[..., Config], tmp_path: Path, fake_bluesky: FakeBluesky, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Config]:
    monkeypatch.setenv(PASSWORD_ENV, fake_bluesky.password)
    feed = tmp_path / "feed.xml"

    def build(items: list[dict[str, str]], *, template: str = "", **bluesky: Any) -> Config:
        """A config posting `items` to the fake PDS; with `template`, through a route template of that text."""
        feed.write_text(rss(items), encoding="utf-8")
        route: dict[str, Any] = {"name": "all", "hashtags": ["*"], "channels": ["bluesky"]}
        folder = tmp_path / "templates"
        if template:
            folder.mkdir(exist_ok=True)
            (folder / "mine.txt.j2").write_text(template, encoding="utf-8")
            route["template"] = "mine.txt.j2"
        return make_config(
            output={"dir": str(tmp_path / "out"), "dry_run": False},
            sources=[{"name": "feed", "url": str(feed), "backfill": len(items)}],
            routes=[route],
            bluesky={"service_url": fake_bluesky.base_url, "handle": fake_bluesky.handle, **bluesky},
            templates={"dir": str(folder)} if template else {},
        )

    return build


def test_the_record_on_the_wire_has_byte_offset_facets_after_emoji_and_cjk_and_a_card_with_thumb(
    fake_bluesky: FakeBluesky,
) -> None:
    loader = TinyJpegLoader()
    link = "https://news.example.com/2026/11/council-approves-plan?utm_source=bluesky"
    text = f"東京の議会 👍🏽 が計画を承認\n\n議会は火曜日に承認した。\n\n{link} #Climate #東京"
    sent = publisher(fake_bluesky, loader).publish(post(text, image_alt="東京の議会 👍🏽 が計画を承認", link=link))
    [record] = fake_bluesky.records
    value = record.value
    shown = "news.example.com/2026/11/counc..."
    assert value["text"] == text.replace(link, shown) and sent.remote_id == f"{record.uri}|{record.cid}"
    assert [utf8_slice(value["text"], facet) for facet in value["facets"]] == [
        shown,
        "#Climate",
        "#東京",
    ]
    assert [facet["features"][0] for facet in value["facets"]] == [
        {"$type": "app.bsky.richtext.facet#link", "uri": link},
        {"$type": "app.bsky.richtext.facet#tag", "tag": "Climate"},
        {"$type": "app.bsky.richtext.facet#tag", "tag": "東京"},
    ]
    external = value["embed"]["external"]
    assert value["embed"]["$type"] == "app.bsky.embed.external"
    assert (external["uri"], external["title"]) == (link, "東京の議会 👍🏽 が計画を承認")
    assert external["description"] == "議会は火曜日に承認した。"
    assert external["thumb"]["mimeType"] == "image/jpeg" and external["thumb"]["size"] == len(loader.data)
    assert loader.asked == [ImageLimits(max_bytes=1_000_000, max_side=2000, max_alt_chars=2000)]


def test_the_card_description_counts_graphemes_and_keeps_words_and_emoji_whole(fake_bluesky: FakeBluesky) -> None:
    # 255 graphemes but 315 code points: code point 300 falls inside an emoji's joined sequence.
    words = " ".join(["Ünïcode 👩‍👩‍👧 family"] * 15)
    publisher(fake_bluesky).publish(post(f"Title\n\n{words}\n\nhttps://news.example.com/a #Tag"))
    assert fake_bluesky.records[0].value["embed"]["external"]["description"] == words


def test_with_the_link_last_in_a_thread_the_card_has_the_articles_title(
    bluesky_config: Callable[..., Config], fake_bluesky: FakeBluesky, clock: FakeClock
) -> None:
    sentences = " ".join(f"Sentence number {n} of the council report explains one more detail." for n in range(14))
    title = " ".join(["The council approves the plan for the harbour"] * 6)  # too long for a post with the link
    config = bluesky_config([dict(news_item(1), title=title, description=sentences)], thread=True, thread_link="last")
    with App(config, clock=clock) as app:
        app.run_cycle(poll_all=True)
    *_before, last = fake_bluesky.records
    assert [r for r in fake_bluesky.records if "embed" in r.value] == [last]
    assert title not in last.value["text"]  # the post shortens it; the card shows it whole
    assert last.value["embed"]["external"]["title"] == title


def test_a_failed_upload_posts_without_the_image(fake_bluesky: FakeBluesky) -> None:
    fake_bluesky.fail_uploads()
    publisher(fake_bluesky, TinyJpegLoader()).publish(post("Title\n\nhttps://news.example.com/a"))
    [record] = fake_bluesky.records
    assert record.value["embed"]["external"]["uri"] == "https://news.example.com/a"
    assert "thumb" not in record.value["embed"]["external"]


def test_a_long_link_is_sent_short_and_whole_in_its_facet_and_the_summary_gets_the_room(
    bluesky_config: Callable[..., Config], fake_bluesky: FakeBluesky, clock: FakeClock
) -> None:
    long_link = "https://news.example.com/2026/11/" + "a-very-long-slug-" * 6
    cjk = "東京都は新しい気候計画を発表した。" * 30
    item = dict(news_item(1), link=long_link, guid="g1", title="気候計画👍🏽" * 30, description=cjk + " #気候")
    config = bluesky_config([item])
    with App(config, clock=clock) as app:
        assert app.run_cycle(poll_all=True).drain.sent == 1
        [row] = app.store.rows_for_article(app.store.recent_articles(1)[0].key)
    [record] = fake_bluesky.records
    text = record.value["text"]
    # The link as Bluesky's app shows it; the whole link in the facet and the card, the room it frees the summary's.
    assert "://" not in text and text.endswith("\n\nnews.example.com/2026/11/a-ver... #気候")
    assert utf8_slice(text, record.value["facets"][0]) == "news.example.com/2026/11/a-ver..."
    link = record.value["facets"][0]["features"][0]["uri"]
    assert link == record.value["embed"]["external"]["uri"] == long_link
    assert 290 <= graphemes(text) <= 300
    assert (row.state, row.remote_id) == (SENT, f"{record.uri}|{record.cid}")


# A route template that writes the site's homepage and an archive link beside the article's, amid Arabic and emoji.
HOMEPAGE_TEMPLATE = """{{ title }} 👩🏾‍💻

{{ summary }}

{{ link }} — الموقع: https://www.example-news.org/ 👍🏽
(أرشيف https://archive.example.org/2026/11/council-vote-story-1-full-record). {{ hashtags | join(" ") }}
"""


def test_every_link_a_route_template_writes_is_shown_short_under_a_facet_to_its_whole_url(
    bluesky_config: Callable[..., Config], fake_bluesky: FakeBluesky, clock: FakeClock
) -> None:
    article = "https://news.example.com/2026/11/council-approves-the-harbour-plan"
    config = bluesky_config([dict(news_item(1), link=article)], template=HOMEPAGE_TEMPLATE)
    with App(config, clock=clock) as app:
        assert app.run_cycle(poll_all=True).drain.sent == 1
    [record] = fake_bluesky.records
    text = record.value["text"]
    assert text.endswith(
        "\n\nnews.example.com/2026/11/counc... — الموقع: www.example-news.org 👍🏽\n"
        "(أرشيف archive.example.org/2026/11/co...). #PoliticsNews"
    )
    facets = record.value["facets"]
    assert [(utf8_slice(text, facet), facet["features"][0]) for facet in facets] == [
        ("news.example.com/2026/11/counc...", {"$type": LINK, "uri": article}),
        ("www.example-news.org", {"$type": LINK, "uri": "https://www.example-news.org/"}),
        (
            "archive.example.org/2026/11/co...",
            {"$type": LINK, "uri": "https://archive.example.org/2026/11/council-vote-story-1-full-record"},
        ),
        ("#PoliticsNews", {"$type": "app.bsky.richtext.facet#tag", "tag": "PoliticsNews"}),
    ]
    first = facets[0]["index"]
    assert (first["byteStart"], first["byteEnd"]) == _byte_range(text, "news.example.com/2026/11/counc...")
    assert record.value["embed"]["external"]["uri"] == article  # the card stays the article's


ARCHIVE = "https://archive.example.org/records/" + "x" * 170  # 206 characters, shown in 33 graphemes
ARCHIVE_TEMPLATE = "{{ title }}\n\n{{ summary }}\n\n{{ link }}\nArchive: " + ARCHIVE + " {{ hashtags | join(' ') }}\n"


def test_a_long_second_link_is_counted_as_shown_so_the_summary_keeps_its_room_and_the_post_its_limit(
    bluesky_config: Callable[..., Config], fake_bluesky: FakeBluesky, clock: FakeClock
) -> None:
    long_summary = "東京都は新しい気候計画を発表した。" * 30  # cut to fit
    fits_shown_short = "The council approved the plan on Tuesday after a long debate about the harbour. " * 2
    items = [
        dict(news_item(1), description=long_summary + " #気候"),
        dict(news_item(2), description=fits_shown_short.strip() + " #Harbour"),
    ]
    with App(bluesky_config(items, template=ARCHIVE_TEMPLATE), clock=clock) as app:
        assert app.run_cycle(poll_all=True).drain.sent == 2
    cut, whole = sorted(fake_bluesky.records, key=lambda record: "気候" not in record.value["text"])
    assert 290 <= graphemes(cut.value["text"]) <= 300  # counted at 206, the summary would have lost 173 more
    assert fits_shown_short.strip() in whole.value["text"] and graphemes(whole.value["text"]) <= 300
    for record in (cut, whole):
        text = record.value["text"]
        links = [facet for facet in record.value["facets"] if facet["features"][0]["$type"] == LINK]
        assert [utf8_slice(text, facet) for facet in links][1] == "archive.example.org/records/xx..."
        assert links[1]["features"][0]["uri"] == ARCHIVE and "://" not in text


def test_a_link_with_a_long_host_shows_the_end_of_its_host_never_a_cut_that_reads_as_another(
    bluesky_config: Callable[..., Config], fake_bluesky: FakeBluesky, clock: FakeClock
) -> None:
    link = "https://bank.example.com.account-verification-center.evil.example/2026/11/story"
    with App(bluesky_config([dict(news_item(1), link=link)]), clock=clock) as app:
        assert app.run_cycle(poll_all=True).drain.sent == 1
    [record] = fake_bluesky.records
    text = record.value["text"]
    assert text.endswith("\n\n...cation-center.evil.example/... #PoliticsNews") and "bank.example" not in text
    [shown, _tag] = record.value["facets"]
    assert utf8_slice(text, shown) == "...cation-center.evil.example/..."
    assert shown["features"][0]["uri"] == link == record.value["embed"]["external"]["uri"]


def test_a_thread_carries_root_and_parent_refs(
    bluesky_config: Callable[..., Config], fake_bluesky: FakeBluesky, clock: FakeClock
) -> None:
    sentences = " ".join(f"Sentence number {n} of the council report explains one more detail." for n in range(14))
    config = bluesky_config([dict(news_item(1), description=sentences)], thread=True)
    with App(config, clock=clock) as app:
        app.run_cycle(poll_all=True)
        [row] = app.store.rows_for_article(app.store.recent_articles(1)[0].key)
    records = fake_bluesky.records
    assert len(records) >= 2 and "reply" not in records[0].value
    root = (records[0].uri, records[0].cid)
    for parent, reply in itertools.pairwise(records):
        refs = reply.value["reply"]
        assert (refs["root"]["uri"], refs["root"]["cid"]) == root
        assert (refs["parent"]["uri"], refs["parent"]["cid"]) == (parent.uri, parent.cid)
    assert row.remote_id == ",".join(f"{r.uri}|{r.cid}" for r in records)


def test_every_part_of_a_thread_carries_the_routes_language_and_a_post_without_one_no_langs(
    fake_bluesky: FakeBluesky,
) -> None:
    parts = ("Teil eins der Meldung.", "Teil zwei der Meldung.")
    bluesky = publisher(fake_bluesky)
    bluesky.publish(post(parts[0], parts=parts, language="pt-BR"))
    bluesky.publish(post("No language known.", key="k2"))
    bluesky.close()
    first, second, unknown = fake_bluesky.records
    assert first.value["langs"] == second.value["langs"] == ["pt-BR"]
    assert "reply" in second.value
    assert "langs" not in unknown.value  # no "en" by guess


def test_the_fake_pds_refuses_langs_the_lexicon_refuses(fake_bluesky: FakeBluesky) -> None:
    with pytest.raises(Rejected, match=r"Record/langs/0 must be a well-formed BCP 47 language tag"):
        publisher(fake_bluesky).publish(post("Bad tag.", language="Deutsch!"))
    assert fake_bluesky.records == []


def test_an_interrupted_thread_resumes_after_the_posted_parts(fake_bluesky: FakeBluesky) -> None:
    parts = ("Part one of the story.", "Part two of the story.", "Part three of the story.")
    bluesky = publisher(fake_bluesky)
    first = bluesky.publish(post(parts[0], parts=parts[:1]))
    fake_bluesky.fail_creates(503)
    with pytest.raises(PublishError) as stopped:
        bluesky.publish(post(parts[0], parts=parts, posted=(first.remote_id,)))
    assert stopped.value.progress == (first.remote_id,)
    done = bluesky.publish(post(parts[0], parts=parts, posted=stopped.value.progress))
    bluesky.close()
    records = fake_bluesky.records
    assert [r.value["text"] for r in records] == list(parts)
    root = PostRef.parse(first.remote_id)
    assert (records[2].value["reply"]["root"]["uri"], records[2].value["reply"]["root"]["cid"]) == (root.uri, root.cid)
    assert done.remote_id.split(",")[0] == first.remote_id


def test_a_short_lived_token_is_refreshed_never_a_new_login_per_post(fake_bluesky: FakeBluesky) -> None:
    fake_bluesky.token_lifetime = 60  # the SDK refreshes a token within 15 minutes of its expiry
    bluesky = publisher(fake_bluesky)
    for n in range(6):
        bluesky.publish(post(f"Post {n}", key=f"k{n}"))
    assert len(fake_bluesky.records) == 6
    assert fake_bluesky.count("com.atproto.server.createSession") == 1
    assert fake_bluesky.count("com.atproto.server.refreshSession") >= 5


def test_an_expired_token_answer_refreshes_the_session_and_retries_once(fake_bluesky: FakeBluesky) -> None:
    bluesky = publisher(fake_bluesky)
    bluesky.publish(post("Before"))
    fake_bluesky.expire_access_tokens()
    bluesky.publish(post("After", key="k2"))
    assert [r.value["text"] for r in fake_bluesky.records] == ["Before", "After"]
    assert fake_bluesky.count("com.atproto.server.createSession") == 1
    assert fake_bluesky.count("com.atproto.server.refreshSession") == 1


def test_a_refused_refresh_token_means_one_new_login(fake_bluesky: FakeBluesky) -> None:
    fake_bluesky.token_lifetime = 60  # the SDK refreshes before each request
    bluesky = publisher(fake_bluesky)
    bluesky.publish(post("Before"))
    fake_bluesky.revoke_refresh_tokens()
    bluesky.publish(post("After", key="k2"))
    bluesky.publish(post("Later", key="k3"))
    assert [r.value["text"] for r in fake_bluesky.records] == ["Before", "After", "Later"]
    assert fake_bluesky.count("com.atproto.server.createSession") == 2


def test_refused_credentials_on_a_create_are_unauthorized(fake_bluesky: FakeBluesky) -> None:
    bluesky = publisher(fake_bluesky)
    bluesky.publish(post("Before"))
    fake_bluesky.expire_access_tokens()
    fake_bluesky.revoke_refresh_tokens()
    fake_bluesky.password = "changed"
    with pytest.raises(Unauthorized, match="check \\[bluesky\\] handle and the app password"):
        bluesky.publish(post("After", key="k2"))
    assert [r.value["text"] for r in fake_bluesky.records] == ["Before"]


def test_429_becomes_rate_limited_until_the_announced_reset(fake_bluesky: FakeBluesky) -> None:
    fake_bluesky.rate_limit(reset_in=600)
    with pytest.raises(RateLimited) as limited:
        publisher(fake_bluesky).publish(post("Hello"))
    assert 590 <= limited.value.retry_after <= 601
    assert fake_bluesky.records == []
    assert seconds_until_reset({"ratelimit-reset": "1000"}, now=900) == 100


def test_rate_limit_in_the_outbox_waits_and_then_posts(
    bluesky_config: Callable[..., Config], fake_bluesky: FakeBluesky, clock: FakeClock
) -> None:
    fake_bluesky.rate_limit(reset_in=600)
    config = bluesky_config([news_item(1)])
    with App(config, clock=clock) as app:
        report = app.run_cycle(poll_all=True)
        assert report.drain.retry_later == 1 and "rate limit" in report.drain.halted["bluesky"]
        clock.advance(seconds=605)
        assert app.drain().sent == 1
    assert len(fake_bluesky.records) == 1


def test_a_lost_answer_is_found_by_its_record_key_and_never_posted_twice(
    bluesky_config: Callable[..., Config], fake_bluesky: FakeBluesky, clock: FakeClock
) -> None:
    fake_bluesky.create_then_drop()
    config = bluesky_config([news_item(1)])
    with App(config, clock=clock) as app:
        assert app.run_cycle(poll_all=True).drain.sent == 1
        [row] = app.store.rows_for_article(app.store.recent_articles(1)[0].key)
    [record] = fake_bluesky.records
    assert (row.state, row.remote_id) == (SENT, f"{record.uri}|{record.cid}")


def test_a_retry_after_a_crash_gets_already_exists_and_counts_as_sent(fake_bluesky: FakeBluesky) -> None:
    first = publisher(fake_bluesky).publish(post("Story", key="a1"))
    again = publisher(fake_bluesky).publish(post("Story", key="a1"))  # a new process, the same outbox row
    assert len(fake_bluesky.records) == 1 and again.remote_id == first.remote_id
    assert fake_bluesky.count("com.atproto.repo.getRecord") == 1


def test_a_server_error_on_a_retry_of_a_posted_record_counts_it_as_sent(fake_bluesky: FakeBluesky) -> None:
    first = publisher(fake_bluesky).publish(post("Story", key="a1"))
    fake_bluesky.fail_creates(500)  # as a PDS that answers a taken record key with an internal error
    assert publisher(fake_bluesky).publish(post("Story", key="a1")).remote_id == first.remote_id
    fake_bluesky.fail_creates(503)
    with pytest.raises(PublishError, match="server error 503"):
        publisher(fake_bluesky).publish(post("Another story", key="a2"))
    assert [r.value["text"] for r in fake_bluesky.records] == ["Story"]


def test_refused_app_password_stops_bluesky_and_keeps_the_queue(
    bluesky_config: Callable[..., Config], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = bluesky_config([news_item(1)])
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    with App(config, clock=clock) as app:
        report = app.run_cycle(poll_all=True)
    assert "credentials refused" in report.drain.halted["bluesky"]


def test_a_missing_app_password_names_the_variable(
    bluesky_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = bluesky_config([])
    monkeypatch.delenv(PASSWORD_ENV)
    with pytest.raises(ConfigError, match=f"{PASSWORD_ENV}.*App passwords"):
        App(config)


def test_a_route_to_bluesky_without_a_handle_says_what_to_write(make_config: Callable[..., Config]) -> None:
    routes = [{"name": "all", "hashtags": ["*"], "channels": ["bluesky"]}]
    with pytest.raises(ConfigError, match=r'bluesky.handle: is required.*handle = "newsbot.bsky.social"'):
        make_config(output={"dry_run": False}, routes=routes)
    with pytest.raises(ConfigError, match="is not a Bluesky handle"):
        make_config(routes=routes, bluesky={"handle": "not a handle"})
    with pytest.raises(ConfigError, match="must name an environment variable"):
        make_config(routes=routes, bluesky={"handle": "a.bsky.social", "app_password_env": "abcd-efgh-ijkl"})
    with pytest.raises(ConfigError, match="thread_link"):
        make_config(routes=routes, bluesky={"thread_link": "middle"})
    config = make_config(routes=routes, bluesky={"handle": "@News.Example.com"})
    assert (config.bluesky.handle, config.bluesky.service_url) == ("news.example.com", "https://bsky.social")
    assert config.bluesky.app_password_env == PASSWORD_ENV
