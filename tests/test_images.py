"""`ImageLoader.load` against real images served by a real HTTP server on 127.0.0.1 (and 127.0.0.2, which must
never be connected to); and images on X, through tweepy over real HTTP to the fake X API."""

from __future__ import annotations

import base64
import io
import logging
import socket
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.app import App
from bot.config import Config, XConfig, parse_config
from bot.images import ImageLimits, ImageLoader, _RecentDownloads
from bot.models import Post
from bot.publishers import FileSink
from bot.publishers.x import XCredentials, XPublisher
from tests.conftest import FakeClock
from tests.fakes.x_api import FakeX

LIMITS = ImageLimits(max_bytes=200_000, max_side=1000, max_alt_chars=60)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _noise(width: int, height: int) -> Image.Image:
    """Random pixels: what compresses worst, so the byte limit must be worked for."""
    import random

    randomness = random.Random(7)
    return Image.frombytes("RGB", (width, height), randomness.randbytes(width * height * 3))


def _gradient(width: int, height: int) -> Image.Image:
    return Image.linear_gradient("L").resize((width, height)).convert("RGB")


def _rotated_jpeg_with_gps() -> bytes:
    """400×200 stored (red left, blue right), EXIF orientation 6 (show rotated 90° clockwise), a GPS position."""
    image = Image.new("RGB", (400, 200), "blue")
    image.paste((255, 0, 0), (0, 0, 200, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    exif[0x010F] = "SpyCam"  # Make
    exif.get_ifd(0x8825)[2] = (51.0, 30.0, 0.0)  # GPSLatitude
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=95)
    return out.getvalue()


def _bomb() -> bytes:
    """A valid PNG header declaring 100,000 × 100,000 pixels, with almost no data behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )


def _transparent_png() -> bytes:
    image = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    image.paste((0, 128, 0, 255), (100, 100, 200, 200))
    return _png(image)


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (120, 80), colour) for colour in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


@dataclass
class _Images:
    """What the server serves: path → (body, content type)."""

    bodies: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, images: _Images) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.images = images
        self.release = threading.Event()

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the client hanging up on a too-large or too-slow answer is what those tests want


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.images.requests.append(self.path)
        if self.path == "/slow.png":
            self.server.release.wait(3)
        path = self.path.split("?")[0]
        found = self.server.images.bodies.get("/big.png" if path == "/slow.png" else path)
        if found is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body, content_type = found
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass(frozen=True)
class Site:
    server: _Server
    images: _Images

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    images = _Images()
    images.bodies.update(
        {
            "/big.png": (_png(_gradient(3000, 2000)), "image/png"),
            "/noise.png": (_png(_noise(1200, 900)), "image/png"),
            "/rotated.jpg": (_rotated_jpeg_with_gps(), "image/jpeg"),
            "/bomb.png": (_bomb(), "image/png"),
            "/page.html": (b"<!doctype html><title>Not an image</title>", "text/html"),
            "/logo.png": (_transparent_png(), "image/png"),
            "/anim.gif": (_animated_gif(), "image/gif"),
        }
    )
    server = _Server(images)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield Site(server, images)
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _config(site: Site, **source: Any) -> Config:
    """A config whose source "harbour" is on the test server (so its images may come from 127.0.0.1)."""
    return parse_config({"sources": [{"name": "harbour", "url": site.url("/feed.xml"), **source}]})


def _post(url: str, alt: str = "Ships back in the harbour", source: str = "harbour") -> Post:
    return Post("k1", "x", "Ships are back", 14, 280, image_url=url, image_alt=alt, source=source)


def _load(config: Config, post: Post, limits: ImageLimits = LIMITS) -> Any:
    loader = ImageLoader(config, recent=_RecentDownloads())  # each test fetches afresh
    try:
        return loader.load(post, limits)
    finally:
        loader.close()


def _skipped(caplog: pytest.LogCaptureFixture) -> str:
    lines = [record.getMessage() for record in caplog.records if "event=image_skipped" in record.getMessage()]
    assert len(lines) == 1, lines
    return lines[0]


# --- what load gives --------------------------------------------------------------------------------------------


def test_large_png_is_resized_to_the_longest_side_and_within_the_byte_limit(site: Site) -> None:
    image = _load(_config(site), _post(site.url("/big.png")))
    assert (image.width, image.height) == (1000, 667)
    assert len(image.data) <= LIMITS.max_bytes
    assert image.mime_type == "image/jpeg" and image.filename == "image.jpg"
    with Image.open(io.BytesIO(image.data)) as sent:
        assert sent.format == "JPEG" and sent.size == (1000, 667)
    assert image.alt == "Ships back in the harbour"


def test_noisy_image_is_compressed_until_it_fits_the_byte_limit(site: Site) -> None:
    limits = ImageLimits(max_bytes=60_000, max_side=1000, max_alt_chars=100)
    image = _load(_config(site), _post(site.url("/noise.png")), limits)
    assert len(image.data) <= 60_000
    assert max(image.width, image.height) <= 1000
    with Image.open(io.BytesIO(image.data)) as sent:
        sent.load()
        assert sent.size == (image.width, image.height)


def test_exif_orientation_is_applied_and_metadata_dropped(site: Site) -> None:
    image = _load(_config(site), _post(site.url("/rotated.jpg")))
    assert (image.width, image.height) == (200, 400)  # stood upright
    with Image.open(io.BytesIO(image.data)) as sent:
        red, _green, blue = sent.convert("RGB").getpixel((100, 50))  # the stored left half is now on top
        assert red > 200 and blue < 60
        assert dict(sent.getexif()) == {}  # no orientation left to apply twice, no camera, no GPS position
        assert b"SpyCam" not in image.data


def test_transparent_png_stays_png(site: Site) -> None:
    image = _load(_config(site), _post(site.url("/logo.png")))
    assert image.mime_type == "image/png" and image.filename == "image.png"
    with Image.open(io.BytesIO(image.data)) as sent:
        assert sent.mode == "RGBA" and sent.getpixel((0, 0))[3] == 0


def test_transparent_png_becomes_jpeg_where_the_network_takes_no_png(site: Site) -> None:
    limits = ImageLimits(max_bytes=200_000, max_side=1000, max_alt_chars=60, mime_types=("image/jpeg",))
    image = _load(_config(site), _post(site.url("/logo.png")), limits)
    assert image.mime_type == "image/jpeg"


def test_animated_gif_gives_its_first_frame(site: Site) -> None:
    image = _load(_config(site), _post(site.url("/anim.gif")))
    assert (image.width, image.height) == (120, 80)
    with Image.open(io.BytesIO(image.data)) as sent:
        red, green, _blue = sent.convert("RGB").getpixel((10, 10))
        assert red > 200 and green < 60


def test_long_alt_text_is_shortened_at_a_word_boundary(site: Site) -> None:
    alt = "Three container ships wait outside the harbour of Rotterdam while tugboats guide a fourth"
    image = _load(_config(site), _post(site.url("/rotated.jpg"), alt=alt))
    assert image.alt == "Three container ships wait outside the harbour of Rotterdam…"
    assert len(image.alt) <= LIMITS.max_alt_chars


def test_alt_text_is_cleaned_and_never_empty(site: Site) -> None:
    image = _load(_config(site), _post(site.url("/rotated.jpg"), alt="Ships\u202e\x07 <and>\n tugs"))
    assert image.alt == "Ships <and> tugs"  # plain text (a title, or feed text cleaned when read): kept as it says
    image = _load(_config(site), _post(site.url("/rotated.jpg"), alt="  "))
    assert image.alt == "Image"


def test_no_image_url_gives_none_without_a_request(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    assert _load(_config(site), _post("")) is None
    assert "image_skipped" not in caplog.text


# --- what load refuses, and says why ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "source", "reason"),
    [
        ("/bomb.png", {}, "decompression bomb"),
        ("/page.html", {}, "not an image"),
        ("/missing.png", {}, "HTTP 404"),
        ("/big.png", {"max_bytes": 5000}, "larger than 5000 bytes"),
        ("/slow.png", {"timeout": 0.5}, "timed out after 0.5 s"),
    ],
)
def test_an_image_that_cannot_be_had_gives_none_and_one_log_line(
    site: Site, caplog: pytest.LogCaptureFixture, path: str, source: dict[str, Any], reason: str
) -> None:
    caplog.set_level(logging.INFO, "newsbot.images")
    assert _load(_config(site, **source), _post(site.url(path))) is None
    line = _skipped(caplog)
    assert reason in line
    assert f"url={site.url(path)}" in line


def test_url_credentials_are_not_logged(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    host, port = site.server.server_address[:2]
    assert _load(_config(site), _post(f"http://user:hunter22@{host!s}:{port}/missing.png?token=s3cret")) is None
    line = _skipped(caplog)
    assert "hunter22" not in line and "s3cret" not in line


# --- the address rule ------------------------------------------------------------------------------------------


@dataclass
class _Listener:
    """A listening socket on 127.0.0.2 that counts the connections anyone made to it."""

    sock: socket.socket
    accepted: list[socket.socket] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def connections(self) -> int:
        while True:
            try:
                self.accepted.append(self.sock.accept()[0])
            except BlockingIOError:
                return len(self.accepted)


@pytest.fixture
def other_origin() -> Iterator[_Listener]:
    sock = socket.socket()
    sock.bind(("127.0.0.2", 0))
    sock.listen(8)
    sock.setblocking(False)
    listener = _Listener(sock)
    yield listener
    for connection in listener.accepted:
        connection.close()
    sock.close()


@pytest.mark.allow_hosts(["127.0.0.1", "127.0.0.2"])
def test_image_on_another_private_origin_is_refused_before_connecting(
    site: Site, other_origin: _Listener, caplog: pytest.LogCaptureFixture
) -> None:
    """The source is on 127.0.0.1 and may be; its image on 127.0.0.2 is another origin: public addresses only."""
    assert _load(_config(site), _post(f"http://127.0.0.2:{other_origin.port}/photo.jpg")) is None
    assert other_origin.connections() == 0  # refused before any connection was made
    line = _skipped(caplog)
    assert "127.0.0.2 is a loopback address" in line


def test_image_of_a_source_added_in_chat_must_be_public(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    """A source that is not in the config file may not reach private addresses, nor may its images."""
    requests_before = len(site.images.requests)
    assert _load(_config(site), _post(site.url("/big.png"), source="added-in-chat")) is None
    assert len(site.images.requests) == requests_before
    assert "loopback address" in _skipped(caplog)


@pytest.mark.allow_hosts(["127.0.0.1", "127.0.0.2"])
def test_allow_private_lets_an_image_come_from_anywhere(site: Site) -> None:
    config = parse_config({"fetch": {"allow_private": True}})
    host_port = site.url("/rotated.jpg").replace("127.0.0.1", "localhost")
    assert _load(config, _post(host_port, source="added-in-chat")) is not None


# --- one download for several networks ------------------------------------------------------------------------


def test_one_article_for_three_networks_is_fetched_once(site: Site) -> None:
    config = _config(site)
    recent = _RecentDownloads()
    post = _post(site.url("/rotated.jpg") + "?once")
    limits = [LIMITS, ImageLimits(max_bytes=1_000_000, max_side=2000, max_alt_chars=1500), LIMITS]
    loaded = []
    for network_limits in limits:
        loader = ImageLoader(config, recent=recent)
        loaded.append(loader.load(post, network_limits))
        loader.close()
    assert all(image is not None for image in loaded)
    assert site.images.requests.count("/rotated.jpg?once") == 1


def test_a_failed_fetch_is_tried_again_a_minute_later_and_a_good_one_kept_for_ten(site: Site) -> None:
    config = _config(site)
    now = [0.0]
    recent = _RecentDownloads(now=lambda: now[0])
    missing, good = _post(site.url("/missing.png") + "?later"), _post(site.url("/rotated.jpg") + "?kept")
    loader = ImageLoader(config, recent=recent)
    assert loader.load(missing, LIMITS) is None and loader.load(good, LIMITS) is not None
    now[0] = 30.0  # the same article's other networks, moments later: nothing fetched again
    assert loader.load(missing, LIMITS) is None and loader.load(good, LIMITS) is not None
    assert site.images.requests.count("/missing.png?later") == site.images.requests.count("/rotated.jpg?kept") == 1
    now[0] = 90.0  # a retry of the post later: the failed image is tried again, the good one still kept
    site.images.bodies["/missing.png"] = site.images.bodies["/rotated.jpg"]
    assert loader.load(missing, LIMITS) is not None and loader.load(good, LIMITS) is not None
    assert (
        site.images.requests.count("/missing.png?later") == 2 and site.images.requests.count("/rotated.jpg?kept") == 1
    )
    del site.images.bodies["/missing.png"]
    loader.close()


# --- on X: newsbot → tweepy's Client → real HTTP → the fake X API v2 (POST /2/media/upload, /2/media/metadata) ------

X_KEYS = ("ck-test", "cs-test", "at-test", "ats-test")
X_ENV = (
    "NEWSBOT_X_CONSUMER_KEY",
    "NEWSBOT_X_CONSUMER_SECRET",
    "NEWSBOT_X_ACCESS_TOKEN",
    "NEWSBOT_X_ACCESS_TOKEN_SECRET",
    "NEWSBOT_X_BEARER_TOKEN",
)
MEDIA_PATHS = ["/2/media/upload", "/2/media/metadata", "/2/tweets"]


def _x_publisher(fake_x: FakeX, config: Config, credentials: XCredentials | None = None) -> XPublisher:
    x_config = XConfig(api_base_url=fake_x.base_url, request_timeout=2)
    return XPublisher(
        x_config, credentials or XCredentials(*X_KEYS), images=ImageLoader(config, recent=_RecentDownloads())
    )


def _assert_image_upload_on_the_wire(fake_x: FakeX, alt: str, auth: str) -> None:
    """One v2 upload (JSON, base64 `media`, tweet_image), then its alt text, then the post naming the media id."""
    [media] = fake_x.media
    [tweet] = fake_x.tweets
    upload, metadata, create = fake_x.requests
    assert [upload.path, metadata.path, create.path] == MEDIA_PATHS
    assert {upload.auth, metadata.auth, create.auth, media.auth, tweet.auth} == {auth}
    assert upload.status == metadata.status == 200 and create.status == 201
    assert upload.json is not None and sorted(upload.json) == ["media", "media_category", "media_type"]
    assert (media.encoding, media.category, media.declared_type) == ("json", "tweet_image", media.mime_type)
    assert base64.b64decode(upload.json["media"]) == media.data
    assert metadata.json == {"id": media.id, "metadata": {"alt_text": {"text": alt}}}
    assert media.alt == alt
    assert create.json is not None and create.json["media"] == {"media_ids": [media.id]}
    assert tweet.media_ids == (media.id,)


def test_x_post_carries_the_image_within_xs_limits_and_its_alt_text(site: Site, fake_x: FakeX) -> None:
    publisher = _x_publisher(fake_x, _config(site))
    receipt = publisher.publish(_post(site.url("/big.png")))
    publisher.close()
    _assert_image_upload_on_the_wire(fake_x, "Ships back in the harbour", "oauth1")
    [media] = fake_x.media
    assert receipt.remote_id == fake_x.tweets[0].id
    assert media.mime_type == "image/jpeg" and len(media.data) <= 5_000_000
    with Image.open(io.BytesIO(media.data)) as sent:
        assert sent.size == (3000, 2000)  # within 4096: not resized


def test_x_bearer_token_alone_posts_with_the_image(site: Site, fake_x: FakeX) -> None:
    """An OAuth 2.0 user token, which v1.1's upload refused: v2 takes the upload, the alt text and the post."""
    publisher = _x_publisher(fake_x, _config(site), XCredentials(bearer_token=fake_x.bearer_token))
    receipt = publisher.publish(_post(site.url("/rotated.jpg")))
    publisher.close()
    _assert_image_upload_on_the_wire(fake_x, "Ships back in the harbour", "bearer")
    assert receipt.remote_id == fake_x.tweets[0].id


def test_x_thread_has_the_image_on_its_first_post_only(site: Site, fake_x: FakeX) -> None:
    publisher = _x_publisher(fake_x, _config(site))
    post = replace(_post(site.url("/rotated.jpg")), parts=("Part one", "Part two", "Part three"))
    publisher.publish(post)
    publisher.close()
    first, second, third = fake_x.tweets
    assert len(first.media_ids) == 1 and second.media_ids == () and third.media_ids == ()
    assert second.in_reply_to == first.id
    assert [request.path for request in fake_x.requests].count("/2/media/upload") == 1


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (503, "X refused the upload (503): Service Unavailable"),
        (429, "X refused the upload (429): Too Many Requests"),
        (403, "X refused the upload (403): Forbidden"),  # e.g. an OAuth 2.0 token without the media.write scope
    ],
)
def test_x_failed_upload_posts_without_the_image(
    site: Site, fake_x: FakeX, caplog: pytest.LogCaptureFixture, status: int, reason: str
) -> None:
    fake_x.fail_uploads(status)
    publisher = _x_publisher(fake_x, _config(site))
    publisher.publish(_post(site.url("/rotated.jpg")))
    publisher.close()
    [tweet] = fake_x.tweets
    assert tweet.media_ids == () and fake_x.media == []
    assert [(request.path, request.status) for request in fake_x.requests] == [
        ("/2/media/upload", status),
        ("/2/tweets", 201),
    ]
    assert "event=x_image_skipped" in caplog.text and reason in caplog.text


def test_x_image_that_cannot_be_had_posts_without_it(site: Site, fake_x: FakeX) -> None:
    publisher = _x_publisher(fake_x, _config(site))
    publisher.publish(_post(site.url("/missing.png")))
    publisher.close()
    [tweet] = fake_x.tweets
    assert tweet.media_ids == ()
    assert [request.path for request in fake_x.requests] == ["/2/tweets"]


@pytest.mark.parametrize(
    ("environment", "auth"),
    [
        (dict(zip(X_ENV[:4], X_KEYS, strict=True)), "oauth1"),
        ({"NEWSBOT_X_BEARER_TOKEN": "bearer-test"}, "bearer"),  # the OAuth 2.0 user token alone
    ],
    ids=["oauth1", "bearer-only"],
)
def test_feed_image_text_reaches_x_as_alt_text(
    site: Site,
    fake_x: FakeX,
    make_config: Callable[..., Config],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    auth: str,
) -> None:
    """End to end: a feed on 127.0.0.1 with a Media RSS image and its description → the post on X with both, with
    either kind of credentials in the environment."""
    for name in X_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    site.images.bodies["/feed.xml"] = (
        (
            '<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>'
            "<title>Harbour</title><item><title>Ferries return to the harbour</title>"
            "<link>https://news.example.com/ferries</link><description>The ferries are back. #Harbour</description>"
            f'<media:content url="{site.url("/rotated.jpg")}" medium="image">'
            "<media:description>Two ferries at the quay at dawn</media:description></media:content></item>"
            "</channel></rss>"
        ).encode(),
        "application/rss+xml",
    )
    config = make_config(
        output={"dir": str(tmp_path / "out"), "dry_run": False},
        sources=[{"name": "harbour", "url": site.url("/feed.xml"), "backfill": 1}],
        routes=[{"name": "all", "hashtags": ["*"], "channels": ["x"]}],
        x={"api_base_url": fake_x.base_url, "request_timeout": 2},
    )
    with App(config, clock=FakeClock()) as app:
        app.run_cycle(poll_all=True)
        [article] = app.store.recent_articles(1)
    assert article.image_alt == "Two ferries at the quay at dawn"
    _assert_image_upload_on_the_wire(fake_x, "Two ferries at the quay at dawn", auth)


def test_dry_run_notes_the_image_and_its_alt_text_without_fetching_it(tmp_path: Path) -> None:
    post = _post("https://cdn.example.com/harbour.jpg", alt="Two ferries at the quay")
    receipt = FileSink(tmp_path, "x").publish(post)
    written = Path(receipt.remote_id)
    assert written.read_text(encoding="utf-8") == "Ships are back\n"
    noted = written.with_suffix(".image").read_text(encoding="utf-8")
    assert noted == "https://cdn.example.com/harbour.jpg\nalt: Two ferries at the quay\n"
