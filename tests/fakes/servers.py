"""Fake Gemini and OpenAI servers on 127.0.0.1 that speak the real REST shapes, for tests without a key.

* Gemini: ``POST /v1beta/models/{model}:generateContent`` (JSON) and ``:streamGenerateContent?alt=sse``.
* OpenAI: ``POST /v1/chat/completions``, plain JSON or SSE (``stream: true``, ending with ``[DONE]``).

Each server answers with scripted :class:`Reply` objects (first in, first out; a plain text answer when
the script is empty) and records every request it received.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["DEFAULT_TEXT", "HTML_PAGE", "FakeGemini", "FakeOpenAI", "FakeServer", "Recorded", "Reply"]

DEFAULT_TEXT = "A small test picture with a plain background."
# What a wrong base URL often answers with: a web page (a router, a proxy's login page, a web UI).
HTML_PAGE = "<!DOCTYPE html>\n<html><head><title>Welcome</title></head><body><h1>It works!</h1></body></html>\n"


@dataclasses.dataclass(frozen=True)
class Reply:
    """A scripted answer: ``text`` (200), an HTTP ``status`` error, a ``hang`` in seconds, or ``garbage``.

    ``trickle`` sends the 200 headers at once, then one keep-alive byte per second (a newline: blank space in
    JSON, an empty line in server-sent events) for that many seconds before the answer. ``html`` answers 200
    with a web page.
    """

    text: str = DEFAULT_TEXT
    status: int = 200
    hang: float = 0.0
    garbage: bool = False
    trickle: float = 0.0
    html: bool = False


@dataclasses.dataclass(frozen=True)
class Recorded:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def _content_type(stream: bool) -> str:
    return "text/event-stream" if stream else "application/json"


def _chunks(text: str, n: int = 3) -> list[str]:
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)]


class _QuietServer(ThreadingHTTPServer):
    """Daemon handler threads; a client that hangs up (a test's deadline, a closed client) is not an error."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeServer(abc.ABC):
    """A threaded HTTP server on a free port; use as a context manager."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._script: deque[Reply] = deque()
        self._release = threading.Event()
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = _QuietServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def push(self, *replies: Reply) -> None:
        """Queue ``replies`` for the next requests."""
        self._script.extend(replies)

    def next_reply(self) -> Reply:
        """The next scripted reply, or the default text answer."""
        return self._script.popleft() if self._script else Reply()

    def wait(self, seconds: float) -> bool:
        """Hang for ``seconds``; True when cut short because the server stops."""
        return self._release.wait(seconds)

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    @abc.abstractmethod
    def error_body(self, status: int) -> dict[str, Any]:
        """The provider's JSON error body for HTTP ``status``."""

    @abc.abstractmethod
    def answer(self, text: str, body: dict[str, Any], path: str) -> dict[str, Any]:
        """The provider's JSON answer carrying ``text``."""

    @abc.abstractmethod
    def events(self, text: str, body: dict[str, Any], path: str) -> list[str]:
        """The provider's server-sent event payloads carrying ``text`` in pieces."""

    @abc.abstractmethod
    def wants_stream(self, path: str, body: dict[str, Any]) -> bool:
        """Whether the request asked for a streamed answer."""


class _Handler(BaseHTTPRequestHandler):
    fake: FakeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, payload: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _trickle(self, seconds: float, payload: bytes, content_type: str) -> None:
        """200 headers now, a keep-alive byte a second for ``seconds``, then ``payload`` and close."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        ends = time.monotonic() + seconds
        while time.monotonic() < ends and not self.fake.wait(1.0):
            self.wfile.write(b"\n")
            self.wfile.flush()
        self.wfile.write(payload)

    def _answer(self, reply: Reply, body: dict[str, Any], stream: bool) -> tuple[int, bytes, str]:
        """Status, payload and content type of a scripted ``reply``."""
        fake = self.fake
        if reply.status != 200:
            return reply.status, json.dumps(fake.error_body(reply.status)).encode(), "application/json"
        if reply.html:
            return 200, HTML_PAGE.encode(), "text/html; charset=utf-8"
        if reply.garbage:
            return 200, b"data: {not json\n\n" if stream else b"{not json", _content_type(stream)
        if stream:
            payload = "".join(f"data: {event}\n\n" for event in fake.events(reply.text, body, self.path))
            return 200, payload.encode(), _content_type(stream)
        return 200, json.dumps(fake.answer(reply.text, body, self.path)).encode(), _content_type(stream)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.loads(raw or b"{}")
        fake = self.fake
        fake.requests.append(Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        reply = fake.next_reply()
        stream = fake.wants_stream(self.path, body)
        try:
            if reply.hang:
                fake.wait(reply.hang)
            status, payload, content_type = self._answer(reply, body, stream)
            if reply.trickle:
                self._trickle(reply.trickle, payload, content_type)
            else:
                extra = {"Retry-After": "0"} if status == 429 else None
                self._send(status, payload, content_type, extra)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)


_GEMINI_ERRORS = {
    400: ("INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
    404: ("NOT_FOUND", "models/unknown-model is not found for API version v1beta."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: ("INTERNAL", "An internal error has occurred."),
}


class FakeGemini(FakeServer):
    """The Gemini Developer API (``v1beta``)."""

    def wants_stream(self, path: str, body: dict[str, Any]) -> bool:
        return ":streamGenerateContent" in path

    def error_body(self, status: int) -> dict[str, Any]:
        name, message = _GEMINI_ERRORS.get(status, ("UNKNOWN", "Error."))
        error: dict[str, Any] = {"code": status, "message": message, "status": name}
        if status == 400:
            error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]
        return {"error": error}

    @staticmethod
    def _response(text: str, path: str, finish: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
        if finish:
            candidate["finishReason"] = "STOP"
        model = path.split("/models/")[-1].split(":")[0]
        return {"candidates": [candidate], "modelVersion": model, "usageMetadata": {"totalTokenCount": 10}}

    def answer(self, text: str, body: dict[str, Any], path: str) -> dict[str, Any]:
        return self._response(text, path, True)

    def events(self, text: str, body: dict[str, Any], path: str) -> list[str]:
        parts = _chunks(text)
        return [json.dumps(self._response(p, path, i == len(parts) - 1)) for i, p in enumerate(parts)]


_OPENAI_ERRORS = {
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided: sk-test***1234."),
    404: ("invalid_request_error", "model_not_found", "The model `unknown-model` does not exist."),
    429: ("rate_limit_exceeded", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request."),
}


class FakeOpenAI(FakeServer):
    """``/v1/chat/completions`` as OpenAI, Ollama, vLLM and LM Studio serve it."""

    def wants_stream(self, path: str, body: dict[str, Any]) -> bool:
        return bool(body.get("stream"))

    def error_body(self, status: int) -> dict[str, Any]:
        kind, code, message = _OPENAI_ERRORS.get(status, ("error", None, "Error."))
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def answer(self, text: str, body: dict[str, Any], path: str) -> dict[str, Any]:
        message = {"role": "assistant", "content": text}
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
        }

    def events(self, text: str, body: dict[str, Any], path: str) -> list[str]:
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": int(time.time())}
        base["model"] = body.get("model", "")
        deltas = [{"role": "assistant", "content": ""}] + [{"content": c} for c in _chunks(text)]
        events = [json.dumps({**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]}) for d in deltas]
        events.append(json.dumps({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        return [*events, "[DONE]"]
