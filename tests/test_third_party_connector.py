"""A third party's connector, installed beside bsp (tests/thirdparty: a package and its
dist-info with the `bsp.connectors` entry point), with its own service and no service
on the emulated platform: the dashboard shows its tile, `bsp hello ping` works on the
one session, and the platform starts without it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import jwt
import pytest

from bsp_tui.app.app import BspApp
from bsp_tui.app.screens.dashboard import DashboardScreen
from bsp_tui.platform.app import create_app
from bsp_tui.sso.profile import EMBEDDED_BASE_URL
from connectors.base import registry
from tests.app.conftest import (  # noqa: F401 - autouse fixtures of the launcher's tests
    app_environment,
    pin_of,
    shared_keyring,
    sign_in_outside,
    wait_for,
)
from tests.app.test_journey import on_screen, tile
from tests.support.shell import run_bsp

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tests" / "thirdparty"


class HelloService(BaseHTTPRequestHandler):
    """The third party's own service: answers `/me` for a bearer token of its audience."""

    def do_GET(self) -> None:
        bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            claims = jwt.decode(bearer, options={"verify_signature": False})
        except jwt.PyJWTError:
            claims = {}
        if self.path != "/me" or claims.get("aud") != "hello":
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps({"hello": f"Bonjour {claims.get('given_name', '')}".strip()})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        """Quiet: the test reads answers, not logs."""


@pytest.fixture
def hello_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), HelloService)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch, hello_url: str) -> dict[str, str]:
    """The package importable and its entry point found, here and in subprocesses."""
    monkeypatch.syspath_prepend(str(PACKAGE))
    monkeypatch.setenv("BSP_HELLO_URL", hello_url)
    for name in [m for m in sys.modules if m == "bsp_hello" or m.startswith("bsp_hello.")]:
        monkeypatch.delitem(sys.modules, name)
    return {
        "PYTHONPATH": os.pathsep.join([str(PACKAGE), str(ROOT)]),
        "BSP_HELLO_URL": hello_url,
        "BSP_TOKEN_STORE": "file",
    }


def test_the_registry_finds_it_and_the_platform_starts_without_its_service(
    installed: dict[str, str],
) -> None:
    hello = next(c for c in registry() if c.name == "hello")
    assert hello.base_url == installed["BSP_HELLO_URL"] and not hello.service

    async def ask() -> tuple[dict, int]:
        transport = httpx.ASGITransport(app=create_app())
        async with httpx.AsyncClient(transport=transport, base_url=EMBEDDED_BASE_URL) as http:
            return (await http.get("/")).json(), (await http.get("/api/hello/me")).status_code

    index, status = asyncio.run(ask())
    assert "hello" not in json.dumps(index["services"])
    assert status == 404


def test_bsp_hello_ping_works_on_the_one_session(installed: dict[str, str]) -> None:
    signed = run_bsp(installed, "login", "--persona", "generaliste", "--pin", pin_of("generaliste"))
    assert signed.returncode == 0, signed.stderr
    listed = run_bsp(installed, "--help")
    assert "hello" in listed.stdout
    pinged = run_bsp(installed, "hello", "ping")
    assert pinged.returncode == 0, pinged.stderr
    assert pinged.stdout.strip() == "Bonjour Élise"


@pytest.mark.anyio
async def test_the_dashboard_shows_its_tile(installed: dict[str, str]) -> None:
    await sign_in_outside("generaliste")
    app = BspApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: on_screen(app, DashboardScreen), what="the dashboard")
        await wait_for(pilot, lambda: tile(app, "hello").state != "checking", what="checked")
        assert "Le service d'un éditeur tiers" in str(tile(app, "hello").render())
        assert tile(app, "hello").border_title == "5 · Bonjour"
        assert [c.name for c in app.connectors][-1] == "hello"  # its order, 90: last
