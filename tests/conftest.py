"""Shared fixtures: an isolated BSP_HOME, a platform in process with a clock tests can move."""

from __future__ import annotations

import base64
import hashlib
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp
import pytest

from bsp_tui.phone import DEVICE_PROOF, DeviceStore, VirtualPhone, device_proof
from bsp_tui.platform.app import create_app
from bsp_tui.platform.core import Platform
from bsp_tui.platform.settings import PlatformSettings
from bsp_tui.sso.profile import EMBEDDED_BASE_URL
from tests.support import postgres as postgres_support

ISSUER = f"{EMBEDDED_BASE_URL}/auth/realms/esante-wallet"
OIDC = "/auth/realms/esante-wallet/protocol/openid-connect"
TOKEN = f"{OIDC}/token"
CIBA = f"{OIDC}/ext/ciba/auth"
LAUNCHER = "bsp-launcher"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"


class Clock:
    """A clock the test moves by hand; starts at the real time."""

    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Emulation:
    """The platform in process: its parts, its HTTP client and its clock."""

    platform: Platform
    http: httpx.AsyncClient
    clock: Clock

    def persona(self, name: str) -> dict:
        row = self.platform.ecps.persona(name=name)
        return {key: row[key] for key in row.keys()}  # noqa: SIM118 - sqlite3.Row

    @property
    def phone(self) -> VirtualPhone:
        """The virtual phone on this platform, activated through it, dated by its clock."""
        return VirtualPhone(
            self.http,
            activation=lambda name: self.platform.ecps.issue_code(name)["code"],
            clock=self.clock,
        )

    async def device(self, name: str) -> dict:
        """The persona's device on this test's phone (enrolled on first use)."""
        store = DeviceStore()
        key = f"{str(self.http.base_url).rstrip('/')}#{name}"
        if store.get(key) is None:
            await self.phone.enrol(name)
        return store.get(key) or {}

    async def proof(self, name: str, method: str, path: str) -> dict[str, str]:
        """The header proving the persona's device makes this call now (to `path` under
        the client's base, a room's included)."""
        device = await self.device(name)
        full = self.http.base_url.path.rstrip("/") + path
        return {DEVICE_PROOF: device_proof(device, method, full, self.clock())}

    async def code(self, name: str, at: float | None = None) -> str:
        """The persona's device code at the platform's clock (or at `at`)."""
        totp = pyotp.TOTP((await self.device(name))["totp"])
        return totp.at(self.clock() if at is None else at)

    async def answer(
        self,
        request_id: str,
        name: str,
        pin: str | None = None,
        otp: str | None = None,
        approve: bool = True,
    ) -> httpx.Response:
        body = {
            "approve": approve,
            "pin": self.persona(name)["pin"] if pin is None else pin,
            "otp": await self.code(name) if otp is None else otp,
        }
        path = f"/ecps/requests/{request_id}/answer"
        return await self.http.post(path, json=body, headers=await self.proof(name, "POST", path))

    async def phone_requests(self, name: str | None = None) -> list[dict]:
        """What the persona's phone lists (with no name: every persona's phones)."""
        if name is None:
            names = [row["name"] for row in self.platform.ecps.personas()]
            return [r for n in names for r in await self.phone_requests(n)]
        headers = await self.proof(name, "GET", "/ecps/requests")
        response = await self.http.get("/ecps/requests", headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def request_status(self, name: str, request_id: str) -> str:
        """Where one of the persona's requests stands, as its phone reads it."""
        path = f"/ecps/requests/{request_id}"
        response = await self.http.get(path, headers=await self.proof(name, "GET", path))
        assert response.status_code == 200, response.text
        return response.json()["status"]

    async def pending_id(self, name: str) -> str:
        requests = await self.phone_requests(name)
        assert requests, f"no pending e-CPS request for {name}"
        return requests[0]["id"]

    async def approve_pending(self, name: str) -> None:
        """The phone approves the persona's oldest request, with a fresh TOTP step."""
        self.clock.advance(30)
        response = await self.answer(await self.pending_id(name), name)
        assert response.status_code == 200, response.text

    async def start_ciba(self, name: str, binding: str = "42", **extra: str) -> httpx.Response:
        data = {
            "client_id": LAUNCHER,
            "scope": "openid scope_all",
            "login_hint": self.persona(name)["national_id"],
            "binding_message": binding,
            "acr_values": "eidas1",
        } | extra
        return await self.http.post(CIBA, data=data)

    async def poll_ciba(self, auth_req_id: str) -> httpx.Response:
        self.clock.advance(5)
        return await self.http.post(
            TOKEN,
            data={"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id, "client_id": LAUNCHER},
        )

    async def sign_in(self, name: str = "generaliste") -> dict:
        """A complete CIBA sign-in; returns the token response."""
        started = await self.start_ciba(name)
        assert started.status_code == 200, started.text
        await self.approve_pending(name)
        response = await self.poll_ciba(started.json()["auth_req_id"])
        assert response.status_code == 200, response.text
        return response.json()

    async def exchange(self, access_token: str, audience: str) -> httpx.Response:
        return await self.http.post(
            TOKEN,
            data={
                "grant_type": EXCHANGE_GRANT,
                "subject_token": access_token,
                "subject_token_type": ACCESS_TYPE,
                "audience": audience,
                "client_id": LAUNCHER,
            },
        )


def pkce_pair() -> tuple[str, str]:
    """A fresh (verifier, S256 challenge) pair, computed independently of authlib."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def bsp_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test runs with its own BSP_HOME and no inherited platform URL or TTLs."""
    home = tmp_path / "bsp-home"
    monkeypatch.setenv("BSP_HOME", str(home))
    # Served platforms stay free to move: the suite's two workers keep both cores busy,
    # and a platform bound to one of them could not get away (tests/platform/test_cores.py
    # tests the binding itself).
    monkeypatch.setenv("BSP_BIND_CORE", "0")
    for name in (
        "BSP_DATABASE_URL",
        "BSP_PLATFORM_URL",
        "BSP_PROFILE",
        "BSP_TOKEN_STORE",
        "BSP_PSC_ACCESS_TTL",
        "BSP_PSC_REFRESH_TTL",
        "BSP_API_TOKEN_TTL",
        "BSP_PIN",
    ):
        monkeypatch.delenv(name, raising=False)
    yield home


@pytest.fixture
def clock() -> Clock:
    return Clock()


# The platform's own tests run on both engines; the rest on the embedded SQLite file.
BOTH_ENGINES = ("tests/platform/", "tests/connectors/")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`engine` is SQLite and PostgreSQL for the platform's tests, SQLite elsewhere; a
    test marked `sqlite_only` (it holds SQLite's own locks or reads its file) runs on
    SQLite alone, one marked `postgresql_only` on PostgreSQL alone."""
    if "engine" not in metafunc.fixturenames:
        return
    path = metafunc.definition.path.as_posix()
    both = any(f"/{folder}" in path for folder in BOTH_ENGINES)
    if metafunc.definition.get_closest_marker("postgresql_only"):
        metafunc.parametrize("engine", ["postgresql"], indirect=True)
    elif both and not metafunc.definition.get_closest_marker("sqlite_only"):
        metafunc.parametrize("engine", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    """The storage engine under the test's platform."""
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")
def postgres() -> Iterator[postgres_support.Server]:
    """A PostgreSQL server of this test process's own, with a seeded template database."""
    with postgres_support.server() as server:
        server.seed_template(PlatformSettings(database=server.url(postgres_support.TEMPLATE)))
        yield server


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A platform file opened once (tables, population, signing key), that each test
    copies: seeding is tested on its own (tests/platform/test_seed.py), not paid a
    thousand times."""
    path = tmp_path_factory.mktemp("template") / "platform.sqlite3"
    platform = Platform.open(PlatformSettings(database=path))
    platform.keys.active()
    platform.db.close()
    return path


@pytest.fixture
def settings(
    tmp_path: Path, clock: Clock, engine: str, request: pytest.FixtureRequest
) -> Iterator[PlatformSettings]:
    """The in-process platform's settings, on the test's clock. A pending CIBA or device
    poll is answered at once: these tests move the clock by hand, and the held polls of
    a served platform are tested on their own (tests/platform/test_long_poll.py)."""
    if engine == "sqlite":
        database = tmp_path / "platform.sqlite3"
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, database)
        database.chmod(0o600)
        yield PlatformSettings(database=database, clock=clock, long_poll=False)
        return
    server: postgres_support.Server = request.getfixturevalue("postgres")
    url = server.create_database()
    yield PlatformSettings(database=url, clock=clock, long_poll=False)
    server.release(url)


@pytest.fixture
async def emu(settings: PlatformSettings, clock: Clock) -> AsyncIterator[Emulation]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=EMBEDDED_BASE_URL) as http:
        yield Emulation(app.state.platform, http, clock)
    app.state.platform.db.close()
