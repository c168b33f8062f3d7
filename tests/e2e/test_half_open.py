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


def _answered(sock: socket.socket) -> bytes:
    """One whole `GET /` answer on `sock` (its head and Content-Length body)."""
    sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    sock.settimeout(10)
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":")[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_an_idle_kept_alive_connection_outlives_the_request_deadline(
    served: ServedPlatform,
) -> None:
    """Idle between requests is the keep-alive's time, not the request's: a client that
    reuses its connection after a pause is answered (before, the server closed it when the
    request deadline passed, racing the client's reuse)."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
        assert _answered(sock).startswith(b"HTTP/1.1 200")
        # Three request deadlines of silence: a server that counts idle time closes here.
        assert not closed_by_server(sock, time.monotonic() + 3 * REQUEST_TIMEOUT)
        assert _answered(sock).startswith(b"HTTP/1.1 200")


def test_half_a_second_request_on_a_kept_alive_connection_is_cut(served: ServedPlatform) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
        assert _answered(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(HALVES[0])
        assert closed_by_server(sock, time.monotonic() + DEADLINE)
