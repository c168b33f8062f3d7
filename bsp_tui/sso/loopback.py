"""The loopback redirect listener of RFC 8252: 127.0.0.1 only, one callback, then closed."""

from __future__ import annotations

import asyncio
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

CALLBACK_PATH = "/callback"
_DONE_PAGE = (
    "<!doctype html><html lang='fr'><meta charset='utf-8'><title>bsp</title>"
    "<body style='font-family:sans-serif'><h1>Connexion reçue</h1>"
    "<p>Vous pouvez fermer cet onglet et revenir au terminal.</p></body></html>"
).encode()


class LoopbackListener:
    """Waits for the authorization response on http://127.0.0.1:PORT/callback."""

    def __init__(self) -> None:
        self._params: dict[str, str] | None = None
        self._received = threading.Event()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != CALLBACK_PATH or listener._received.is_set():
                    self.send_error(HTTPStatus.NOT_FOUND)
                    return
                query = parse_qs(parts.query)
                listener._params = {key: values[0] for key, values in query.items()}
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(_DONE_PAGE)))
                self.end_headers()
                self.wfile.write(_DONE_PAGE)
                listener._received.set()

            def log_message(self, format: str, *args: object) -> None:
                # The request line carries the authorization code: never print it.
                return

        self._server = HTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def redirect_uri(self) -> str:
        """Where the provider must send the browser back."""
        return f"http://127.0.0.1:{self._server.server_address[1]}{CALLBACK_PATH}"

    async def wait(self, timeout: float) -> dict[str, str] | None:
        """The callback's query parameters, or None after `timeout` seconds."""
        received = await asyncio.to_thread(self._received.wait, timeout)
        return self._params if received else None

    def close(self) -> None:
        """Stop listening."""
        self._server.shutdown()
        self._server.server_close()
