"""The Mastodon publisher end to end: newsbot → Mastodon.py → real HTTP → the fake Mastodon instance."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.app import App
from bot.channels.mastodon import counted_length
from bot.config import Config, parse_config
from bot.errors import ConfigError, PublishError, RateLimited, Rejected, Unauthorized, UnknownOutcome
from bot.images import ImageLimits, ImageLoader, PostImage
from bot.models import Article, Post
from bot.publishers.mastodon import IMAGE_LIMITS, MastodonPublisher
from bot.render import build_renderer
from bot.route import warnings
from bot.store import SENT
from tests.conftest import FakeClock, news_item, rss
from tests.fakes.mastodon_api import FakeMastodon

TOKEN_ENV = "NEWSBOT_MASTODON_TOKEN"


@pytest.fixture
def fake() -> Iterator[FakeMastodon]:
    with FakeMastodon() as server:
        yield server


def config_for(
    fake: FakeMastodon, tmp_path: Path, routes: list[dict[str, Any]] | None = None, **mastodon: Any
) -> Config:
    return parse_config(
        {
            "state": {"path": str(tmp_path / "state.sqlite")},
            "output": {"dir": str(tmp_path / "out"), "dry_run": False},
            "routes": routes or [{"name": "all", "hashtags": ["*"], "channels": ["mastodon"]}],
            "mastodon": {"api_base_url": fake.base_url, "request_timeout": 2, **mastodon},
        },
        path=tmp_path / "config.toml",
    )


def publisher(
    fake: FakeMastodon, tmp_path: Path, images: ImageLoader | None = None, **mastodon: Any
) -> MastodonPublisher:
    return MastodonPublisher(config_for(fake, tmp_path, **mastodon), fake.token, images=images)


def post(text: str = "Council approves plan\n\nhttps://news.example.com/a #Politics", **fields: Any) -> Post:
    defaults: dict[str, Any] = {"article_key": "a1", "channel": "mastodon", "length": 0, "limit": 500}
    return Post(text=text, recipient="timeline", **{**defaults, **fields})


def article(title: str = "Council approves plan", link: str = "https://news.example.com/a", text: str = "") -> Article:
    return Article(
        key="a1",
        source="feed",
        title=title,
        link=link,
        text=text or "The council approved the plan. Officials said the vote was close.",
        hashtags=("Politics",),
        published=None,
        first_seen=datetime(2026, 11, 20, tzinfo=UTC),
    )


class TinyPng(ImageLoader):
    """What ImageLoader.load will give once images are fetched: a real PNG within the limits it is asked for."""

    def __init__(self) -> None:
        self.asked: list[ImageLimits] = []

    def load(self, post: Post, limits: ImageLimits) -> PostImage | None:
        self.asked.append(limits)
        buffer = io.BytesIO()
        Image.new("RGB", (4, 3), (200, 30, 30)).save(buffer, format="PNG")
        return PostImage(buffer.getvalue(), "image/png", 4, 3, post.image_alt, "image.png")


# -- the post on the wire ------------------------------------------------------------------------------------


def test_post_text_visibility_and_idempotency_key_on_the_wire(fake: FakeMastodon, tmp_path: Path) -> None:
    receipt = publisher(fake, tmp_path, visibility="unlisted").publish(post())
    (status,) = fake.statuses
    assert status.text == "Council approves plan\n\nhttps://news.example.com/a #Politics"
    assert status.visibility == "unlisted"
    assert receipt.remote_id == status.id
    assert len(status.idempotency_key) == 40
    assert fake.creates()[0].headers["authorization"] == f"Bearer {fake.token}"


def test_route_content_warning_and_language_reach_the_wire(fake: FakeMastodon, tmp_path: Path) -> None:
    routes = [{"name": "all", "hashtags": ["*"], "channels": ["mastodon"], "spoiler_text": "Politics, elections"}]
    config = config_for(fake, tmp_path, routes)
    rendered = build_renderer(config, warning_of=warnings(config), language_of=lambda a, c: "de").render(
        article(), "mastodon"
    )
    MastodonPublisher(config, fake.token).publish(rendered)
    (status,) = fake.statuses
    assert status.spoiler_text == "Politics, elections"
    assert status.language == "de"
    assert rendered.limit == 500 - len("Politics, elections")


def test_a_retry_reuses_the_idempotency_key_and_gets_the_same_status(fake: FakeMastodon, tmp_path: Path) -> None:
    first = publisher(fake, tmp_path).publish(post())
    again = publisher(fake, tmp_path).publish(post())  # a new process after a crash: same article, same recipient
    assert first.remote_id == again.remote_id
    assert len(fake.statuses) == 1
    keys = {request.headers["idempotency-key"] for request in fake.creates()}
    assert len(keys) == 1
    other = publisher(fake, tmp_path).publish(post(article_key="a2"))
    assert other.remote_id != first.remote_id


def test_thread_replies_chain_and_a_partial_thread_continues(fake: FakeMastodon, tmp_path: Path) -> None:
    parts = ("One https://news.example.com/a #Politics", "Two.", "Three.")
    receipt = publisher(fake, tmp_path).publish(post(parts[0], parts=parts))
    first, second, third = fake.statuses
    assert [s.text for s in fake.statuses] == list(parts)
    assert (first.in_reply_to_id, second.in_reply_to_id, third.in_reply_to_id) == (None, first.id, second.id)
    assert receipt.remote_id == f"{first.id},{second.id},{third.id}"

    resumed = publisher(fake, tmp_path).publish(post("x", article_key="a9", parts=parts, posted=(first.id,)))
    [two, three] = fake.statuses[3:]
    assert [(s.text, s.in_reply_to_id) for s in (two, three)] == [("Two.", first.id), ("Three.", two.id)]
    assert resumed.remote_id == f"{first.id},{two.id},{three.id}"


def test_a_thread_whose_first_post_was_deleted_is_rejected_not_unauthorized(fake: FakeMastodon, tmp_path: Path) -> None:
    parts = ("One https://news.example.com/a #Politics", "Two.")
    with pytest.raises(Rejected) as refused:  # Unauthorized would stop every Mastodon post until a restart
        publisher(fake, tmp_path).publish(post("x", parts=parts, posted=("110000000000000077",)))
    assert "is gone" in str(refused.value) and "does not appear to exist" in str(refused.value)
    assert refused.value.progress == ("110000000000000077",)
    assert fake.statuses == []


def test_thread_part_refused_keeps_progress(fake: FakeMastodon, tmp_path: Path) -> None:
    fake.max_characters = 20
    parts = ("Short one.", "This second part is far too long for a twenty character instance.")
    with pytest.raises(Rejected) as refused:
        publisher(fake, tmp_path).publish(post(parts[0], parts=parts))
    assert refused.value.progress == (fake.statuses[0].id,)
    assert "422" in str(refused.value)


# -- lost answers ---------------------------------------------------------------------------------------------


def test_lost_answer_found_on_the_timeline_is_not_posted_twice(fake: FakeMastodon, tmp_path: Path) -> None:
    fake.drop_creates = 1
    receipt = publisher(fake, tmp_path).publish(post())
    assert len(fake.statuses) == 1
    assert receipt.remote_id == fake.statuses[0].id
    assert [r.path for r in fake.requests][-2:] == [
        "/api/v1/accounts/verify_credentials",
        "/api/v1/accounts/109000000000000001/statuses",
    ]


def test_lost_answer_with_unreadable_timeline_is_unknown(fake: FakeMastodon, tmp_path: Path) -> None:
    fake.drop_creates = 1
    fake.timeline_status = 500
    with pytest.raises(UnknownOutcome, match="could not be read"):
        publisher(fake, tmp_path).publish(post())


def test_lost_answer_not_on_the_timeline_is_retried(fake: FakeMastodon, tmp_path: Path) -> None:
    fake.drop_creates = 1
    mastodon = publisher(fake, tmp_path)
    fake_statuses = fake.statuses
    original = fake._create

    def create_then_forget(headers: dict[str, str], form: dict[str, Any]) -> tuple[int, Any, bool]:
        answer = original(headers, form)
        fake_statuses.clear()  # the instance lost it (it never committed)
        fake._by_key.clear()
        return answer

    fake._create = create_then_forget  # type: ignore[method-assign]
    with pytest.raises(PublishError, match="not among the account's statuses") as error:
        mastodon.publish(post())
    assert type(error.value) is PublishError


def test_unreachable_instance_is_a_transient_error(tmp_path: Path) -> None:
    with FakeMastodon() as gone:
        config = config_for(gone, tmp_path)
    with pytest.raises(PublishError, match="could not reach") as error:
        MastodonPublisher(config, "t").publish(post())
    assert type(error.value) is PublishError


# -- refusals -------------------------------------------------------------------------------------------------


def test_429_is_rate_limited_until_the_announced_reset(fake: FakeMastodon, tmp_path: Path) -> None:
    fake.spend_window(reset_in=120)
    with pytest.raises(RateLimited) as limited:
        publisher(fake, tmp_path).publish(post())
    assert 100 <= limited.value.retry_after <= 121
    assert fake.statuses == []


def test_no_requests_remaining_waits_without_asking(fake: FakeMastodon, tmp_path: Path) -> None:
    fake.window = 1
    fake._remaining = 1
    mastodon = publisher(fake, tmp_path)
    mastodon.publish(post())
    asked = len(fake.requests)
    with pytest.raises(RateLimited):
        mastodon.publish(post(article_key="a2"))
    assert len(fake.requests) == asked  # the last answer said none remain: no 429 asked for


def test_once_the_outbox_waited_out_a_429_the_next_create_goes_out(fake: FakeMastodon, tmp_path: Path) -> None:
    # The outbox keeps the wait in the state and calls again when it is over by the app's clock, which need not
    # be the wall clock (a FakeClock here, a restored state, an admin's /post): the publisher must not keep a
    # second copy of the wait that refuses the create without asking.
    fake.random_faults(1.0, kinds=("429",), reset_in=600)
    mastodon = publisher(fake, tmp_path)
    with pytest.raises(RateLimited) as limited:
        mastodon.publish(post())
    assert 590 <= limited.value.retry_after <= 601
    fake.random_faults(0.0)
    assert mastodon.publish(post()).remote_id == fake.statuses[0].id
    assert [r.status for r in fake.creates()] == [429, 200]


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [(401, Unauthorized, "token"), (403, Unauthorized, "token"), (422, Rejected, "422"), (503, PublishError, "503")],
)
def test_refusals_become_newsbot_errors(
    fake: FakeMastodon, tmp_path: Path, status: int, kind: type[PublishError], words: str
) -> None:
    fake.create_status = status
    with pytest.raises(kind, match=words) as error:
        publisher(fake, tmp_path).publish(post())
    assert type(error.value) is kind


def test_wrong_token_is_unauthorized(fake: FakeMastodon, tmp_path: Path) -> None:
    with pytest.raises(Unauthorized, match="401"):
        MastodonPublisher(config_for(fake, tmp_path), "wrong").publish(post())


# -- images ---------------------------------------------------------------------------------------------------


def test_image_uploaded_with_its_description_and_attached(fake: FakeMastodon, tmp_path: Path) -> None:
    loader = TinyPng()
    publisher(fake, tmp_path, images=loader).publish(
        post(image_url="https://news.example.com/a.png", image_alt="The council chamber")
    )
    (media,) = fake.media
    assert (media.description, media.mime_type, media.filename) == ("The council chamber", "image/png", "image.png")
    assert Image.open(io.BytesIO(media.data)).size == (4, 3)
    assert fake.statuses[0].media_ids == (media.id,)
    assert loader.asked == [IMAGE_LIMITS]


def test_a_retried_first_post_reuses_its_uploaded_image(fake: FakeMastodon, tmp_path: Path) -> None:
    loader = TinyPng()
    mastodon = publisher(fake, tmp_path, images=loader)
    with_image = post(image_url="https://news.example.com/a.png", image_alt="The council chamber")
    fake.create_status = 503
    with pytest.raises(PublishError, match="503"):
        mastodon.publish(with_image)
    fake.create_status = 0
    mastodon.publish(with_image)
    (media,) = fake.media  # one upload over two attempts: nothing left unused on the instance
    assert [status.media_ids for status in fake.statuses] == [(media.id,)] and len(loader.asked) == 1
    mastodon.publish(post(article_key="a2", image_url="https://news.example.com/b.png", image_alt="Another"))
    assert len(fake.media) == 2 and fake.statuses[1].media_ids == (fake.media[1].id,)


def test_a_reused_image_the_instance_has_removed_is_uploaded_again(fake: FakeMastodon, tmp_path: Path) -> None:
    mastodon = publisher(fake, tmp_path, images=TinyPng())
    with_image = post(image_url="https://news.example.com/a.png", image_alt="The council chamber")
    fake.create_status = 503
    with pytest.raises(PublishError, match="503"):
        mastodon.publish(with_image)
    fake.create_status = 0
    fake.media.clear()  # as an instance removes media left unattached
    with pytest.raises(PublishError, match="uploaded again"):  # retried, not Rejected
        mastodon.publish(with_image)
    mastodon.publish(with_image)
    (media,) = fake.media
    assert [status.media_ids for status in fake.statuses] == [(media.id,)]


def test_failed_image_upload_posts_without_it(
    fake: FakeMastodon, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake.media_status = 422
    publisher(fake, tmp_path, images=TinyPng()).publish(post(image_url="https://news.example.com/a.png", image_alt="x"))
    assert fake.statuses[0].media_ids == ()
    assert "mastodon_image_not_uploaded" in caplog.text


# -- length ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("announced", [500, 1000, None])
def test_the_instance_limit_is_the_renderer_limit(fake: FakeMastodon, tmp_path: Path, announced: int | None) -> None:
    fake.max_characters = announced
    config = config_for(fake, tmp_path, summary_chars=2000)
    mastodon = MastodonPublisher(config, fake.token)
    limit = mastodon.announced_limit()
    assert limit == (announced or 500)
    renderer = build_renderer(config)
    assert limit is not None
    renderer.use_limit("mastodon", limit)
    long = article(text="The council met again today to discuss the plan. " * 60)
    rendered = renderer.render(long, "mastodon")
    assert limit - 60 < rendered.length <= limit
    mastodon.publish(rendered)
    assert fake.statuses[0].text == rendered.text


def test_configured_max_characters_wins_without_asking(fake: FakeMastodon, tmp_path: Path) -> None:
    fake.max_characters = 1000
    assert publisher(fake, tmp_path, max_characters=700).announced_limit() == 700
    assert fake.requests == []
    assert build_renderer(config_for(fake, tmp_path, max_characters=700)).render(article(), "mastodon").limit == 700


_WORDS = st.sampled_from(["東京", "地震", "😀", "👩‍👩‍👧", "العربية", "news", "Ünïcödé", "the", "vote"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    title=st.lists(_WORDS, min_size=1, max_size=80).map(" ".join),
    text=st.lists(_WORDS, min_size=1, max_size=400).map(" ".join),
    slug=st.integers(min_value=1, max_value=400),
    limit=st.sampled_from([120, 500, 1000]),
)
def test_cjk_emoji_and_a_long_url_fit_and_the_link_is_never_cut(
    tmp_path: Path, title: str, text: str, slug: int, limit: int
) -> None:
    link = "https://news.example.com/" + "x" * slug
    config = parse_config({"mastodon": {"api_base_url": "https://m.example", "max_characters": limit}})
    rendered = build_renderer(config).render(article(title=title, link=link, text=text + "."), "mastodon")
    assert link in rendered.text
    assert counted_length(rendered.text) == rendered.length <= limit
    assert len(rendered.text) - len(link) + 23 <= limit  # as Mastodon counts: any link 23


# -- config ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "route", "words"),
    [
        ({"visibility": "friends"}, {}, "public, unlisted, private, direct"),
        ({"thread_link": "middle"}, {}, '"first" or "last"'),
        ({"token_env": "abc-secret"}, {}, "environment variable"),
        ({"max_characters": 0}, {}, "above 0"),
        ({"api_base_url": ""}, {}, "is required when a route posts to mastodon"),
        ({}, {"channels": ["x"], "spoiler_text": "cw"}, "only applies when channels includes mastodon"),
        ({}, {"spoiler_text": "w" * 101}, "100 or fewer"),
    ],
)
def test_config_errors_say_what_to_do(table: dict[str, Any], route: dict[str, Any], words: str) -> None:
    data = {
        "mastodon": {"api_base_url": "https://m.example", **table},
        "routes": [{"name": "r", "hashtags": ["*"], "channels": ["mastodon"], **route}],
    }
    with pytest.raises(ConfigError, match=r"mastodon|spoiler_text") as error:
        parse_config(data)
    assert words in str(error.value)


def test_missing_token_names_the_variable_at_start(
    fake: FakeMastodon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(ConfigError, match=f"set {TOKEN_ENV}.*write:statuses write:media read:accounts"):
        App(config_for(fake, tmp_path), clock=FakeClock())


# -- the pipeline ---------------------------------------------------------------------------------------------


def test_pipeline_publishes_to_mastodon_once(
    fake: FakeMastodon, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, fake.token)
    fake.max_characters = 1000
    feed = tmp_path / "feed.xml"
    story = dict(news_item(1), description="The council approved the plan. " * 40)
    feed.write_text(rss([story]), encoding="utf-8")
    config = parse_config(
        {
            "state": {"path": str(tmp_path / "state.sqlite")},
            "output": {"dir": str(tmp_path / "out"), "dry_run": False},
            "sources": [{"name": "feed", "url": str(feed), "backfill": 1}],
            "routes": [{"name": "all", "hashtags": ["*"], "channels": ["mastodon"], "spoiler_text": "Local politics"}],
            "mastodon": {"api_base_url": fake.base_url, "request_timeout": 2, "summary_chars": 2000},
        },
        path=tmp_path / "config.toml",
    )
    with App(config, clock=clock) as app:
        report = app.run_cycle(poll_all=True)
        again = app.run_cycle(poll_all=True)
        rows = [row for a in app.store.recent_articles(5) for row in app.store.rows_for_article(a.key)]
    assert report.drain.sent == 1 and again.drain.sent == 0
    (status,) = fake.statuses
    assert status.spoiler_text == "Local politics"
    assert "https://news.example.com/2026/11/story-1" in status.text
    assert 500 < counted_length(status.text) + len("Local politics") <= 1000  # the instance's 1000, not 500
    assert [(row.state, row.remote_id) for row in rows] == [(SENT, status.id)]
