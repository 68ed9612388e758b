"""A fake Bluesky PDS for tests: real XRPC over HTTP on 127.0.0.1, so the atproto SDK is never mocked.

    fake = FakeBluesky()
    fake.start()
    client = atproto.Client(base_url=fake.base_url)          # http://127.0.0.1:PORT/xrpc
    client.login("newsbot.test", "app-pass-test", fetch_bsky_profile=False)

or use the `fake_bluesky` fixture. It speaks the XRPC methods newsbot uses, with the PDS's JSON error bodies
({"error": "...", "message": "..."}) and statuses:

* com.atproto.server.createSession: handle (or DID) and app password → accessJwt and refreshJwt, real JWTs
  whose payload the SDK decodes for `exp` (it refreshes on its own within 15 minutes of it); `token_lifetime`;
* com.atproto.server.refreshSession: with the refresh JWT in Authorization → new tokens;
* com.atproto.repo.createRecord: the record is validated like the PDS's lexicon check: text of at most 300
  graphemes, each facet's byte range inside the text's UTF-8 bytes, `langs` at most 3 BCP 47 tags, reply refs
  naming records that exist with their cid, an external embed's thumb a blob that was uploaded. A given rkey that
  exists → 400 InvalidRequest "Record already exists";
* com.atproto.repo.getRecord, com.atproto.repo.uploadBlob (`fail_uploads`).

Every answer carries RateLimit-Limit/-Remaining/-Reset (unix time) and -Policy; `rate_limit` answers 429.
`expire_access_tokens` makes the server refuse the current access token with 401 ExpiredToken although its
`exp` is still ahead (a revoked or clock-skewed token); `create_then_drop` creates the record, then closes the
connection without answering. `random_faults` gives createRecord seeded random faults, as FakeX's (429 with
RateLimit-Remaining 0 and a RateLimit-Reset of its own, 503, and after the record was created a late answer, a
dropped connection or a slow answer); `create_log` has every createRecord with its wall time and answer.
`answers` (tests.fakes.answer_gate), while the test keeps it closed, holds the answer of every record created.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

import pytest
import regex
from aiohttp import web

from tests.fakes.aiohttp_thread import ThreadedAiohttpServer
from tests.fakes.answer_gate import AnswerGate
from tests.fakes.telegram_api import InjectedFault, RandomFaults, RandomFaultsReport

__all__ = ["BLUESKY_FAULT_KINDS", "CreateAttempt", "FakeBluesky", "Record", "fake_bluesky"]

JSON = dict[str, Any]
MAX_GRAPHEMES: Final = 300
MAX_LANGS: Final = 3
# A BCP 47 language tag, as the PDS checks a string of format "language" (its simple form: language, subtags).
_BCP47: Final = regex.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
_LIMIT: Final = 5000  # creates per window, as the PDS's per-account write limit (points, simplified)
BLUESKY_FAULT_KINDS: Final = ("429", "5xx", "timeout", "drop", "slow")
After = tuple[Literal["answer", "drop", "delay"], float]  # what follows a create: answer, drop, answer late
_ANSWER: Final[After] = ("answer", 0.0)


@dataclass(frozen=True, slots=True)
class Record:
    """A record the server created (including ones whose answer was dropped)."""

    uri: str
    cid: str
    rkey: str
    value: JSON


@dataclass(frozen=True, slots=True)
class CreateAttempt:
    """One createRecord call: its wall time of arrival, the record key asked for, the status answered (0 when the
    connection was dropped)."""

    at: float
    rkey: str
    status: int
    reply: bool  # the record replies to another (a thread's later part)
    fault: str = ""  # the random fault it got (see `FakeBluesky.random_faults`), "" for none


class _Xrpc(Exception):
    def __init__(self, status: int, error: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers or {}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _cid(data: bytes) -> str:
    """A CIDv1-looking string (base32, "bafyrei" prefix) from the content's hash: stable for the same content."""
    digest = base64.b32encode(hashlib.sha256(data).digest()).decode().lower().rstrip("=")
    return "bafyrei" + digest[:52]


class FakeBluesky(RandomFaultsReport, ThreadedAiohttpServer):
    server_name = "FakeBluesky"
    base_path = "/xrpc"
    client_max_size = 5 * 1024**2

    def __init__(
        self, *, handle: str = "newsbot.test", password: str = "app-pass-test", did: str = "did:plc:newsbottest"
    ) -> None:
        super().__init__()
        self.handle, self.password, self.did = handle, password, did
        self.token_lifetime = 2 * 3600.0  # seconds an access token lives
        self._lock = threading.RLock()
        self._records: dict[str, Record] = {}  # by rkey
        self._blobs: dict[str, bytes] = {}
        self._access: set[str] = set()
        self._refresh: set[str] = set()
        self._serial = 0
        self.calls: list[str] = []  # XRPC method names in order
        self._rate_limited = 0
        self._reset_in = 0
        self._drop = 0
        self._fail_uploads = False
        self._fail_creates: list[int] = []
        self.create_log: list[CreateAttempt] = []
        self._random: RandomFaults | None = None
        self._random_reset_in = 300
        self._random_delays = (1.0, 0.2)  # (timeout, slow)
        self.answers = AnswerGate()  # holds the answers of records created while it is closed

    # --- what it holds ----------------------------------------------------------------------------

    @property
    def records(self) -> list[Record]:
        with self._lock:
            return list(self._records.values())

    def count(self, method: str) -> int:
        with self._lock:
            return self.calls.count(method)

    # --- faults -------------------------------------------------------------------------------------

    def rate_limit(self, reset_in: int = 600, times: int = 1) -> None:
        """The next `times` createRecord calls get 429 with RateLimit-Remaining 0 and RateLimit-Reset now+reset_in."""
        with self._lock:
            self._rate_limited, self._reset_in = times, reset_in

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is refused with 401 ExpiredToken from now on."""
        with self._lock:
            self._access.clear()

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token issued so far is refused with 400 ExpiredToken from now on (a new login works)."""
        with self._lock:
            self._refresh.clear()

    def create_then_drop(self, times: int = 1) -> None:
        with self._lock:
            self._drop = times

    def fail_uploads(self) -> None:
        """uploadBlob answers 500 InternalServerError."""
        with self._lock:
            self._fail_uploads = True

    def fail_creates(self, status: int = 503, times: int = 1) -> None:
        with self._lock:
            self._fail_creates += [status] * times

    def random_faults(
        self,
        rate: float,
        kinds: Iterable[str] = BLUESKY_FAULT_KINDS,
        *,
        seed: int = 0,
        reset_in: int = 300,
        timeout_delay: float = 1.0,
        slow_delay: float = 0.2,
    ) -> None:
        """From now on each authorised createRecord gets, with probability `rate`, one of `kinds`:

        * "429": RateLimit-Remaining 0 and RateLimit-Reset `reset_in` s ahead (unix time), nothing created;
        * "5xx": 503 InternalServerError, nothing created;
        * "timeout": created, answered after `timeout_delay` s (set it above the client's time-out);
        * "drop": created, then the connection is closed without an answer;
        * "slow": created, answered after `slow_delay` s.

        A "timeout", "drop" or "slow" whose create was refused anyway (a taken record key) is not counted.
        getRecord is never faulted, so a client can look a record up.
        """
        with self._lock:
            self._random = RandomFaults(rate, kinds, seed, BLUESKY_FAULT_KINDS)
            self._random_reset_in = reset_in
            self._random_delays = (timeout_delay, slow_delay)

    # --- HTTP -------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.path.removeprefix("/xrpc/")
        body = await request.read()
        after = _ANSWER
        headers = self._limit_headers(0)
        arrived = time.time()
        faults_before = len(self.fault_log)
        try:
            with self._lock:
                self.calls.append(method)
                answer, headers, after = self._dispatch(request, method, body)
            status = 200
        except _Xrpc as problem:
            answer, status = {"error": problem.error, "message": problem.message}, problem.status
            headers = {**headers, **problem.headers}
        if method == "com.atproto.repo.createRecord":
            self._log_create(body, arrived, 0 if after[0] == "drop" else status, self.fault_log[faults_before:])
        if after[0] == "drop":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        if method == "com.atproto.repo.createRecord" and status == 200:
            await self.answers.hold()  # the record is made; its answer waits while the test holds the gate
        await asyncio.sleep(after[1])
        return web.json_response(answer, status=status, headers=headers)

    def _log_create(self, body: bytes, arrived: float, status: int, faults: list[InjectedFault]) -> None:
        asked = _json_or_empty(body)
        rkey, reply = str(asked.get("rkey") or ""), "reply" in (asked.get("record") or {})
        fault = faults[-1].kind if faults else ""
        with self._lock:
            self.create_log.append(CreateAttempt(arrived, rkey, status, reply, fault))

    def _dispatch(self, request: web.Request, method: str, body: bytes) -> tuple[JSON, dict[str, str], After]:
        auth = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if method == "com.atproto.server.createSession":
            return self._create_session(_json(body)), self._limit_headers(0), _ANSWER
        if method == "com.atproto.server.refreshSession":
            if auth not in self._refresh:
                raise _Xrpc(400, "ExpiredToken", "Token has expired")
            self._refresh.discard(auth)
            return self._session(), self._limit_headers(0), _ANSWER
        if auth not in self._access:
            if auth.count(".") == 2:
                raise _Xrpc(401, "ExpiredToken", "Token has expired")
            raise _Xrpc(401, "AuthenticationRequired", "Authentication Required")
        if method == "com.atproto.repo.createRecord":
            fault = self._random_fault_before_create()
            answer, headers, after = self._create_record(_json(body))
            return answer, headers, self._random_fault_after_create(fault) if fault else after
        if method == "com.atproto.repo.getRecord":
            return self._get_record(dict(request.query)), self._limit_headers(0), _ANSWER
        if method == "com.atproto.repo.uploadBlob":
            return self._upload(body, request.headers.get("Content-Type", "")), self._limit_headers(0), _ANSWER
        raise _Xrpc(501, "MethodNotImplemented", f"Method Not Implemented: {method}")

    def _random_fault_before_create(self) -> str | None:
        """This create's random fault: a "429" or "5xx" is raised here, the others are for after the create."""
        fault = self._random.pick() if self._random else None
        if fault is None or self._random is None:
            return None
        now = time.time()
        if fault == "429":
            self._random.record(InjectedFault(fault, "", now, retry_after=float(self._random_reset_in)))
            reset = str(int(now) + self._random_reset_in)
            raise _Xrpc(
                429, "RateLimitExceeded", "Rate Limit Exceeded", {"RateLimit-Remaining": "0", "RateLimit-Reset": reset}
            )
        if fault == "5xx":
            self._random.record(InjectedFault(fault, "", now))
            raise _Xrpc(503, "InternalServerError", "Service Unavailable")
        return fault

    def _random_fault_after_create(self, fault: str) -> After:
        assert self._random is not None
        self._random.record(InjectedFault(fault, "", time.time(), delivered=fault in ("timeout", "drop")))
        timeout_delay, slow_delay = self._random_delays
        if fault == "drop":
            return "drop", 0.0
        return "delay", timeout_delay if fault == "timeout" else slow_delay

    def _limit_headers(self, remaining_used: int) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(_LIMIT),
            "RateLimit-Remaining": str(_LIMIT - len(self._records) - remaining_used),
            "RateLimit-Reset": str(int(time.time()) + 3600),
            "RateLimit-Policy": f"{_LIMIT};w=3600",
        }

    def _jwt(self, scope: str, lifetime: float) -> str:
        self._serial += 1
        now = int(time.time())
        header = _b64(json.dumps({"typ": "at+jwt", "alg": "HS256"}).encode())
        payload = {"scope": scope, "sub": self.did, "iat": now, "exp": int(now + lifetime), "jti": str(self._serial)}
        return f"{header}.{_b64(json.dumps(payload).encode())}.{_b64(b'signature')}"

    def _session(self) -> JSON:
        access = self._jwt("com.atproto.access", self.token_lifetime)
        refresh = self._jwt("com.atproto.refresh", 90 * 86400)
        self._access.add(access)
        self._refresh.add(refresh)
        return {"accessJwt": access, "refreshJwt": refresh, "handle": self.handle, "did": self.did, "active": True}

    def _create_session(self, body: JSON) -> JSON:
        if body.get("identifier") not in (self.handle, self.did) or body.get("password") != self.password:
            raise _Xrpc(401, "AuthenticationRequired", "Invalid identifier or password")
        return self._session()

    def _create_record(self, body: JSON) -> tuple[JSON, dict[str, str], After]:
        if self._rate_limited > 0:
            self._rate_limited -= 1
            reset = str(int(time.time()) + self._reset_in)
            raise _Xrpc(
                429, "RateLimitExceeded", "Rate Limit Exceeded", {"RateLimit-Remaining": "0", "RateLimit-Reset": reset}
            )
        if self._fail_creates:
            raise _Xrpc(self._fail_creates.pop(0), "InternalServerError", "Internal Server Error")
        if body.get("repo") not in (self.did, self.handle) or body.get("collection") != "app.bsky.feed.post":
            raise _Xrpc(400, "InvalidRequest", "Invalid repo or collection")
        rkey = str(body.get("rkey") or f"3auto{len(self._records):08d}")
        if rkey in self._records:
            raise _Xrpc(400, "InvalidRequest", f"Record already exists at rkey {rkey}")
        record = body.get("record")
        if not isinstance(record, dict):
            raise _Xrpc(400, "InvalidRequest", "Input/record must be an object")
        self._validate(record)
        uri = f"at://{self.did}/app.bsky.feed.post/{rkey}"
        cid = _cid(json.dumps(record, sort_keys=True).encode())
        self._records[rkey] = Record(uri, cid, rkey, record)
        drop = self._drop > 0
        self._drop -= int(drop)
        answer = {"uri": uri, "cid": cid, "validationStatus": "valid"}
        return answer, self._limit_headers(0), ("drop", 0.0) if drop else _ANSWER

    def _validate(self, record: JSON) -> None:
        text = record.get("text")
        if not isinstance(text, str) or not isinstance(record.get("createdAt"), str):
            raise _Xrpc(400, "InvalidRecord", "Record/text and Record/createdAt are required")
        if len(regex.findall(r"\X", text)) > MAX_GRAPHEMES:
            raise _Xrpc(400, "InvalidRecord", f"Record/text must not be longer than {MAX_GRAPHEMES} graphemes")
        size = len(text.encode("utf-8"))
        for facet in record.get("facets", []):
            index = facet.get("index", {})
            start, end = index.get("byteStart"), index.get("byteEnd")
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= size):
                raise _Xrpc(400, "InvalidRecord", "Record/facets: byte range outside the text")
        self._validate_langs(record.get("langs"))
        reply = record.get("reply")
        if reply is not None:
            for ref in (reply.get("root", {}), reply.get("parent", {})):
                target = self._by_uri(str(ref.get("uri", "")))
                if target is None or target.cid != ref.get("cid"):
                    raise _Xrpc(400, "InvalidRecord", "Record/reply: root and parent must name existing records")
        thumb = record.get("embed", {}).get("external", {}).get("thumb")
        if thumb is not None and thumb.get("ref", {}).get("$link") not in self._blobs:
            raise _Xrpc(400, "InvalidRecord", "Record/embed/external/thumb: blob not found")

    @staticmethod
    def _validate_langs(langs: Any) -> None:
        """The lexicon's `langs`: optional, at most 3 items, each a BCP 47 tag."""
        if langs is None:
            return
        if not isinstance(langs, list):
            raise _Xrpc(400, "InvalidRecord", "Record/langs must be an array")
        if len(langs) > MAX_LANGS:
            raise _Xrpc(400, "InvalidRecord", f"Record/langs must not have more than {MAX_LANGS} elements")
        for index, tag in enumerate(langs):
            if not isinstance(tag, str) or not _BCP47.match(tag):
                raise _Xrpc(400, "InvalidRecord", f"Record/langs/{index} must be a well-formed BCP 47 language tag")

    def _by_uri(self, uri: str) -> Record | None:
        return next((record for record in self._records.values() if record.uri == uri), None)

    def _get_record(self, query: dict[str, str]) -> JSON:
        record = self._records.get(query.get("rkey", ""))
        if record is None or query.get("repo") not in (self.did, self.handle):
            raise _Xrpc(400, "RecordNotFound", f"Could not locate record: {query.get('rkey')}")
        return {"uri": record.uri, "cid": record.cid, "value": record.value}

    def _upload(self, data: bytes, mime_type: str) -> JSON:
        if self._fail_uploads:
            raise _Xrpc(500, "InternalServerError", "Internal Server Error")
        if not data or len(data) > 1_000_000:
            raise _Xrpc(400, "BlobTooLarge", "This file is too large")
        cid = "bafkrei" + _cid(data)[7:]
        self._blobs[cid] = data
        return {"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime_type, "size": len(data)}}


def _json(body: bytes) -> JSON:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        raise _Xrpc(400, "InvalidRequest", "Request body is not JSON") from None
    if not isinstance(value, dict):
        raise _Xrpc(400, "InvalidRequest", "Input must be an object")
    return value


def _json_or_empty(body: bytes) -> JSON:
    try:
        return _json(body)
    except _Xrpc:
        return {}


@pytest.fixture
def fake_bluesky() -> Iterator[FakeBluesky]:
    fake = FakeBluesky()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
