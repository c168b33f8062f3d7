"""Serving the platform with uvicorn: a connection must send its whole request in time.

uvicorn's h11 protocol arms its keep-alive timer only after a response, and disarms it
on any data: a client that connects and sends half a request (or half a body) holds the
connection, and the endpoint waiting for that body, forever. Three hundred of them and
the room's platform runs out of connections. `TimelyH11Protocol` gives every request a
deadline, from the connection (or the previous response) to its last byte.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

DEFAULT_REQUEST_TIMEOUT = 10.0


class TimelyH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request is not complete in time.

    The deadline is `request_timeout` seconds (a class attribute: uvicorn builds the
    protocol itself, one per connection; see `protocol_with_timeout`).
    """

    request_timeout = DEFAULT_REQUEST_TIMEOUT

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


def protocol_with_timeout(seconds: float) -> type[TimelyH11Protocol]:
    """The protocol class with that request deadline, for `uvicorn.Config(http=…)`."""
    return type("TimelyH11Protocol", (TimelyH11Protocol,), {"request_timeout": seconds})
