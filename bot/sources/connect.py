"""The connections sources are fetched over: httpx clients whose new connections go only where `Reach` allows.

The check sits in httpcore's network backend, where the host name is resolved and the socket connected, so the
address checked is the address connected to: a name that resolves to a public address once and to a private one
the next time (DNS rebinding) gains nothing. It runs before any socket is opened, for every hop and every new
connection. There are two pools: one that reaches only public addresses, and one that reaches any address for the
hops `Reach.private_allowed` permits. Keeping them apart means a connection opened to an operator's intranet feed
is never reused by a hop that may not go there.

Neither pool uses the HTTP_PROXY / HTTPS_PROXY environment variables: through a proxy, the address connected to
could not be checked.

Politeness: at most `MAX_CONNECTIONS_PER_HOST` requests to one host are under way at a time (`Connections.turn`),
whatever the number of threads, and a connection the server keeps alive is reused for the next request to the same
origin (httpcore's pools never hand a connection to another origin). Many small sites run servers with a listen
backlog of 5 (Python's `http.server`): more simultaneous connection attempts than that make the kernel drop one,
and the client waits a second or more for its SYN to be sent again.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import TracebackType

import httpcore
import httpx

from bot.sources.reach import IPAddress, address_kind, origin

__all__ = ["MAX_CONNECTIONS_PER_HOST", "AddressRefused", "Connections", "host_of"]

# Below http.server's listen backlog of 5, so that a small site's kernel never drops one of our connection requests.
MAX_CONNECTIONS_PER_HOST = 4

_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)  # httpx's own


class AddressRefused(Exception):
    """A connection to a non-public address was refused before it was made."""

    def __init__(self, host: str, address: str, kind: str) -> None:
        super().__init__(f"{host} is at {address}, a {kind} address")
        self.host = host
        self.address = address
        self.kind = kind


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:  # socket.gaierror is an OSError
        raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from error
    # dict: without repeats, in the resolver's order of preference
    return list(dict.fromkeys(ipaddress.ip_address(str(sockaddr[0])) for *_, sockaddr in found))


def _as_written(host: str, address: IPAddress) -> str:
    """The address as the URL wrote it, if it gave one ("::ffff:127.0.0.1", not "::ffff:7f00:1")."""
    try:
        return host if ipaddress.ip_address(host) == address else str(address)
    except ValueError:  # a name
        return str(address)


class _PublicOnlyBackend(httpcore.NetworkBackend):
    """Resolves the host itself, refuses it if any of its addresses is not public, then connects to those."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = _resolve(host, port)
        for address in addresses:  # all of them: one private answer among public ones is still refused
            kind = address_kind(address)
            if kind:
                raise AddressRefused(host, _as_written(host, address), kind)
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        raise failure or httpcore.ConnectError(f"{host} has no address")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _PublicOnlyTransport(httpx.HTTPTransport):
    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, limits=_LIMITS)
        # httpx has no parameter for the network backend yet (encode/httpx#3749): the pool it made is replaced
        # by one with the same settings and the checking backend.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=_LIMITS.max_connections,
            max_keepalive_connections=_LIMITS.max_keepalive_connections,
            keepalive_expiry=_LIMITS.keepalive_expiry,
            network_backend=_PublicOnlyBackend(),
        )


def host_of(url: str) -> str:
    """The host a URL is fetched from, lower-cased: what the per-host limit counts by ("" for no host)."""
    return origin(url)[1]


class Connections:
    """The two connection pools; one set may be shared by the fetches of a poll, from several threads."""

    def __init__(self, per_host: int = MAX_CONNECTIONS_PER_HOST) -> None:
        ssl_context = httpx.create_ssl_context()
        # An explicit transport also keeps httpx from routing through an environment proxy.
        self._public_only = httpx.Client(transport=_PublicOnlyTransport(ssl_context))
        self._any_address = httpx.Client(transport=httpx.HTTPTransport(verify=ssl_context, limits=_LIMITS))
        self._per_host = per_host
        self._turns: dict[str, threading.BoundedSemaphore] = {}
        self._turns_lock = threading.Lock()

    def client(self, *, private_allowed: bool) -> httpx.Client:
        return self._any_address if private_allowed else self._public_only

    @contextmanager
    def turn(self, url: str) -> Iterator[None]:
        """Hold one of the host's `per_host` places for one request, from sending it to closing its response."""
        host = host_of(url)
        with self._turns_lock:
            places = self._turns.setdefault(host, threading.BoundedSemaphore(self._per_host))
        with places:
            yield

    def close(self) -> None:
        self._public_only.close()
        self._any_address.close()

    def __enter__(self) -> Connections:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
