"""A fake OpenAI-compatible Chat Completions server for tests: real HTTP on 127.0.0.1.

    with FakeOpenAI(api_key="sk-test") as fake:
        fake.script("A summary.", FakeOpenAI.TIMEOUT, "Another.")   # one answer per request, in order
        ... base_url = fake.base_url ...

POST /v1/chat/completions checks the bearer key (401 in OpenAI's error shape without it) and answers each request
with the next scripted answer: a string becomes the assistant's message; `TIMEOUT` holds the answer until the
client gives up, `SERVER_ERROR` answers 500, `BAD_JSON` answers text that is not JSON, `REFUSAL` a refusal. With the
script used up it answers `default`. `requests` holds each request's JSON body, in order.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, Final

from aiohttp import web

from tests.fakes.aiohttp_thread import ThreadedAiohttpServer

__all__ = ["FakeOpenAI"]

CHAT_PATH: Final = "/v1/chat/completions"


class FakeOpenAI(ThreadedAiohttpServer):
    server_name = "fake OpenAI API"
    base_path = "/v1"

    TIMEOUT: Final = "<timeout>"
    SERVER_ERROR: Final = "<500>"
    BAD_JSON: Final = "<bad json>"
    REFUSAL: Final = "<refusal>"

    def __init__(self, api_key: str = "sk-test-key", default: str = "A short summary of the article.") -> None:
        super().__init__()
        self.api_key = api_key
        self.default = default
        self.requests: list[dict[str, Any]] = []
        self._script: list[str] = []
        self._lock = threading.Lock()

    def script(self, *answers: str) -> None:
        with self._lock:
            self._script.extend(answers)

    def _next(self) -> str:
        with self._lock:
            return self._script.pop(0) if self._script else self.default

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST" or request.path != CHAT_PATH:
            return _error(404, "not_found", f"no route {request.method} {request.path}")
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "invalid_api_key", "Incorrect API key provided.")
        body = await request.json()
        with self._lock:
            self.requests.append(body)
        answer = self._next()
        if answer == self.TIMEOUT:
            await asyncio.sleep(3600)  # cancelled when the client hangs up or the server stops
        if answer == self.SERVER_ERROR:
            return _error(500, "server_error", "The server had an error while processing your request.")
        if answer == self.BAD_JSON:
            return web.Response(text="<html>upstream gateway</html>", content_type="text/html")
        message: dict[str, Any] = {"role": "assistant", "content": answer, "refusal": None}
        if answer == self.REFUSAL:
            message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
        return web.json_response(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "model": body.get("model", ""),
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )


def _error(status: int, code: str, message: str) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")
