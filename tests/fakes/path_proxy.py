"""A reverse proxy that serves an app under a path, as the README's deployment puts newsbot behind one.

    with PathProxy("/newsbot") as proxy:           # listens on 127.0.0.1 at once: proxy.public is its address
        ... start the app with [web] public_url = proxy.public ...
        proxy.backend = "http://127.0.0.1:8080"
        httpx.get(proxy.public + "/admin/signin")   # reaches the app as GET /admin/signin

Like nginx's `location /newsbot/ { proxy_pass http://127.0.0.1:8080/; proxy_set_header Host $host; }` (or Caddy's
`handle_path /newsbot/*`): the prefix is stripped, the client's Host is passed on, and the answer, its Location
included, comes back unchanged. A path outside the prefix is not the app's: 404 from the proxy itself.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import httpx

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "upgrade"}
NOT_UNDER_PREFIX = b"not served by this proxy: the path is outside its prefix\n"


class PathProxy:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.backend = ""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="path-proxy", daemon=True)

    @property
    def public(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.prefix}"

    def __enter__(self) -> PathProxy:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def forward(self) -> None:
                if not self.path.startswith(proxy.prefix + "/"):
                    self._answer(404, [("Content-Type", "text/plain")], NOT_UNDER_PREFIX)
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP]
                answer = httpx.request(
                    self.command,
                    proxy.backend + self.path.removeprefix(proxy.prefix),
                    headers=headers,
                    content=body,
                    follow_redirects=False,
                    timeout=15,
                )
                kept = [(k, v) for k, v in answer.headers.multi_items() if k.lower() not in _HOP_BY_HOP]
                self._answer(answer.status_code, kept, answer.content)

            def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = forward

            def log_message(self, format: str, *args: object) -> None:
                pass  # the test says what went wrong

        return Handler
