"""HTTP GET of one source with httpx: conditional requests, a time limit, a size limit, checked redirects.

Every failure becomes a `SourceError` whose reason says what to do; nothing from httpx leaves this module.

Limits hold whatever the server sends:
- the size limit counts the decoded body, and gzip or deflate is inflated here in steps of `INFLATE_STEP`
  bytes, so a few kilobytes that inflate to gigabytes never are in memory at once; a response compressed more
  than once ("gzip, gzip") or with a coding newsbot did not ask for is refused before its body is read;
- each hop of a redirect chain connects only where `Reach` allows (see `bot.sources.connect`), and holds one of
  its host's few places (`Connections.turn`) until its response is closed;
- an answer newsbot does not use (a 304, a redirect, an error page) is read to its end, up to `DRAIN_LIMIT`
  bytes, so that a server that keeps connections alive serves the next feed over the same one;
- for a URL given by an admin (chat, the control room), a refused, reset, closed or silent connection gets one
  and the same message, so that the answer does not tell which ports of a host are open.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from bot import __version__
from bot.errors import SourceError
from bot.sources.connect import AddressRefused, Connections
from bot.sources.fetched import Fetched
from bot.sources.reach import PUBLIC_ONLY, Reach

__all__ = ["DRAIN_LIMIT", "INFLATE_STEP", "MAX_REDIRECTS", "Fetched", "fetch", "user_agent"]

MAX_REDIRECTS = 5
INFLATE_STEP = 64 * 1024  # bytes of decoded body produced at a time
DRAIN_LIMIT = 64 * 1024  # bytes of an unused answer (redirect, error page) read to keep its connection
# Content codings newsbot reads, and the zlib window bits for each: asked for explicitly, so that installing
# brotli or zstandard (which httpx would then offer) does not change what servers send.
_ZLIB_WINDOW_BITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}
ACCEPT_ENCODING = "gzip, deflate"
_NO_ANSWER = "no answer from that address (the connection was refused, reset, closed or timed out): check the URL"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, text/plain;q=0.8, */*;q=0.5"
)


def user_agent() -> str:
    return f"newsbot/{__version__}"


def _request_headers(etag: str, last_modified: str, accept: str) -> dict[str, str]:
    headers = {"User-Agent": user_agent(), "Accept": accept, "Accept-Encoding": ACCEPT_ENCODING}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def _status_advice(status: int) -> str:
    if status in (404, 410):
        return "check the URL"
    if status in (401, 403):
        return "the server refuses newsbot; check the URL or ask the site for access"
    if status == 429:
        return "the server is rate limiting; poll this source less often"
    if status >= 500:
        return "the server failed; try again later"
    return "check the URL"


@dataclass(frozen=True, slots=True)
class _Attempt:
    """One call of `fetch`: what it asks for, its limits, and the errors it reports."""

    name: str
    url: str
    etag: str
    last_modified: str
    timeout: float
    max_bytes: int
    deadline: float  # time.monotonic() value: the whole fetch, redirects and body included, ends here
    reach: Reach
    accept: str = ACCEPT

    def error(self, reason: str) -> SourceError:
        return SourceError(self.name, self.url, reason)

    def unreachable(self, reason: str) -> SourceError:
        """A connection that failed: the operator learns how; chat learns only that it did (no port scanning)."""
        return self.error(reason if self.reach.from_operator else _NO_ANSWER)

    def timed_out(self) -> SourceError:
        return self.unreachable(f"timed out after {self.timeout:g} s: try again later or raise the timeout")

    def refused(self, refusal: AddressRefused, hop_url: str, *, redirected: bool) -> SourceError:
        where = refusal.host if refusal.host == refusal.address else f"{refusal.host} ({refusal.address})"
        article = "an" if refusal.kind[0] in "aeiou" else "a"
        problem = f"{where} is {article} {refusal.kind} address"
        if redirected:
            problem = f"it redirects to {hop_url}, and {problem}"
        if self.reach.from_operator:
            rule = "a source may be on a private address only within its own origin (scheme, host and port)"
            fix = "give the address it redirects to as its url"
        else:
            rule = "newsbot fetches the URLs admins give it (in chat or the control room) only from public addresses"
            fix = "give a public URL"
        return self.error(f"{problem}; {rule}: {fix}, or set [fetch] allow_private = true in the config file")

    def too_large(self) -> SourceError:
        return self.error(f"response larger than {self.max_bytes} bytes: raise max_bytes or fix the feed")

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise self.timed_out()


def _declared_length(response: httpx.Response) -> int:
    try:
        return int(response.headers.get("content-length", ""))
    except ValueError:
        return -1


class _Inflater:
    """Inflates one gzip or deflate stream at most `INFLATE_STEP` bytes at a time."""

    def __init__(self, coding: str) -> None:
        self._zlib = zlib.decompressobj(_ZLIB_WINDOW_BITS[coding])
        self._may_be_raw_deflate = coding == "deflate"  # some servers send deflate without its zlib header

    @property
    def finished(self) -> bool:
        return self._zlib.eof

    def pieces(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                piece = self._zlib.decompress(data, INFLATE_STEP)
            except zlib.error:
                if not self._may_be_raw_deflate:
                    raise
                self._may_be_raw_deflate = False
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._may_be_raw_deflate = False
            if piece:
                yield piece
            data = self._zlib.unconsumed_tail
            # A full step may leave output inside zlib even when the input is used up: ask again until less comes.
            if self._zlib.eof or (not data and len(piece) < INFLATE_STEP):
                return


def _inflater(response: httpx.Response, attempt: _Attempt) -> _Inflater | None:
    header = response.headers.get("content-encoding", "")
    codings = [coding.strip().lower() for coding in header.split(",")]
    codings = [coding for coding in codings if coding not in ("", "identity")]
    if not codings:
        return None
    fix = "fix the server's compression"
    if len(codings) > 1:
        layers = ", ".join(codings)
        raise attempt.error(
            f"the response is compressed {len(codings)} times ({layers}): newsbot reads one layer; {fix}"
        )
    coding = codings[0]
    if coding not in _ZLIB_WINDOW_BITS:
        asked = f"which newsbot did not ask for (it reads {ACCEPT_ENCODING})"
        raise attempt.error(f"the response is compressed with {coding}, {asked}: {fix}")
    return _Inflater(coding)


def _read_body(response: httpx.Response, attempt: _Attempt) -> bytes:
    # A declared length over the limit fails before any byte is read; an undeclared one while streaming.
    if _declared_length(response) > attempt.max_bytes:
        raise attempt.too_large()
    inflater = _inflater(response, attempt)
    body = bytearray()
    for chunk in response.iter_raw():
        attempt.check_deadline()
        try:
            for piece in inflater.pieces(chunk) if inflater else (chunk,):
                body += piece
                if len(body) > attempt.max_bytes:
                    raise attempt.too_large()
        except zlib.error as error:
            raise attempt.error(f"the compressed response is damaged ({error}): try again later") from error
        if inflater and inflater.finished:
            break  # anything after the end of the compressed stream is not part of the body
    return bytes(body)


def _result(response: httpx.Response, attempt: _Attempt) -> Fetched:
    headers = response.headers
    if response.status_code == 304:
        # A 304 may omit the validators; the ones we sent are still the ones to send next time.
        return Fetched(
            body=b"",
            url=str(response.url),
            content_type="",
            etag=headers.get("etag", attempt.etag),
            last_modified=headers.get("last-modified", attempt.last_modified),
            not_modified=True,
        )
    if not response.is_success:
        status = response.status_code
        raise attempt.error(f"HTTP {status} {response.reason_phrase}: {_status_advice(status)}")
    return Fetched(
        body=_read_body(response, attempt),
        url=str(response.url),
        content_type=headers.get("content-type", ""),
        etag=headers.get("etag", ""),
        last_modified=headers.get("last-modified", ""),
    )


def _send(connections: Connections, request: httpx.Request, attempt: _Attempt, visited: list[str]) -> httpx.Response:
    """One hop, through the pool its address may be reached from (`visited[0]` is the URL as httpx wrote it)."""
    hop_url = str(request.url)
    client = connections.client(private_allowed=attempt.reach.private_allowed(visited[0], hop_url))
    try:
        return client.send(request, stream=True, follow_redirects=False)
    except AddressRefused as refusal:
        raise attempt.refused(refusal, hop_url, redirected=len(visited) > 1) from None


def _release(response: httpx.Response, attempt: _Attempt) -> None:
    """Close a response so that its connection can serve the next request to that origin, if the server allows.

    httpcore keeps a connection only once its response was read to the end: what newsbot does not read (a 304,
    a redirect, an error page) is read here, unless it is longer than `DRAIN_LIMIT` or the time is up; then the
    connection is dropped instead.
    """
    try:
        too_long = response.status_code != 304 and _declared_length(response) > DRAIN_LIMIT
        if not response.is_stream_consumed and not too_long:
            drained = 0
            for chunk in response.iter_raw():
                drained += len(chunk)
                if drained > DRAIN_LIMIT or time.monotonic() > attempt.deadline:
                    break
    except httpx.HTTPError:
        pass  # the answer was already taken; the connection is dropped below
    finally:
        response.close()


def _hop(
    connections: Connections, request: httpx.Request, attempt: _Attempt, visited: list[str]
) -> Fetched | httpx.Request:
    """One request, holding one of its host's places until its response is closed: the result, or the request a
    redirect asks for."""
    with connections.turn(str(request.url)):
        response = _send(connections, request, attempt, visited)
        try:
            return _result(response, attempt) if response.next_request is None else response.next_request
        finally:
            _release(response, attempt)


def _follow(connections: Connections, request: httpx.Request, attempt: _Attempt) -> Fetched:
    # Redirects are followed here rather than by httpx so that a loop can be reported as one, and so that each
    # hop's address is checked by the rule for that hop.
    visited = [str(request.url)]
    for _ in range(MAX_REDIRECTS + 1):
        attempt.check_deadline()
        outcome = _hop(connections, request, attempt, visited)
        if isinstance(outcome, Fetched):
            return outcome
        request = outcome
        target = str(request.url)
        if target in visited:
            chain = " → ".join([*visited, target])
            raise attempt.error(f"redirect loop ({chain}): fix the URL or the site's redirects")
        visited.append(target)
    raise attempt.error(f"more than {MAX_REDIRECTS} redirects: use the address the redirects end at")


def _get(connections: Connections, attempt: _Attempt) -> Fetched:
    try:
        headers = _request_headers(attempt.etag, attempt.last_modified, attempt.accept)
        client = connections.client(private_allowed=False)  # only builds the request; _send picks the pool
        request = client.build_request("GET", attempt.url, headers=headers, timeout=attempt.timeout)
        return _follow(connections, request, attempt)
    except httpx.TimeoutException as error:
        raise attempt.timed_out() from error
    except httpx.ConnectError as error:
        reason = f"could not connect ({error}): check the host name and the network"
        raise attempt.unreachable(reason) from error
    except (httpx.NetworkError, httpx.RemoteProtocolError) as error:
        reason = f"the connection failed ({error or type(error).__name__}): try again later"
        raise attempt.unreachable(reason) from error
    except httpx.InvalidURL as error:
        raise attempt.error(f"invalid URL ({error}): fix the source's address") from error
    except httpx.HTTPError as error:
        problem = str(error) or type(error).__name__
        raise attempt.error(f"HTTP request failed ({problem}): try again later") from error


def fetch(
    url: str,
    *,
    name: str,
    etag: str = "",
    last_modified: str = "",
    timeout: float = 20.0,
    max_bytes: int = 10_000_000,
    reach: Reach = PUBLIC_ONLY,
    connections: Connections | None = None,
    accept: str = ACCEPT,
) -> Fetched:
    """GET `url`, sending the validators from last time. A 304 comes back as `not_modified=True`.

    `reach` says which addresses each hop may connect to; the default, public ones only, is right for any URL
    the operator did not write. `connections` may be shared between fetches; without it they are made for this
    call. `accept` is the Accept header: feeds by default (an article's image asks for images).
    """
    deadline = time.monotonic() + timeout
    attempt = _Attempt(name, url, etag, last_modified, timeout, max_bytes, deadline, reach, accept)
    if connections is not None:
        return _get(connections, attempt)
    with Connections() as own:
        return _get(own, attempt)
