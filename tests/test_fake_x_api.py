"""The fake X API v2 server answers real tweepy like X does: shapes, errors, rate-limit headers, the 24-hour cap."""

from __future__ import annotations

import base64
import io
import unicodedata
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import tweepy
from PIL import Image

from tests.fakes.x_api import DAILY_CREATE_LIMIT, FakeX

TWEEPY_HOST = "https://api.twitter.com"  # hard-coded in tweepy.Client.request
START = 1_790_000_000.0  # 2026-09-21, epoch seconds


class ManualClock:
    """The fake server's clock for the 24-hour cap: time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RebasingSession(requests.Session):
    """What newsbot gives tweepy: requests to api.twitter.com go to `base_url`, with a default time-out."""

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        super().__init__()
        self.base_url = base_url
        self.timeout = timeout

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        url = url.decode() if isinstance(url, bytes) else url
        if url.startswith(TWEEPY_HOST):
            url = self.base_url + url[len(TWEEPY_HOST) :]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


def oauth1_client(fake: FakeX, *, timeout: float = 5.0, **options: Any) -> tweepy.Client:
    credentials: dict[str, Any] = {
        "consumer_key": fake.consumer_key,
        "consumer_secret": "cs-test",
        "access_token": fake.access_token,
        "access_token_secret": "ats-test",
    }
    credentials.update(options)
    client = tweepy.Client(**credentials)
    client.session = RebasingSession(fake.base_url, timeout)
    return client


def bearer_client(fake: FakeX, token: str | None = None) -> tweepy.Client:
    client = tweepy.Client(bearer_token=token or fake.bearer_token)
    client.session = RebasingSession(fake.base_url)
    return client


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[FakeX]:
    with FakeX(clock=clock) as server:
        yield server


# --- creating posts -------------------------------------------------------------------------------


def test_oauth1_create_round_trips_text_and_is_recorded_as_oauth1(fake: FakeX) -> None:
    response = oauth1_client(fake).create_tweet(text="Council approves the budget")

    assert response.data["text"] == "Council approves the budget"
    assert response.data["edit_history_tweet_ids"] == [response.data["id"]]
    [tweet] = fake.tweets
    assert (tweet.id, tweet.text, tweet.in_reply_to, tweet.auth) == (
        response.data["id"],
        "Council approves the budget",
        None,
        "oauth1",
    )
    [request] = fake.requests
    assert (request.method, request.path, request.json, request.auth, request.status) == (
        "POST",
        "/2/tweets",
        {"text": "Council approves the budget"},
        "oauth1",
        201,
    )


def test_bearer_user_token_creates_with_user_auth_false(fake: FakeX) -> None:
    response = bearer_client(fake).create_tweet(text="Posted with an OAuth 2 user token", user_auth=False)

    assert fake.tweets[0].id == response.data["id"]
    assert fake.tweets[0].auth == "bearer"


def test_bearer_client_with_tweepys_default_user_auth_fails_before_sending(fake: FakeX) -> None:
    with pytest.raises(TypeError, match="Consumer key"):
        bearer_client(fake).create_tweet(text="needs user_auth=False")

    assert fake.requests == []


def test_ids_are_increasing_19_digit_strings(fake: FakeX, clock: ManualClock) -> None:
    client = oauth1_client(fake)
    ids = []
    for n in range(3):
        ids.append(client.create_tweet(text=f"post {n}").data["id"])
        clock.advance(0.0 if n == 0 else 1.0)  # two posts in the same millisecond still get distinct ids

    assert all(len(i) == 19 and i.isdigit() for i in ids)
    assert [int(i) for i in ids] == sorted({int(i) for i in ids})


def test_reply_chain_links_each_post_to_the_previous_one(fake: FakeX) -> None:
    client = oauth1_client(fake)
    first = client.create_tweet(text="1/3 Thread about the vote").data["id"]
    second = client.create_tweet(text="2/3 The details", in_reply_to_tweet_id=first).data["id"]
    client.create_tweet(text="3/3 What comes next", in_reply_to_tweet_id=second)

    assert [t.in_reply_to for t in fake.tweets] == [None, first, second]
    assert fake.requests[1].json == {"text": "2/3 The details", "reply": {"in_reply_to_tweet_id": first}}


def test_reply_to_an_unknown_post_is_an_invalid_request(fake: FakeX) -> None:
    with pytest.raises(tweepy.BadRequest) as caught:
        oauth1_client(fake).create_tweet(text="orphan", in_reply_to_tweet_id="1999999999999999999")

    assert caught.value.response.json()["type"] == "https://api.twitter.com/2/problems/invalid-request"
    assert fake.tweets == []


def test_duplicate_text_is_forbidden_with_xs_message(fake: FakeX) -> None:
    client = oauth1_client(fake)
    client.create_tweet(text="Same story twice")

    with pytest.raises(tweepy.Forbidden) as caught:
        client.create_tweet(text="Same story twice")

    assert caught.value.api_messages == ["You are not allowed to create a Tweet with duplicate content."]
    assert "duplicate content" in str(caught.value)
    assert len(fake.tweets) == 1


def test_281_weighted_characters_are_refused_and_280_accepted(fake: FakeX) -> None:
    client = oauth1_client(fake)
    with pytest.raises(tweepy.BadRequest) as caught:
        client.create_tweet(text="中" * 141)  # CJK weighs 2: 282

    assert caught.value.api_messages == ["The text is too long"]
    assert caught.value.response.json()["title"] == "Invalid Request"
    client.create_tweet(text="中" * 140)  # 280
    assert [len(t.text) for t in fake.tweets] == [140]


def test_length_is_weighed_after_nfc_normalisation(fake: FakeX) -> None:
    decomposed = "e\u0301" * 280  # 560 code points, 280 characters once composed

    oauth1_client(fake).create_tweet(text=decomposed)

    assert fake.tweets[0].text == unicodedata.normalize("NFC", decomposed)


def test_answers_render_links_as_tco_and_escape_html_like_x(fake: FakeX) -> None:
    text = "Budget & schools <update>: https://news.example.com/2026/11/a-very-long-article-path?utm_source=feed"

    answered = oauth1_client(fake).create_tweet(text=text).data["text"]

    assert answered.startswith("Budget &amp; schools &lt;update&gt;: https://t.co/")
    assert len(answered.rsplit(" ", 1)[1]) == 23
    assert fake.tweets[0].text == text


# --- rate limits ----------------------------------------------------------------------------------


def test_every_create_answer_carries_both_rate_limit_header_families(fake: FakeX) -> None:
    client = oauth1_client(fake, return_type=requests.Response)

    headers = client.create_tweet(text="first").headers

    assert headers["x-rate-limit-limit"] == headers["x-user-limit-24hour-limit"] == str(DAILY_CREATE_LIMIT)
    assert headers["x-rate-limit-remaining"] == headers["x-user-limit-24hour-remaining"] == str(DAILY_CREATE_LIMIT - 1)
    assert headers["x-user-limit-24hour-reset"] == str(int(START + 86_400))


def test_injected_rate_limit_raises_too_many_requests_with_reset(fake: FakeX) -> None:
    fake.rate_limit(reset_in=600)
    client = oauth1_client(fake)

    with pytest.raises(tweepy.TooManyRequests) as caught:
        client.create_tweet(text="too soon")

    headers = caught.value.response.headers
    assert caught.value.reset_time == int(START + 600)
    assert (headers["x-rate-limit-remaining"], headers["x-rate-limit-reset"]) == ("0", str(int(START + 600)))
    assert headers["x-user-limit-24hour-remaining"] == str(DAILY_CREATE_LIMIT)  # not the daily cap
    assert fake.tweets == []
    client.create_tweet(text="too soon")  # `times` was 1
    assert len(fake.tweets) == 1


def test_injected_daily_rate_limit_also_zeroes_the_24_hour_headers(fake: FakeX) -> None:
    fake.rate_limit(reset_in=3600, daily=True)

    with pytest.raises(tweepy.TooManyRequests) as caught:
        oauth1_client(fake).create_tweet(text="over the cap")

    headers = caught.value.response.headers
    assert headers["x-user-limit-24hour-limit"] == str(DAILY_CREATE_LIMIT)
    assert headers["x-user-limit-24hour-remaining"] == "0"
    assert headers["x-user-limit-24hour-reset"] == str(int(START + 3600))


def test_free_tier_cap_refuses_the_18th_create_in_24_hours_until_a_slot_frees(fake: FakeX, clock: ManualClock) -> None:
    client = oauth1_client(fake)
    for n in range(DAILY_CREATE_LIMIT):
        client.create_tweet(text=f"story {n}")
        clock.advance(60)

    with pytest.raises(tweepy.TooManyRequests) as caught:
        client.create_tweet(text="one too many")

    headers = caught.value.response.headers
    assert headers["x-user-limit-24hour-remaining"] == "0"
    assert headers["x-user-limit-24hour-reset"] == str(int(START + 86_400))  # when the first post leaves the window
    assert caught.value.reset_time == int(START + 86_400)
    clock.now = START + 86_400 + 1
    client.create_tweet(text="one too many")
    assert len(fake.tweets) == DAILY_CREATE_LIMIT + 1


# --- other faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_raise_twitter_server_error_and_create_nothing(fake: FakeX, status: int) -> None:
    fake.fail(status)

    with pytest.raises(tweepy.TwitterServerError) as caught:
        oauth1_client(fake).create_tweet(text="during an outage")

    assert caught.value.response.status_code == status
    assert caught.value.response.json()["status"] == status
    assert fake.tweets == []


def test_service_unavailable_body_is_xs_problem(fake: FakeX) -> None:
    fake.fail()

    with pytest.raises(tweepy.TwitterServerError) as caught:
        oauth1_client(fake).create_tweet(text="during an outage")

    assert caught.value.response.json() == {
        "title": "Service Unavailable",
        "detail": "Service Unavailable",
        "type": "about:blank",
        "status": 503,
    }


def test_rejected_credentials_raise_unauthorized_on_every_endpoint(fake: FakeX) -> None:
    fake.reject_credentials()
    client = oauth1_client(fake)

    with pytest.raises(tweepy.Unauthorized) as caught:
        client.create_tweet(text="revoked keys")
    with pytest.raises(tweepy.Unauthorized):
        client.get_me()

    assert caught.value.response.json() == {
        "title": "Unauthorized",
        "type": "about:blank",
        "status": 401,
        "detail": "Unauthorized",
    }
    assert fake.tweets == []


@pytest.mark.parametrize(
    ("make_client", "user_auth"),
    [
        (lambda fake: oauth1_client(fake, consumer_key="ck-wrong"), True),
        (lambda fake: oauth1_client(fake, access_token="at-wrong"), True),
        (lambda fake: bearer_client(fake, "bearer-wrong"), False),
    ],
    ids=["wrong-consumer-key", "wrong-access-token", "wrong-bearer"],
)
def test_wrong_credentials_are_unauthorized(fake: FakeX, make_client: Any, user_auth: bool) -> None:
    with pytest.raises(tweepy.Unauthorized):
        make_client(fake).create_tweet(text="who am I", user_auth=user_auth)

    assert [r.status for r in fake.requests] == [401]


@pytest.mark.parametrize(
    ("authorization", "kind"),
    [
        (None, "none"),
        ('OAuth oauth_consumer_key="ck-test", oauth_token="at-test", oauth_nonce="1"', "oauth1"),  # unsigned
        ("Basic Y2stdGVzdDpjcy10ZXN0", "none"),
    ],
    ids=["no-header", "oauth1-without-signature", "basic"],
)
def test_missing_or_unsigned_authorization_is_unauthorized(fake: FakeX, authorization: str | None, kind: str) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = requests.post(f"{fake.base_url}/2/tweets", json={"text": "anonymous"}, headers=headers, timeout=5)

    assert response.status_code == 401
    assert (fake.requests[0].auth, fake.tweets) == (kind, [])


def test_forbid_raises_forbidden_not_permitted(fake: FakeX) -> None:
    fake.forbid()

    with pytest.raises(tweepy.Forbidden) as caught:
        oauth1_client(fake).create_tweet(text="read-only app")

    assert caught.value.api_messages == ["You are not permitted to perform this action."]
    assert fake.tweets == []


def test_create_then_drop_creates_the_post_but_the_client_sees_a_connection_error(fake: FakeX) -> None:
    fake.create_then_drop()

    with pytest.raises(requests.exceptions.ConnectionError):
        oauth1_client(fake).create_tweet(text="did it post?")

    assert [t.text for t in fake.tweets] == ["did it post?"]
    assert fake.requests[0].status == 0


def test_create_then_delay_creates_the_post_but_the_client_times_out(fake: FakeX) -> None:
    fake.create_then_delay(2.0)

    with pytest.raises(requests.exceptions.ReadTimeout):
        oauth1_client(fake, timeout=0.2).create_tweet(text="slow answer")

    assert [t.text for t in fake.tweets] == ["slow answer"]
    oauth1_client(fake, timeout=0.2).create_tweet(text="answered in time")  # `times` was 1


# --- reading --------------------------------------------------------------------------------------


def test_get_me_returns_the_account(fake: FakeX) -> None:
    user = oauth1_client(fake).get_me().data

    assert (user.id, user.username) == (4242, "newsbot_test")


def test_timeline_returns_the_latest_post_first(fake: FakeX, clock: ManualClock) -> None:
    client = oauth1_client(fake)
    for text in ("older post", "latest post"):
        client.create_tweet(text=text)
        clock.advance(1)

    timeline = client.get_users_tweets(fake.user_id, max_results=5, user_auth=True)

    assert [(str(t.id), t.text) for t in timeline.data] == [
        (x.id, x.text) for x in reversed(fake.tweets)
    ]  # Tweet.id is int
    assert timeline.data[0].text == "latest post"
    assert timeline.meta == {
        "result_count": 2,
        "newest_id": fake.tweets[1].id,
        "oldest_id": fake.tweets[0].id,
    }


def test_empty_timeline_has_no_data(fake: FakeX) -> None:
    timeline = oauth1_client(fake).get_users_tweets(fake.user_id, max_results=5, user_auth=True)

    assert (timeline.data, timeline.meta) == (None, {"result_count": 0})


def test_timeline_max_results_outside_5_to_100_is_an_invalid_request(fake: FakeX) -> None:
    with pytest.raises(tweepy.BadRequest, match="not between 5 and 100"):
        oauth1_client(fake).get_users_tweets(fake.user_id, max_results=3, user_auth=True)


def test_timeline_unavailable_raises_forbidden(fake: FakeX) -> None:
    fake.timeline_unavailable()

    with pytest.raises(tweepy.Forbidden) as caught:
        oauth1_client(fake).get_users_tweets(fake.user_id, max_results=5, user_auth=True)

    assert caught.value.response.json()["reason"] == "client-not-enrolled"


def test_unknown_path_is_not_found(fake: FakeX) -> None:
    response = requests.get(f"{fake.base_url}/2/spaces/search", timeout=5)

    assert response.status_code == 404
    assert response.json()["type"] == "https://api.twitter.com/2/problems/resource-not-found"


# --- v2 media: POST /2/media/upload (one shot), POST /2/media/metadata -------------------------------------------


def _png_1x1() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1, 1), "red").save(out, "PNG")
    return out.getvalue()


PNG_1X1 = _png_1x1()


def test_json_upload_then_alt_text_then_post_with_the_media_id(fake: FakeX) -> None:
    client = oauth1_client(fake)
    body = {"media": base64.b64encode(PNG_1X1).decode(), "media_category": "tweet_image", "media_type": "image/png"}
    answer = client.request("POST", "/2/media/upload", json=body, user_auth=True).json()["data"]
    media_id = answer["id"]
    assert answer == {"id": media_id, "media_key": f"3_{media_id}", "size": len(PNG_1X1), "expires_after_secs": 86400}
    alt = {"id": media_id, "metadata": {"alt_text": {"text": "A pixel"}}}
    described = client.request("POST", "/2/media/metadata", json=alt, user_auth=True).json()
    assert described == {"data": {"id": media_id, "associated_metadata": {"alt_text": {"text": "A pixel"}}}}
    client.create_tweet(text="with a pixel", media_ids=[media_id], user_auth=True)
    [media] = fake.media
    assert (media.data, media.mime_type, media.encoding, media.category, media.alt) == (
        PNG_1X1,
        "image/png",
        "json",
        "tweet_image",
        "A pixel",
    )
    assert fake.tweets[0].media_ids == (media_id,)


def test_multipart_upload_with_raw_bytes_is_accepted_too(fake: FakeX) -> None:
    response = requests.post(
        fake.base_url + "/2/media/upload",
        headers={"Authorization": f"Bearer {fake.bearer_token}"},
        files={"media": ("pixel.png", PNG_1X1, "image/png")},
        data={"media_category": "tweet_image"},
        timeout=5,
    )
    assert response.status_code == 200
    [media] = fake.media
    assert (media.id, media.data, media.encoding, media.auth) == (
        response.json()["data"]["id"],
        PNG_1X1,
        "multipart",
        "bearer",
    )
    assert sorted(media.fields) == ["media", "media_category"]


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"media": "aGVsbG8="}, "media_category"),  # the category is required
        ({"media": "aGVsbG8=", "media_category": "tweet_video"}, "media_category"),  # videos go chunked
        ({"media_category": "tweet_image"}, "media"),
        ({"media": "not base64!", "media_category": "tweet_image"}, "media"),
        ({"media": "aGVsbG8=", "media_category": "tweet_image"}, "media"),  # "hello" is no image
    ],
)
def test_bad_upload_is_an_invalid_request_and_stores_nothing(fake: FakeX, body: dict[str, str], parameter: str) -> None:
    with pytest.raises(tweepy.BadRequest) as raised:
        oauth1_client(fake).request("POST", "/2/media/upload", json=body, user_auth=True)
    assert list(raised.value.response.json()["errors"][0]["parameters"]) == [parameter]
    assert fake.media == []


def test_alt_text_for_an_unknown_media_id_or_over_1000_characters_is_an_invalid_request(fake: FakeX) -> None:
    client = oauth1_client(fake)
    body = {"media": base64.b64encode(PNG_1X1).decode(), "media_category": "tweet_image"}
    media_id = client.request("POST", "/2/media/upload", json=body, user_auth=True).json()["data"]["id"]
    for alt in (
        {"id": "1", "metadata": {"alt_text": {"text": "x"}}},
        {"id": media_id, "metadata": {"alt_text": {"text": "x" * 1001}}},
    ):
        with pytest.raises(tweepy.BadRequest):
            client.request("POST", "/2/media/metadata", json=alt, user_auth=True)
    assert fake.media[0].alt == ""


def test_upload_needs_credentials_and_fail_uploads_answers_a_problem(fake: FakeX) -> None:
    body = {"media": base64.b64encode(PNG_1X1).decode(), "media_category": "tweet_image"}
    with pytest.raises(tweepy.Unauthorized):
        bearer_client(fake, "wrong-token").request("POST", "/2/media/upload", json=body)
    fake.fail_uploads(503)
    with pytest.raises(tweepy.TwitterServerError) as raised:
        bearer_client(fake).request("POST", "/2/media/upload", json=body)
    assert raised.value.response.json()["detail"] == "Service Unavailable"
    assert fake.media == []


def test_retired_v1_1_upload_is_not_served(fake: FakeX) -> None:
    response = requests.post(
        fake.base_url + "/1.1/media/upload.json",
        headers={"Authorization": f"Bearer {fake.bearer_token}"},
        files={"media": ("pixel.png", PNG_1X1, "image/png")},
        timeout=5,
    )
    assert response.status_code == 404 and fake.media == []


def test_fixture_yields_a_started_server(fake_x: FakeX) -> None:
    assert fake_x.base_url.startswith("http://127.0.0.1:")
    assert bearer_client(fake_x).get_me(user_auth=False).data.username == "newsbot_test"
