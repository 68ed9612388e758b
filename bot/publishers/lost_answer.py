"""Whether a request that failed may still have reached the service (requests' errors, as tweepy and Mastodon.py
raise them): then its outcome is unknown, and the post is looked for before it is sent again."""

from __future__ import annotations

import requests


def request_went_out(error: BaseException) -> bool:
    """A read time-out or a connection dropped mid-answer: the service may have it. A refused or timed-out
    connection, or any other error: it cannot."""
    if isinstance(error, requests.ConnectTimeout):
        return False
    if isinstance(error, requests.ReadTimeout):
        return True
    if not isinstance(error, requests.RequestException):
        return False
    text = str(error)
    return "Connection aborted" in text or "RemoteDisconnected" in text or "Connection broken" in text
