"""The emulated DMP in process, with an API token per demo professional.

The served-platform fixtures of tests/e2e are imported here so that the end-to-end CLI
tests of this folder can use them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from bsp_tui.platform.app import create_app
from bsp_tui.platform.embedded import EMBEDDED_BASE_URL
from bsp_tui.platform.population import ensure_population
from bsp_tui.platform.settings import PlatformSettings
from tests.conftest import Clock, Emulation
from tests.e2e.conftest import personas, served  # noqa: F401 - fixtures for the e2e tests

DMP = "/api/dmp"
FHIR_JSON = "application/fhir+json"


@dataclass
class Harness:
    """The platform in process, with a DMP API token per persona, signed in on first use."""

    emu: Emulation
    transport: httpx.ASGITransport
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def db(self) -> Any:
        return self.emu.platform.db

    async def token(self, persona: str) -> str:
        if persona not in self.tokens:
            signed = await self.emu.sign_in(persona)
            exchanged = await self.emu.exchange(signed["access_token"], "dmp")
            assert exchanged.status_code == 200, exchanged.text
            self.tokens[persona] = exchanged.json()["access_token"]
        return self.tokens[persona]

    async def headers(self, persona: str, accept: str = FHIR_JSON) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token(persona)}", "Accept": accept}

    async def get(
        self, persona: str, path: str, accept: str = FHIR_JSON, **params: Any
    ) -> httpx.Response:
        return await self.emu.http.get(
            DMP + path, params=params, headers=await self.headers(persona, accept)
        )

    async def post(self, persona: str, body: Any, **params: Any) -> httpx.Response:
        headers = await self.headers(persona) | {"Content-Type": FHIR_JSON}
        return await self.emu.http.post(
            DMP + "/DocumentReference", json=body, params=params, headers=headers
        )

    def patient(self, index: int) -> str:
        """The INS of a scenario patient: 0 DUPONT, 1 LEROY (closed), 2 BERNARD (blocks)."""
        ensure_population(self.db)
        return self.db.all("SELECT ins FROM patients ORDER BY rowid LIMIT 9")[index]["ins"]

    def national_id(self, persona: str) -> str:
        return self.emu.persona(persona)["national_id"]

    async def client(self, persona: str) -> httpx.AsyncClient:
        """An httpx client as a connector gets it: base URL the DMP's, its token added."""
        return httpx.AsyncClient(
            transport=self.transport,
            base_url=EMBEDDED_BASE_URL + DMP,
            headers={"Authorization": f"Bearer {await self.token(persona)}"},
        )


@pytest.fixture
async def dmp(settings: PlatformSettings, clock: Clock) -> AsyncIterator[Harness]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=EMBEDDED_BASE_URL) as http:
        yield Harness(Emulation(app.state.platform, http, clock), transport)
    app.state.platform.db.close()


def outcome(response: httpx.Response) -> dict:
    """The single issue of an OperationOutcome answer."""
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    (issue,) = body["issue"]
    return issue


def refusal(response: httpx.Response) -> str:
    """The emulation's refusal code of an OperationOutcome."""
    return outcome(response)["details"]["coding"][0]["code"]


def entries(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "searchset"
    assert body["total"] == len(body.get("entry", []))
    return [e["resource"] for e in body.get("entry", [])]
