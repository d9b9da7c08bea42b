"""ASGI middleware of the service: bounded request bodies and an access log that holds no secrets.

:class:`BodyLimit` refuses a body over the limit before reading it when ``Content-Length`` says so (413), counts
the bytes of a streamed body as they arrive (413 once over), and gives the whole body a deadline (408), so a
slow client holds a connection for a bounded time and never the model (requests reach the model only once
their body is complete). :class:`AccessLog` logs method, path (without the query string), status, duration
and client address: never headers (so never the ``Authorization`` token), query strings or bodies.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLog", "BodyLimit"]

access_log = logging.getLogger("imgclf.serve.access")


async def _send_error(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Caps each HTTP request body at ``max_bytes`` and ``timeout_s`` seconds."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout_s: float):
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    def _too_large(self, size: str) -> str:
        return f"The request body is {size}, over the limit of {self.max_bytes:,} bytes; send fewer or smaller images."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_error(send, 413, self._too_large(f"{int(declared):,} bytes"))
            return
        received = 0
        deadline = time.monotonic() + self.timeout_s

        async def limited() -> Message:
            nonlocal received
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                raise HTTPException(408, f"The request body did not arrive within {self.timeout_s:g} s.") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self._too_large(f"over {self.max_bytes:,} bytes"))
            return message

        await self.app(scope, limited, send)


class AccessLog:
    """One log line per HTTP request: client, method, path, status, milliseconds."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # unless a response starts

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            client = scope.get("client") or ("-", 0)
            ms = (time.perf_counter() - start) * 1000
            access_log.info('%s "%s %s" %d %.1f ms', client[0], scope["method"], scope["path"], status, ms)
