"""Trailing-slash redirects that keep a reverse proxy's path prefix: `/admin/signin/` → `../signin`.

Starlette's own (`Router.redirect_slashes`) answers with an absolute URL built from the request as this server
sees it: behind a proxy that serves newsbot under a path (`[web] public_url = "https://news.example.com/newsbot"`,
the proxy strips `/newsbot`), that URL lacks the prefix (and, with an untrusted proxy, says http), so the browser
lands on a page of another site or a 404. A relative Location (RFC 9110 §10.2.2) is resolved by the browser against
the address it asked for, so it keeps whatever prefix and scheme that address had.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import RedirectResponse
from starlette.routing import Match, Router
from starlette.types import Receive, Scope, Send

__all__ = ["relative_slash_redirects"]

# A path segment's own characters (RFC 3986 pchar) stay as they are; anything else is percent-encoded.
_SEGMENT_SAFE = "!$&'()*+,;=:@-._~"


def relative_slash_redirects(router: Router) -> None:
    """Replace `router`'s slash redirects: a path that matches no route, but would with its trailing slash added
    or removed, is redirected (307) there by a relative Location; anything else goes on to the router's 404."""
    not_found = router.default
    router.redirect_slashes = False

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        location = _other_slash(router, scope) if scope["type"] == "http" else None
        if location is None:
            await not_found(scope, receive, send)
            return
        await RedirectResponse(location)(scope, receive, send)

    router.default = default


def _other_slash(router: Router, scope: Scope) -> str | None:
    """The relative reference to the same path with the trailing slash(es) removed, or one added, if a route
    takes that; else None."""
    path, root = scope["path"], scope.get("root_path", "")
    route_path = path[len(root) :] if root and path.startswith(root) else path  # the path below a Mount
    stripped = route_path.rstrip("/")
    if not stripped:  # "/" itself, or only slashes
        return None
    other_path = path.rstrip("/") if route_path.endswith("/") else path + "/"
    other = {**scope, "path": other_path}
    if all(route.matches(other)[0] is Match.NONE for route in router.routes):
        return None
    last = quote(stripped.rsplit("/", 1)[-1], safe=_SEGMENT_SAFE)
    # From .../signin/ (or signin//) up one level per slash, to the segment; to .../sources/ with "./" first, so
    # that a segment like "a:b" is never read as a scheme.
    relative = "../" * (len(route_path) - len(stripped)) + last if route_path.endswith("/") else f"./{last}/"
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{relative}?{query}" if query else relative
