"""Serving the platform with uvicorn: a connection must send its whole request in time.

uvicorn's HTTP protocols arm their keep-alive timer only after a response, and disarm
it on any data: a client that connects and sends half a request (or half a body) holds the
connection, and the endpoint waiting for that body, forever. Three hundred of them and
the room's platform runs out of connections. `TimelyHttpToolsProtocol` gives every request a
deadline, from its first byte (the connection's opening, for the first) to its last.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bsp_tui.config import folders
from bsp_tui.logs import log_to_file

DEFAULT_REQUEST_TIMEOUT = 10.0
# How long an idle kept-alive connection stays open: longer than the clients' own idle
# expiry (httpx's is 5 s), so that a client reusing its connection never meets the
# server closing it at the same instant ("Server disconnected without sending a response").
KEEP_ALIVE_SECONDS = 30
# How the serving command tells its workers the deadline: each is a new process.
REQUEST_TIMEOUT_ENV = "BSP_REQUEST_TIMEOUT"


def log_platform() -> None:
    """Send the platform's records (uvicorn's too: an application error's traceback goes
    through the redaction instead of reaching stderr raw) to the home's platform.log, in
    JSON lines, out of the command's own bsp.log. Each worker process calls it: a worker
    started by `--workers` begins with no logging set."""
    log_to_file(
        folders().ensure().logs / "platform.log",
        names=("bsp.platform", "uvicorn"),
        json_lines=True,
    )
    logging.getLogger("bsp.platform").propagate = False


class TimelyHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request is not complete
    in time.

    Each request has `BSP_REQUEST_TIMEOUT` seconds from its first byte (from the
    connection's opening for the first one) to its last; between requests, the
    connection is idle under uvicorn's keep-alive timeout instead. The setting is read
    when a deadline is set, not when the class is imported: the serving command sets it
    after its imports. httptools (llhttp, in C) rather than h11: a room's sign-in wave
    spent a tenth of the platform's CPU parsing requests in pure Python.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._request_deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm_request_deadline()

    def _arm_request_deadline(self) -> None:
        self._disarm_request_deadline()
        timeout = float(os.environ.get(REQUEST_TIMEOUT_ENV) or DEFAULT_REQUEST_TIMEOUT)
        self._request_deadline = self.loop.call_later(timeout, self._too_slow)

    def _disarm_request_deadline(self) -> None:
        if self._request_deadline is not None:
            self._request_deadline.cancel()
            self._request_deadline = None

    def _too_slow(self) -> None:
        self._request_deadline = None
        if not self.transport.is_closing():
            # A request under way sees the disconnect; nothing is answered to half a request.
            self.transport.close()

    def on_message_begin(self) -> None:
        # The first byte of a request (the parser calls this before its method is whole):
        # its own deadline starts now; while idle, uvicorn's keep-alive timeout applies.
        self._arm_request_deadline()
        super().on_message_begin()

    def on_message_complete(self) -> None:
        self._disarm_request_deadline()  # the request is whole: the app has its time
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_request_deadline()
        super().connection_lost(exc)


def listening_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A TCP socket bound to `host:port` and listening (port 0: any free one).

    Made with `IPPROTO_TCP`, not protocol 0: asyncio sets `TCP_NODELAY` on the
    connections it accepts only when the listening socket says TCP. Without it, Nagle's
    algorithm meets the client's delayed ACK and every request after the first on a
    keep-alive connection waits about 40 ms. Listening before the address is printed
    queues a script that connects at once in the backlog instead of refusing it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock
