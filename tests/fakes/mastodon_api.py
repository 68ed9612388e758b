"""A fake Mastodon instance for tests: real HTTP on 127.0.0.1, so Mastodon.py and requests are never mocked.

    with FakeMastodon() as fake:
        api = Mastodon(access_token=fake.token, api_base_url=fake.base_url)
        api.status_post("hello")

The server answers like a Mastodon 4.3 instance for the endpoints newsbot uses: GET /api/v1/instance and
/api/v2/instance (with configuration.statuses.max_characters, or without it: `max_characters=None`),
GET /api/v1/accounts/verify_credentials, POST /api/v1/statuses (form or JSON, as Mastodon.py sends it; the
Idempotency-Key header gives the same status for the same key; 422 when the text and content warning are over the
limit, links counted 23), GET /api/v1/accounts/:id/statuses, POST /api/v2/media (multipart, with `description`).
Every answer carries X-RateLimit-Limit/Remaining/Reset (ISO 8601); a spent window answers 429.

`random_faults` gives status creates seeded random faults, as FakeX's: 429 with Remaining 0 and a Reset of its
own, 503 before anything is created, and after the status was created a late answer (past the client's
time-out), a dropped connection, or a slow answer. `answers` (tests.fakes.answer_gate), while the test keeps it
closed, holds the answer of every status created.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import pytest
import twitter_text
from aiohttp import web

from tests.fakes.aiohttp_thread import ThreadedAiohttpServer
from tests.fakes.answer_gate import AnswerGate
from tests.fakes.telegram_api import InjectedFault, RandomFaults, RandomFaultsReport

__all__ = ["MASTODON_FAULT_KINDS", "FakeMastodon", "Media", "Request", "Status", "fake_mastodon"]

JSON = dict[str, Any]
VERSION: Final = "4.3.0"
ACCOUNT_ID: Final = "109000000000000001"
URL_CHARS: Final = 23
_ACCOUNT_STATUSES: Final = re.compile(r"^/api/v1/accounts/([^/]+)/statuses/?$")
MASTODON_FAULT_KINDS: Final = ("429", "5xx", "timeout", "drop", "slow")


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request received: `form` holds the form or JSON fields (lists for repeated keys)."""

    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, Any]
    status: int  # answered; 0 when the connection was dropped
    at: float = 0.0  # wall time of arrival
    fault: str = ""  # the random fault it got (see `FakeMastodon.random_faults`), "" for none


@dataclass(frozen=True, slots=True)
class Status:
    id: str
    text: str
    spoiler_text: str
    visibility: str
    language: str | None
    in_reply_to_id: str | None
    media_ids: tuple[str, ...]
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class Media:
    id: str
    data: bytes
    mime_type: str
    filename: str
    description: str


@dataclass
class FakeMastodon(RandomFaultsReport, ThreadedAiohttpServer):
    """State is readable from the test thread; set the knobs before the requests they should affect."""

    token: str = "mastodon-test-token"
    max_characters: int | None = 500  # None: the instance does not say
    window: int = 300  # requests per window (X-RateLimit-Limit)
    window_seconds: float = 300.0
    statuses: list[Status] = field(default_factory=list)
    media: list[Media] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    create_status: int = 0  # answer status creates with this error status (401, 422, 503, ...); 0: normally
    media_status: int = 0  # answer media uploads with this error status; 0: normally
    timeline_status: int = 0  # answer account statuses with this error status; 0: normally
    drop_creates: int = 0  # this many status creates are made, then the connection is dropped without an answer

    def __post_init__(self) -> None:
        super().__init__()
        self.server_name = "fake Mastodon"
        self.client_max_size = 20 * 1024**2
        self._lock = threading.Lock()
        self._ids = itertools.count(110000000000000001)
        self._remaining = self.window
        self._reset_at = time.time() + self.window_seconds
        self._by_key: dict[tuple[str, str], Status] = {}
        self._random: RandomFaults | None = None
        self._random_reset_in = 300.0
        self._random_delays = (1.0, 0.2)  # (timeout, slow)
        self.answers = AnswerGate()  # holds the answers of statuses created while it is closed

    # -- knobs ----------------------------------------------------------------------------------------

    def spend_window(self, reset_in: float = 120.0) -> None:
        """Nothing remains in this window until `reset_in` seconds from now: every request answers 429."""
        with self._lock:
            self._remaining = 0
            self._reset_at = time.time() + reset_in

    def creates(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/api/v1/statuses"]

    def random_faults(
        self,
        rate: float,
        kinds: Iterable[str] = MASTODON_FAULT_KINDS,
        *,
        seed: int = 0,
        reset_in: float = 300.0,
        timeout_delay: float = 1.0,
        slow_delay: float = 0.2,
    ) -> None:
        """From now on each authorised status create gets, with probability `rate`, one of `kinds`:

        * "429": X-RateLimit-Remaining 0 and X-RateLimit-Reset `reset_in` s ahead (ISO 8601), nothing created;
        * "5xx": 503, nothing created;
        * "timeout": created (or found by its Idempotency-Key), answered after `timeout_delay` s;
        * "drop": created, then the connection is closed without an answer;
        * "slow": created, answered after `slow_delay` s (below the client's time-out).

        `fault_log` has them all (`at`: wall time, `retry_after`: the 429's announced wait); the account's
        statuses are never faulted, so a client can look a status up.
        """
        with self._lock:
            self._random = RandomFaults(rate, kinds, seed, MASTODON_FAULT_KINDS)
            self._random_reset_in = reset_in
            self._random_delays = (timeout_delay, slow_delay)

    # -- the server -----------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        form = await _fields(request)
        headers = {name.lower(): value for name, value in request.headers.items()}
        delay = 0.0
        with self._lock:
            arrived = time.time()
            path = request.path.rstrip("/") or "/"
            fault = self._random_fault(request.method, path, headers)
            if fault in ("429", "5xx"):
                status, body, drop = self._refused_at_random(fault, arrived)
            else:
                status, body, drop = self._answer(request.method, path, headers, form, request.query)
                if fault is not None and status == 200:
                    drop, delay = self._after_create_fault(fault, arrived)
            injected = fault if fault and (fault in ("429", "5xx") or status == 200) else ""  # as fault_log has it
            self.requests.append(Request(request.method, path, headers, form, 0 if drop else status, arrived, injected))
            limit_headers = self._limit_headers()
            if fault == "429":
                reset = _iso(arrived + self._random_reset_in)
                limit_headers.update({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
        if drop and request.transport is not None:
            request.transport.abort()
            return web.Response(status=500)  # never reaches the client
        if (request.method, path, status) == ("POST", "/api/v1/statuses", 200):
            await self.answers.hold()  # the status is made; its answer waits while the test holds the gate
        await asyncio.sleep(delay)
        return web.Response(
            status=status, text=json.dumps(body), content_type="application/json", headers=limit_headers
        )

    def _random_fault(self, method: str, path: str, headers: dict[str, str]) -> str | None:
        """This request's random fault: only authorised status creates get one (lock held)."""
        if self._random is None or (method, path) != ("POST", "/api/v1/statuses"):
            return None
        if headers.get("authorization") != f"Bearer {self.token}":
            return None
        return self._random.pick()

    def _refused_at_random(self, fault: str, now: float) -> tuple[int, Any, bool]:
        assert self._random is not None
        retry = self._random_reset_in if fault == "429" else 0.0
        self._random.record(InjectedFault(fault, "", now, retry_after=retry))
        if fault == "429":
            return 429, {"error": "Too many requests"}, False
        return 503, {"error": "Service Unavailable"}, False

    def _after_create_fault(self, fault: str, now: float) -> tuple[bool, float]:
        """(drop the connection, seconds to wait before answering) for a create that was carried out."""
        assert self._random is not None
        self._random.record(InjectedFault(fault, "", now, delivered=fault in ("timeout", "drop")))
        timeout_delay, slow_delay = self._random_delays
        if fault == "drop":
            return True, 0.0
        return False, timeout_delay if fault == "timeout" else slow_delay

    def _answer(
        self, method: str, path: str, headers: dict[str, str], form: dict[str, Any], query: Any
    ) -> tuple[int, Any, bool]:
        if path in ("/api/v1/instance", "/api/v2/instance") and method == "GET":
            return 200, self._instance(path), False
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"error": "The access token is invalid"}, False
        if time.time() >= self._reset_at:
            self._remaining, self._reset_at = self.window, time.time() + self.window_seconds
        if self._remaining <= 0:
            return 429, {"error": "Too many requests"}, False
        self._remaining -= 1
        if path == "/api/v1/accounts/verify_credentials" and method == "GET":
            return 200, _account(), False
        if path == "/api/v1/statuses" and method == "POST":
            return self._create(headers, form)
        if path == "/api/v2/media" and method == "POST":
            return self._upload(form)
        timeline = _ACCOUNT_STATUSES.match(path)
        if timeline and method == "GET":
            if self.timeline_status:
                return self.timeline_status, {"error": "Something went wrong"}, False
            limit = int(query.get("limit", 20))
            mine = [s for s in reversed(self.statuses)][:limit] if timeline.group(1) == ACCOUNT_ID else []
            return 200, [self._json(s) for s in mine], False
        return 404, {"error": "Record not found"}, False

    def _instance(self, path: str) -> JSON:
        statuses: JSON = {"max_media_attachments": 4, "characters_reserved_per_url": URL_CHARS}
        if self.max_characters is not None:
            statuses["max_characters"] = self.max_characters
        common: JSON = {"version": VERSION, "title": "Fake", "configuration": {"statuses": statuses}}
        if path.startswith("/api/v2"):
            return {**common, "domain": "fake.example", "api_versions": {"mastodon": 2}}
        return {**common, "uri": "fake.example"}

    def _create(self, headers: dict[str, str], form: dict[str, Any]) -> tuple[int, Any, bool]:
        if self.create_status:
            return self.create_status, {"error": f"refused with {self.create_status}"}, False
        key = headers.get("idempotency-key", "")
        if key and (self.token, key) in self._by_key:
            return 200, self._json(self._by_key[(self.token, key)]), False
        text = _one(form, "status")
        spoiler = _one(form, "spoiler_text")
        limit = self.max_characters or 500
        if _counted(text) + len(spoiler) > limit:
            return 422, {"error": f"Validation failed: Text character limit of {limit} exceeded"}, False
        reply_to = _one(form, "in_reply_to_id")
        if reply_to and reply_to not in {status.id for status in self.statuses}:  # as Mastodon: 404, not 422
            return 404, {"error": "The post you are trying to reply to does not appear to exist."}, False
        media_ids = tuple(_many(form, "media_ids"))
        if any(m not in {media.id for media in self.media} for m in media_ids):
            return 422, {"error": "Validation failed: media not found"}, False
        status = Status(
            id=str(next(self._ids)),
            text=text,
            spoiler_text=spoiler,
            visibility=_one(form, "visibility") or "public",
            language=_one(form, "language") or None,
            in_reply_to_id=_one(form, "in_reply_to_id") or None,
            media_ids=media_ids,
            idempotency_key=key,
        )
        self.statuses.append(status)
        if key:
            self._by_key[(self.token, key)] = status
        if self.drop_creates > 0:
            self.drop_creates -= 1
            return 200, None, True
        return 200, self._json(status), False

    def _upload(self, form: dict[str, Any]) -> tuple[int, Any, bool]:
        if self.media_status:
            return self.media_status, {"error": "Validation failed: File could not be processed"}, False
        upload = form.get("file")
        if not isinstance(upload, tuple):
            return 422, {"error": "Validation failed: File can't be blank"}, False
        data, mime, filename = upload
        media = Media(str(next(self._ids)), data, mime, filename, _one(form, "description"))
        self.media.append(media)
        return 202, {"id": media.id, "type": "image", "url": None, "description": media.description}, False

    def _json(self, status: Status) -> JSON:
        return {
            "id": status.id,
            "uri": f"https://fake.example/users/newsbot/statuses/{status.id}",
            "url": f"https://fake.example/@newsbot/{status.id}",
            "created_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "content": _html(status.text),
            "spoiler_text": status.spoiler_text,
            "sensitive": bool(status.spoiler_text),
            "visibility": status.visibility,
            "language": status.language,
            "in_reply_to_id": status.in_reply_to_id,
            "in_reply_to_account_id": ACCOUNT_ID if status.in_reply_to_id else None,
            "media_attachments": [{"id": m, "type": "image"} for m in status.media_ids],
            "account": _account(),
            "mentions": [],
            "tags": [],
            "emojis": [],
            "reblogs_count": 0,
            "favourites_count": 0,
            "replies_count": 0,
        }

    def _limit_headers(self) -> dict[str, str]:
        reset = _iso(self._reset_at)
        return {
            "X-RateLimit-Limit": str(self.window),
            "X-RateLimit-Remaining": str(max(self._remaining, 0)),
            "X-RateLimit-Reset": reset,
        }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def _fields(request: web.Request) -> dict[str, Any]:
    """Form fields (repeated ones as lists), JSON fields, or multipart parts (a file as (data, type, name))."""
    if request.content_type == "application/json":
        body = await request.json()
        return dict(body) if isinstance(body, dict) else {}
    if request.content_type == "multipart/form-data":
        out: dict[str, Any] = {}
        async for part in await request.multipart():
            if part.filename is not None:  # type: ignore[union-attr]
                out[part.name] = (await part.read(), part.headers.get("Content-Type", ""), part.filename)  # type: ignore[union-attr]
            else:
                out[part.name] = await part.text()  # type: ignore[union-attr]
        return out
    if request.method in ("POST", "PUT"):
        posted = await request.post()
        out = {}
        for name in posted:
            values = [str(v) for v in posted.getall(name)]
            out[name] = values if len(values) > 1 or name.endswith("[]") else values[0]
        return out
    return {}


def _one(form: dict[str, Any], name: str) -> str:
    value = form.get(name, "")
    return str(value[0] if isinstance(value, list) and value else value or "")


def _many(form: dict[str, Any], name: str) -> list[str]:
    value = form.get(f"{name}[]", form.get(name, []))
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _counted(text: str) -> int:
    """Mastodon's StatusLengthValidator: links (with a scheme) count 23, everything else one per character."""
    urls = twitter_text.extract_urls_with_indices(text, extract_urls_without_protocol=False)
    return len(text) - sum(u["indices"][1] - u["indices"][0] for u in urls) + URL_CHARS * len(urls)


def _html(text: str) -> str:
    """The status as Mastodon renders it: paragraphs, line breaks, links cut for show, hashtags linked."""
    urls = twitter_text.extract_urls_with_indices(text, extract_urls_without_protocol=False)
    pieces, position = [], 0
    for url in urls:
        start, end = url["indices"]
        pieces.append(html.escape(text[position:start]))
        link = text[start:end]
        scheme, rest = link.split("://", 1)
        pieces.append(
            f'<a href="{html.escape(link)}" target="_blank" rel="nofollow noopener"><span class="invisible">'
            f'{scheme}://</span><span class="ellipsis">{html.escape(rest[:30])}</span><span class="invisible">'
            f"{html.escape(rest[30:])}</span></a>"
        )
        position = end
    pieces.append(html.escape(text[position:]))
    rendered = re.sub(
        r"(?<![\w&])#(\w+)",
        r'<a href="https://fake.example/tags/\1" class="mention hashtag" rel="tag">#<span>\1</span></a>',
        "".join(pieces),
    )
    return "".join(f"<p>{p.replace(chr(10), '<br />')}</p>" for p in rendered.split("\n\n"))


def _account() -> JSON:
    return {
        "id": ACCOUNT_ID,
        "username": "newsbot",
        "acct": "newsbot",
        "display_name": "News bot",
        "url": "https://fake.example/@newsbot",
        "created_at": "2024-01-01T00:00:00.000Z",
        "note": "",
        "avatar": "",
        "header": "",
        "locked": False,
        "bot": True,
        "followers_count": 0,
        "following_count": 0,
        "statuses_count": 0,
        "emojis": [],
        "fields": [],
    }


@pytest.fixture
def fake_mastodon() -> Iterator[FakeMastodon]:
    with FakeMastodon() as fake:
        yield fake
