"""The served platform's connections have TCP_NODELAY: no 40 ms Nagle stall per request.

uvicorn serves the platform on the socket `listening_socket` makes, through
`loop.create_server`; asyncio sets TCP_NODELAY on each accepted connection only when
that socket was made with IPPROTO_TCP. The test serves with the real uvicorn and the
platform's own protocol class, and reads the option on the accepted sockets.
"""

from __future__ import annotations

import asyncio
import socket
import threading

import httpx
import uvicorn

from bsp_tui.platform.serving import TimelyHttpToolsProtocol, listening_socket


async def hello(scope: dict, receive: object, send: object) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]


def served_nodelay(sock: socket.socket, requests: int = 3) -> list[int]:
    """TCP_NODELAY of each connection uvicorn accepted on `sock` while a keep-alive client
    sent `requests` requests."""
    seen: list[int] = []

    class Recording(TimelyHttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            raw = transport.get_extra_info("socket")
            seen.append(raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            super().connection_made(transport)

    config = uvicorn.Config(hello, http=Recording, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        port = sock.getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(requests):  # one connection, kept alive
                assert client.get("/").text == "ok"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
    assert not thread.is_alive()
    return seen


def test_accepted_connections_have_tcp_nodelay() -> None:
    assert served_nodelay(listening_socket("127.0.0.1", 0)) == [1]


def test_a_socket_made_with_protocol_0_would_not_get_it() -> None:
    # The control: the same server on a socket made the old way shows what was fixed.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    assert served_nodelay(sock) == [0]


def test_a_port_in_use_is_an_error_and_leaves_no_socket_open() -> None:
    taken = listening_socket("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        try:
            listening_socket("127.0.0.1", port)
        except OSError as error:
            assert error.errno is not None
        else:
            raise AssertionError("a second socket listened on a port in use")
    finally:
        taken.close()
