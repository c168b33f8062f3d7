"""The access log, as plain ASGI middleware: one record a request, with its id.

Each request gets an id: the client's `X-Request-ID` when it is sane (1 to 64
visible ASCII characters), else a fresh one; the answer carries it back in its own
`X-Request-ID`, so that a trainee's error and the platform's log line can be matched.
The record holds the method, the path (never the query string: it may carry a code or
an `id_token_hint`), the status, the duration and the worker's pid; a served platform
writes it as one JSON object a line (`bsp_tui.logs`, `json_lines`).
"""

from __future__ import annotations

import logging
import os
import time
import uuid

from bsp_tui.platform.bodies import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("bsp.platform.http")
REQUEST_ID = b"x-request-id"
MAX_REQUEST_ID = 64


def request_id_of(scope: Scope) -> str:
    """The client's request id when it is sane, else a new one."""
    for name, value in scope.get("headers", ()):
        if name.lower() == REQUEST_ID:
            if 0 < len(value) <= MAX_REQUEST_ID and all(0x21 <= byte <= 0x7E for byte in value):
                return value.decode("ascii")
            break
    return uuid.uuid4().hex


class AccessLog:
    """Logs every HTTP request once answered (or failed), and echoes its request id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.pid = os.getpid()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope)
        status = 500  # what the server answers when the app fails before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    *(h for h in message.get("headers", ()) if h[0].lower() != REQUEST_ID),
                    (REQUEST_ID, request_id.encode("ascii")),
                ]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration = (time.perf_counter() - started) * 1000
            method, path = scope["method"], scope["path"]
            fields = {
                "request_id": request_id,
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": round(duration, 1),
                "pid": self.pid,
            }
            log.info("%s %s %d %.1fms", method, path, status, duration, extra={"fields": fields})
