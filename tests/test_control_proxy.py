"""The control room and the subscription pages behind a reverse proxy that serves newsbot under a path
(`[web] public_url = "http://…/newsbot"`, the prefix stripped by the proxy): every redirect stays under the prefix."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from bot.config import Config
from bot.control.auth import login_link
from tests.conftest import FakeClock
from tests.control_helpers import ADMIN, AdminSite, admin_config, serve_admin_site
from tests.fakes.path_proxy import PathProxy

PREFIX = "/newsbot"


@pytest.fixture
def proxied(
    make_config: Callable[..., Config], tmp_path: Path, clock: FakeClock
) -> Iterator[tuple[PathProxy, AdminSite]]:
    with PathProxy(PREFIX) as proxy:
        config = admin_config(make_config, web={"public_url": proxy.public, "subscribe_per_hour": 100})
        with serve_admin_site(config, tmp_path / "state.sqlite", clock) as site:
            proxy.backend = site.base
            yield proxy, site


def _browser() -> httpx.Client:
    """A client that follows redirects as a browser does, and keeps cookies."""
    return httpx.Client(follow_redirects=True, timeout=15)


@contextmanager
def _signed_in(proxy: PathProxy, site: AdminSite) -> Iterator[httpx.Client]:
    """A browser signed in through the proxy: the sign-in link's button, then the session cookie on its path."""
    with _browser() as client:
        origin = proxy.public.removesuffix(PREFIX)
        signed_in = client.post(login_link(site.config, site.signer, ADMIN, site.clock()), headers={"Origin": origin})
        assert signed_in.status_code == 200 and urlsplit(str(signed_in.url)).path == f"{PREFIX}/admin/"
        yield client


def test_a_trailing_slash_is_redirected_within_the_proxy_prefix_for_a_stranger(
    proxied: tuple[PathProxy, AdminSite],
) -> None:
    proxy, _site = proxied
    with _browser() as client:
        signin = client.get(f"{proxy.public}/admin/signin/")
        subscribe = client.get(f"{proxy.public}/subscribe/")
        first_hop = client.get(f"{proxy.public}/admin/signin/", follow_redirects=False)
    assert signin.status_code == 200 and str(signin.url) == f"{proxy.public}/admin/signin"
    assert "newsbot admin-link --admin YOUR_ID" in signin.text
    assert subscribe.status_code == 200 and str(subscribe.url) == f"{proxy.public}/subscribe"
    assert first_hop.status_code == 307 and first_hop.headers["location"] == "../signin"


def test_a_signed_in_admins_trailing_slash_keeps_the_prefix_and_the_query(
    proxied: tuple[PathProxy, AdminSite],
) -> None:
    proxy, site = proxied
    with _signed_in(proxy, site) as client:
        deliveries = client.get(f"{proxy.public}/admin/deliveries/", params={"channel": "telegram"})
        root = client.get(f"{proxy.public}/admin")
    assert deliveries.status_code == 200, deliveries.text
    assert str(deliveries.url) == f"{proxy.public}/admin/deliveries?channel=telegram"
    assert "<h1>Deliveries</h1>" in deliveries.text and 'value="telegram" selected' in deliveries.text
    assert root.status_code == 200 and str(root.url) == f"{proxy.public}/admin/" and "Overview" in root.text


def test_a_path_no_route_takes_with_or_without_its_slash_is_still_404(proxied: tuple[PathProxy, AdminSite]) -> None:
    proxy, _site = proxied
    with _browser() as client:
        for path in ("/admin/nothing-here/", "/admin/nothing-here", "/nothing-here/", "/admin//"):
            assert client.get(proxy.public + path, follow_redirects=False).status_code == 404, path
