"""Half-open connections on a served platform: a client that sends half a request (its
head, or its body) is disconnected once the request deadline has passed; whole requests
are still answered meanwhile and after."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ServedPlatform, start_platform

pytestmark = pytest.mark.e2e
REQUEST_TIMEOUT = 1.0
DEADLINE = 20.0  # far beyond the configured timeout: only a server that never closes fails
HALVES = [
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n",  # the head, never ended
    b"POST /api/fse/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
    b'\r\nContent-Length: 1000\r\n\r\n{"batch_id": ',  # the head, and a tenth of the body
    b"G",  # one byte
    b"",  # nothing at all
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedPlatform]:
    platform = start_platform(
        tmp_path_factory.mktemp("half-open"), "--request-timeout", str(REQUEST_TIMEOUT)
    )
    try:
        yield platform
    finally:
        platform.stop()


def closed_by_server(sock: socket.socket, deadline: float) -> bool:
    """Wait (blocking, bounded by `deadline`) for the server to close; True if it did."""
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(4096)
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
        if data == b"":
            return True
    return False


def test_half_requests_are_disconnected_and_whole_ones_answered(
    served: ServedPlatform, tmp_path: Path
) -> None:
    sockets = []
    for index in range(40):  # bounded: ten of each kind of half request
        sock = socket.create_connection(("127.0.0.1", served.port), timeout=5)
        sock.sendall(HALVES[index % len(HALVES)])
        sockets.append(sock)
    try:
        # The platform answers whole requests while the half ones hang on.
        assert httpx.get(served.url + "/", timeout=10).status_code == 200
        deadline = time.monotonic() + DEADLINE
        still_open = [i for i, sock in enumerate(sockets) if not closed_by_server(sock, deadline)]
        assert still_open == []
    finally:
        for sock in sockets:
            sock.close()
    assert httpx.get(served.url + "/", timeout=10).status_code == 200


def test_a_kept_alive_connection_serves_several_requests(served: ServedPlatform) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as http:
        for _ in range(3):  # one connection, each request whole: none is cut
            assert http.get("/").status_code == 200
