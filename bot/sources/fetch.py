"""HTTP GET of one source with httpx: conditional requests, a time limit, a size limit, checked redirects.

Every failure becomes a `SourceError` whose reason says what to do; nothing from httpx leaves this module.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from bot import __version__
from bot.errors import SourceError

__all__ = ["MAX_REDIRECTS", "Fetched", "fetch", "user_agent"]

MAX_REDIRECTS = 5
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, text/plain;q=0.8, */*;q=0.5"
)


@dataclass(frozen=True, slots=True)
class Fetched:
    body: bytes  # empty when not_modified
    url: str  # where the body came from, after redirects
    content_type: str
    etag: str
    last_modified: str
    not_modified: bool = False


def user_agent() -> str:
    return f"newsbot/{__version__}"


def _request_headers(etag: str, last_modified: str) -> dict[str, str]:
    headers = {"User-Agent": user_agent(), "Accept": ACCEPT}
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

    def error(self, reason: str) -> SourceError:
        return SourceError(self.name, self.url, reason)

    def timed_out(self) -> SourceError:
        return self.error(f"timed out after {self.timeout:g} s: try again later or raise the timeout")

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


def _read_body(response: httpx.Response, attempt: _Attempt) -> bytes:
    # A declared length over the limit fails before any byte is read; an undeclared one while streaming.
    if _declared_length(response) > attempt.max_bytes:
        raise attempt.too_large()
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > attempt.max_bytes:
            raise attempt.too_large()
        attempt.check_deadline()
        chunks.append(chunk)
    return b"".join(chunks)


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


def _follow(client: httpx.Client, request: httpx.Request, attempt: _Attempt) -> Fetched:
    # Redirects are followed here rather than by httpx so that a loop can be reported as one.
    visited = [str(request.url)]
    for _ in range(MAX_REDIRECTS + 1):
        attempt.check_deadline()
        response = client.send(request, stream=True, follow_redirects=False)
        try:
            if response.next_request is None:
                return _result(response, attempt)
            request = response.next_request
        finally:
            response.close()
        target = str(request.url)
        if target in visited:
            chain = " → ".join([*visited, target])
            raise attempt.error(f"redirect loop ({chain}): fix the URL or the site's redirects")
        visited.append(target)
    raise attempt.error(f"more than {MAX_REDIRECTS} redirects: use the address the redirects end at")


def _get(client: httpx.Client, attempt: _Attempt) -> Fetched:
    try:
        headers = _request_headers(attempt.etag, attempt.last_modified)
        request = client.build_request("GET", attempt.url, headers=headers, timeout=attempt.timeout)
        return _follow(client, request, attempt)
    except httpx.TimeoutException as error:
        raise attempt.timed_out() from error
    except httpx.ConnectError as error:
        raise attempt.error(f"could not connect ({error}): check the host name and the network") from error
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
    client: httpx.Client | None = None,
) -> Fetched:
    """GET `url`, sending the validators from last time. A 304 comes back as `not_modified=True`.

    `client` is used as given (its own headers and transport); without one a client is made for this call.
    """
    deadline = time.monotonic() + timeout
    attempt = _Attempt(name, url, etag, last_modified, timeout, max_bytes, deadline)
    if client is not None:
        return _get(client, attempt)
    with httpx.Client() as own_client:
        return _get(own_client, attempt)
