"""Serving the platform with uvicorn: a connection must send its whole request in time.

uvicorn's h11 protocol arms its keep-alive timer only after a response, and disarms it
on any data: a client that connects and sends half a request (or half a body) holds the
connection, and the endpoint waiting for that body, forever. Three hundred of them and
the room's platform runs out of connections. `TimelyH11Protocol` gives every request a
deadline, from the connection (or the previous response) to its last byte.
"""

from __future__ import annotations

import asyncio
import os
import socket

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

DEFAULT_REQUEST_TIMEOUT = 10.0
# How the serving command tells its workers the deadline: each is a new process.
REQUEST_TIMEOUT_ENV = "BSP_REQUEST_TIMEOUT"


class TimelyH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request is not complete in time.

    The deadline is `request_timeout` seconds, read from `BSP_REQUEST_TIMEOUT` when the
    class is imported (uvicorn builds the protocol itself, one per connection, in each
    worker process).
    """

    request_timeout = float(os.environ.get(REQUEST_TIMEOUT_ENV) or DEFAULT_REQUEST_TIMEOUT)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._request_deadline: asyncio.TimerHandle | None = None
        self._arm_request_deadline()

    def _arm_request_deadline(self) -> None:
        self._disarm_request_deadline()
        self._request_deadline = self.loop.call_later(self.request_timeout, self._too_slow)

    def _disarm_request_deadline(self) -> None:
        if self._request_deadline is not None:
            self._request_deadline.cancel()
            self._request_deadline = None

    def _too_slow(self) -> None:
        self._request_deadline = None
        if not self.transport.is_closing():
            # A request under way sees the disconnect; nothing is answered to half a request.
            self.transport.close()

    def _receiving(self) -> bool:
        """True while a request is awaited or only partly received."""
        return self.conn.their_state in (h11.IDLE, h11.SEND_BODY)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._receiving():
            self._disarm_request_deadline()  # the request is whole: the app has its time

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self._receiving():
            self._arm_request_deadline()  # the next request on this connection, if any

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
