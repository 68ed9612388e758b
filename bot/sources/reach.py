"""Which network addresses a fetch may connect to: the one rule, pure (no I/O, no httpx).

Only public addresses, unless the operator says otherwise:
- a URL the operator wrote (a `[[sources]]` url, a command-line argument) may be on a private host (an intranet
  feed, a local RSS-Bridge), and may redirect within its own origin (scheme, host and port);
- an article's image on its source's origin follows the source's rule (`Reach.home_url`);
- everything else (a URL given in chat or the control room, a redirect to another origin, the article page
  behind `/post`, an image on another origin) must be on a public address, checked at every hop against the
  address actually connected to;
- `[fetch] allow_private = true` lets every fetch reach every address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

__all__ = ["PUBLIC_ONLY", "Reach", "address_kind", "origin", "same_origin"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")  # an IPv6 address that a NAT64 gateway turns into IPv4
_SHARED: Final = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT


@dataclass(frozen=True, slots=True)
class Reach:
    """Who gave a URL, and so which addresses fetching it may connect to. The default is the strictest."""

    from_operator: bool = False  # the operator wrote it: its own origin may be on a private address
    allow_private: bool = False  # [fetch] allow_private: any address, at every hop
    # The URL the operator wrote, when it is not the one fetched (an article's image: its source's URL): only that
    # origin may be private. "": the first URL fetched is the operator's.
    home_url: str = ""

    def private_allowed(self, first_url: str, hop_url: str) -> bool:
        """May the request to `hop_url` (the first URL or a redirect from it) connect to a private address?"""
        return self.allow_private or (self.from_operator and same_origin(self.home_url or first_url, hop_url))


PUBLIC_ONLY: Final = Reach()  # a URL from chat, with [fetch] allow_private off


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme, 0)


def same_origin(one: str, other: str) -> bool:
    return origin(one) == origin(other)


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to (6to4, Teredo, NAT64): they must pass the rule too."""
    if isinstance(address, ipaddress.IPv4Address):
        return []
    found = [address.sixtofour, *(address.teredo or ())]
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [embedded for embedded in found if embedded is not None]


def address_kind(address: IPAddress) -> str:
    """ "" for a public address; otherwise what it is ("loopback", "private", "link-local", ...), for messages."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address_kind(address.ipv4_mapped)  # ::ffff:a.b.c.d is a.b.c.d on the wire
    for embedded in _embedded_ipv4(address):
        kind = address_kind(embedded)
        if kind:
            return kind
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("shared (carrier-grade NAT)", isinstance(address, ipaddress.IPv4Address) and address in _SHARED),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-public", not address.is_global),
    )
    return next((kind for kind, matches in checks if matches), "")
